package httpx

import (
	"bytes"

	"github.com/edgesensor/edgesensor/userspace/extract"
)

// head consumes bytes of a header block. Once the block is whole it is
// parsed and its message set up. It returns how many bytes of b it used.
func (h *half) head(b []byte) int {
	limit := h.p.opts.MaxHeaderBytes
	n := 0
	if len(h.hbuf) == 0 {
		// Empty lines between messages are tolerated (RFC 9112 §2.2);
		// some clients add a CRLF after a POST body.
		for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
			n++
		}
		b = b[n:]
		if len(b) == 0 {
			return n
		}
		if h.first && !h.plausible(b) {
			h.p.notHTTP()
			return n + len(b)
		}
		// The common case: the whole block in one call, parsed in place.
		if end := headEnd(b, 0); end > 0 && end <= limit {
			h.parse(b[:end])
			return n + end
		}
	}
	old := len(h.hbuf)
	take := min(len(b), limit-old)
	h.hbuf = append(h.hbuf, b[:take]...)
	if h.first && !h.plausible(h.hbuf) {
		h.p.notHTTP()
		return n + len(b)
	}
	// The terminator may straddle the calls: look from 3 bytes back.
	if end := headEnd(h.hbuf, max(0, old-3)); end > 0 {
		h.parse(h.hbuf[:end])
		h.releaseHbuf()
		return n + end - old
	}
	if len(h.hbuf) >= limit {
		h.p.stats.Malformed.HeaderTooLong++
		if h.first {
			h.p.notHTTP()
		} else {
			h.desync(extract.CutDesync)
		}
		return n + len(b)
	}
	return n + take
}

// releaseHbuf empties the header buffer, dropping it when a big block
// grew it: idle connections should not hold 64 KiB each.
func (h *half) releaseHbuf() {
	if cap(h.hbuf) > 8<<10 {
		h.hbuf = nil
	} else {
		h.hbuf = h.hbuf[:0]
	}
}

// headEnd returns the index just past the empty line ending a header
// block in b, searching from from, or -1. Bare LF line ends are accepted
// (RFC 9112 §2.2).
func headEnd(b []byte, from int) int {
	for i := from; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		k := i + j + 1
		if k < len(b) && b[k] == '\n' {
			return k + 1
		}
		if k+1 < len(b) && b[k] == '\r' && b[k+1] == '\n' {
			return k + 2
		}
		i = k
	}
	return -1
}

// plausible reports whether b can be the start of the direction's first
// message, so that other protocols on the port are dropped early.
func (h *half) plausible(b []byte) bool {
	if !h.client {
		const pre = "HTTP/1."
		n := min(len(b), len(pre))
		return string(b[:n]) == pre[:n]
	}
	for i, c := range b {
		switch {
		case c == ' ':
			return i > 0
		case i >= maxMethod, !isTchar(c), i == 0 && (c < 'A' || c > 'Z'):
			return false
		}
	}
	return true
}

// parse handles one whole header block (start line to empty line).
func (h *half) parse(block []byte) {
	line, rest := nextLine(block)
	var f fields
	if !h.parseFields(rest, &f) {
		if h.first {
			h.p.notHTTP()
		} else {
			h.desync(extract.CutDesync)
		}
		return
	}
	if h.client {
		h.onRequest(line, &f)
	} else {
		h.onResponse(line, &f)
	}
}

// nextLine splits b at the first LF; the line loses its CR.
func nextLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return trimCR(b), nil
	}
	return trimCR(b[:i]), b[i+1:]
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// fields holds the header fields the parser uses; strings are clipped to
// extract.MaxHeaderValue.
type fields struct {
	host, ua, ctype, cdisp, cenc, te, crange string
	// validator: ETag, else Last-Modified; the ranges of one file carry
	// the same (RFC 9110 §13.1.5).
	etag, lastMod                  string
	cl                             int64
	hasCL, badCL, hasTE, expect100 bool
}

// parseFields reads the field lines of a block; false when there are too
// many.
func (h *half) parseFields(b []byte, f *fields) bool {
	st := h.p.stats
	lines := 0
	var last *string // the field an obs-fold line continues
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 {
			break
		}
		if lines++; lines > maxHeaderLines {
			st.Malformed.TooManyHeaders++
			return false
		}
		if line[0] == ' ' || line[0] == '\t' {
			// obs-fold (RFC 9112 §5.2): a continuation, joined with SP.
			if last != nil {
				*last = clipJoin(*last, " ", trimOWS(line))
			}
			continue
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 || line[i-1] == ' ' || line[i-1] == '\t' {
			// No name, or whitespace before the colon, which RFC 9112
			// §5.1 makes a reason to reject: the field is ignored.
			st.Malformed.HeaderLine++
			last = nil
			continue
		}
		last = f.set(line[:i], trimOWS(line[i+1:]))
	}
	return true
}

// set records one field; it returns the string an obs-fold would extend.
func (f *fields) set(name, v []byte) *string {
	switch {
	case foldEq(name, "host"):
		if f.host == "" {
			f.host = clip(v)
		}
		return &f.host
	case foldEq(name, "user-agent"):
		f.ua = clip(v)
		return &f.ua
	case foldEq(name, "content-type"):
		f.ctype = clip(v)
		return &f.ctype
	case foldEq(name, "content-disposition"):
		f.cdisp = clip(v)
		return &f.cdisp
	case foldEq(name, "content-encoding"):
		// Repeated fields form one list (RFC 9110 §5.3).
		f.cenc = clipJoin(f.cenc, ", ", v)
		return &f.cenc
	case foldEq(name, "transfer-encoding"):
		f.hasTE = true
		f.te = clipJoin(f.te, ", ", v)
		return &f.te
	case foldEq(name, "content-range"):
		f.crange = clip(v)
	case foldEq(name, "etag"):
		f.etag = clip(v)
	case foldEq(name, "last-modified"):
		f.lastMod = clip(v)
	case foldEq(name, "content-length"):
		f.addCL(v)
	case foldEq(name, "expect"):
		f.expect100 = f.expect100 || foldContains(v, "100-continue")
	}
	return nil
}

// addCL takes a Content-Length value: a number, or a list of the same
// number (RFC 9110 §8.6); anything else, or values that differ, is bad.
func (f *fields) addCL(v []byte) {
	for {
		var e []byte
		i := bytes.IndexByte(v, ',')
		if i < 0 {
			e = v
		} else {
			e = v[:i]
		}
		n, ok := parseDec(trimOWS(e))
		switch {
		case !ok:
			f.badCL = true
		case f.hasCL && n != f.cl:
			f.badCL = true
		default:
			f.cl, f.hasCL = n, true
		}
		if i < 0 {
			return
		}
		v = v[i+1:]
	}
}

// parseDec parses a non-negative decimal of at most 18 digits, so it
// cannot overflow an int64.
func parseDec(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
