package imap

import (
	"bytes"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// tlsHandshake is the first byte of a TLS record carrying a handshake.
const tlsHandshake = 0x16

type clientSide struct {
	seg      seg
	lit      lit
	cmd      command
	seen     bool // the first line was checked
	desync   bool // skipping lines up to a tagged known command
	sasl     bool // after AUTHENTICATE: lines that are not commands are SASL responses
	idle     bool // after IDLE: "DONE" is expected
	afterTLS bool // the last command was STARTTLS

	// COMPRESS (compress.go): the bytes after the command wait in
	// pending (zwait) until the server answers; then they are inflated
	// by z, or parsed as they are (zready). zlost: a gap hit them.
	z                    *inflater
	zwait, zready, zlost bool
	pending              []byte
}

// command is the client command whose line is under way (it goes on
// after each of its literals).
type command struct {
	active    bool
	kind      int
	nameLit   bool // the next literal is the mailbox name
	catenate  bool // APPEND CATENATE (RFC 4469): its literals are pieces, not messages
	appendBox string
}

// clientFeed takes client bytes: plain, inflated, or held while
// COMPRESS is answered.
func (p *Parser) clientFeed(b []byte) {
	c := &p.c
	if c.z == nil && !c.zwait {
		b = p.clientPlain(b)
	}
	switch {
	case len(b) == 0 || p.done:
	case c.z != nil:
		p.inflate(true, b)
	case c.zwait:
		p.holdPending(b)
	}
}

// clientPlain parses client bytes as IMAP, up to the end of a COMPRESS
// command; it returns what follows that.
func (p *Parser) clientPlain(b []byte) []byte {
	c := &p.c
	for len(b) > 0 && !p.done && !c.zwait {
		if c.lit.active {
			n, end := c.lit.take(p, b)
			b = b[n:]
			if end {
				p.clientLitEnd()
			}
			continue
		}
		b = p.clientLines(b)
	}
	return b
}

// clientLines reads lines until a literal starts.
func (p *Parser) clientLines(b []byte) []byte {
	c := &p.c
	s := &c.seg
	for len(b) > 0 && !p.done && !c.lit.active && !c.zwait {
		if s.drop {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				return nil
			}
			b = b[i+1:]
			s.reset()
			continue
		}
		if !s.active {
			if c.afterTLS && b[0] == tlsHandshake {
				p.startTLS() // the server must have said OK
				return nil
			}
			if !c.seen && !isTagChar(b[0]) {
				p.notIMAP()
				return nil
			}
		}
		i := bytes.IndexByte(b, '\n')
		if i >= 0 && !s.active {
			// A whole line: parsed in place, never stored.
			line := b[:i+1]
			b = b[i+1:]
			spec, _, ok := trailingLiteral(line)
			if len(line) > p.opt.MaxLine {
				p.st.LongLines++
				line = line[:p.opt.MaxLine]
			}
			p.clientLine(line, spec, ok)
			continue
		}
		end := len(b)
		if i >= 0 {
			end = i + 1
		}
		p.clientPart(b[:end])
		b = b[end:]
		if s.drop {
			if i >= 0 {
				s.reset() // the dropped line ended here
			}
			continue
		}
		if i >= 0 {
			spec, ok := s.literal()
			if s.n > p.opt.MaxLine {
				p.st.LongLines++
			}
			p.clientLine(s.buf, spec, ok)
			s.reset()
		}
	}
	return b
}

// hiddenTag stands for a tag that was not stored.
const hiddenTag = "?"

// maxTag bounds the tags the parser recognises where only a command will
// do (first line, resync, SASL exchange), and so what of a SASL response
// may be stored before it is dropped.
const maxTag = 32

// clientPart stores a piece of a line that did not come whole. The head
// of a command goes in one byte at a time until its command name is
// known: nothing past the name of LOGIN or AUTHENTICATE is stored.
func (p *Parser) clientPart(part []byte) {
	c := &p.c
	s := &c.seg
	if !s.active {
		s.limit, s.classify = p.opt.MaxLine, true
		if c.cmd.active {
			s.limit, s.classify = 0, false // after a literal only the next literal matters
		}
	}
	for len(part) > 0 && s.classify {
		ch := part[0]
		if c.sasl && s.spaces == 0 && ch != ' ' && ch != '\r' && ch != '\n' {
			// During a SASL exchange a response reads like a tag: it is
			// counted, not stored. Should a command follow, its tag is
			// not kept.
			part = part[1:]
			s.active, s.n, s.hidden = true, s.n+1, s.hidden+1
			if !isTagChar(ch) || s.hidden > maxTag {
				s.drop = true
				return
			}
			continue
		}
		if s.hidden > 0 && ch == ' ' && len(s.buf) == 0 {
			s.add([]byte(hiddenTag))
		}
		s.add(part[:1])
		p.classifyHead(ch)
		part = part[1:]
		if s.drop {
			clear(s.buf)
			s.buf = s.buf[:0]
			return
		}
	}
	if len(part) > 0 {
		s.add(part)
	}
}

// classifyHead looks at the byte just stored in a split command head.
func (p *Parser) classifyHead(ch byte) {
	c := &p.c
	s := &c.seg
	strict := c.sasl || c.desync || !c.seen // only a command will do
	giveUp := func() {
		s.classify = false
		if strict {
			s.drop = true
			if !c.seen {
				p.notIMAP()
			}
		}
	}
	switch {
	case ch == '\r' || ch == '\n':
		s.classify = false // the line ends: clientLine decides
	case ch == ' ':
		s.spaces++
		if s.spaces == 1 && len(s.buf) == 1 {
			giveUp() // no tag
			return
		}
		if s.spaces < 2 {
			return
		}
		s.classify = false
		_, name, _ := splitCommand(s.buf)
		k := lookup(name)
		switch {
		case k == cLOGIN || k == cAUTHENTICATE:
			s.limit = len(s.buf) // credentials follow
		case strict && k < 0:
			giveUp()
		}
	case s.spaces == 0 && (!isTagChar(ch) || len(s.buf) > maxTag):
		giveUp()
	case s.spaces == 1 && len(s.buf) > 2*maxTag:
		giveUp() // no command name is that long
	}
}

// clientLine acts on a line: the head of a command, or the rest of one
// after a literal.
func (p *Parser) clientLine(head []byte, spec litSpec, hasLit bool) {
	c := &p.c
	if c.cmd.active {
		if hasLit {
			p.clientLiteral(spec)
		} else {
			c.cmd = command{} // the command line ended
		}
		return
	}
	tag, name, rest := splitCommand(head)
	k := -1
	if len(tag) > 0 {
		k = lookup(name)
	}
	if !c.seen {
		c.seen = true
		if k < 0 || len(tag) > maxTag {
			p.notIMAP()
			return
		}
	}
	if c.desync {
		if k < 0 || len(tag) > maxTag {
			return
		}
		c.desync = false
		p.st.Resync++
	}
	if c.sasl {
		if k < 0 {
			return // a SASL response: never stored
		}
		c.sasl = false
	}
	if c.idle {
		c.idle = false
		if len(name) == 0 && hasPrefixFold(tag, "DONE") {
			return
		}
	}
	c.afterTLS = false
	// Every tagged line counts as a command seen, known or not: the
	// server's OK to it is no news.
	th := tagHash(tag)
	p.cmdTags.add(th)
	if k < 0 {
		p.st.Malformed++
		if hasLit {
			c.cmd = command{active: true, kind: -1}
			p.clientLiteral(spec) // followed all the same, to stay in sync
		}
		return
	}
	p.st.Commands++
	c.cmd = command{active: true, kind: k}
	if (k == cSTARTTLS || k == cCOMPRESS) && p.earlyOK.has(th) {
		// The server said OK to this tag before the command came: fed
		// late (the bytes after that OK were read as plain, and may
		// have been TLS or deflate), or a tag used twice, or an OK sent
		// ahead by a server to make the parser give up. Only counted:
		// stopping here would let a server or client silence the rest.
		p.st.CompressOrder++
	}
	switch k {
	case cSELECT, cEXAMINE:
		p.selTag = append(p.selTag[:0], tag...)
		mbox, isLit := astring(rest)
		if isLit {
			c.cmd.nameLit = true
		} else {
			p.mailbox = bounded(mbox)
			p.newMailbox()
		}
	case cAPPEND:
		mbox, isLit := astring(rest)
		c.cmd.nameLit = isLit
		c.cmd.appendBox = bounded(mbox)
		c.cmd.catenate = containsFold(rest, " CATENATE ")
	case cSTARTTLS, cCOMPRESS:
		p.tlsTag, p.tlsKind = append(p.tlsTag[:0], tag...), k
		c.afterTLS = k == cSTARTTLS
		// A client waits for the answer to COMPRESS: what it sends next
		// is compressed if the server says OK.
		c.zwait = k == cCOMPRESS && c.z == nil && !hasLit
	case cAUTHENTICATE:
		c.sasl = true
	case cIDLE:
		c.idle = true
	default:
		if (commands[k] == "FETCH" || commands[k] == "UID") && fetchesMessage(rest) {
			p.addMsgFetch(tag)
		}
		if off, n, ok := partialRequest(rest); ok && (commands[k] == "FETCH" || commands[k] == "UID") {
			if len(p.pieceReqs) == maxPieceReqs {
				p.pieceReqs = append(p.pieceReqs[:0], p.pieceReqs[1:]...)
			}
			p.pieceReqs = append(p.pieceReqs, pieceReq{tag: string(tag), off: off, n: n, uid: requestUID(commands[k], rest)})
		}
	}
	if hasLit {
		p.clientLiteral(spec)
	} else {
		c.cmd = command{}
	}
}

// clientLiteral starts a literal of the current command.
func (p *Parser) clientLiteral(spec litSpec) {
	c := &p.c
	r := roleSkip
	var meta *transfer.Meta
	switch {
	case c.cmd.nameLit:
		r = roleName
	case c.cmd.kind == cAPPEND && !c.cmd.catenate:
		r = roleAppend
		meta = &transfer.Meta{Upload: true, Mailbox: c.cmd.appendBox}
		p.st.Appends++
	}
	c.lit.start(p, spec.n, r, meta)
	if spec.n == 0 {
		p.clientLitEnd()
	}
}

// clientLitEnd follows the end of a client literal: the command's line
// goes on.
func (p *Parser) clientLitEnd() {
	c := &p.c
	l := &c.lit
	switch l.role {
	case roleName:
		c.cmd.nameLit = false
		if c.cmd.kind == cAPPEND {
			c.cmd.appendBox = string(l.name)
		} else {
			p.mailbox = string(l.name)
			p.newMailbox()
		}
	case roleAppend:
		l.close(transfer.Whole)
	}
	l.active = false
}

// clientSkip hands back the rest of a literal the parser has no use for.
func (p *Parser) clientSkip() int64 {
	l := &p.c.lit
	if p.done || !l.active || l.left == 0 || !l.unused(p) {
		return 0
	}
	n := l.left
	l.left = 0
	p.st.Skipped += uint64(n)
	p.clientLitEnd()
	return n
}

func (p *Parser) clientGap(n int64) {
	c := &p.c
	if c.z != nil {
		p.compressGap()
		return
	}
	if c.zwait {
		// Whether the bytes after COMPRESS are compressed is told by
		// the answer: if they are, they cannot be inflated now.
		c.zlost, c.pending = true, nil
	}
	if c.lit.active {
		n = c.lit.gapBytes(p, n)
		if c.lit.left == 0 {
			p.clientLitEnd()
		}
		if n == 0 {
			return // still in sync
		}
	}
	p.loseAppend(n)
	c.seg.reset()
	c.seg.drop = true // the rest of a cut line
	c.cmd = command{}
	if !c.desync {
		c.desync = true
		p.st.Desync++
	}
}

func (p *Parser) startTLS() {
	p.st.StartTLS++
	p.stop()
}
