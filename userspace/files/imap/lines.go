package imap

import (
	"bytes"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// litSpec is a literal announced at the end of a line.
type litSpec struct {
	n       int64
	lit8    bool // "~{n}", RFC 3516
	nonSync bool // "{n+}", RFC 7888
}

// maxDigits keeps a literal length below 2^63.
const maxDigits = 18

// trailingLiteral reads the literal spec ending a line (its line end
// included) and where the spec starts.
func trailingLiteral(line []byte) (spec litSpec, at int, ok bool) {
	l := bytes.TrimSuffix(line, []byte("\n"))
	l = bytes.TrimSuffix(l, []byte("\r"))
	if len(l) == 0 || l[len(l)-1] != '}' {
		return spec, 0, false
	}
	i := len(l) - 2
	if i >= 0 && l[i] == '+' {
		spec.nonSync = true
		i--
	}
	end := i + 1
	for i >= 0 && isDigit(l[i]) {
		i--
	}
	digits := l[i+1 : end]
	if len(digits) == 0 || len(digits) > maxDigits || i < 0 || l[i] != '{' {
		return litSpec{}, 0, false
	}
	at = i
	if i > 0 && l[i-1] == '~' {
		spec.lit8, at = true, i-1
	}
	for _, d := range digits {
		spec.n = spec.n*10 + int64(d-'0')
	}
	return spec, at, true
}

// litTail finds the literal spec ending a line from bytes that were not
// stored, one byte at a time, keeping only the number.
type litTail struct {
	st     uint8 // 0 none, 1 '~', 2 '{', 3 digits, 4 '+', 5 '}', 6 "}\r", 7 line end after '}'
	digits uint8
	spec   litSpec
	tilde  bool
}

func (t *litTail) add(c byte) {
	switch {
	case c == '~':
		t.st, t.tilde = 1, true
		return
	case c == '{':
		t.st, t.digits, t.spec = 2, 0, litSpec{lit8: t.st == 1 && t.tilde}
	case isDigit(c) && (t.st == 2 || t.st == 3) && t.digits < maxDigits:
		t.st, t.digits = 3, t.digits+1
		t.spec.n = t.spec.n*10 + int64(c-'0')
	case c == '+' && t.st == 3:
		t.st, t.spec.nonSync = 4, true
	case c == '}' && (t.st == 3 || t.st == 4):
		t.st = 5
	case c == '\r' && t.st == 5:
		t.st = 6
	case c == '\n' && (t.st == 5 || t.st == 6):
		t.st = 7
	default:
		t.st = 0
	}
	t.tilde = false
}

func (t *litTail) get() (litSpec, bool) { return t.spec, t.st == 7 }

// seg assembles a line that did not arrive whole. Only its first limit
// bytes are stored; the literal spec at its end is read by tail from the
// bytes that were not.
type seg struct {
	buf    []byte
	active bool // a line is under way
	limit  int  // bytes of this line that may be stored
	n      int  // bytes of the line so far
	over   bool // some bytes were not stored
	tail   litTail
	drop   bool // drop bytes up to the end of the line
	// client: the head is stored byte by byte until classified
	classify bool
	spaces   int
	hidden   int // bytes of a would-be tag not stored (SASL)
}

func (s *seg) reset() {
	clear(s.buf) // it may have held the start of a credential
	buf := s.buf[:0]
	if cap(buf) > keepCap {
		buf = nil // a long line's buffer is not kept for the connection's life
	}
	*s = seg{buf: buf}
}

// keepCap is the line buffer a connection keeps between lines.
const keepCap = 4 << 10

// add stores part within the limit and tracks the literal spec beyond.
func (s *seg) add(part []byte) {
	s.active = true
	s.n += len(part)
	if !s.over {
		room := max(s.limit-len(s.buf), 0)
		if n := len(s.buf) + min(len(part), room); n > cap(s.buf) && 2*cap(s.buf) > s.limit {
			// Straight to the limit, not doubling past it.
			b := make([]byte, len(s.buf), s.limit)
			copy(b, s.buf)
			s.buf = b
		}
		if len(part) <= room {
			s.buf = append(s.buf, part...)
			return
		}
		s.buf = append(s.buf, part[:room]...)
		part = part[room:]
		s.over = true
		s.tail = litTail{}
		for _, c := range s.buf[max(0, len(s.buf)-maxDigits-4):] {
			s.tail.add(c) // a spec may straddle the limit
		}
	}
	for _, c := range part {
		s.tail.add(c)
	}
}

// literal is the spec ending the completed line.
func (s *seg) literal() (litSpec, bool) {
	if s.over {
		return s.tail.get()
	}
	spec, _, ok := trailingLiteral(s.buf)
	return spec, ok
}

// role is what a literal's bytes are for.
type role uint8

const (
	roleSkip    role = iota
	roleMsg          // a whole message (FETCH), closed at the literal's end
	rolePartial      // BODY[]<0>: the first piece of a message fetched in pieces (pieces.go)
	roleAppend       // a message the client uploads
	roleName         // a mailbox name
	rolePart         // one part's body (BODY[2]), closed at the literal's end
	roleHeader       // a message's header (BODY[HEADER...]): From, To, Subject kept
	roleMore         // another piece of it (BODY[]<n>)
)

// lit is a literal being read, and the message it feeds.
type lit struct {
	active bool
	left   int64 // bytes still to come
	n      int64 // the literal's length
	keep   int64 // bytes (and gap bytes) still to pass on before MaxLiteral
	role   role
	msg    transfer.Message
	gap    bool
	at     int64  // rolePartial, roleMore: the message offset of the next byte
	name   []byte // roleName: the name so far, bounded; roleHeader: the header
}

// start begins a literal; meta opens a message on it.
func (l *lit) start(p *Parser, n int64, r role, meta *transfer.Meta) {
	*l = lit{active: true, left: n, n: n, role: r, name: l.name[:0]}
	p.st.Literals++
	if meta != nil {
		meta.Protocol, meta.Size = transfer.IMAP, -1
		l.keep = min(n, p.opt.MaxLiteral)
		l.msg = p.sink.OpenMessage(meta)
		l.checkLimit(p)
	}
}

// take uses literal bytes from b and reports how many and whether the
// literal is over.
func (l *lit) take(p *Parser, b []byte) (int, bool) {
	k := int(min(int64(len(b)), l.left))
	b = b[:k]
	l.left -= int64(k)
	switch {
	case l.role == roleName:
		room := max(transfer.MaxHeaderValue-len(l.name), 0)
		l.name = append(l.name, b[:min(room, k)]...)
	case l.role == roleHeader:
		room := max(maxHeaderKept-len(l.name), 0)
		l.name = append(l.name, b[:min(room, k)]...)
	case l.role == rolePartial || l.role == roleMore:
		p.pieceData(l.at, b, l.left+int64(k))
		l.at += int64(k)
	case l.msg != nil:
		w := min(int64(k), l.keep)
		l.msg.Write(b[:w])
		l.keep -= w
		p.st.Bytes += uint64(w)
		l.checkLimit(p)
	}
	return k, l.left == 0
}

// gap records up to n missing literal bytes and returns the rest of n,
// missing after the literal.
func (l *lit) gapBytes(p *Parser, n int64) int64 {
	k := min(n, l.left)
	l.left -= k
	if l.role == roleHeader && k > 0 {
		// A header with a hole could join two fields: not read.
		l.role, l.name = roleSkip, l.name[:0]
	}
	if (l.role == rolePartial || l.role == roleMore) && k > 0 {
		p.pieceGap(l.at, k)
		l.at += k
	}
	if l.msg != nil && k > 0 {
		g := min(k, l.keep)
		l.msg.Gap(g)
		l.keep -= g
		l.gap = true
		l.checkLimit(p)
	}
	return n - k
}

// checkLimit cuts a message at MaxLiteral.
func (l *lit) checkLimit(p *Parser) {
	if l.keep == 0 && l.n > p.opt.MaxLiteral && l.msg != nil {
		p.st.Limit++
		l.close(transfer.CutLimit)
	}
}

// unused says the rest of the literal is of no use: it can be skipped.
func (l *lit) unused(p *Parser) bool {
	switch l.role {
	case rolePartial, roleMore:
		return !p.chain.active
	case roleName:
		return len(l.name) >= transfer.MaxHeaderValue
	case roleHeader:
		return len(l.name) >= maxHeaderKept
	case roleSkip:
		return true
	}
	return l.msg == nil
}

func (l *lit) close(cut transfer.Cut) {
	if l.msg == nil {
		return
	}
	if cut == transfer.Whole && l.gap {
		cut = transfer.CutGap
	}
	l.msg.Close(cut)
	l.msg = nil
}

// abort ends the literal early.
func (l *lit) abort(cut transfer.Cut) {
	l.close(cut)
	l.active = false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
