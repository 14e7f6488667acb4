package mime

import "bytes"

// The scanner cuts the message into lines and finds delimiters. A line's
// end is held back until the next line is known not to be a delimiter,
// since the line end before a delimiter belongs to it (RFC 2046 5.1.1);
// a line starting with '-' is held back until it is known not to be one.
// Consumers get the rest as text (bytes within a line) and eol (a line
// end that belongs to the content).

// level is one open multipart.
type level struct {
	delim  []byte // "--" + boundary
	depth  int    // depth of the multipart entity; its parts are one deeper
	digest bool   // multipart/digest: parts default to message/rfc822
}

// scanner state lives in message; these are its methods.

// scan feeds p through the scanner.
func (m *message) scan(p []byte) {
	for len(p) > 0 {
		switch {
		case m.skipEOL:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return
			}
			p = p[i+1:]
			m.skipEOL = false
			m.bol, m.hasHeld = true, false
		case m.bol:
			p = m.lineStart(p)
		default:
			p = m.midLine(p)
		}
	}
}

// lineStart handles bytes at the start of a line: the fast way out when
// the line cannot be a delimiter, else collect it in lb.
func (m *message) lineStart(p []byte) []byte {
	if m.lbn == 0 && m.hasHeld && m.mode == modeHeader && m.lineEmpty && m.sawLine {
		// The held line end ends a header block: it is no delimiter's,
		// and the block may open the multipart whose first delimiter
		// this line is.
		m.releaseHeld()
	}
	if m.lbn == 0 && (len(m.levels) == 0 || p[0] != '-') {
		m.releaseHeld()
		m.bol = false
		return p
	}
	room := len(m.lb) - m.lbn
	n := len(p)
	if i := bytes.IndexByte(p, '\n'); i >= 0 {
		n = i + 1
	}
	n = min(n, room)
	m.lbn += copy(m.lb[m.lbn:], p[:n])
	p = p[n:]
	line := m.lb[:m.lbn]
	full := m.lbn == len(m.lb)
	lv, closing, st := m.matchDelim(line, full)
	switch st {
	case matchMaybe:
		return p // need more bytes
	case matchYes:
		m.lbn = 0
		m.hasHeld = false
		m.bol = true
		if line[len(line)-1] != '\n' {
			m.skipEOL = true // the rest of the line (padding, text after "--b--")
		}
		m.delimiter(lv, closing)
		return p
	}
	// Not a delimiter: the held line end and the collected bytes are
	// content. lb holds at most one '\n', at its end, so midLine takes
	// all of it.
	m.lbn = 0
	m.releaseHeld()
	m.bol = false
	m.midLine(line)
	return p
}

// midLine passes content up to and including the end of the current line
// and returns the rest. A trailing CR is held (it may start a CRLF).
func (m *message) midLine(p []byte) []byte {
	if m.cr {
		m.cr = false
		if p[0] == '\n' {
			m.hold("\r\n")
			return p[1:]
		}
		m.text(crBytes)
	}
	i := bytes.IndexByte(p, '\n')
	if i < 0 {
		n := len(p)
		if p[n-1] == '\r' {
			m.cr = true
			n--
		}
		if n > 0 {
			m.text(p[:n])
		}
		return nil
	}
	if i > 0 && p[i-1] == '\r' {
		if i > 1 {
			m.text(p[:i-1])
		}
		m.hold("\r\n")
	} else {
		if i > 0 {
			m.text(p[:i])
		}
		m.hold("\n")
	}
	return p[i+1:]
}

var crBytes = []byte{'\r'}

func (m *message) hold(term string) {
	m.held = term
	m.hasHeld = true
	m.bol = true
}

// releaseHeld hands the held line end to the consumer: the next line was
// not a delimiter.
func (m *message) releaseHeld() {
	if m.hasHeld {
		m.hasHeld = false
		m.eol(m.held)
	}
}

// drain hands everything held to the consumer, as content: at a gap and
// at message end. At the end a held line start may still be a delimiter
// ("--b--" without a line end).
func (m *message) drain(atEnd bool) {
	if m.skipEOL {
		m.skipEOL = false
		m.bol, m.hasHeld = true, false
		return
	}
	if m.lbn > 0 {
		line := m.lb[:m.lbn]
		m.lbn = 0
		if atEnd {
			if lv, closing, st := m.matchDelim(line, true); st == matchYes {
				m.hasHeld = false
				m.delimiter(lv, closing)
				return
			}
		}
		m.releaseHeld()
		m.bol = false
		m.midLine(line)
	}
	m.releaseHeld()
	if m.cr {
		m.cr = false
		m.text(crBytes)
	}
	m.bol = true
}

const (
	matchNo = iota
	matchMaybe
	matchYes
)

// matchDelim says whether line (a line start, ending with '\n' when
// complete) is a delimiter of an open multipart, which one, and whether
// it closes it. Nothing is decided yes before the line is complete (or
// final: no more bytes will come for it), so the innermost multipart
// wins when several could match.
func (m *message) matchDelim(line []byte, final bool) (lv int, closing bool, st int) {
	complete := final || line[len(line)-1] == '\n'
	st = matchNo
	for i := len(m.levels) - 1; i >= 0; i-- {
		d := m.levels[i].delim
		if len(line) < len(d) {
			if !complete && bytes.HasPrefix(d, line) {
				st = matchMaybe
			}
			continue
		}
		if !bytes.Equal(line[:len(d)], d) {
			continue
		}
		r := line[len(d):]
		if !complete {
			st = matchMaybe
			continue
		}
		if len(r) >= 2 && r[0] == '-' && r[1] == '-' {
			return i, true, matchYes
		}
		if isPaddingEnd(r) {
			return i, false, matchYes
		}
	}
	return 0, false, st
}

// isPaddingEnd reports whether r is transport padding then a line end
// (or nothing: the end of the message or of what was held).
func isPaddingEnd(r []byte) bool {
	for len(r) > 0 && (r[0] == ' ' || r[0] == '\t') {
		r = r[1:]
	}
	switch string(r) {
	case "", "\n", "\r", "\r\n":
		return true
	}
	return false
}
