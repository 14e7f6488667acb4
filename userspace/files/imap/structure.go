package imap

import (
	"strconv"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// Part sections. Mail clients fetch attachments one part at a time
// (BODY.PEEK[2], BINARY.PEEK[2]) after reading the message's
// BODYSTRUCTURE. A part's body comes without its MIME header, so the
// parser rebuilds that header from the BODYSTRUCTURE it saw for the same
// message (Content-Type with its name, Content-Transfer-Encoding,
// Content-Disposition with its file name) and hands header and body to
// the MIME extractor as a one-part message: the file gets its name, and
// its base64 or quoted-printable is decoded. Without a BODYSTRUCTURE, a
// BODY[n] is taken as base64 (how mail carries binary attachments) and a
// BINARY[n] as decoded bytes, typed by content alone.

// Bounds on what the parser keeps of BODYSTRUCTUREs.
const (
	maxStructMsgs   = 128 // messages whose structure is kept
	maxStructParts  = 64  // parts kept per message
	maxStructNodes  = 4096
	maxStructDepth  = 32
	maxHeaderLine   = 480 // a parameter that does not fit is left out
	maxPartHeader   = 3 * (maxHeaderLine + 2)
	maxToken        = 64
	maxStructParams = 16
	// maxStructBytes bounds the header bytes kept for one connection.
	maxStructBytes = 128 << 10
)

// partHeader is the MIME header rebuilt for one part.
type partHeader struct {
	num    string // "2", "1.3"
	header string // header lines, CRLF-terminated, without the blank line
}

// snode is a parsed BODYSTRUCTURE token: a list, a string, or NIL.
type snode struct {
	list   []snode
	isList bool
	isNil  bool
	s      string
}

// structure parses a BODYSTRUCTURE (or BODY) value for message seq and
// keeps its part headers.
func (p *Parser) structure(seq uint32, v []byte) {
	sp := structParser{b: v}
	root, ok := sp.node(0)
	if !ok || !root.isList {
		p.st.StructBad++
		return
	}
	var parts []partHeader
	walkStructure(root, "", true, 0, &parts)
	n := 0
	for _, ph := range parts {
		n += len(ph.header) + len(ph.num)
	}
	if p.structs.put(seq, parts, n) {
		p.st.StructDropped++
	}
	p.st.Structures++
}

// forgetNumbers forgets what was kept by message number: a new mailbox,
// or an EXPUNGE that renumbers the messages.
func (p *Parser) forgetNumbers() {
	p.structs.reset()
	p.contexts.reset()
	p.sizes.reset()
}

// newMailbox: numbers are per mailbox, and a message waiting for its next
// piece will not get it.
func (p *Parser) newMailbox() {
	p.forgetNumbers()
	p.closeChain(transfer.CutNotFinal)
}

// partFor returns the rebuilt header of part num of message seq.
func (p *Parser) partFor(seq uint32, num string) (string, bool) {
	parts, _ := p.structs.get(seq)
	for _, ph := range parts {
		if ph.num == num {
			return ph.header, true
		}
	}
	return "", false
}

type structParser struct {
	b     []byte
	i     int
	nodes int
}

func (sp *structParser) node(depth int) (snode, bool) {
	sp.nodes++
	if depth > maxStructDepth || sp.nodes > maxStructNodes {
		return snode{}, false
	}
	for sp.i < len(sp.b) && sp.b[sp.i] == ' ' {
		sp.i++
	}
	if sp.i >= len(sp.b) {
		return snode{}, false
	}
	switch c := sp.b[sp.i]; c {
	case '(':
		sp.i++
		n := snode{isList: true}
		for {
			for sp.i < len(sp.b) && sp.b[sp.i] == ' ' {
				sp.i++
			}
			if sp.i >= len(sp.b) {
				return snode{}, false
			}
			if sp.b[sp.i] == ')' {
				sp.i++
				return n, true
			}
			child, ok := sp.node(depth + 1)
			if !ok {
				return snode{}, false
			}
			n.list = append(n.list, child)
		}
	case '"':
		j, ok := quotedEnd(sp.b, sp.i)
		if !ok {
			return snode{}, false
		}
		s := string(unquote(nil, sp.b[sp.i+1:j-1]))
		sp.i = j
		return snode{s: s}, true
	case ')':
		return snode{}, false
	default:
		j := sp.i
		for j < len(sp.b) && sp.b[j] != ' ' && sp.b[j] != '(' && sp.b[j] != ')' && sp.b[j] != '"' {
			j++
		}
		a := string(sp.b[sp.i:j])
		sp.i = j
		if strings.EqualFold(a, "NIL") {
			return snode{isNil: true}, true
		}
		return snode{s: a}, true
	}
}

func joinPart(prefix string, k int) string {
	if prefix == "" {
		return strconv.Itoa(k)
	}
	return prefix + "." + strconv.Itoa(k)
}

// walkStructure numbers the parts as RFC 9051 6.4.5 does: the children
// of a multipart are 1, 2...; a message that is not multipart has its
// body as part 1; a message/rfc822 part's own message is numbered below
// the part.
func walkStructure(n snode, prefix string, message bool, depth int, out *[]partHeader) {
	if depth > maxStructDepth || len(*out) >= maxStructParts || len(n.list) == 0 {
		return
	}
	if n.list[0].isList { // multipart: the parts, then the subtype
		k := 0
		for _, c := range n.list {
			if !c.isList {
				break
			}
			k++
			walkStructure(c, joinPart(prefix, k), false, depth+1, out)
		}
		return
	}
	num := prefix
	if message {
		num = joinPart(prefix, 1)
	}
	if len(n.list) < 7 {
		return
	}
	typ, sub := strings.ToLower(n.list[0].s), strings.ToLower(n.list[1].s)
	*out = append(*out, partHeader{num: num, header: partHeaderOf(n, typ, sub)})
	if typ == "message" && (sub == "rfc822" || sub == "global") && len(n.list) > 8 && n.list[8].isList {
		walkStructure(n.list[8], num, true, depth+1, out)
	}
}

// partHeaderOf writes the header lines of a one-part BODYSTRUCTURE:
// type, subtype, parameters, id, description, encoding, octets, then per
// type (text: lines; message/rfc822: envelope, body, lines), then the
// extension data: MD5, disposition.
func partHeaderOf(n snode, typ, sub string) string {
	var b strings.Builder
	line := func(l string) {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	line("Content-Type: " + token(typ) + "/" + token(sub) + params(n.list[2], maxHeaderLine-len("Content-Type: ")-2*maxToken-1))
	if enc := n.list[5]; !enc.isList && !enc.isNil && enc.s != "" {
		line("Content-Transfer-Encoding: " + token(strings.ToLower(enc.s)))
	}
	ext := 7
	switch {
	case typ == "text":
		ext = 8
	case typ == "message" && (sub == "rfc822" || sub == "global"):
		ext = 10
	}
	if dsp := ext + 1; dsp < len(n.list) && n.list[dsp].isList && len(n.list[dsp].list) >= 1 {
		d := n.list[dsp]
		if !d.list[0].isList && !d.list[0].isNil && d.list[0].s != "" {
			var ps string
			if len(d.list) > 1 {
				ps = params(d.list[1], maxHeaderLine-len("Content-Disposition: ")-maxToken)
			}
			line("Content-Disposition: " + token(strings.ToLower(d.list[0].s)) + ps)
		}
	}
	return b.String()
}

// params writes a parameter list ("name" "value" ...) as
// '; name="value"', RFC 2231 names (name*, name*0*) as they came, in at
// most budget bytes: a parameter that does not fit is left out whole.
func params(l snode, budget int) string {
	if !l.isList {
		return ""
	}
	var b strings.Builder
	var p []byte
	for i := 0; i+1 < len(l.list) && i/2 < maxStructParams; i += 2 {
		k, v := l.list[i], l.list[i+1]
		if k.isList || v.isList || k.s == "" {
			continue
		}
		name := token(strings.ToLower(k.s))
		if name == "" {
			continue
		}
		p = append(p[:0], "; "...)
		p = append(p, name...)
		p = append(p, '=')
		if strings.HasSuffix(name, "*") && token(v.s) == v.s && v.s != "" {
			p = append(p, v.s...) // an RFC 2231 extended value is a token
		} else {
			p = append(p, '"')
			for _, c := range []byte(v.s) {
				switch {
				case c == '"' || c == '\\':
					p = append(p, '\\', c)
				case c == '\r' || c == '\n':
					p = append(p, ' ')
				default:
					p = append(p, c)
				}
			}
			p = append(p, '"')
		}
		if b.Len()+len(p) <= budget {
			b.Write(p)
		}
	}
	return b.String()
}

// token keeps the characters a MIME token may hold (RFC 2045), plus the
// '%' and '\” of RFC 2231 values, at most maxToken of them.
func token(s string) string {
	t := tokenChars(s)
	if len(t) > maxToken {
		t = t[:maxToken]
	}
	return t
}

func tokenChars(s string) string {
	ok := func(c byte) bool {
		return c > ' ' && c < 0x7f && !strings.ContainsRune("()<>@,;:\\\"/[]?=", rune(c))
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			var b strings.Builder
			for j := 0; j < len(s); j++ {
				if ok(s[j]) {
					b.WriteByte(s[j])
				}
			}
			return b.String()
		}
	}
	return s
}
