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
// then <N.M>..., as desktop clients fetch large messages): its pieces are
// joined into one message (pieces.go), in order or not, overlapping or
// not (overlaps must agree, else transfer.CutConflict; pieces ahead are
// held within MaxPieceHold), which is closed Whole when its RFC822.SIZE
// (from this response or an earlier one) is reached or when the bytes up
// to a piece shorter than the client asked for have all come, and
// transfer.CutNotFinal when the client moves on to another message first.
// A piece belongs to the message when its message number, mailbox and
// (when the responses carry it) UID are the same, and is joined only when
// a piece request under way asked for its offset and no fewer bytes
// (Stats.PieceUnasked: a client may place what comes by its own request,
// not by the response's origin); pieces joined with no request seen
// (the client's lines lost) never make a whole message.
//
// Client side. Tagged commands are followed for SELECT/EXAMINE (the
// mailbox, Meta.Mailbox), STARTTLS (once the server's tagged OK to it is
// seen the rest is opaque: Done), COMPRESS (compress.go: once the
// server's tagged OK to it is seen both directions are inflated and
// parsed as before; a gap, a stream that is not deflate, a bomb past
// MaxInflateRatio or more than MaxCompressed connections inflating at
// once stop the parser, what is open cut), AUTHENTICATE (the SASL
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
// structures, mail contexts: each bounded), the open messages', for a
// message in pieces its held pieces (MaxPieceHold) and the last 64 KiB
// written (to check overlaps), and under COMPRESS two inflaters (flate's
// 32 KiB window and tables, an 8 KiB output buffer and the coroutine's
// stack: about 60 KiB each) and up to 16 KiB of client bytes held while
// COMPRESS is answered. A COMPRESS (or STARTTLS) the server accepts
// before the client's command is seen (the client's direction held back)
// is not followed: the bytes after the OK are read as plain, and a
// hostile server's stored deflate blocks read almost as they inflate.
// When the command comes and its tag is one the server already said OK
// to, that is counted (Stats.CompressOrder) and nothing more: a server
// could send that OK ahead on purpose, and stopping would let it
// silence the rest.
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
	// MaxCompressed bounds the connections inflating COMPRESS=DEFLATE
	// at once, over all parsers of the process (DefaultMaxCompressed):
	// past it a connection that starts compression is given up (Done).
	MaxCompressed int
	// MaxInflateRatio bounds inflated/compressed bytes per direction past
	// 1 MiB of output (DefaultMaxInflateRatio): a bomb stops the parser.
	MaxInflateRatio int
	// MaxPieceHold bounds the bytes of a message fetched in pieces held
	// ahead of the next offset (DefaultMaxPieceHold): pieces that come
	// out of order wait there for the bytes before them.
	MaxPieceHold int64
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
	if o.MaxPieceHold <= 0 {
		o.MaxPieceHold = DefaultMaxPieceHold
	}
	if o.MaxCompressed <= 0 {
		o.MaxCompressed = DefaultMaxCompressed
	}
	if o.MaxInflateRatio <= 0 {
		o.MaxInflateRatio = DefaultMaxInflateRatio
	}
	return o
}

// Stats counts what the parsers saw. Plain counters: a Stats is owned by
// the goroutine that runs its parsers.
type Stats struct {
	Commands       uint64 // client commands recognised
	Responses      uint64 // server responses (untagged, tagged, continuation)
	Fetches        uint64 // untagged FETCH responses
	Messages       uint64 // messages opened from FETCH items
	Appends        uint64 // messages opened from APPEND
	Partials       uint64 // of Messages, BODY[]<0> partial ones
	Quoted         uint64 // message items sent as quoted strings
	Nil            uint64 // message items that were NIL
	Sections       uint64 // pieces of parts (BODY[2]<0.100>) skipped
	Parts          uint64 // part sections (BODY[1.2], BINARY[2]) handed on as one-part messages
	PartsGuessed   uint64 // of Parts, those with no BODYSTRUCTURE: BODY[n] taken as base64, BINARY[n] as decoded
	Structures     uint64 // BODYSTRUCTUREs read
	StructBad      uint64 // BODYSTRUCTUREs that did not parse or held a literal
	StructDropped  uint64 // times the kept structures (or mail contexts) were cleared at their bound
	Contexts       uint64 // ENVELOPEs and header sections whose From/To/Subject were kept
	HeaderText     uint64 // TEXT, MIME and HEADER.FIELDS.NOT sections and RFC822.TEXT skipped
	Offsets        uint64 // pieces not joined: of another message while one is under way, overlapping further back than kept, or unreadable origins
	Pieces         uint64 // pieces (BODY[]<n>, n > 0) taken for a message fetched in pieces, in order or not
	PieceLimit     uint64 // messages in pieces whose out-of-order pieces passed MaxPieceHold, or overlapped further back than kept
	PieceConflicts uint64 // messages in pieces cut because overlapping pieces disagreed (CutConflict)
	PiecesDropped  uint64 // pieces held for a message whose start never came
	PieceUnasked   uint64 // pieces at an offset no piece request under way asked for, or longer than asked: not joined
	Literals       uint64 // literals, both directions
	Skipped        uint64 // literal bytes handed back as skip
	Bytes          uint64 // message bytes handed to the sink
	Limit          uint64 // messages cut at MaxLiteral
	Malformed      uint64 // lines or items that are not IMAP
	LongLines      uint64 // lines longer than MaxLine
	Gaps           uint64 // gaps reported, either direction
	LostMessages   uint64 // messages a gap took the start of (a FETCH's or APPEND's literal announcement), reported with Message.Gap first
	Desync         uint64 // times a direction lost the line framing
	Resync         uint64 // times it found it again
	StartTLS       uint64 // connections that went TLS
	Compress       uint64 // connections that went COMPRESS=DEFLATE
	Inflated       uint64 // bytes inflated, both directions
	CompressLimit  uint64 // of Compress, given up at MaxCompressed
	CompressGaps   uint64 // compressed connections stopped by a gap (the rest cannot be inflated)
	CompressBomb   uint64 // compressed connections stopped at MaxInflateRatio
	CompressError  uint64 // compressed streams that were not deflate, or ended
	CompressLost   uint64 // connections given up because the client's bytes after COMPRESS came too far ahead of the answer
	CompressOrder  uint64 // COMPRESS or STARTTLS commands whose tag the server had said OK to before they came (fed late: the bytes after that OK were read as plain)
	NotIMAP        uint64 // connections given up as not IMAP
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

	// chain is a message fetched in pieces (BODY[]<0.N>, then <N.M>...,
	// pieces.go), open between its responses; pieceReqs are the piece
	// requests whose tagged response has not come.
	chain     chain
	pieceReqs []pieceReq

	// compressing: this parser holds a slot of compressedConns.
	compressing bool

	// The tags of the latest client commands, and of the server's tagged
	// OKs that came without their command seen (hashed): a COMPRESS or
	// STARTTLS whose OK was fed first is caught.
	cmdTags, earlyOK tagRing

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
// (BODY.PEEK[]<off.len>): its tag, the offset and the length asked for.
type pieceReq struct {
	tag    string
	off, n int64
	uid    uint32 // UID FETCH of one UID: it; else 0
}

// maxPieceReqs bounds the piece requests followed; past it the oldest go.
const maxPieceReqs = 8

// maxSizes bounds the RFC822.SIZEs kept per connection (they take no
// bytes of the bySeq bound).
const maxSizes = 4096

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
		if p.c.z != nil || p.c.zwait {
			return 0 // compressed bytes cannot be skipped
		}
		return p.clientSkip()
	}
	p.serverFeed(b)
	p.releasePending()
	if p.s.z != nil {
		return 0
	}
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
	p.releaseCompress()
	p.closed = true
	p.c.seg = seg{}
	p.s.seg = seg{}
}

// Done reports that nothing more of interest can come (TLS, not IMAP,
// or compression given up).
func (p *Parser) Done() bool { return p.done }

// stop gives the connection up, closing what is open.
func (p *Parser) stop() { p.stopCut(transfer.CutEnded) }

// stopCut gives the connection up, closing what is open with cut.
func (p *Parser) stopCut(cut transfer.Cut) {
	p.c.lit.abort(cut)
	p.s.lit.abort(cut)
	p.finishResponse()
	p.closeChain(cut)
	p.releaseCompress()
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
