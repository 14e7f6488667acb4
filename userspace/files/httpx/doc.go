// Package httpx follows HTTP/1.x on one TCP connection and hands the
// bodies that may be files to an transfer.Sink, decoded: de-chunked and
// Content-Encoding removed (gzip, deflate, br, stacked up to three).
//
// The parser is push-based and never trusts the wire: header blocks,
// chunk lines, trailers, the request FIFO, the decoders' output and their
// compression ratio are all bounded, and malformed input is counted in
// Stats, never a panic.
//
// Framing follows RFC 9112 §6.3: responses to HEAD, 1xx, 204 and 304 have
// no body; Transfer-Encoding with chunked last means chunked (otherwise a
// response runs until close and a request is malformed);
// Content-Length; else a response runs until close and a request has no
// body.
//
// 101 Switching Protocols ends the parser's interest (Done) when the
// request asked for an Upgrade (WebSocket, h2c). A 101 to a request that
// asked for none is read as clients read it (upgrade.go): a status line
// after it makes it interim (Chromium), anything else is its body, raw,
// until the close (curl), so a server cannot blind the sensor with one.
//
// A 2xx answer to CONNECT opens a tunnel (tunnel.go): when the client's
// first bytes in it are an HTTP/1.x request, the tunnel is parsed as a
// connection of its own (fresh directions, Meta.Tunnel set to the
// CONNECT target); otherwise (TLS, whose handshake is fingerprinted on
// its own path) the parser is done (Stats.TunnelsOpaque). Bytes the
// client sends before the answer, and server bytes before the client's
// first request, are held for the tunnel up to 8 KiB each. A refused
// CONNECT leaves the connection to the proxy going on.
//
// A request to a forward proxy names its resource in absolute form
// ("GET http://host:port/path"): the URL, host and file name come from
// the target, never from a Host field, which proxies ignore (RFC 9112
// §3.2.2); userinfo in the target is left out.
//
// Files are opened lazily on a body's first byte, so empty bodies open
// nothing. A file the sink declines (Write false) is not decoded further;
// when the rest of its body has a known wire length (Content-Length, or
// the current chunk's data) Data returns it as skip. A declined file is
// still closed when its body ends on the wire, with the framing's verdict.
//
// Header blocks are read as a stream of lines (head.go): only a line
// that spans Data calls is kept, and only what the fields need of it, so
// a block of any size costs one line. Blocks up to MaxHeaderBlock (1 MiB)
// with any number of lines are read whole; a block past MaxHeaderBlock or
// MaxHeaderLines cuts its message only (transfer.CutLimit): its framing
// fields are still read wherever they are, and the connection goes on.
// Framing fields are never misread because of padding: blanks around a
// value are no part of it, and a Content-Length or Transfer-Encoding
// value with more text than a value is kept (or folded onto another
// line) is malformed framing.
//
// Gaps: inside an identity body whose framing survives (Content-Length, a
// chunk's data, until close) the file gets File.Gap and goes on. Inside a
// decoded body the file is cut (CutGap) but the framing, if it survives,
// is kept. A gap that breaks the framing (across a chunk line, inside a
// header block) desynchronises the direction. A gap that falls on a
// message head is recorded: on the request side a stand-in request is
// queued so that its response does not pair with the next request; on
// the response side the request it answered is known, and a file stands
// for the response (Meta.HeadLost, no bytes, WireGap with the response's
// wire bytes, CutGap at the resync or the end, CutDesync when the
// connection is closed without either).
//
// Resynchronisation (resync.go) seeks the next message start anywhere in
// the bytes that follow, and takes it only once its whole header block
// reads as HTTP: a status line ("HTTP/1.x NNN", paired with the next
// request waiting), or a request line at a line start or, after a known
// method, in the middle of a line (a body seldom ends in a line end).
// After more than 16 desyncs on one connection the parser gives up
// (Done).
//
// Decoders run as coroutines (iter.Pull) over the standard library's pull
// readers: each Data call feeds the bytes it got and collects whatever
// output they yield, so nothing waits on the network and no body is held
// in memory. Memory per connection (Footprint) is one line and the kept
// fields per direction, the request FIFO (MaxPipelined entries of strings
// clipped to transfer.MaxHeaderValue) and, per decoded body, the decoders'
// state: about 48 KiB for deflate and gzip (their 32 KiB window and
// tables), 74 KiB and the stream's window for brotli (up to 16 MiB, the
// format's limit), a 32 KiB output buffer and the coroutine's stack;
// around a tunnel's start, the bytes held for it (8 KiB at most per
// direction).
//
// Chunks smaller than 512 bytes are gathered (16 KiB at most, within one
// Data call) before they go to a decoder or the sink, so one-byte chunks
// cannot cost a call per byte.
//
// Uploads (Options.Uploads): a request body is opened as one file, except
// multipart/form-data, which is split into its parts (RFC 7578): a part is
// opened when it names a file (filename or filename* parameter, not
// empty) or declares a Content-Type other than text/plain; plain form
// fields are passed over.
package httpx
