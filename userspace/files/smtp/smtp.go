// Package smtp follows one SMTP connection, both directions, and hands
// every message a client submits to an transfer.MessageSink: DATA sections
// dot-unstuffed, BDAT chunks (RFC 3030) joined.
//
// Pipelining and interleaving. The two directions reach the parser only
// roughly in time order, so a command's reply may be fed before or after
// the command. Commands wait in a bounded FIFO, replies in another, and
// they are paired in order as both become known (RFC 2920: replies come in
// command order). After DATA the client's next bytes are a message only if
// the server said 354, so they are held (Options.MaxHold) until DATA's
// reply is paired. When that reply cannot come (server direction ended,
// pairing given up) or the hold is full, the parser decides from the
// client's behaviour: the held bytes are commands if their first line is a
// known command, else a message (a conforming client sends nothing after
// DATA before the 354, and a message's first line is a header field, which
// never reads as a command). A guess the reply later contradicts is
// counted (Stats.Misguessed).
//
// Desync and resync. A gap outside a message gives up the pairing of
// commands and replies for the rest of the connection (Stats.Unpaired:
// later DATA replies are guessed as above), and the client side skips
// lines until one is a known command. A gap inside a message goes to the
// message (Message.Gap) and the parser keeps looking for the end of data.
// What a gap took is told from what follows it (resync.go): a message
// whose DATA or first BDAT chunk was lost is still opened, with the gap
// first (Stats.LostStarts: the MIME extractor reports it as a file whose
// head was lost); a message whose end of data was lost ends, cut, at the
// next transaction's command or at a server reply (Stats.LostEnds); a
// BDAT command is found after a chunk even mid-line. Memory (Footprint):
// the parser's state, one line per direction (MaxLine), the hold after
// DATA (MaxHold), the queues (MaxPending) and the open message's.
// A connection whose first line either way is not SMTP stops the parser
// (Done), as does STARTTLS once accepted.
//
// Credentials: the arguments of AUTH and the SASL lines that follow it are
// never stored. A line that arrives whole is parsed in place; a line split
// across calls is stored one byte at a time while it may still be AUTH or
// (during a SASL exchange) a command: AUTH is acted on at "AUTH " and the
// rest dropped; a SASL response is dropped, and its stored bytes cleared,
// at its first byte that cannot continue a command verb.
package smtp

import (
	"unsafe"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// Options bound what one connection may hold. Zero values take defaults.
type Options struct {
	// MaxLine bounds a command or reply line (4 KiB). Longer lines inside
	// a message are content and fine.
	MaxLine int
	// MaxRecipients bounds the RCPT TO addresses kept in Meta (100);
	// more are counted (Stats.RcptDropped).
	MaxRecipients int
	// MaxMessage bounds a message (256 MiB, gaps included): the message is
	// cut there (transfer.CutLimit) and the rest of it dropped.
	MaxMessage int64
	// MaxHold bounds the client bytes held after DATA until its reply is
	// known (64 KiB).
	MaxHold int
	// MaxPending bounds commands awaiting replies and replies awaiting
	// commands (256 each); beyond, pairing is given up.
	MaxPending int
}

func (o Options) withDefaults() Options {
	if o.MaxLine <= 0 {
		o.MaxLine = 4 << 10
	}
	if o.MaxLine < classifyLen {
		o.MaxLine = classifyLen
	}
	if o.MaxRecipients <= 0 {
		o.MaxRecipients = 100
	}
	if o.MaxMessage <= 0 {
		o.MaxMessage = 256 << 20
	}
	if o.MaxHold <= 0 {
		o.MaxHold = 64 << 10
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 256
	}
	return o
}

// Stats counts what the parsers saw. Plain counters: a Stats is owned by
// the goroutine that runs its parsers.
type Stats struct {
	Commands    uint64 // client commands recognised
	Replies     uint64 // complete server replies
	Messages    uint64 // messages opened on the sink
	Accepted    uint64 // messages the server accepted (2xx/3xx after end of data or BDAT LAST)
	Rejected    uint64 // messages the server refused (extracted all the same)
	Bytes       uint64 // message bytes handed to the sink
	StartTLS    uint64 // connections that went TLS
	BDATChunks  uint64 // BDAT commands
	RcptDropped uint64 // recipients beyond MaxRecipients
	Malformed   uint64 // lines that are not SMTP (unknown commands, bad replies, bad BDAT sizes)
	LongLines   uint64 // command or reply lines longer than MaxLine
	Gaps        uint64 // gaps reported, either direction
	Desync      uint64 // times the client side lost the command framing
	Resync      uint64 // times it found a command again
	Unpaired    uint64 // connections where command/reply pairing was given up
	LostStarts  uint64 // messages found after a gap took their DATA or first BDAT (their start lost: Message.Gap first)
	LostEnds    uint64 // messages whose end of data a gap took, ended at the next command or reply
	Guessed     uint64 // DATA replies decided from the client's bytes
	Misguessed  uint64 // guesses a later reply contradicted
	Limit       uint64 // messages cut at MaxMessage
	NotSMTP     uint64 // connections given up as not SMTP
}

// client side modes.
type cmode uint8

const (
	cmdMode    cmode = iota // command lines
	waitMode                // after DATA, holding bytes until the reply is known
	dataMode                // DATA section
	bdatMode                // inside a BDAT chunk
	desyncMode              // skipping lines until a known command
)

// Parser follows one SMTP connection. It implements transfer.Parser.
type Parser struct {
	sink transfer.MessageSink
	opt  Options
	st   *Stats

	done, closed bool

	// client direction
	mode          cmode
	cl            lineBuf
	cseen         bool // the first client line was checked
	sasl          bool // after AUTH: lines that are not commands are SASL responses
	afterStartTLS bool // the last command was STARTTLS
	hold          []byte
	holdNL        bool // hold has a line end
	dot           dotState
	bdatLeft      int64
	bdatLast      bool
	clientEnded   bool

	// the message being passed on
	inMsg  bool // a DATA or BDAT message is under way
	msg    transfer.Message
	msgN   int64 // bytes (and gap bytes) of the message so far
	msgGap bool
	env    envelope
	rcpts  []string // scratch for Meta.RcptTo

	// server direction
	sl          lineBuf
	sseen       bool // the first server line was checked
	serverTLS   bool // the server's bytes went TLS: ignored
	serverEnded bool

	cmds     ring[entry]
	replies  ring[uint16]
	unpaired bool

	// Resynchronisation after a client gap (resync.go): hole is the gap's
	// size and skipped the bytes passed over since, afterHole marks the
	// first line after it, fresh that a transaction began (MAIL, RSET,
	// HELO) since the desync; replies354 and datas count the server's 354
	// replies and the DATA commands seen, which tell a lost DATA.
	hole, skipped    int64
	lost             int64 // passed over before a resync, for the message it may open
	afterHole, fresh bool
	cutEnd           bool // lostEnd cut a message: a dot line next is its end
	replies354       uint64
	datas            uint64
}

var _ transfer.Parser = (*Parser)(nil)

// New returns a parser that opens messages on sink and counts into stats
// (a private Stats when nil).
func New(sink transfer.MessageSink, opts Options, stats *Stats) *Parser {
	if stats == nil {
		stats = new(Stats)
	}
	p := &Parser{sink: sink, opt: opts.withDefaults(), st: stats, fresh: true}
	p.cmds.max, p.replies.max = p.opt.MaxPending, p.opt.MaxPending
	p.cmds.push(entry{kind: kGreeting}) // the greeting answers the connection
	return p
}

// Data takes the next in-order bytes of one direction.
func (p *Parser) Data(fromClient bool, b []byte) (skip int64) {
	if p.done || p.closed {
		return 0
	}
	if !fromClient {
		p.serverFeed(b)
		p.drain()
		return 0
	}
	p.clientFeed(b)
	p.drain()
	// The rest of a BDAT chunk nobody wants (cut at the limit) need not
	// be read: hand it back as skip.
	if !p.done && p.mode == bdatMode && p.msg == nil && p.bdatLeft > 0 && len(p.hold) == 0 {
		skip = p.bdatLeft
		p.bdatLeft = 0
		p.chunkEnd()
	}
	return skip
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
		p.serverGap()
	}
	p.drain()
}

// End says one direction ended.
func (p *Parser) End(fromClient bool) {
	if p.done || p.closed {
		return
	}
	if fromClient {
		p.clientEnded = true
		p.settleWait()
		if p.mode == dataMode || p.mode == bdatMode {
			p.closeMsg(transfer.CutEnded)
			p.inMsg = false
			p.mode = cmdMode
		}
		return
	}
	p.serverEnded = true
	if p.mode == waitMode && p.replies.n == 0 {
		p.settleWait()
	}
}

// Close ends the connection; an unfinished message is closed CutEnded.
func (p *Parser) Close() {
	if p.closed {
		return
	}
	if !p.done {
		p.settleWait()
	}
	p.closeMsg(transfer.CutEnded)
	p.inMsg = false
	p.closed = true
	p.hold, p.cl.buf, p.sl.buf = nil, nil, nil
}

// Done reports that nothing more of interest can come (TLS, not SMTP).
func (p *Parser) Done() bool { return p.done }

// stop gives the connection up; a message under way is closed.
func (p *Parser) stop() {
	p.done = true
	p.closeMsg(transfer.CutEnded)
	p.inMsg = false
	p.hold = nil
}

func (p *Parser) notSMTP() {
	p.st.NotSMTP++
	p.stop()
}

func (p *Parser) startTLS() {
	p.st.StartTLS++
	p.stop()
}

// buffered is what the parser holds (for tests of its bounds).
func (p *Parser) buffered() int { return len(p.hold) + len(p.cl.buf) + len(p.sl.buf) }

// Footprint implements transfer.Parser: the parser's state, its line
// buffers (MaxLine each), the bytes held after DATA (MaxHold), the
// command and reply queues, the envelope, and what the message sink
// holds for the message under way.
func (p *Parser) Footprint() int {
	n := int(unsafe.Sizeof(*p)) + cap(p.cl.buf) + cap(p.sl.buf) + cap(p.hold)
	n += cap(p.cmds.buf)*int(unsafe.Sizeof(entry{})) + cap(p.replies.buf)*2
	n += p.env.bytes + cap(p.env.rcpt)*int(unsafe.Sizeof(rcpt{})) + cap(p.rcpts)*int(unsafe.Sizeof(""))
	if p.msg != nil {
		n += transfer.FootprintOf(p.msg)
	}
	return n
}
