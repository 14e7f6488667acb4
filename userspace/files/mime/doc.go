// Package mime splits mail messages into files. It implements
// transfer.MessageSink: the SMTP and IMAP parsers push each RFC 5322
// message through it, and it opens one transfer.File per leaf MIME part
// (attachments and text bodies alike) carrying the part's decoded bytes.
//
// Parsing is a stream: a message or a part is never held whole. The state
// of a message is bounded by Options: one header block (MaxHeaderBytes)
// of which only the fields the extractor reads are kept (hfield.go: a
// flood of other header lines costs one field),
// one line start while deciding whether it is a boundary (MaxLine), the
// boundaries of the open multiparts (MaxDepth), a few bytes of decoder
// state, and a 16 KiB output buffer shared by all messages of an
// Extractor.
//
// Choices the RFCs leave open:
//
//   - Delimiters. "--boundary" at the start of a line, then only
//     transport padding (spaces, tabs) before the line end; the line end
//     before it belongs to the delimiter, not to the part. A close
//     delimiter "--boundary--" may be followed by anything on its line.
//     The innermost multipart's boundary is tried first; an outer one also
//     ends the inner multiparts (each counted in Stats.MissingBoundary).
//   - A missing close delimiter at message end: mail clients tolerate it,
//     so when the message itself is Whole the open part is closed Whole if
//     its decoding ended cleanly (CutCorrupt if base64 lost bits), and the
//     multipart is counted in Stats.MissingBoundary. When the message is
//     cut, the open part takes the message's cut.
//   - Gaps. An identity-coded part (7bit, 8bit, binary, unknown) gets
//     File.Gap and goes on, closed CutGap at its end. In a base64,
//     quoted-printable or uuencoded part n wire bytes map to an unknown
//     number of decoded bytes (line breaks, escapes), so the part is
//     closed CutGap at once and the rest of it skipped. A gap in a header
//     block (a message whose start was lost, or a part's) loses that
//     entity: it is reported as a file with Meta.HeadLost, no bytes,
//     WireGap of the gap, closed CutGap, with the envelope and the
//     fields complete before the gap. After a gap the scanner assumes it
//     is at a line start, so a boundary right after the gap is still
//     seen.
//   - Malformed encodings. Base64 characters outside the alphabet are
//     skipped and quoted-printable escapes that are not escapes are kept
//     literally, as mail clients do (counted per part); base64 that loses
//     bits (a lone sextet) closes the part CutCorrupt.
//   - Attached messages (message/rfc822, message/global) carried
//     base64, quoted-printable or uuencoded: RFC 2046 5.2.1 forbids it,
//     but mail clients open them, so the decoded bytes feed a child
//     message parsed like the rest (its files carry the outer message's
//     senders; Stats.Encoded). It takes one level of MaxDepth like an
//     identity-coded one, shares the message's MaxParts, and decodes
//     into a buffer of its own (4 KiB per level, kept by the Extractor).
//     A gap in its encoded bytes cuts what is open in it (CutGap, the
//     wire bytes in WireGap, or a HeadLost entity) and skips its rest.
//   - Duplicate Content-* fields: the first wins. Parts without a
//     Content-Type are text/plain (message/rfc822 in multipart/digest).
//     A multipart without a usable boundary is extracted as one leaf.
//   - Containers past MaxDepth and parts past MaxParts are skipped (their
//     bytes scanned for the enclosing boundaries only) and counted.
//
// Meta.Time of every file is the message's Time: the message sink does
// not see per-packet times.
//
// Memory: a message's Footprint (transfer.Footprinter) is its state, its
// header block and boundaries, and its decoders' (a few bytes for base64,
// about 140 for quoted-printable and 90 for uuencode, all inside the
// message: no windows) and its encoded attached message's, if one is
// open; the Extractor's is the 16 KiB output buffer its messages share
// and the 4 KiB ones of the encoded attached messages' levels. The
// protocol parsers add their open messages' Footprint to their own.
//
// An Extractor and the messages it opens belong to one goroutine: Stats
// are plain counters the caller reads and aggregates.
package mime
