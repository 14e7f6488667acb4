package httpx

import (
	"bytes"
)

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
