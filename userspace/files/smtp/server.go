package smtp

import "bytes"

// kind is what a command awaiting its reply needs from it.
type kind uint8

const (
	kOther    kind = iota // reply only counted
	kGreeting             // the server's greeting
	kRcpt                 // a refusal drops the recipient
	kData                 // 354 or not decides the client's next bytes
	kEnd                  // end of a message (DATA's end, BDAT LAST): accepted or rejected
	kStartTLS             // 220 and the connection goes TLS
	kAuth                 // 334 continues the exchange
)

type entry struct {
	kind  kind
	guess int8   // kData decided before its reply: 1 message, -1 commands
	idx   int32  // kRcpt: index in the envelope, -1 when not kept
	gen   uint32 // kRcpt: the envelope's generation
}

// ring is a FIFO that grows up to max.
type ring[T any] struct {
	buf     []T
	head, n int
	max     int
}

func (r *ring[T]) push(v T) bool {
	if r.n == len(r.buf) {
		if r.n >= r.max {
			return false
		}
		nb := make([]T, min(max(2*len(r.buf), 4), r.max))
		for i := range r.n {
			nb[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = nb, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = v
	r.n++
	return true
}

func (r *ring[T]) front() *T { return &r.buf[r.head] }

func (r *ring[T]) back() *T {
	if r.n == 0 {
		return nil
	}
	return &r.buf[(r.head+r.n-1)%len(r.buf)]
}

func (r *ring[T]) pop() T {
	v := r.buf[r.head]
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return v
}

func (r *ring[T]) reset() { r.head, r.n = 0, 0 }

// push queues a command for its reply and pairs what can be.
func (p *Parser) push(e entry) {
	if p.unpaired {
		return
	}
	if !p.cmds.push(e) {
		p.unpair() // the server is not answering (one-sided capture?)
		return
	}
	p.pairAll()
}

// pairAll applies replies to commands in order.
func (p *Parser) pairAll() {
	for !p.done && !p.unpaired && p.cmds.n > 0 && p.replies.n > 0 {
		if p.apply(p.cmds.front(), p.replies.pop()) {
			p.cmds.pop()
		}
	}
}

// apply acts on the reply to a command; false keeps the command waiting
// for another reply.
func (p *Parser) apply(e *entry, code uint16) bool {
	switch e.kind {
	case kAuth:
		return code != 334
	case kStartTLS:
		if code == 220 {
			p.startTLS()
		}
	case kRcpt:
		if code >= 400 && e.gen == p.env.gen && e.idx >= 0 && int(e.idx) < len(p.env.rcpt) {
			p.env.rcpt[e.idx].refused = true
		}
	case kData:
		ok := code == 354
		switch {
		case e.guess != 0:
			if (e.guess > 0) != ok {
				p.st.Misguessed++
			}
		case p.mode == waitMode:
			if ok {
				p.startData()
			} else {
				p.mode = cmdMode // no message: the client's next bytes are commands
			}
		}
	case kEnd:
		if code < 400 {
			p.st.Accepted++
		} else {
			p.st.Rejected++
		}
	}
	return true
}

// unpair gives up pairing commands with replies for good.
func (p *Parser) unpair() {
	if p.unpaired {
		return
	}
	p.unpaired = true
	p.st.Unpaired++
	p.cmds.reset()
	p.replies.reset()
	p.decideWait(false)
}

// serverFeed reads reply lines.
func (p *Parser) serverFeed(b []byte) {
	s := &p.sl
	for len(b) > 0 && !p.done && !p.serverTLS {
		if s.drop {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				return
			}
			b = b[i+1:]
			s.drop = false
			continue
		}
		if len(s.buf) == 0 && !s.long {
			if !p.sseen && !isDigit(b[0]) {
				p.notSMTP()
				return
			}
			if b[0] == tlsHandshake {
				p.serverTLS = true // after a STARTTLS the client side settles
				return
			}
		}
		i := bytes.IndexByte(b, '\n')
		if i >= 0 && len(s.buf) == 0 && !s.long {
			line := b[:i+1]
			b = b[i+1:]
			if len(line) > p.opt.MaxLine {
				p.st.LongLines++
				line = line[:p.opt.MaxLine] // the code is at the start
			}
			p.serverLine(line)
			continue
		}
		end := len(b)
		if i >= 0 {
			end = i + 1
		}
		part := b[:end]
		b = b[end:]
		if room := p.opt.MaxLine - len(s.buf); len(part) > room {
			if !s.long {
				p.st.LongLines++
			}
			s.long = true
			part = part[:room]
		}
		s.buf = appendLine(s.buf, part, p.opt.MaxLine)
		if i >= 0 {
			p.serverLine(s.buf)
			s.reset()
		}
	}
}

// serverLine acts on one reply line.
func (p *Parser) serverLine(line []byte) {
	code, more, ok := parseReply(line)
	if !p.sseen {
		p.sseen = true
		if !ok {
			p.notSMTP()
			return
		}
	}
	if !ok {
		p.st.Malformed++
		return
	}
	if more {
		return // "250-": the reply goes on
	}
	p.st.Replies++
	switch {
	case code == 354:
		p.replies354++
	case p.mode == dataMode && p.msgGap:
		// The server answers only after the end of data: a gap took it.
		p.lostEnd()
	}
	if p.unpaired {
		return
	}
	if !p.replies.push(code) {
		p.unpair() // the client is not sending (one-sided capture?)
		return
	}
	p.pairAll()
}

// parseReply reads "ddd", "ddd text" or "ddd-text" (RFC 5321 4.2).
func parseReply(l []byte) (code uint16, more, ok bool) {
	if len(l) < 3 || l[0] < '2' || l[0] > '5' || !isDigit(l[1]) || !isDigit(l[2]) {
		return 0, false, false
	}
	code = uint16(l[0]-'0')*100 + uint16(l[1]-'0')*10 + uint16(l[2]-'0')
	if len(l) == 3 {
		return code, false, true
	}
	switch l[3] {
	case '-':
		return code, true, true
	case ' ', '\r', '\n':
		return code, false, true
	}
	return 0, false, false
}

func (p *Parser) serverGap() {
	p.sl.reset()
	p.sl.drop = true // the rest of a cut line
	p.unpair()       // replies were lost: pairing would be off
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
