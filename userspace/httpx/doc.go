// Package httpx follows HTTP/1.x on one TCP connection and hands the
// bodies that may be files to an extract.Sink, decoded: de-chunked and
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
// body. 101 Switching Protocols and a 2xx answer to CONNECT end the
// parser's interest (Done).
//
// Files are opened lazily on a body's first byte, so empty bodies open
// nothing. A file the sink declines (Write false) is not decoded further;
// when the rest of its body has a known wire length (Content-Length, or
// the current chunk's data) Data returns it as skip. A declined file is
// still closed when its body ends on the wire, with the framing's verdict.
//
// Gaps: inside an identity body whose framing survives (Content-Length, a
// chunk's data, until close) the file gets File.Gap and goes on. Inside a
// decoded body the file is cut (CutGap) but the framing, if it survives,
// is kept. A gap that breaks the framing (across a chunk line or a
// message's end, inside a header block) desynchronises the direction.
//
// Resynchronisation is conservative and happens only at the start of a
// Data call: the server direction when the bytes start with a status line
// ("HTTP/1.x NNN"), the client direction when they start with a complete
// request line ("METHOD target HTTP/1.x"). After a response resync only
// the most recent request is kept for pairing, since the non-pipelined
// exchange is by far the common one. After more than 16 desyncs on one
// connection the parser gives up (Done).
//
// Decoders run as coroutines (iter.Pull) over the standard library's pull
// readers: each Data call feeds the bytes it got and collects whatever
// output they yield, so nothing waits on the network and no body is held
// in memory. Memory per connection is bounded by two header blocks
// (MaxHeaderBytes), the request FIFO (MaxPipelined entries of strings
// clipped to extract.MaxHeaderValue) and, per decoded body, the decoders'
// windows: 32 KiB for deflate and gzip, the stream's window for brotli
// (at most 16 MiB, the format's limit), plus a 32 KiB output buffer.
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
