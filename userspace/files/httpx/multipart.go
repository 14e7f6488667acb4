package httpx

import (
	"bytes"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

type mpState uint8

const (
	mpPreamble  mpState = iota // before the first delimiter, or after a gap: discard
	mpAfter                    // just after a delimiter: "--" closes, else padding to LF
	mpAfterDash                // one '-' seen
	mpPad                      // transport padding up to LF
	mpHeaders                  // part header lines
	mpBody                     // part content, up to the next delimiter
	mpEpilogue                 // after the close delimiter: discard
)

const maxPad = 256 // transport padding after a delimiter

// multipart splits a multipart/form-data body (RFC 7578, RFC 2046 §5.1)
// into part files, streaming: only a possible delimiter prefix (under
// 205 bytes) and one part's headers are ever held.
type multipart struct {
	p     *Parser
	base  transfer.Meta // the request's Meta
	delim []byte        // CRLF "--" boundary
	carry []byte        // a held suffix that may begin a delimiter
	st    mpState
	pad   int
	hdr   []byte // the current part's header lines
	lines int
	// lineStart is where the line being collected starts in hdr.
	lineStart int
	part      out
	meta      transfer.Meta // the current part's Meta
	want      bool          // the current part goes to a file
}

func newMultipart(p *Parser, base *transfer.Meta, boundary string) *multipart {
	m := &multipart{p: p, base: *base}
	m.delim = append([]byte("\r\n--"), boundary...)
	// The first delimiter may open the body without its CRLF: pretend
	// one was there.
	m.carry = append(make([]byte, 0, len(m.delim)), "\r\n"...)
	return m
}

// write takes decoded body bytes; false once the close delimiter passed.
func (m *multipart) write(p []byte) bool {
	for len(p) > 0 {
		switch m.st {
		case mpPreamble, mpBody:
			p = m.search(p)
		case mpAfter, mpAfterDash:
			c := p[0]
			if c == '-' {
				p = p[1:]
				if m.st == mpAfterDash {
					m.st = mpEpilogue
				} else {
					m.st = mpAfterDash
				}
				continue
			}
			m.st, m.pad = mpPad, 0
		case mpPad:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				m.pad += len(p)
				p = nil
			} else {
				m.pad += i
				p = p[i+1:]
				m.st, m.hdr, m.lines, m.lineStart = mpHeaders, m.hdr[:0], 0, 0
			}
			if m.pad > maxPad {
				m.malformed()
			}
		case mpHeaders:
			p = m.headers(p)
		case mpEpilogue:
			return false
		}
	}
	return m.st != mpEpilogue
}

// search looks for the delimiter, handing what precedes it to the part.
func (m *multipart) search(p []byte) []byte {
	d := m.delim
	if len(m.carry) > 0 {
		need := d[len(m.carry):]
		k := min(len(need), len(p))
		if bytes.Equal(p[:k], need[:k]) {
			if k == len(need) {
				m.carry = m.carry[:0]
				m.delimiter()
				return p[k:]
			}
			m.carry = append(m.carry, p[:k]...)
			return nil
		}
		// Not a delimiter after all: the held bytes were content. The
		// delimiter has one CR, its first byte, so no later start in the
		// carry can match.
		m.data(m.carry)
		m.carry = m.carry[:0]
	}
	if i := bytes.Index(p, d); i >= 0 {
		m.data(p[:i])
		m.delimiter()
		return p[i+len(d):]
	}
	// Hold back a suffix that may begin the delimiter.
	from := max(0, len(p)-len(d)+1)
	if j := bytes.LastIndexByte(p[from:], '\r'); j >= 0 && bytes.HasPrefix(d, p[from+j:]) {
		m.data(p[:from+j])
		m.carry = append(m.carry, p[from+j:]...)
		return nil
	}
	m.data(p)
	return nil
}

func (m *multipart) data(p []byte) {
	if m.st == mpBody && m.want && len(p) > 0 {
		m.want = m.part.write(m.p, &m.meta, p)
	}
}

func (m *multipart) delimiter() {
	if m.st == mpBody {
		m.part.close(transfer.Whole)
	}
	m.st = mpAfter
}

// headers collects a part's header lines up to the empty line.
func (m *multipart) headers(p []byte) []byte {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		n := len(p)
		if i >= 0 {
			n = i + 1
		}
		if len(m.hdr)+n > m.p.opts.MaxHeaderBytes {
			m.malformed()
			return p[n:]
		}
		m.hdr = append(m.hdr, p[:n]...)
		p = p[n:]
		if i < 0 {
			return p
		}
		// A line ended: the empty one ends the headers.
		if line := m.hdr[m.lineStart:]; len(line) == 1 || len(line) == 2 && line[0] == '\r' {
			m.hdr = m.hdr[:m.lineStart]
			m.startPart()
			return p
		}
		m.lineStart = len(m.hdr)
		if m.lines++; m.lines > maxHeaderLines {
			m.malformed()
			return p
		}
	}
	return p
}

// startPart parses the part's headers and opens it when it is a file: a
// part naming a file, or declaring a type other than text/plain (form
// fields are text).
func (m *multipart) startPart() {
	var cdisp, ctype []byte
	for b := m.hdr; len(b) > 0; {
		var line []byte
		line, b = nextLine(b)
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			continue
		}
		switch name := trimOWS(line[:i]); {
		case foldEq(name, "content-disposition"):
			cdisp = trimOWS(line[i+1:])
		case foldEq(name, "content-type"):
			ctype = trimOWS(line[i+1:])
		}
	}
	m.meta = m.base
	m.meta.Size = -1
	m.meta.ContentType = mediaType(clip(ctype))
	name := formDataFilename(clip(cdisp))
	m.want = name != "" || m.meta.ContentType != "" && m.meta.ContentType != "text/plain"
	if name != "" {
		m.meta.Name = name
	}
	m.hdr = m.hdr[:0]
	m.st = mpBody
}

// malformed gives up on the current part and looks for the next one.
func (m *multipart) malformed() {
	m.p.stats.Malformed.Multipart++
	m.part.close(transfer.CutCorrupt)
	m.hdr, m.want = m.hdr[:0], false
	m.st = mpPreamble
}

// gap: a delimiter may have been lost, so the part is cut and the
// splitter waits for the next delimiter.
func (m *multipart) gap(int64) {
	m.part.close(transfer.CutGap)
	m.carry, m.want = m.carry[:0], false
	m.st = mpPreamble
}

// finish ends the splitter with the body; cut is the body's verdict.
func (m *multipart) finish(cut transfer.Cut) {
	if cut == transfer.Whole && m.st != mpEpilogue {
		// The body ended before the close delimiter.
		m.p.stats.Malformed.Multipart++
		cut = transfer.CutCorrupt
	}
	m.part.close(cut)
	m.hdr, m.carry = nil, nil
	m.st = mpEpilogue
}
