// Package siem forwards the sensor's ECS JSON lines to a customer's SIEM
// through several sinks at once: stdout, rotating files and syslog over
// UDP, TCP or TLS, as the JSON line itself, RFC 5424 with the JSON line as
// MSG, or CEF; and Kafka topics (package kafka does the producing, with
// its own on-disk spool: a kafka sink drops only when that is full).
//
// Analysis must never wait for a SIEM: Write copies the line into each
// matching sink's bounded queue and returns; a full queue drops the line
// and counts it (the newest line is the one dropped). Each sink has its
// own goroutine, which batches what is queued, reconnects with capped,
// jittered exponential backoff, and resends the message a failed write
// cut short. Delivery is therefore at least once for write failures it
// sees: a line may arrive twice after a reconnect. Like all plain syslog
// over TCP (RFC 6587), lines the kernel accepted just before the peer
// died are lost; the sink notices a peer closing the connection and
// reconnects before writing, which narrows that window.
//
// Framing: UDP sends one message per datagram, cut to MaxMessage bytes
// (default 8192, rsyslog's default maxMessageSize) on a UTF-8 boundary
// and counted as Truncated; TCP and TLS use RFC 6587 octet counting
// ("LEN SP MSG"), which rsyslog's imtcp and imptcp detect by themselves;
// files and stdout write one line per event.
//
// Severity, RFC 5424: no score, pending (-1) and 0-3 informational (6),
// 4-6 warning (4), 7-8 error (3), 9-10 critical (2). CEF: no score and
// pending 0, 0-3 Low (3), 4-6 Medium (6), 7-8 High (8), 9-10 Very-High
// (10).
package siem
