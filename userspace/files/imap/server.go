package imap

import (
	"bytes"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

type serverSide struct {
	seg    seg
	lit    lit
	resp   response
	seen   bool   // the greeting was checked
	desync bool   // skipping lines up to a response start
	tls    bool   // the server's bytes went TLS: ignored
	quoted []byte // scratch: an unescaped quoted message
	lost   lostFetch
	z      *inflater // COMPRESS: the server's stream inflated
	zStart bool      // the OK to COMPRESS was just read: the rest is for z
}

// response is the server response under way (it goes on after each of
// its literals).
type response struct {
	active bool
	fetch  bool   // an untagged FETCH, read item by item
	broken bool   // its items can no longer be read: literals are only followed
	pos    int    // where the FETCH items start in the first line
	seq    uint32 // the message sequence number of a FETCH
	fs     fetchState
	// A piece of a message fetched in pieces (BODY[]<0>, BODY[]<n>) came:
	// the end of the response, which may hold its RFC822.SIZE (and UID),
	// decides on the chain (pieces.go).
	piece              bool
	pieceOff, pieceLen int64
}

// serverFeed takes server bytes, plain or inflated.
func (p *Parser) serverFeed(b []byte) {
	s := &p.s
	if s.z == nil {
		b = p.serverPlain(b)
	}
	s.zStart = false
	if len(b) > 0 && s.z != nil && !p.done {
		p.inflate(false, b)
	}
}

// serverPlain parses server bytes as IMAP, up to the end of the OK to
// COMPRESS; it returns what follows that.
func (p *Parser) serverPlain(b []byte) []byte {
	s := &p.s
	for len(b) > 0 && !p.done && !s.tls && !s.zStart {
		if s.lit.active {
			n, end := s.lit.take(p, b)
			b = b[n:]
			if end {
				p.serverLitEnd()
			}
			continue
		}
		b = p.serverLines(b)
	}
	return b
}

// serverLines reads lines until a literal starts.
func (p *Parser) serverLines(b []byte) []byte {
	s := &p.s
	g := &s.seg
	for len(b) > 0 && !p.done && !s.lit.active && !s.tls && !s.zStart {
		if g.drop {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				s.lost.bytes += int64(len(b))
				return nil
			}
			s.lost.bytes += int64(i + 1)
			b = b[i+1:]
			g.reset()
			continue
		}
		if !g.active {
			if !s.seen && b[0] != '*' {
				p.notIMAP()
				return nil
			}
			if b[0] == tlsHandshake && !s.resp.active {
				s.tls = true // after STARTTLS: the client side settles it
				return nil
			}
		}
		i := bytes.IndexByte(b, '\n')
		if i >= 0 && !g.active {
			line := b[:i+1]
			b = b[i+1:]
			spec, _, ok := trailingLiteral(line)
			over := len(line) > p.opt.MaxLine
			if over {
				p.st.LongLines++
				line = line[:p.opt.MaxLine]
			}
			p.serverLine(line, over, spec, ok)
			continue
		}
		end := len(b)
		if i >= 0 {
			end = i + 1
		}
		if !g.active {
			g.limit = p.opt.MaxLine
		}
		g.add(b[:end])
		b = b[end:]
		if i >= 0 {
			spec, ok := g.literal()
			if g.over {
				p.st.LongLines++
			}
			p.serverLine(g.buf, g.over, spec, ok)
			g.reset()
		}
	}
	return b
}

// serverLine acts on a line: the start of a response, or its rest after
// a literal. over says the line was longer than what head holds.
func (p *Parser) serverLine(head []byte, over bool, spec litSpec, hasLit bool) {
	s := &p.s
	r := &s.resp
	if !r.active {
		if !s.seen {
			s.seen = true
			if !greeting(head) {
				p.notIMAP()
				return
			}
		}
		if s.desync {
			if !strictResponseStart(head) {
				s.lost.lines++
				s.lost.bytes += int64(len(head))
				return
			}
			s.desync = false
			p.st.Resync++
			p.reportLost(false)
		}
		*r = response{active: true, fs: fetchState{size: -1, structStart: -1}}
		p.st.Responses++
		switch {
		case head[0] == '*':
			if pos, seq, ok := fetchStart(head); ok {
				r.fetch, r.pos, r.seq = true, pos, seq
				p.st.Fetches++
			} else if renumbers(head) {
				// Message numbers after the expunged one shift: what
				// was kept by number no longer holds, nor a message in
				// pieces known by its number only.
				p.forgetNumbers()
				if p.chain.uid == 0 {
					p.closeChain(transfer.CutNotFinal)
				}
			}
		case head[0] != '+':
			p.tagged(head)
			if p.done {
				return
			}
		}
	}
	rl := roleSkip
	switch {
	case !r.fetch || r.broken:
	case over:
		r.broken = true // items cut off: only the literal is followed
	default:
		body := head[r.pos:]
		r.pos = 0
		if fspec, frole, fhas, ok := p.fetchScan(body); ok {
			spec, hasLit, rl = fspec, fhas, frole
		} else {
			r.broken = true
			p.st.Malformed++
		}
	}
	if hasLit {
		p.serverLiteral(spec, rl)
	} else {
		p.finishResponse()
	}
}

// tagged acts on a tagged status response.
func (p *Parser) tagged(l []byte) {
	tag, status, _ := splitCommand(l)
	p.dropMsgFetch(tag)
	for i, r := range p.pieceReqs {
		if r.tag == string(tag) {
			p.pieceReqs = append(p.pieceReqs[:i], p.pieceReqs[i+1:]...)
			break
		}
	}
	ok := len(status) == 2 && hasPrefixFold(status, "OK")
	if th := tagHash(tag); ok && !p.cmdTags.has(th) {
		p.earlyOK.add(th)
	}
	if len(p.tlsTag) > 0 && bytes.Equal(tag, p.tlsTag) {
		if ok && p.tlsKind == cSTARTTLS {
			p.startTLS()
			return
		}
		p.tlsTag = p.tlsTag[:0]
		if ok {
			p.startCompress()
			return
		}
		p.refuseCompress()
	}
	if len(p.selTag) > 0 && bytes.Equal(tag, p.selTag) {
		if !ok {
			p.mailbox = "" // a failed SELECT leaves none selected
		}
		p.selTag = p.selTag[:0]
	}
}

// serverLiteral starts a literal of the current response.
func (p *Parser) serverLiteral(spec litSpec, r role) {
	var meta *transfer.Meta
	switch r {
	case roleMsg, rolePart:
		meta = p.fetchMeta()
	case rolePartial, roleMore:
		off := p.s.resp.fs.off
		if !p.pieceStart(off, spec.n) {
			r = roleSkip
			break
		}
		p.s.resp.pieceLen = spec.n
	}
	p.s.lit.start(p, spec.n, r, meta)
	p.s.lit.at = p.s.resp.fs.off
	if r == rolePart && p.s.lit.msg != nil {
		p.s.lit.msg.Write([]byte(p.partHeader()))
	}
	if spec.n == 0 {
		p.serverLitEnd()
	}
}

// fetchMeta counts a message of a FETCH and describes it.
func (p *Parser) fetchMeta() *transfer.Meta {
	p.st.Messages++
	return &transfer.Meta{Protocol: transfer.IMAP, Size: -1, Mailbox: p.mailbox}
}

// serverLitEnd follows the end of a server literal: the response goes on.
func (p *Parser) serverLitEnd() {
	s := &p.s
	l := &s.lit
	switch l.role {
	case roleMsg, rolePart:
		l.close(transfer.Whole)
	case roleHeader:
		p.headerFields(s.resp.seq, l.name)
	}
	l.active = false
	s.resp.fs.valueDone()
}

// finishResponse ends the response under way.
func (p *Parser) finishResponse() {
	p.pieceEnd()
	p.s.resp = response{}
}

// serverSkip hands back the rest of a literal the parser has no use for.
func (p *Parser) serverSkip() int64 {
	l := &p.s.lit
	if p.done || !l.active || l.left == 0 || !l.unused(p) {
		return 0
	}
	n := l.left
	l.left = 0
	p.st.Skipped += uint64(n)
	p.serverLitEnd()
	return n
}

func (p *Parser) serverGap(n int64) {
	s := &p.s
	if s.z != nil {
		p.compressGap()
		return
	}
	if s.lit.active {
		n = s.lit.gapBytes(p, n)
		if s.lit.left == 0 {
			p.serverLitEnd()
		}
		if n == 0 {
			return // still in sync
		}
	}
	p.loseFetch(n)
	p.finishResponse()
	// The next piece of a message fetched in pieces could not be told
	// from bytes that look like one: it ends here.
	p.closeChain(transfer.CutGap)
	s.seg.reset()
	s.seg.drop = true // the rest of a cut line
	if !s.desync {
		s.desync = true
		p.st.Desync++
	}
}

// greeting: "* OK", "* PREAUTH" or "* BYE" (RFC 9051 7.1).
func greeting(l []byte) bool {
	return hasPrefixFold(l, "* OK") || hasPrefixFold(l, "* PREAUTH") || hasPrefixFold(l, "* BYE")
}

// responseStart is a line a resync may start from: "* " and a number or
// a keyword, or a tagged OK/NO/BAD.
func responseStart(l []byte) bool {
	if len(l) > 2 && l[0] == '*' && l[1] == ' ' {
		return isDigit(l[2]) || (l[2] >= 'A' && l[2] <= 'Z')
	}
	tag, status, _ := splitCommand(l)
	if len(tag) == 0 || len(tag) > maxTag {
		return false
	}
	for _, c := range tag {
		if !isTagChar(c) {
			return false
		}
	}
	return string(status) == "OK" || string(status) == "NO" || string(status) == "BAD"
}

// fetchStart finds "* n FETCH ", the message number n and where the
// item list starts.
func fetchStart(l []byte) (int, uint32, bool) {
	if len(l) < 2 {
		return 0, 0, false
	}
	seq, k, ok := number(l[2:])
	i := 2 + k
	if !ok || !hasPrefixFold(l[i:], " FETCH ") || seq >= 1<<32 {
		return 0, 0, false
	}
	return i + len(" FETCH "), uint32(seq), true
}

// partHeader is the MIME header a part's body is handed on with: from
// the message's BODYSTRUCTURE when it was seen, else a guess (BODY[n]
// base64, BINARY[n] decoded).
func (p *Parser) partHeader() string {
	fs := &p.s.resp.fs
	p.st.Parts++
	h, ok := p.partFor(p.s.resp.seq, fs.section)
	if !ok {
		p.st.PartsGuessed++
		h = "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
	}
	if fs.binary {
		h = replaceEncoding(h, "binary")
	}
	// The message's senders and subject, when the client read them.
	ctx, _ := p.contexts.get(p.s.resp.seq)
	return ctx + h + "\r\n"
}

// replaceEncoding sets a header's Content-Transfer-Encoding.
func replaceEncoding(h, enc string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(h, "\r\n") {
		if line == "" || hasPrefixFold([]byte(line), "Content-Transfer-Encoding:") {
			continue
		}
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	b.WriteString("Content-Transfer-Encoding: " + enc + "\r\n")
	return b.String()
}

// renumbers: "* n EXPUNGE" or "* VANISHED" (RFC 7162), which change the
// message numbers of a mailbox.
func renumbers(l []byte) bool {
	if hasPrefixFold(l, "* VANISHED") {
		return true
	}
	if len(l) < 2 {
		return false
	}
	_, k, ok := number(l[2:])
	return ok && hasPrefixFold(l[2+k:], " EXPUNGE")
}
