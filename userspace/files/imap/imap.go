// Package imap follows one IMAP4rev1/rev2 connection, both directions, and
// hands the messages it carries to an transfer.MessageSink: the literals
// of FETCH items that hold a whole message (BODY[], BODY[]<0>, RFC822,
// BINARY[]) or one part of it (BODY[2], BINARY.PEEK[1.2]), and the
// messages a client uploads with APPEND.
//
// Framing. Both directions are lines, except that a line may end in a
// literal "{n}" / "{n+}" (RFC 7888) / "~{n}" (RFC 3516) announcing n raw
// bytes, after which the line goes on. The parser follows every literal
// by count, so it stays in sync whatever the literal holds; literals it
// does not use are handed back as skip from Data.
//
// Server side. An untagged FETCH is tokenised item by item (nested
// lists, quoted strings, literals anywhere): the value of a whole-message
// item at the top level of the list becomes a message (a quoted string
// too). Part sections (BODY[1.2], BINARY[2]) are a part's body without
// its MIME header: the header is rebuilt from the message's BODYSTRUCTURE
// (structure.go), the message's senders and subject are put in front
// from its ENVELOPE or header section (envelope.go), and the part goes on
// as a one-part message. TEXT and MIME sections, RFC822.TEXT and pieces
// of parts are skipped and counted.
// BODY[]<0> is a message that may be truncated by the client's partial
// range, or the first piece of a message fetched in pieces (BODY[]<0.N>,
// then <N.M>..., as desktop clients fetch large messages): the pieces that
// follow on are joined into one message, which is closed Whole when its
// RFC822.SIZE (from this response or an earlier one) is reached or when a
// piece is shorter than the client asked for, and transfer.CutNotFinal
// when the client moves on to another message first.
//
// Client side. Tagged commands are followed for SELECT/EXAMINE (the
// mailbox, Meta.Mailbox), STARTTLS and COMPRESS (once the server's tagged
// OK to them is seen the rest is opaque: Done), AUTHENTICATE (the SASL
// lines after it) and APPEND (its message literal). A synchronising
// literal "{n}" is assumed sent: a server refusing it (a tagged NO/BAD
// instead of "+") costs at most n bytes of sync. Credentials are never
// stored: lines that arrive whole are parsed in place; a split line is
// stored only up to the command name for LOGIN and AUTHENTICATE (their
// literals are skipped by count), and during a SASL exchange the start of
// a split line is only counted until a space shows it is a command (whose
// tag is then not kept).
//
// Desync and resync. A gap inside a literal goes to the message
// (Message.Gap) and the count goes on: still in sync. A gap inside a line
// loses the framing: lines are then skipped until one opens a response
// ("* " and a number and FETCH, EXISTS, EXPUNGE or RECENT, or a known
// untagged keyword, or a tag with OK/NO/BAD) on the server side, or a
// tagged known command on the client side. When the gap took a literal's
// announcement, the message in it is reported all the same, its start
// lost (lost.go, Stats.LostMessages). A connection whose first line
// either way is not IMAP stops the parser (Done).
//
// Memory (Footprint): one line per direction (MaxLine), the names and
// header sections literals keep, what is kept by message number (sizes,
// structures, mail contexts: each bounded) and the open messages'.
//
// Mailbox. Meta.Mailbox is the mailbox of the latest SELECT/EXAMINE the
// client sent (cleared if the server refuses it). When the server's
// stream is fed far ahead of the client's, a FETCH may be seen before
// the SELECT and go without its mailbox.
package imap

import "github.com/edgesensor/edgesensor/userspace/files/transfer"

// Options bound what one connection may hold. Zero values take defaults.
type Options struct {
	// MaxLine bounds the part of a line that is stored (64 KiB). Longer
	// lines are followed (their literals too) but their items not read.
	MaxLine int
	// MaxLiteral bounds a message (256 MiB): a longer literal is cut
	// there (transfer.CutLimit) and the rest skipped by count.
	MaxLiteral int64
}

func (o Options) withDefaults() Options {
	if o.MaxLine <= 0 {
		o.MaxLine = 64 << 10
	}
	if o.MaxLine < 128 {
		o.MaxLine = 128 // room for a tag and a command name
	}
	if o.MaxLiteral <= 0 {
		o.MaxLiteral = 256 << 20
	}
	return o
}

// Stats counts what the parsers saw. Plain counters: a Stats is owned by
// the goroutine that runs its parsers.
type Stats struct {
	Commands      uint64 // client commands recognised
	Responses     uint64 // server responses (untagged, tagged, continuation)
	Fetches       uint64 // untagged FETCH responses
	Messages      uint64 // messages opened from FETCH items
	Appends       uint64 // messages opened from APPEND
	Partials      uint64 // of Messages, BODY[]<0> partial ones
	Quoted        uint64 // message items sent as quoted strings
	Nil           uint64 // message items that were NIL
	Sections      uint64 // pieces of parts (BODY[2]<0.100>) skipped
	Parts         uint64 // part sections (BODY[1.2], BINARY[2]) handed on as one-part messages
	PartsGuessed  uint64 // of Parts, those with no BODYSTRUCTURE: BODY[n] taken as base64, BINARY[n] as decoded
	Structures    uint64 // BODYSTRUCTUREs read
	StructBad     uint64 // BODYSTRUCTUREs that did not parse or held a literal
	StructDropped uint64 // times the kept structures (or mail contexts) were cleared at their bound
	Contexts      uint64 // ENVELOPEs and header sections whose From/To/Subject were kept
	HeaderText    uint64 // TEXT, MIME and HEADER.FIELDS.NOT sections and RFC822.TEXT skipped
	Offsets       uint64 // partial items not at offset 0 nor following a piece seen, skipped
	Pieces        uint64 // pieces (BODY[]<n>, n > 0) joined to a message fetched in pieces
	Literals      uint64 // literals, both directions
	Skipped       uint64 // literal bytes handed back as skip
	Bytes         uint64 // message bytes handed to the sink
	Limit         uint64 // messages cut at MaxLiteral
	Malformed     uint64 // lines or items that are not IMAP
	LongLines     uint64 // lines longer than MaxLine
	Gaps          uint64 // gaps reported, either direction
	LostMessages  uint64 // messages a gap took the start of (a FETCH's or APPEND's literal announcement), reported with Message.Gap first
	Desync        uint64 // times a direction lost the line framing
	Resync        uint64 // times it found it again
	StartTLS      uint64 // connections that went TLS
	Compress      uint64 // connections that went COMPRESS=DEFLATE
	NotIMAP       uint64 // connections given up as not IMAP
}

// Parser follows one IMAP connection. It implements transfer.Parser.
type Parser struct {
	sink transfer.MessageSink
	opt  Options
	st   *Stats

	done, closed bool

	c clientSide
	s serverSide

	mailbox string // selected mailbox
	selTag  []byte // tag of the SELECT/EXAMINE that set it
	tlsTag  []byte // tag of STARTTLS or COMPRESS
	tlsKind int    // cSTARTTLS or cCOMPRESS

	// chain is a message fetched in pieces (BODY[]<0.N>, then <N.M>...),
	// open between its responses; pieceReqs are the piece requests whose
	// tagged response has not come.
	chain     chain
	pieceReqs []pieceReq

	// msgFetches are the tags of client FETCHes asking for messages or
	// parts, whose tagged response has not come (lost.go).
	msgFetches []string

	// By message number: the RFC822.SIZEs seen, the part headers of the
	// BODYSTRUCTUREs (for the part sections fetched after them), and the
	// From, To, Cc, Subject and Message-ID lines of ENVELOPEs and header
	// sections.
	sizes    bySeq[int64]
	structs  bySeq[[]partHeader]
	contexts bySeq[string]
}

var _ transfer.Parser = (*Parser)(nil)

// pieceReq is a client FETCH asking for pieces of messages
// (BODY.PEEK[]<off.len>): its tag and the length asked for.
type pieceReq struct {
	tag string
	n   int64
}

// maxPieceReqs bounds the piece requests followed; past it the oldest go.
const maxPieceReqs = 8

// maxSizes bounds the RFC822.SIZEs kept per connection (they take no
// bytes of the bySeq bound).
const maxSizes = 4096

// chain is a message whose next piece is awaited.
type chain struct {
	msg  transfer.Message
	seq  uint32
	next int64 // the offset the next piece starts at
	gap  bool
}

// New returns a parser that opens messages on sink and counts into stats
// (a private Stats when nil).
func New(sink transfer.MessageSink, opts Options, stats *Stats) *Parser {
	if stats == nil {
		stats = new(Stats)
	}
	return &Parser{sink: sink, opt: opts.withDefaults(), st: stats,
		sizes:    newBySeq[int64](maxSizes, 0),
		structs:  newBySeq[[]partHeader](maxStructMsgs, maxStructBytes),
		contexts: newBySeq[string](maxStructMsgs, maxEnvBytes),
	}
}

// Data takes the next in-order bytes of one direction.
func (p *Parser) Data(fromClient bool, b []byte) (skip int64) {
	if p.done || p.closed {
		return 0
	}
	if fromClient {
		p.clientFeed(b)
		return p.clientSkip()
	}
	p.serverFeed(b)
	return p.serverSkip()
}

// Gap says n bytes of one direction are missing.
func (p *Parser) Gap(fromClient bool, n int64) {
	if p.done || p.closed || n <= 0 {
		return
	}
	p.st.Gaps++
	if fromClient {
		p.clientGap(n)
	} else {
		p.serverGap(n)
	}
}

// End says one direction ended: what it left unfinished is closed.
func (p *Parser) End(fromClient bool) {
	if p.closed {
		return
	}
	if fromClient {
		p.c.lit.abort(transfer.CutEnded)
		return
	}
	p.s.lit.abort(transfer.CutEnded)
	p.finishResponse()
	p.closeChain(transfer.CutEnded)
	p.reportLost(true)
}

// Close ends the connection; unfinished messages are closed CutEnded.
func (p *Parser) Close() {
	if p.closed {
		return
	}
	p.End(true)
	p.End(false)
	p.closed = true
	p.c.seg = seg{}
	p.s.seg = seg{}
}

// Done reports that nothing more of interest can come (TLS, compression,
// not IMAP).
func (p *Parser) Done() bool { return p.done }

// stop gives the connection up, closing what is open.
func (p *Parser) stop() {
	p.c.lit.abort(transfer.CutEnded)
	p.s.lit.abort(transfer.CutEnded)
	p.finishResponse()
	p.closeChain(transfer.CutEnded)
	p.done = true
}

func (p *Parser) notIMAP() {
	p.st.NotIMAP++
	p.stop()
}

// buffered is what the parser holds (for tests of its bounds).
func (p *Parser) buffered() int {
	return len(p.c.seg.buf) + len(p.s.seg.buf) + len(p.c.lit.name) + len(p.s.lit.name) + len(p.s.quoted)
}
