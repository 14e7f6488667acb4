package smtp

import (
	"bytes"
	"strconv"
)

// tlsHandshake is the first byte of a TLS record carrying a handshake.
const tlsHandshake = 0x16

// lineBuf holds a line that did not arrive whole.
type lineBuf struct {
	buf  []byte
	n    int64 // bytes of the line so far, stored or not
	long bool  // the line outgrew MaxLine: the rest is not stored
	drop bool  // drop bytes up to the end of the line
}

func (l *lineBuf) reset() {
	clear(l.buf) // it may have held the start of a credential
	l.buf, l.n, l.long, l.drop = l.buf[:0], 0, false, false
}

// clientFeed takes client bytes in whatever mode the client side is in.
func (p *Parser) clientFeed(b []byte) {
	var tail []byte // bytes to take after b (b is a released hold)
	for !p.done {
		if len(b) == 0 {
			if len(tail) == 0 {
				return
			}
			b, tail = tail, nil
		}
		switch p.mode {
		case cmdMode, desyncMode:
			b = p.clientLines(b)
		case dataMode:
			b = b[p.dataBytes(b):]
		case bdatMode:
			b = b[p.bdatBytes(b):]
		case waitMode:
			n := min(len(b), p.opt.MaxHold-len(p.hold))
			p.holdNL = p.holdNL || bytes.IndexByte(b[:n], '\n') >= 0
			p.hold = append(p.hold, b[:n]...)
			b = b[n:]
			if !p.decideWait(len(b) > 0) {
				continue
			}
			// Decided: the held bytes come first, then the rest.
			h := p.takeHold()
			switch {
			case len(b) == 0:
				b = h
			case len(tail) == 0:
				b, tail = h, b
			default: // not reached: a released hold always fits the next
				b = append(h, b...)
			}
		}
	}
}

// clientLines reads command lines until the mode changes.
func (p *Parser) clientLines(b []byte) []byte {
	c := &p.cl
	for len(b) > 0 && !p.done && (p.mode == cmdMode || p.mode == desyncMode) {
		if p.mode == desyncMode {
			b = p.seekBDAT(b)
		}
		if c.drop {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				p.skipped += int64(len(b))
				return nil
			}
			p.skipped += int64(i + 1)
			b = b[i+1:]
			c.drop = false
			continue
		}
		if len(c.buf) == 0 && !c.long {
			if p.afterStartTLS && b[0] == tlsHandshake {
				p.startTLS() // the server must have said 220
				return nil
			}
			if !p.cseen && !isLetter(b[0]) {
				p.notSMTP()
				return nil
			}
		}
		i := bytes.IndexByte(b, '\n')
		if i >= 0 && len(c.buf) == 0 && !c.long {
			line := b[:i+1]
			b = b[i+1:]
			if len(line) > p.opt.MaxLine {
				p.longLine(int64(len(line)))
			} else {
				p.clientLine(line)
			}
			continue
		}
		end := len(b)
		if i >= 0 {
			end = i + 1
		}
		p.clientPart(b[:end], i >= 0)
		b = b[end:]
	}
	return b
}

// classifyLen is how much of a split line is stored byte by byte before
// it is known not to be a credential: the longest verb, a space or CRLF.
const classifyLen = 10

// clientPart adds a piece of a line that did not come whole; complete
// says it ends the line.
func (p *Parser) clientPart(part []byte, complete bool) {
	c := &p.cl
	c.n += int64(len(part))
	for len(part) > 0 && len(c.buf) < classifyLen && !c.long {
		c.buf = append(c.buf, part[0])
		part = part[1:]
		desync := p.mode == desyncMode
		if p.secretPrefix(c.buf) {
			if desync && p.mode == desyncMode {
				p.skipped += c.n // not a command: passed over
			}
			c.reset()
			c.drop = !complete
			return
		}
		if p.done {
			return
		}
	}
	if room := p.opt.MaxLine - len(c.buf); len(part) > room {
		c.long = true
		part = part[:max(room, 0)]
	}
	c.buf = appendLine(c.buf, part, p.opt.MaxLine)
	if !complete {
		return
	}
	if c.long {
		p.longLine(c.n)
	} else {
		p.clientLine(c.buf)
	}
	c.reset()
}

// secretPrefix looks at the start of a split line and reports that the
// line was dealt with and must not be stored: a SASL response, an AUTH
// command (registered here, its arguments dropped) or, where only a
// command will do, a line that cannot become one.
func (p *Parser) secretPrefix(buf []byte) bool {
	strict := p.sasl || p.mode == desyncMode || !p.cseen
	if strict && !couldBeCommand(buf) && !(p.mode == desyncMode && isDotPrefix(buf)) {
		if !p.cseen {
			p.notSMTP()
		}
		return true
	}
	if len(buf) == 5 && hasPrefixFold(buf, "AUTH ") {
		p.clientLine(buf)
		return true
	}
	return false
}

func (p *Parser) longLine(n int64) {
	p.st.LongLines++
	if !p.cseen {
		p.notSMTP()
		return
	}
	if p.mode == desyncMode {
		p.skipped += n
		return
	}
	if p.sasl {
		return
	}
	p.st.Malformed++
	p.push(entry{kind: kOther}) // the server answers it (500)
}

// clientLine acts on one command line (with its line end).
func (p *Parser) clientLine(line []byte) {
	v := command(line)
	if !p.cseen {
		p.cseen = true
		if v < 0 {
			p.notSMTP()
			return
		}
	}
	if p.mode == desyncMode {
		if v < 0 {
			p.desyncLine(line)
			return
		}
		p.resync()
	}
	if p.sasl {
		if v < 0 {
			return // a SASL response: not stored, not counted
		}
		p.sasl = false
	}
	p.afterStartTLS = false
	if v < 0 {
		p.st.Malformed++
		p.push(entry{kind: kOther})
		return
	}
	p.st.Commands++
	switch v {
	case vEHLO, vHELO, vLHLO:
		p.abortBDAT()
		p.resetEnvelope()
		p.fresh, p.lost = true, 0
		p.push(entry{kind: kOther})
	case vMAIL:
		p.abortBDAT()
		p.resetEnvelope()
		p.fresh, p.lost = true, 0
		p.env.from = address(line[len("MAIL FROM:"):])
		p.env.bytes += len(p.env.from)
		p.push(entry{kind: kOther})
	case vRCPT:
		e := entry{kind: kRcpt, gen: p.env.gen, idx: -1}
		if len(p.env.rcpt) < p.opt.MaxRecipients {
			e.idx = int32(len(p.env.rcpt))
			p.env.rcpt = append(p.env.rcpt, rcpt{addr: address(line[len("RCPT TO:"):])})
			p.env.bytes += len(p.env.rcpt[e.idx].addr)
		} else {
			p.st.RcptDropped++
		}
		p.push(e)
	case vDATA:
		p.abortBDAT()
		p.datas++
		p.mode = waitMode // the reply, maybe already known, decides
		p.push(entry{kind: kData})
		p.decideWait(false)
	case vBDAT:
		p.bdat(line[len("BDAT"):])
	case vRSET:
		p.abortBDAT()
		p.resetEnvelope()
		p.fresh, p.lost = true, 0
		p.push(entry{kind: kOther})
	case vSTARTTLS:
		p.afterStartTLS = true
		p.push(entry{kind: kStartTLS})
	case vAUTH:
		p.sasl = true
		p.push(entry{kind: kAuth})
	default:
		p.push(entry{kind: kOther})
	}
}

// bdat starts a chunk: "BDAT" SP size [SP "LAST"].
func (p *Parser) bdat(args []byte) {
	f := bytes.Fields(args)
	var n int64
	var err error
	if len(f) > 0 {
		n, err = strconv.ParseInt(string(f[0]), 10, 64)
	}
	last := len(f) == 2 && bytes.EqualFold(f[1], []byte("LAST"))
	if len(f) == 0 || len(f) > 2 || err != nil || n < 0 || (len(f) == 2 && !last) {
		// The chunk's extent is unknown: what follows cannot be read.
		p.st.Malformed++
		p.push(entry{kind: kOther})
		p.desync()
		return
	}
	p.st.BDATChunks++
	k := kOther
	if last {
		k = kEnd
	}
	if !p.inMsg {
		p.openMessage()
		if !p.fresh {
			// No MAIL since a gap: earlier chunks of this message may
			// have been lost with it.
			p.lostStart()
		}
	}
	p.mode, p.bdatLeft, p.bdatLast = bdatMode, n, last
	p.push(entry{kind: k})
	if n == 0 && p.mode == bdatMode {
		p.chunkEnd()
	}
}

// decideWait settles DATA's outcome without its reply when the reply
// cannot come or the hold is full; it reports whether the wait is over.
func (p *Parser) decideWait(full bool) bool {
	if p.mode != waitMode {
		return true
	}
	noReply := p.unpaired || (p.serverEnded && p.replies.n == 0)
	lineKnown := p.holdNL || len(p.hold) >= p.opt.MaxLine
	if !full && !(noReply && lineKnown) && !p.clientEnded {
		return false
	}
	p.guess()
	return true
}

// guess decides DATA's outcome from the held bytes: commands when their
// first line is a known command, else a message.
func (p *Parser) guess() {
	first := p.hold
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i+1]
	}
	isMsg := command(first) < 0
	p.st.Guessed++
	if e := p.cmds.back(); e != nil && e.kind == kData && e.guess == 0 {
		e.guess = -1
		if isMsg {
			e.guess = 1
		}
	}
	if isMsg {
		p.startData()
	} else {
		p.mode = cmdMode
	}
}

// settleWait ends a wait for DATA's reply that can no longer be paired,
// and takes the held bytes.
func (p *Parser) settleWait() {
	if p.mode == waitMode {
		p.guess()
	}
	p.drain()
}

// drain takes the held client bytes once DATA's outcome is known.
func (p *Parser) drain() {
	for !p.done && p.mode != waitMode && len(p.hold) > 0 {
		p.clientFeed(p.takeHold())
	}
}

// takeHold empties the hold and returns what it held.
func (p *Parser) takeHold() []byte {
	h := p.hold
	p.hold, p.holdNL = nil, false
	return h
}

// desync loses the command framing: lines are skipped up to a known
// command, and replies can no longer be paired.
func (p *Parser) desync() {
	p.mode = desyncMode
	p.st.Desync++
	p.fresh = false
	p.hole, p.skipped = 0, 0
	p.unpair()
}

func (p *Parser) clientGap(n int64) {
	for n > 0 && !p.done {
		switch p.mode {
		case waitMode:
			p.settleWait() // what came before the gap goes first
		case dataMode:
			p.msgGapBytes(n)
			p.dot = dotBOL // a lost end-of-data line is likelier found this way
			return
		case bdatMode:
			k := min(n, p.bdatLeft)
			p.msgGapBytes(k)
			p.bdatLeft -= k
			n -= k
			if p.bdatLeft == 0 {
				p.chunkEnd()
			}
		default:
			// What follows may be the rest of a cut line: in desyncMode
			// it is kept only while it may be a command (or the end of
			// data of a message the gap took the start of).
			partial := p.cl.n
			p.cl.reset()
			if p.mode != desyncMode {
				p.desync()
			}
			p.skipped += partial
			if p.inMsg {
				// Between BDAT chunks: the message lost bytes here (a
				// chunk's command, maybe chunks).
				p.msgGapBytes(n)
			}
			p.hole += n
			p.afterHole = true
			return
		}
	}
}

// appendLine appends p to a line buffer bounded by max (p fits), growing
// it straight to max rather than past it.
func appendLine(buf, p []byte, max int) []byte {
	if n := len(buf) + len(p); n > cap(buf) && 2*cap(buf) > max {
		b := make([]byte, len(buf), max)
		copy(b, buf)
		buf = b
	}
	return append(buf, p...)
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
