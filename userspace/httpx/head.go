package httpx

import (
	"bytes"
	"unicode/utf8"

	"github.com/edgesensor/edgesensor/userspace/extract"
)

// Header blocks are read as a stream of lines. A line that arrives whole
// is parsed where it lies; only a line that spans Data calls is kept, and
// only what the block needs of it (lineAcc): the start line's first bytes
// and its last ones, a field's name and the start of its value, leading
// blanks left out. The rest of a long line is counted, not kept, so a
// header block costs one line of memory whatever its size, and a field
// padded with blanks is read as if it had none.

const (
	// valueKeep is what clip needs of a value to cut it exactly at
	// extract.MaxHeaderValue on a rune boundary; a framing field's value
	// longer than this is malformed.
	valueKeep = extract.MaxHeaderValue + utf8.UTFMax
	// lineKeep is the most of one line kept: a field name of up to 64
	// bytes, its colon and valueKeep of value (a request line's method,
	// space and target fit too). Longer names are no fields the parser
	// reads.
	lineKeep = 64 + 1 + valueKeep
	// lineKeepCap is the allocation of a long line's buffer: lineKeep
	// rounded up to the allocator's size class.
	lineKeepCap = 1152
	// tailKeep is the end of a request line kept beside its start:
	// " HTTP/1.x" and a CR.
	tailKeep = 10
)

// headState is the header block under way on one direction.
type headState struct {
	active bool  // the block began (its start line's first byte came)
	start  bool  // the start line was read
	bytes  int64 // bytes of the block so far, line ends included
	lines  int   // field lines so far
	// over is set past MaxHeaderBlock or MaxHeaderLines: the message is
	// cut and only its framing fields are read.
	over bool
	// resync marks a block found by the seeker after a desync: a line
	// that does not read as HTTP sends the direction back to seeking.
	resync bool

	method, target string // request line, clipped
	status         int    // status line
	f              fields
	lastKind       fieldKind // what the field an obs-fold line continues is
}

// lineAcc is a line that spans Data calls, as far as the block needs it.
type lineAcc struct {
	buf    []byte // what is kept (lineKeep at most)
	n      int64  // bytes of the line so far, its LF excluded
	active bool
	start  bool // a start line: kept as it comes, its tail too
	// careful is set once the line would not fit in lineKeep: from then
	// on the bytes are looked at as they come (below); until then they
	// are kept as they are.
	careful  bool
	fold     bool // a field line that starts with a blank (obs-fold)
	colon    bool // field line: its colon was seen
	skipping bool // field line: inside the leading blanks of a value
	// About the bytes not kept: over is set when there were any (leading
	// blanks of a value aside); cut when one was not a blank;
	// ctl when one was a control byte other than HT (a CR counts only
	// when more bytes follow it); tab when one was HT; spaces counts
	// the SPs among them.
	over, cut, ctl, tab, cr bool
	spaces                  int
	tail                    [tailKeep]byte // a start line's last bytes
	tn                      int
}

func (a *lineAcc) reset() {
	buf := a.buf[:0]
	if cap(buf) > 256 {
		buf = nil // a long line's buffer is not kept for an idle connection
	}
	*a = lineAcc{buf: buf}
}

// add takes the next piece of the line (without its LF).
func (a *lineAcc) add(p []byte) {
	if a.n == 0 && len(p) > 0 && !a.start && isOWS(p[0]) {
		a.fold = true
	}
	if !a.careful {
		if len(a.buf)+len(p) <= lineKeep {
			// The common case: a line split by a segment boundary.
			a.n += int64(len(p))
			a.buf = a.grow(len(p))
			a.buf = append(a.buf, p...)
			return
		}
		a.beCareful()
	}
	a.n += int64(len(p))
	if a.start {
		a.addTail(p)
		a.keep(p)
		return
	}
	for len(p) > 0 {
		if a.skipping {
			k := 0
			for k < len(p) && isOWS(p[k]) {
				k++
			}
			if p = p[k:]; len(p) == 0 {
				return
			}
			a.skipping = false
		}
		if !a.colon && !a.fold {
			seg := p
			if i := bytes.IndexByte(p, ':'); i >= 0 {
				seg = p[:i+1]
			}
			a.keep(seg)
			p = p[len(seg):]
			if seg[len(seg)-1] == ':' {
				a.colon, a.skipping = true, true
			}
			continue
		}
		a.keep(p)
		return
	}
}

// beCareful turns to looking at the line's bytes as they come: what was
// kept so far is made what it would have been (a field value without
// its leading blanks, a start line's tail taken).
func (a *lineAcc) beCareful() {
	a.careful = true
	if a.start {
		a.addTail(a.buf)
		return
	}
	v := 0 // where the value starts in buf
	if !a.fold {
		i := bytes.IndexByte(a.buf, ':')
		if i < 0 {
			return // still in the name
		}
		a.colon = true
		v = i + 1
	}
	k := v
	for k < len(a.buf) && isOWS(a.buf[k]) {
		k++
	}
	a.buf = append(a.buf[:v], a.buf[k:]...)
	a.skipping = len(a.buf) == v
}

// grow makes room for n more bytes in buf, going straight to the most a
// line keeps rather than doubling past it.
func (a *lineAcc) grow(n int) []byte {
	if len(a.buf)+n > cap(a.buf) && len(a.buf)+n > 256 {
		b := make([]byte, len(a.buf), lineKeepCap)
		copy(b, a.buf)
		return b
	}
	return a.buf
}

// keep stores p within lineKeep and notes what the rest of it was.
func (a *lineAcc) keep(p []byte) {
	if room := lineKeep - len(a.buf); room > 0 {
		k := min(room, len(p))
		a.buf = a.grow(k)
		a.buf = append(a.buf, p[:k]...)
		p = p[k:]
	}
	if len(p) > 0 {
		a.over = true
	}
	for _, c := range p {
		if a.cr {
			a.ctl = true // a CR inside the line
		}
		a.cr = false
		switch {
		case c == ' ':
			a.spaces++
		case c == '\t':
			a.tab = true
		case c == '\r':
			a.cr = true
		case c < ' ' || c == 0x7f:
			a.ctl, a.cut = true, true
		default:
			a.cut = true
		}
	}
}

func (a *lineAcc) addTail(p []byte) {
	if len(p) >= tailKeep {
		copy(a.tail[:], p[len(p)-tailKeep:])
		a.tn = tailKeep
		return
	}
	k := min(a.tn, tailKeep-len(p))
	copy(a.tail[:k], a.tail[a.tn-k:a.tn])
	copy(a.tail[k:], p)
	a.tn = k + len(p)
}

type lineResult uint8

const (
	lineNext lineResult = iota // read the next line
	lineEnd                    // the block ended and its message is set up
	lineBad                    // a resync candidate failed: seek again
	lineStop                   // the direction desynchronised or the parser stopped
)

// head consumes bytes of a header block and returns how many it used.
// The block's end sets its message up.
func (h *half) head(b []byte) int {
	hd, a := &h.hd, &h.acc
	n := 0
	if !hd.active {
		// Empty lines between messages are tolerated (RFC 9112 §2.2);
		// some clients add a CRLF after a POST body.
		for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
			n++
		}
		if n == len(b) {
			return n
		}
		if h.first && !h.plausible(b[n:]) {
			h.p.notHTTP()
			return len(b)
		}
		hd.active = true
	}
	for n < len(b) {
		i := bytes.IndexByte(b[n:], '\n')
		end := len(b)
		if i >= 0 {
			end = n + i
		}
		if a.active || i < 0 {
			before := a.n
			h.accAdd(b[n:end])
			if !hd.start {
				// A start line still coming is checked as it comes.
				if hd.resync && !h.couldStart(a.buf) {
					h.lostBytes += before
					a.reset()
					h.falseStart()
					if before == 0 {
						return n + 1 // not reached: the seeker saw to it
					}
					return n // seek again in these bytes
				}
				if h.first && !h.plausible(a.buf) {
					h.p.notHTTP()
					return len(b)
				}
			}
			if i < 0 {
				return len(b)
			}
		}
		lineStart, wasStart := n, !hd.start
		n += i + 1
		var r lineResult
		acc := a.active
		if acc {
			r = h.headLine(a.buf, a.n, a)
			a.reset()
		} else {
			r = h.headLine(b[lineStart:end], int64(end-lineStart), nil)
		}
		switch r {
		case lineNext:
			continue
		case lineBad:
			if acc {
				return n // its bytes are gone: seek on after it
			}
			// Seek again within the line: from its second byte when it
			// was the candidate's start line, else from its start (a
			// status line may follow a fake block).
			resume := lineStart
			if wasStart {
				resume++
			}
			h.lostBytes -= int64(n - resume) // the seeker counts them again
			return resume
		}
		return n
	}
	return n
}

// couldStart reports whether b may begin a start line of the direction.
func (h *half) couldStart(b []byte) bool {
	if h.client {
		return couldBeRequest(b)
	}
	if len(b) < len(httpPrefix) {
		return bytes.HasPrefix(httpPrefix, b)
	}
	return bytes.HasPrefix(b, httpPrefix) && couldBeStatus(b)
}

// accAdd adds a piece of a line that spans calls.
func (h *half) accAdd(p []byte) {
	a := &h.acc
	if !a.active {
		a.active, a.start = true, !h.hd.start
	}
	a.add(p)
}

// headLine reads one complete line of the block: line is the line (its
// LF excluded) and n its length, or, for a line that spanned calls, what
// a kept of it.
func (h *half) headLine(line []byte, n int64, a *lineAcc) lineResult {
	hd := &h.hd
	p := h.p
	hd.bytes += n + 1
	if !hd.over && hd.bytes > int64(p.opts.MaxHeaderBlock) {
		hd.over = true
		p.stats.Malformed.HeaderTooLong++
	}
	over := a != nil && a.over // line is not the whole line
	if !over {
		line = trimCR(line)
	}
	if !hd.start {
		return h.startLine(line, n, a)
	}
	fold := a != nil && a.fold || a == nil && len(line) > 0 && isOWS(line[0])
	if len(line) == 0 && !fold {
		return h.endHead()
	}
	if fold {
		// obs-fold (RFC 9112 §5.2): a continuation, joined with SP.
		if hd.resync && hd.lines == 0 {
			return h.falseStart() // blanks before the first field
		}
		hd.fold(trimOWS(line), over && a.cut)
		return lineNext
	}
	hd.lines++
	if !hd.over && p.opts.MaxHeaderLines > 0 && hd.lines > p.opts.MaxHeaderLines {
		hd.over = true
		p.stats.Malformed.TooManyHeaders++
	}
	i := bytes.IndexByte(line, ':')
	if i <= 0 || isOWS(line[i-1]) {
		// No name, or whitespace before the colon, which RFC 9112 §5.1
		// makes a reason to reject: the field is ignored.
		if hd.resync {
			return h.falseStart()
		}
		p.stats.Malformed.HeaderLine++
		hd.lastKind = fkNone
		return lineNext
	}
	name, value := line[:i], trimOWS(line[i+1:])
	if hd.resync && (!isToken(name) || hasCTL(value) || over && a.ctl) {
		return h.falseStart()
	}
	hd.lastKind = hd.f.set(name, value, over && a.cut, hd.over)
	return lineNext
}

// startLine reads a request or status line.
func (h *half) startLine(line []byte, n int64, a *lineAcc) lineResult {
	hd := &h.hd
	p := h.p
	hd.start = true
	if h.client {
		method, target, ok := requestLine(line, n, a)
		if ok && hd.resync && !isMethodWord(method) {
			ok = false
		}
		if !ok {
			if !hd.resync {
				p.stats.Malformed.RequestLine++
			}
			return h.badStart()
		}
		hd.method, hd.target = clip(method), clip(target)
	} else {
		status, _, ok := parseStatusLine(line)
		if !ok {
			if !hd.resync {
				p.stats.Malformed.StatusLine++
			}
			return h.badStart()
		}
		hd.status = status
	}
	h.first = false
	return lineNext
}

// requestLine reads a request line, from what was kept of it when it
// was longer: its first lineKeep bytes hold the method, a space and
// more of the target than is ever used, and its last bytes the version;
// the bytes in between must be target characters.
func requestLine(line []byte, n int64, a *lineAcc) (method, target []byte, ok bool) {
	if a == nil || !a.over {
		method, target, _, ok = parseRequestLine(line)
		return method, target, ok
	}
	tail := trimCR(a.tail[:a.tn])
	l := n // the line's length without its CR
	if len(tail) < a.tn {
		l--
	}
	i := bytes.IndexByte(line, ' ')
	if a.ctl || a.tab || len(tail) < 9 || i <= 0 || i > maxMethod {
		return nil, nil, false
	}
	tail = tail[len(tail)-9:]
	// Two spaces in all: after the method, and before the version.
	if bytes.Count(line, []byte{' '})+a.spaces != 2 || tail[0] != ' ' ||
		string(tail[1:8]) != "HTTP/1." || !isDigit(tail[8]) {
		return nil, nil, false
	}
	method = line[:i]
	target = line[i+1 : min(int64(len(line)), l-9)]
	if len(target) == 0 {
		return nil, nil, false
	}
	for _, c := range method {
		if !isTchar(c) {
			return nil, nil, false
		}
	}
	for _, c := range target {
		if c < ' ' || c == 0x7f {
			return nil, nil, false
		}
	}
	return method, target, true
}

func (h *half) badStart() lineResult {
	if h.hd.resync {
		return h.falseStart()
	}
	if h.first {
		h.p.notHTTP()
		return lineStop
	}
	h.desync(extract.CutDesync)
	return lineStop
}

// falseStart drops a resync candidate that did not read as a message:
// its bytes were not one, and the direction seeks again.
func (h *half) falseStart() lineResult {
	h.p.stats.FalseStarts++
	h.lostBytes += h.hd.bytes
	h.hd = headState{}
	h.st = stDesync
	return lineBad
}

// endHead acts on the end of a block: its message is set up.
func (h *half) endHead() lineResult {
	hd := &h.hd
	if hd.resync {
		h.p.stats.Resyncs++
		h.closeLost(extract.CutGap)
	}
	if h.client {
		h.onRequest(hd)
	} else {
		h.onResponse(hd)
	}
	h.hd = headState{}
	return lineEnd
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
	// teBad: a Transfer-Encoding value that could not be read whole
	// (longer than a value is kept); cencRaw: the same of
	// Content-Encoding, whose body then goes out undecoded.
	teBad, cencRaw bool
}

// fieldKind says what an obs-fold line continues.
type fieldKind uint8

const (
	fkNone fieldKind = iota
	fkHost
	fkUA
	fkCType
	fkCDisp
	fkCL // a continuation makes Content-Length malformed
	fkTE
	fkCE
)

// set records one field. cut says bytes of its value were not kept; over
// that the block is past its bounds, where only framing fields count. It
// returns what an obs-fold line would continue.
func (f *fields) set(name, v []byte, cut, over bool) fieldKind {
	switch {
	case foldEq(name, "content-length"):
		f.addCL(v, cut)
		return fkCL
	case foldEq(name, "transfer-encoding"):
		f.hasTE = true
		f.addTE(v, cut)
		return fkTE
	case over:
		return fkNone
	case foldEq(name, "host"):
		if f.host == "" {
			f.host = clip(v)
			return fkHost
		}
	case foldEq(name, "user-agent"):
		f.ua = clip(v)
		return fkUA
	case foldEq(name, "content-type"):
		f.ctype = clip(v)
		return fkCType
	case foldEq(name, "content-disposition"):
		f.cdisp = clip(v)
		return fkCDisp
	case foldEq(name, "content-encoding"):
		f.addCE(v, cut)
		return fkCE
	case foldEq(name, "content-range"):
		f.crange = clip(v)
	case foldEq(name, "etag"):
		f.etag = clip(v)
	case foldEq(name, "last-modified"):
		f.lastMod = clip(v)
	case foldEq(name, "expect"):
		f.expect100 = f.expect100 || foldContains(v, "100-continue")
	}
	return fkNone
}

// fold continues the last field with an obs-fold line, cont (cut: bytes
// of it were not kept).
func (hd *headState) fold(cont []byte, cut bool) {
	f := &hd.f
	var s *string
	switch hd.lastKind {
	case fkHost:
		s = &f.host
	case fkUA:
		s = &f.ua
	case fkCType:
		s = &f.ctype
	case fkCDisp:
		s = &f.cdisp
	case fkCL:
		if len(cont) > 0 || cut {
			f.badCL = true // "1\r\n 23" is "1 23" (RFC 9112 §5.2): not a number
		}
	case fkTE:
		f.addTE(cont, cut)
	case fkCE:
		if !hd.over {
			f.addCE(cont, cut)
		}
	}
	if s != nil && !hd.over {
		*s = clipJoin(*s, " ", cont)
	}
}

// addCL takes a Content-Length value: a number, or a list of the same
// number (RFC 9110 §8.6); anything else, values that differ, or a value
// too long to be kept, is bad.
func (f *fields) addCL(v []byte, cut bool) {
	if cut || len(v) > valueKeep {
		f.badCL = true
		return
	}
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

// addTE joins a Transfer-Encoding value; one that cannot be kept whole
// makes the framing unknown.
func (f *fields) addTE(v []byte, cut bool) {
	if cut || len(v) > valueKeep || len(f.te)+2+len(v) > extract.MaxHeaderValue {
		f.teBad = true
		return
	}
	f.te = clipJoin(f.te, ", ", v)
}

// addCE joins a Content-Encoding value (repeated fields form one list,
// RFC 9110 §5.3); one that cannot be kept whole leaves the body raw.
func (f *fields) addCE(v []byte, cut bool) {
	if cut || len(v) > valueKeep || len(f.cenc)+2+len(v) > extract.MaxHeaderValue {
		f.cencRaw = true
	}
	f.cenc = clipJoin(f.cenc, ", ", v)
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
