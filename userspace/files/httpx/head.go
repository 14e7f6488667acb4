package httpx

import (
	"bytes"
	"unicode/utf8"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
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
	// transfer.MaxHeaderValue on a rune boundary; a framing field's value
	// longer than this is malformed.
	valueKeep = transfer.MaxHeaderValue + utf8.UTFMax
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
	return couldBeStatusStart(b)
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
	h.desync(transfer.CutDesync)
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
		h.closeLost(transfer.CutGap)
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
