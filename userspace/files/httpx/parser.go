package httpx

import "github.com/edgesensor/edgesensor/userspace/files/transfer"

// Parser follows HTTP/1.x on one TCP connection. It implements
// transfer.Parser; it is not safe for concurrent use.
type Parser struct {
	sink    transfer.Sink
	opts    Options
	stats   *Stats
	req     half // client -> server
	resp    half // server -> client
	fifo    fifo
	done    bool
	closed  bool
	desyncs int
	// rng is a file fetched in ranges, waiting for its next range.
	rng rangeChain
	// coroutines counts decoders started and not yet released.
	coroutines int
	// tunnel is the CONNECT target when the connection carries a proxy
	// tunnel now (tunnel.go); depth counts the tunnels opened, nested
	// in each other; tunnelHTTP is set once the tunnel's first request
	// was read.
	tunnel     string
	depth      int
	tunnelHTTP bool
	// bug records a broken internal invariant (tests look at it); it is
	// never expected to be set.
	bug string
}

var _ transfer.Parser = (*Parser)(nil)

// New returns a parser for one connection. stats may be nil.
func New(sink transfer.Sink, opts Options, stats *Stats) *Parser {
	if stats == nil {
		stats = new(Stats)
	}
	p := &Parser{sink: sink, opts: opts.withDefaults(), stats: stats}
	p.req = half{p: p, client: true, first: true}
	p.resp = half{p: p, first: true}
	p.fifo.max = p.opts.MaxPipelined
	return p
}

// Stats returns the counters the parser updates.
func (p *Parser) Stats() *Stats { return p.stats }

func (p *Parser) half(fromClient bool) *half {
	if fromClient {
		return &p.req
	}
	return &p.resp
}

// Data implements transfer.Parser.
func (p *Parser) Data(fromClient bool, b []byte) (skip int64) {
	if p.done || p.closed || len(b) == 0 {
		return 0
	}
	h := p.half(fromClient)
	if h.tee != nil {
		h.tee.write(p, b)
	}
	h.feed(b)
	if fromClient {
		p.maybeRelease()
	}
	if p.done {
		return 0
	}
	return h.trySkip()
}

// feed runs the direction's state machine over b.
func (h *half) feed(b []byte) {
	p := h.p
	for len(b) > 0 && !p.done {
		var n int
		st := h.st
		switch st {
		case stHead:
			n = h.head(b)
		case stBody:
			n = h.bodyData(b)
		case stDesync:
			n = h.seek(b)
		case stPaused:
			h.pause(b)
			return
		case stHold:
			n = h.hold(b)
		case stPeek101:
			n = h.peek(b)
		default: // ended: the rest is not ours to read
			return
		}
		if n == 0 && h.st == st {
			// Cannot happen; a parser stuck on the wire would hang the
			// sensor, so give up on the direction instead.
			p.bug = "no progress"
			h.desync(transfer.CutDesync)
			return
		}
		b = b[n:]
	}
}

// Gap implements transfer.Parser.
func (p *Parser) Gap(fromClient bool, n int64) {
	if p.done || p.closed || n <= 0 {
		return
	}
	p.stats.Gaps++
	p.stats.GapBytes += uint64(n)
	h := p.half(fromClient)
	switch h.st {
	case stHold:
		// The held bytes go first; the gap falls after them.
		h.releaseAllHeld()
		if p.done {
			return
		}
	case stPeek101:
		// What follows the 101 cannot be told now: it is taken as the
		// body, as curl takes it.
		h.settle101(false)
	}
	if h.tee != nil {
		// After the held bytes: they may have started the tee.
		h.tee.o.gap(p, &h.tee.meta, n)
	}
	switch h.st {
	case stHead:
		if h.hd.resync {
			// A resync candidate not yet confirmed: it may be bytes of
			// what was lost before, and goes with them.
			h.lostBytes += h.hd.bytes + h.acc.n + n
			h.hd = headState{}
			h.acc.reset()
			h.st, h.bol = stDesync, true
			return
		}
		// The gap took (part of) a message head: what it was for is
		// recorded, and the next message is sought.
		h.loseHead(n)
	case stBody:
		h.bodyGap(n)
	case stDesync:
		h.lostBytes += n
		h.bol = true
	case stPaused:
		h.pausedBytes += n
		// The tunnel's bytes cannot be replayed whole.
		h.heldLost, h.held = true, nil
	}
	if fromClient {
		p.maybeRelease()
	}
}

// End implements transfer.Parser.
func (p *Parser) End(fromClient bool) {
	if p.closed {
		return
	}
	p.half(fromClient).end()
	if fromClient {
		p.maybeRelease()
	}
}

// Close implements transfer.Parser.
func (p *Parser) Close() {
	if p.closed {
		return
	}
	// Server bytes of a tunnel held for the client's first request are
	// read before the end.
	p.resp.releaseAllHeld()
	p.closed = true
	// A body that reads until close and was not ended by End was cut by
	// expiry, not by the server: CutEnded for every open file.
	p.req.abort(transfer.CutEnded)
	p.resp.abort(transfer.CutEnded)
	p.closeRange(transfer.CutNotFinal)
	p.fifo.clear()
}

// Done implements transfer.Parser.
func (p *Parser) Done() bool { return p.done }

// finish marks the connection of no further interest and closes what is
// open, since the caller stops feeding the parser.
func (p *Parser) finish(cut transfer.Cut) {
	if p.done {
		return
	}
	p.done = true
	p.req.abort(cut)
	p.resp.abort(cut)
	p.closeRange(transfer.CutNotFinal)
}

func (p *Parser) notHTTP() {
	if p.tunnel != "" && p.req.first {
		// The tunnel carries another protocol, TLS mostly (its handshake
		// is fingerprinted on its own path, which watches every port).
		p.stats.TunnelsOpaque++
	} else {
		p.stats.NotHTTP++
	}
	p.finish(transfer.CutDesync)
}

// Pending reports the body one direction is reading (transfer.BodyPending).
func (p *Parser) Pending(fromClient bool) (remain int64, want, inBody bool) {
	h := p.half(fromClient)
	if p.done || p.closed || h.st != stBody {
		return -1, false, false
	}
	remain = -1
	if h.b.mode == fLength {
		remain = h.b.remain
	}
	// (A 101's tee wants every byte, whatever the body.)
	return remain, h.b.want || h.teeing(), true
}
