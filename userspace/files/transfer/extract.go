// Package transfer holds the contracts between the stages of file
// extraction, so each stage is a small package testable on its own:
//
//	reassembly (in-order bytes per direction)
//	  → a protocol Parser (httpx, smtp, imap)
//	      → for mail, a MessageSink (mime) that splits messages into parts
//	          → a Sink (the file pipeline): typing, hashing, spooling, events
//
// Everything is push-based and synchronous: a stage hands bytes to the
// next and never keeps a reference to a slice it was given.
package transfer

import "time"

// Protocol names as they appear in events (network.protocol).
const (
	HTTP = "http"
	SMTP = "smtp"
	IMAP = "imap"
)

// Meta is what the protocol knows about a file, beside its bytes.
// Strings come from the wire: bounded by the parsers (MaxHeaderValue),
// never trusted, never required to be valid UTF-8.
type Meta struct {
	Protocol string // HTTP, SMTP or IMAP
	// Name is the file name the sender gave: Content-Disposition
	// (filename*, then filename), the MIME name parameter, else the last
	// element of the URL path. Only the base name, no directories.
	Name string
	// ContentType is the claimed media type, lower case, no parameters.
	ContentType string
	// Size is the declared size of the decoded file, -1 when unknown.
	Size int64
	// Upload is set when the file travels client -> server (HTTP request
	// bodies; all mail a client submits over SMTP).
	Upload bool
	// Time is when the file's first byte was seen (capture time).
	Time time.Time

	// HTTP.
	Method string
	// URL is "http://" + Host + request target; the target alone when
	// absolute (userinfo left out), and when there was no Host ("/path":
	// the caller adds the server's address). Host is the Host field, or
	// an absolute target's authority, which a proxy goes by whatever
	// Host says (RFC 9112 §3.2.2).
	URL             string
	Host            string
	UserAgent       string
	Status          int
	ContentEncoding string // the encoding that was decoded ("gzip", "deflate", "br"), "" for none
	// Transfer says how the body travelled: "content-length", "chunked",
	// "close" (until the connection closed), "base64",
	// "quoted-printable", "7bit", "8bit", "binary", "literal".
	Transfer string
	// Tunnel is the CONNECT target ("host:port") of the proxy tunnel the
	// HTTP exchange travelled in, "" when it was not in one. Host and URL
	// are then the inner request's: the server behind the proxy.
	Tunnel string

	// Mail (SMTP envelope, message headers; IMAP has no envelope).
	MailFrom string   // SMTP MAIL FROM address, without <>
	RcptTo   []string // SMTP RCPT TO addresses, without <>
	From     []string // header From addresses
	To       []string // header To addresses
	Cc       []string // header Cc addresses
	Subject  string   // decoded (RFC 2047) Subject
	// MessageID is the Message-ID header, without <>.
	MessageID string
	// Mailbox is the IMAP mailbox selected when the message was fetched.
	Mailbox string

	// HeadLost marks a file that stands for a transfer whose head was
	// lost to a gap (an HTTP response header, a mail message's or
	// part's header): its type, name and size are unknown (beside what
	// the other side said: the URL and method of the request it
	// answered). No bytes are written to it: it gets WireGap(n) with
	// the wire bytes that could not be read, when known, and closes
	// incomplete (CutGap, or CutDesync when its extent is unknowable).
	// The pipeline reports it although its type cannot be decided, so
	// that a transfer the sensor could not judge is seen, not dropped
	// as an empty body.
	HeadLost bool

	// Range marks one piece of a file fetched in ranges (an HTTP 206
	// body): its bytes are Range.First to Range.Last of a file of
	// Range.Total bytes, not a file of their own. The sink joins the
	// pieces of one file (nil for a whole body).
	Range *Range
}

// Range is where a piece sits in its file, and what names the file's
// version (an HTTP validator: ETag, else Last-Modified; "" for none).
type Range struct {
	First, Last, Total int64
	Validator          string
}

// MaxHeaderValue bounds every string a parser copies into Meta; longer
// values are cut (and MaxAddresses bounds the address lists).
const (
	MaxHeaderValue = 1024
	MaxAddresses   = 64
)

// Cut says why a file or message ended before its end, or "" when it is
// whole. A file with any Cut other than "" is incomplete: it never carries
// a hash presented as the whole file's.
type Cut string

// Reasons a file ends incomplete.
const (
	Whole       Cut = ""
	CutGap      Cut = "gap"       // bytes missing on the wire (see File.Gap)
	CutEnded    Cut = "ended"     // the connection ended (FIN, RST, expiry) before the file did
	CutLimit    Cut = "limit"     // a size limit of the sensor was hit
	CutBomb     Cut = "bomb"      // decompression exceeded the size or ratio limit
	CutCorrupt  Cut = "corrupt"   // the encoding (chunked, gzip, base64...) was malformed
	CutDesync   Cut = "desync"    // the parser lost the protocol's framing
	CutNotFinal Cut = "not_final" // the body ended early per its own framing (e.g. short Content-Length then close)
	CutConflict Cut = "conflict"  // bytes came twice with different content; the host may have kept either
)

// File receives one file's decoded bytes, in order.
type File interface {
	// Write appends decoded bytes. It returns false once the sink has
	// decided it does not want the rest (not a candidate): the caller
	// should stop decoding and discard the rest of the file, and must
	// still call Close.
	Write(p []byte) (more bool)
	// Gap records that n decoded bytes are missing at this point; the
	// file is incomplete but may go on (identity-coded bodies).
	Gap(n int64)
	// Close ends the file; cut is Whole when every byte was written.
	Close(cut Cut)
}

// WireGapper is an optional method of a File: n bytes are missing inside
// the file's encoded form (base64, quoted-printable, gzip...), where no
// decoder can tell how many file bytes they held. The caller reports them
// just before it closes the file CutGap.
type WireGapper interface {
	WireGap(n int64)
}

// Sink opens files. The file pipeline implements it.
type Sink interface {
	// Open starts a file. m is only read during the call.
	Open(m *Meta) File
}

// Message receives one mail message (RFC 5322 bytes, CRLF line ends,
// transport framing removed: dot-unstuffed, BDAT chunks joined, IMAP
// literal delimiters stripped).
//
// A Gap that falls in a header block (the message's own, before any
// Write, when a protocol parser found a message whose start it lost, or
// a part's) loses that entity: the sink cannot tell its type or where
// its body starts, and reports it as a file with Meta.HeadLost.
type Message interface {
	Write(p []byte)
	Gap(n int64)
	Close(cut Cut)
}

// MessageSink opens messages. The MIME extractor implements it and opens
// one File per leaf part, with the envelope from m and headers it parses.
type MessageSink interface {
	OpenMessage(m *Meta) Message
}

// Parser follows one TCP connection of one protocol, both directions.
// The caller hands it the in-order bytes of each direction as they come,
// interleaved in capture order.
type Parser interface {
	// Data hands the next in-order bytes of one direction. The result is
	// how many bytes directly after p the parser does not need (the rest
	// of a body it will not look at): the caller drops them unseen and
	// may keep them in the kernel. Bytes of that range the caller
	// already holds are dropped too, so a parser must treat them as
	// consumed.
	Data(fromClient bool, p []byte) (skip int64)
	// Gap says n bytes of one direction are missing at this point.
	Gap(fromClient bool, n int64)
	// End says one direction ended (FIN or RST).
	End(fromClient bool)
	// Close ends the connection (both directions over, or expiry):
	// every open file and message is closed, cut if unfinished.
	Close()
	// Done reports that nothing more of interest can come on the
	// connection (STARTTLS, protocol upgrade, a protocol it does not
	// speak): the caller stops feeding it and lets the kernel ignore
	// the flow.
	Done() bool
	// Footprint reports the bytes the parser holds now: its own state,
	// line and header buffers, queued requests or commands, decoders'
	// windows, and what the message sink holds for the messages the
	// parser has open (through Footprinter). Files' own memory is the
	// sink's to count. It is O(1): the caller may call it after every
	// Data and count it against its memory budget.
	Footprint() int
}

// Footprinter is an optional method of a Message (and of a MessageSink
// for what it holds beside its messages): the bytes it holds now, O(1).
// A Parser adds the Footprint of the messages it has open to its own.
type Footprinter interface {
	Footprint() int
}

// FootprintOf is x's Footprint when it has one, else 0.
func FootprintOf(x any) int {
	if f, ok := x.(Footprinter); ok {
		return f.Footprint()
	}
	return 0
}

// BodyPending is an optional method of a Parser: the body one direction
// is reading. inBody is false between messages; else want says its bytes
// go to a file (a candidate, or one not yet typed), and remain is the
// wire bytes left of it when its length is known, -1 when not (chunked,
// or until the connection closes). Enforcement holds a download's last
// bytes by it.
type BodyPending interface {
	Pending(fromClient bool) (remain int64, want, inBody bool)
}
