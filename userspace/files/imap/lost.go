package imap

import (
	"bytes"
	"unsafe"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// Messages a gap took the start of. A literal is followed by count, so a
// gap inside one keeps the framing; a gap in a line may take the
// announcement of a literal ("* 1 FETCH (BODY[] {1234}"), and the message
// in it then passes as lines the parser skips up to the next response.
// Such a message is reported, opened with the gap first (the MIME
// extractor makes it a file whose head was lost) and closed CutGap, when
// the evidence says it was there:
//
//   - the line the gap cut was a FETCH whose message item (BODY[],
//     RFC822, BINARY[], a part) was waiting for its value, or an APPEND
//     waiting for its message: certain;
//   - a client FETCH asking for messages was under way and lines were
//     passed over before the next response start: the skipped lines
//     were a literal's.
//
// Resynchronisation after a gap in a line is at the next line that
// starts a response: "* " then a number and FETCH, EXISTS, EXPUNGE or
// RECENT, or a known untagged keyword, or a tag and OK, NO or BAD; a
// message's lines seldom read so.

// lostFetch is what the server side lost to a gap in a line.
type lostFetch struct {
	active  bool  // a gap desynchronised the server side
	certain bool  // the line cut announced a message
	bytes   int64 // the gap's bytes and those passed over since
	lines   int   // lines passed over since
}

// maxMsgFetches bounds the FETCH tags followed.
const maxMsgFetches = 8

// loseFetch records a gap of n bytes in the server's lines.
func (p *Parser) loseFetch(n int64) {
	s := &p.s
	if !s.lost.active {
		s.lost = lostFetch{active: true}
	}
	s.lost.certain = s.lost.certain || p.messagePending()
	s.lost.bytes += n + int64(s.seg.n)
}

// messagePending reports whether the line under way (cut by a gap) is a
// FETCH whose message item waits for its value.
func (p *Parser) messagePending() bool {
	s := &p.s
	g, r := &s.seg, &s.resp
	if !g.active || g.over || s.lit.active {
		return false
	}
	line := g.buf
	if !r.active {
		pos, seq, ok := fetchStart(line)
		if !ok {
			return false
		}
		*r = response{active: true, fetch: true, pos: pos, seq: seq, fs: fetchState{size: -1, structStart: -1}}
		line = line[pos:]
		r.pos = 0
	} else if !r.fetch || r.broken {
		return false
	}
	p.fetchScan(line)
	fs := &r.fs
	if !fs.want || fs.depth != 1 {
		return false
	}
	switch fs.item {
	case itemWhole, itemPartial, itemPart, itemMore:
		return true
	}
	return false
}

// reportLost reports the message a gap took, if the evidence says there
// was one, once the server side resynchronised or ended.
func (p *Parser) reportLost(end bool) {
	l := &p.s.lost
	if !l.active {
		return
	}
	if l.certain || len(p.msgFetches) > 0 && l.lines > 0 {
		p.lostMessage(&transfer.Meta{Mailbox: p.mailbox}, l.bytes)
	}
	*l = lostFetch{}
}

// lostMessage opens a message whose start was lost and closes it.
func (p *Parser) lostMessage(m *transfer.Meta, n int64) {
	p.st.LostMessages++
	m.Protocol, m.Size = transfer.IMAP, -1
	msg := p.sink.OpenMessage(m)
	if msg == nil {
		return
	}
	msg.Gap(min(max(n, 1), p.opt.MaxLiteral))
	msg.Close(transfer.CutGap)
}

// loseAppend reports an APPEND whose message literal a gap of n bytes
// took the announcement of.
func (p *Parser) loseAppend(n int64) {
	c := &p.c
	box, ok := "", false
	switch {
	case c.cmd.active:
		ok = c.cmd.kind == cAPPEND && !c.cmd.catenate && !c.cmd.nameLit
		box = c.cmd.appendBox
	case c.seg.active && !c.seg.over && !c.seg.drop:
		tag, name, rest := splitCommand(c.seg.buf)
		if len(tag) > 0 && lookup(name) == cAPPEND && !containsFold(rest, " CATENATE ") {
			mbox, isLit := astring(rest)
			ok, box = !isLit, bounded(mbox)
		}
	}
	if ok {
		p.lostMessage(&transfer.Meta{Upload: true, Mailbox: box}, n+int64(c.seg.n))
	}
}

// fetchesMessage reports whether FETCH arguments ask for a message or a
// part: BODY[], BODY.PEEK[], RFC822, BINARY[...], BODY[2]...
func fetchesMessage(rest []byte) bool {
	for i := 0; i+6 <= len(rest); i++ {
		r := rest[i:]
		switch {
		case hasPrefixFold(r, "BODY[") || hasPrefixFold(r, "BODY.PEEK["):
			sec := r[bytes.IndexByte(r, '[')+1:]
			if len(sec) > 0 && (sec[0] == ']' || isDigit(sec[0])) {
				return true
			}
		case hasPrefixFold(r, "BINARY[") || hasPrefixFold(r, "BINARY.PEEK["):
			return true
		case hasPrefixFold(r, "RFC822") && (len(r) == 6 || r[6] != '.'):
			return true
		}
	}
	return false
}

func (p *Parser) addMsgFetch(tag []byte) {
	if len(p.msgFetches) == maxMsgFetches {
		p.msgFetches = append(p.msgFetches[:0], p.msgFetches[1:]...)
	}
	p.msgFetches = append(p.msgFetches, string(tag))
}

func (p *Parser) dropMsgFetch(tag []byte) {
	for i, t := range p.msgFetches {
		if t == string(tag) {
			p.msgFetches = append(p.msgFetches[:i], p.msgFetches[i+1:]...)
			return
		}
	}
}

// untagged keywords a resynchronisation may start from: "* KEYWORD".
var untagged = []string{"OK", "NO", "BAD", "BYE", "PREAUTH", "CAPABILITY", "FLAGS", "LIST", "LSUB", "SEARCH",
	"STATUS", "ESEARCH", "NAMESPACE", "ENABLED", "ID", "VANISHED", "QUOTA", "QUOTAROOT", "ACL", "LISTRIGHTS",
	"MYRIGHTS", "METADATA", "SORT", "THREAD", "XLIST"}

// numbered keywords: "* n KEYWORD".
var numbered = []string{"FETCH", "EXISTS", "EXPUNGE", "RECENT"}

// strictResponseStart is a line a resync may start from: "* " then a
// number and a numbered keyword or a known untagged keyword, or a tag
// and OK, NO or BAD; each followed by a space or the line end.
func strictResponseStart(l []byte) bool {
	word := func(b []byte, words []string) bool {
		for _, w := range words {
			if hasPrefixFold(b, w) && (len(b) == len(w) || b[len(w)] == ' ' || b[len(w)] == '\r' || b[len(w)] == '\n') {
				return true
			}
		}
		return false
	}
	if len(l) > 2 && l[0] == '*' && l[1] == ' ' {
		if _, k, ok := number(l[2:]); ok && 2+k < len(l) && l[2+k] == ' ' {
			return word(l[3+k:], numbered)
		}
		return word(l[2:], untagged)
	}
	if !responseStart(l) {
		return false
	}
	i := bytes.IndexByte(l, ' ')
	return word(l[i+1:], []string{"OK", "NO", "BAD"})
}

// Footprint implements transfer.Parser: the parser's state, its line
// buffers (MaxLine at most per direction), the names and headers its
// literals keep, what it keeps by message number (sizes, structures and
// mail contexts, each bounded), and what the message sink holds for the
// messages it has open.
func (p *Parser) Footprint() int {
	n := int(unsafe.Sizeof(*p))
	n += cap(p.c.seg.buf) + cap(p.s.seg.buf) + cap(p.c.lit.name) + cap(p.s.lit.name) + cap(p.s.quoted)
	n += len(p.mailbox) + cap(p.selTag) + cap(p.tlsTag)
	n += cap(p.pieceReqs) * int(unsafe.Sizeof(pieceReq{}))
	for _, r := range p.pieceReqs { // maxPieceReqs at most
		n += len(r.tag)
	}
	n += cap(p.msgFetches) * int(unsafe.Sizeof(""))
	for _, t := range p.msgFetches { // maxMsgFetches at most
		n += len(t)
	}
	n += p.sizes.footprint() + p.structs.footprint() + p.contexts.footprint()
	n += cap(p.c.pending)
	for _, z := range []*inflater{p.c.z, p.s.z} {
		if z != nil {
			n += z.footprint()
		}
	}
	n += p.chain.footprint()
	for _, m := range []transfer.Message{p.c.lit.msg, p.s.lit.msg} {
		if m != nil {
			n += transfer.FootprintOf(m)
		}
	}
	return n
}
