// Package reassembly turns the TCP segments of one direction of a
// connection into its bytes, in order, for a consumer such as an
// transfer.Parser. Segments may come reordered, duplicated, overlapping,
// cut short (snaplen) or not at all (lost events); the consumer sees
// in-order bytes (Data) and, where bytes are missing for good, the number
// of missing bytes (Gap), so that every byte of the stream is accounted
// for exactly once: delivered, declared missing, or skipped on request.
//
// # Offsets
//
// Sequence numbers are 32-bit and wrap; a Stream keeps 64-bit offsets from
// the start of the stream (the byte after the SYN, or the first segment
// seen when the connection was picked up mid-way) and places each segment
// relative to the delivery point, so a stream may be longer than 4 GiB
// and its ISN anywhere. A segment more than Config.Window ahead of the
// delivery point is ignored: it cannot be told from a stale or forged one.
//
// # Overlap policy: first data wins
//
// When two copies of the same bytes differ, the copy the Stream saw first
// is kept: bytes already delivered cannot be taken back, and bytes held
// out of order are not replaced by a later copy. A later copy is dropped,
// counted as a duplicate, and, when it overlaps held bytes, compared with
// them: a difference is counted in Stats.ConflictBytes. Why:
//
//   - It is what every receiver does with bytes it already has in order
//     (RFC 9293 3.10.7.4: of a segment straddling old and new data only
//     the new part is processed), and retransmissions of such bytes are
//     by far the most common overlap: the sensor sees what the
//     application saw.
//   - It cannot be steered after the fact: once the sensor holds bytes, no
//     later retransmission rewrites what the consumer gets, and delivered
//     bytes need not be kept to compare or undo.
//
// The trade-off (evasion): for overlapping out-of-order segments the RFC
// leaves the choice to the stack, and stacks differ (BSD-derived and
// Linux stacks let a later segment replace queued data in some cases), so
// a sender that crafts overlapping out-of-order segments with different
// content can make the sensor and a given host see different bytes. A
// passive sensor could only follow each host with a per-host policy;
// this one counts the conflict so that it can be alerted on. Delivered
// bytes are not kept, so a differing copy of them is only a duplicate.
//
// # Limits
//
// The in-order path hands the caller's slice straight to the consumer: no
// copy, no allocation. Out-of-order bytes are copied into pooled buffers,
// freed as soon as they are delivered. Per stream, Config.MaxBuffered
// bytes and Config.MaxSegments held segments; per worker, a shared
// Budget. When holding a segment would exceed a limit, the oldest hole is
// declared a gap and delivery goes on, so a lost segment costs a gap,
// never a stall or unbounded memory. Acked finds losses sooner: bytes the
// peer acknowledged and the sensor never saw are lost for good. Every
// limit hit and every oddity (segments far ahead, bytes after the FIN,
// late bytes) is counted in Stats; no input makes a Stream panic.
//
// A stream picked up mid-way starts at the first segment seen, and bytes
// before it are dropped; a frame cut by the snaplen leaves a hole like a
// lost one.
//
// # Skipping
//
// A consumer that does not need the next bytes (the rest of a body)
// returns their count from Data; the Stream moves its delivery point past
// them, frees what it held of them, and drops later segments inside the
// range. Bytes of that range that never arrived are not gaps.
//
// A Stream is not safe for concurrent use; a Budget is shared by the
// streams of one worker only. A Consumer must not call the Stream that
// is calling it (the Stream tolerates it, but the order of bytes is then
// the consumer's problem).
package reassembly
