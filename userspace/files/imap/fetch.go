package imap

import (
	"bytes"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// item is what a FETCH item's value is to the parser.
type item uint8

const (
	itemOther     item = iota // not looked at
	itemWhole                 // a whole message: BODY[], RFC822, BINARY[]
	itemPartial               // BODY[]<0>: a message, maybe truncated
	itemSize                  // RFC822.SIZE
	itemStructure             // BODYSTRUCTURE, BODY: the parts' headers
	itemEnvelope              // ENVELOPE: the message's addresses and subject
	itemHeader                // BODY[HEADER], BODY[HEADER.FIELDS (...)], RFC822.HEADER
	itemPart                  // BODY[2], BINARY[1.2]: one part's body
	itemMore                  // BODY[]<n>: a piece of a message fetched in pieces (pieces.go)
	itemUID                   // UID
)

// fetchState is where the tokeniser stands in a FETCH item list; it
// carries over the literals of the response.
type fetchState struct {
	opened bool  // the list's '(' was seen
	depth  int   // parentheses open; 1 is the item list itself
	want   bool  // the next value at depth 1 belongs to item
	item   item  // the item whose value is awaited
	size   int64 // RFC822.SIZE, -1 unknown
	// structStart is where the BODYSTRUCTURE value under way started in
	// the line, -1 when none.
	structStart int
	section     string // itemPart: the part number
	binary      bool   // itemPart: BINARY[...], already decoded
	off         int64  // itemPartial, itemMore: the piece's offset
	uid         uint32 // UID, 0 when not (yet) seen
}

// valueDone follows a literal: at depth 1 it was the item's value.
func (fs *fetchState) valueDone() {
	if fs.depth == 1 {
		fs.want = false
	}
}

// fetchScan reads FETCH items from a line (a first line after "FETCH ",
// or the rest of one after a literal). It returns the literal ending the
// line, if any, and what it is for; ok is false when the line does not
// parse (the caller then only follows the literal).
func (p *Parser) fetchScan(s []byte) (spec litSpec, r role, hasLit, ok bool) {
	fs := &p.s.resp.fs
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ':
			i++
		case c == '\r' || c == '\n':
			return spec, roleSkip, false, fs.opened && fs.depth == 0
		case fs.depth == 0:
			if c != '(' || fs.opened {
				return spec, roleSkip, false, false
			}
			fs.opened, fs.depth = true, 1
			i++
		case fs.depth == 1 && !fs.want:
			if c == ')' {
				fs.depth = 0
				i++
				continue
			}
			j := itemEnd(s, i)
			if j == i {
				return spec, roleSkip, false, false
			}
			fs.item, fs.want, fs.structStart = p.classify(s[i:j]), true, -1
			i = j
		case c == '(':
			if fs.depth == 1 && (fs.item == itemStructure || fs.item == itemEnvelope) {
				fs.structStart = i
			}
			fs.depth++
			i++
		case c == ')':
			fs.depth--
			i++
			if fs.depth < 1 {
				return spec, roleSkip, false, false // an item without a value
			}
			if fs.depth == 1 && fs.structStart >= 0 {
				switch fs.item {
				case itemStructure:
					p.structure(p.s.resp.seq, s[fs.structStart:i])
				case itemEnvelope:
					p.envelope(p.s.resp.seq, s[fs.structStart:i])
				}
				fs.structStart = -1
			}
			fs.valueDone()
		case c == '"':
			j, qok := quotedEnd(s, i)
			if !qok {
				return spec, roleSkip, false, false
			}
			if fs.depth == 1 {
				if fs.item == itemHeader {
					p.headerFields(p.s.resp.seq, unquote(nil, s[i+1:j-1]))
				} else {
					p.quotedValue(s[i+1 : j-1])
				}
				fs.want = false
			}
			i = j
		case c == '{' || c == '~':
			lspec, at, lok := trailingLiteral(s)
			if !lok || at != i {
				return spec, roleSkip, false, false
			}
			r = roleSkip
			if fs.depth == 1 {
				switch fs.item {
				case itemWhole:
					r = roleMsg
				case itemPartial:
					r = rolePartial
				case itemPart:
					r = rolePart
				case itemMore:
					r = roleMore
				case itemHeader:
					r = roleHeader
				}
			}
			if (fs.item == itemStructure || fs.item == itemEnvelope) && fs.structStart >= 0 {
				// A literal inside a BODYSTRUCTURE or ENVELOPE: the value
				// is not in one line, and is not read.
				fs.structStart = -1
				p.st.StructBad++
			}
			return lspec, r, true, true
		default:
			j := atomEnd(s, i)
			if fs.depth == 1 {
				p.atomValue(s[i:j])
				fs.want = false
			}
			i = j
		}
	}
	return spec, roleSkip, false, false // no line end
}

// itemEnd returns the end of the item name at s[i]; a section in
// brackets may hold spaces and parentheses (HEADER.FIELDS (A B)).
func itemEnd(s []byte, i int) int {
	j := i
	for j < len(s) {
		switch s[j] {
		case '[':
			k := bytes.IndexByte(s[j:], ']')
			if k < 0 {
				return i
			}
			j += k + 1
			continue
		case ' ', '(', ')', '"', '{', '\r', '\n':
			return j
		}
		j++
	}
	return j
}

// atomEnd returns the end of the atom (or number, or NIL) at s[i].
func atomEnd(s []byte, i int) int {
	j := i + 1 // s[i] is not a delimiter: the caller saw to it
	for j < len(s) {
		switch s[j] {
		case ' ', '(', ')', '"', '{', '\r', '\n':
			return j
		}
		j++
	}
	return j
}

// classify says what an item name's value is, counting the message
// sections it skips.
func (p *Parser) classify(name []byte) item {
	switch {
	case equalFold(name, "RFC822"):
		return itemWhole
	case equalFold(name, "RFC822.SIZE"):
		return itemSize
	case equalFold(name, "RFC822.HEADER"):
		return itemHeader
	case equalFold(name, "RFC822.TEXT"):
		p.st.HeaderText++
		return itemOther
	case equalFold(name, "BODYSTRUCTURE"), equalFold(name, "BODY"):
		return itemStructure
	case equalFold(name, "ENVELOPE"):
		return itemEnvelope
	case equalFold(name, "UID"):
		return itemUID
	}
	var rest []byte
	for _, pre := range [...]string{"BODY[", "BODY.PEEK[", "BINARY[", "BINARY.PEEK["} {
		if hasPrefixFold(name, pre) {
			rest = name[len(pre):]
			break
		}
	}
	if rest == nil {
		return itemOther
	}
	section, origin, _ := bytes.Cut(rest, []byte("]"))
	switch {
	case len(origin) == 0 && (equalFold(section, "HEADER") || hasPrefixFold(section, "HEADER.FIELDS ") || hasPrefixFold(section, "HEADER.FIELDS(")):
		return itemHeader // the message's header: its senders and subject
	case len(section) > 0 && partNumber(section) && len(origin) == 0 && len(section) <= 32:
		fs := &p.s.resp.fs
		fs.section, fs.binary = string(section), hasPrefixFold(name, "BINARY")
		return itemPart
	case len(section) > 0 && partNumber(section):
		p.st.Sections++ // a piece of a part: no start or no end to read
		return itemOther
	case len(section) > 0:
		p.st.HeaderText++ // HEADER, TEXT, HEADER.FIELDS, n.MIME...
		return itemOther
	case len(origin) == 0:
		return itemWhole
	}
	if off, ok := originOffset(origin); ok {
		// Where the piece goes is decided when its value comes.
		p.s.resp.fs.off = off
		if off == 0 {
			return itemPartial
		}
		return itemMore
	}
	p.st.Offsets++
	return itemOther
}

// originOffset reads the offset of "<n>" or "<n.len>".
func originOffset(o []byte) (int64, bool) {
	if len(o) < 3 || o[0] != '<' {
		return 0, false
	}
	n, k, ok := number(o[1:])
	if !ok || 1+k >= len(o) || (o[1+k] != '>' && o[1+k] != '.') {
		return 0, false
	}
	return n, true
}

// partNumber: "1", "1.2", "2.1.3".
func partNumber(s []byte) bool {
	for i, c := range s {
		if !isDigit(c) && (c != '.' || i == 0 || i == len(s)-1 || s[i-1] == '.') {
			return false
		}
	}
	return true
}

// atomValue takes an atom value of the item list.
func (p *Parser) atomValue(a []byte) {
	fs := &p.s.resp.fs
	switch fs.item {
	case itemSize:
		n, k, ok := number(a)
		if !ok || k != len(a) {
			return
		}
		fs.size = n
		// Kept for the pieces of the message fetched later (clients
		// read sizes when they list a mailbox).
		p.sizes.put(p.s.resp.seq, n, 0)
	case itemUID:
		if n, k, ok := number(a); ok && k == len(a) && n < 1<<32 {
			fs.uid = uint32(n)
		}
	case itemWhole, itemPartial:
		if equalFold(a, "NIL") {
			p.st.Nil++
		} else {
			p.st.Malformed++
		}
	}
}

// quotedValue takes a quoted value of the item list: a message item (or
// a piece of one) may come as a quoted string when it is small.
func (p *Parser) quotedValue(q []byte) {
	s := &p.s
	it := s.resp.fs.item
	if it != itemWhole && it != itemPartial && it != itemMore {
		return
	}
	s.quoted = unquote(s.quoted[:0], q)
	defer func() {
		clear(s.quoted)
		s.quoted = s.quoted[:0]
	}()
	if it != itemWhole {
		// A piece as a string: "" past the end of the message.
		off := s.resp.fs.off
		if it == itemPartial {
			p.st.Quoted++
		}
		if p.pieceStart(off, int64(len(s.quoted))) {
			s.resp.pieceLen = int64(len(s.quoted))
			p.pieceData(off, s.quoted, 0)
		}
		return
	}
	p.st.Quoted++
	m := p.sink.OpenMessage(p.fetchMeta())
	if m == nil {
		return
	}
	n := min(int64(len(s.quoted)), p.opt.MaxLiteral)
	if n > 0 {
		m.Write(s.quoted[:n])
		p.st.Bytes += uint64(n)
	}
	if n < int64(len(s.quoted)) {
		p.st.Limit++
		m.Close(transfer.CutLimit)
		return
	}
	m.Close(transfer.Whole)
}

func equalFold(b []byte, s string) bool { return len(b) == len(s) && hasPrefixFold(b, s) }

// partialRequest reads the offset and length a client FETCH asks of a
// message piece: "BODY.PEEK[]<65536.65536>" gives 65536, 65536.
func partialRequest(rest []byte) (off, n int64, ok bool) {
	i := bytes.Index(rest, []byte("[]<"))
	if i < 0 {
		return 0, 0, false
	}
	o := rest[i+3:]
	j := bytes.IndexByte(o, '.')
	e := bytes.IndexByte(o, '>')
	if j < 0 || e < j {
		return 0, 0, false
	}
	off, k, ok := number(o[:j])
	if !ok || k != j {
		return 0, 0, false
	}
	n, k, ok = number(o[j+1 : e])
	return off, n, ok && j+1+k == e
}
