package httpx

import "bytes"

// Resynchronisation. After a desync a direction seeks the next message
// start: a status line ("HTTP/1.x NNN") anywhere on the server side (the
// body before it may not end in a line end), a request line on the
// client side at a line start, or anywhere when its method is a known one
// followed by a space and a target ("...bodyPOST /x HTTP/1.1"). What is
// found is only a candidate: its block is read in resync mode, where a
// start line or a field line that does not read as HTTP (no colon, a
// name that is not a token, control bytes in a value) drops it and the
// seeking goes on. A candidate whose block ends is the resync.

// seek passes over bytes that cannot start a message and returns how
// many; at a candidate the direction reads a head again, in resync mode.
func (h *half) seek(b []byte) int {
	var i int
	if h.client {
		i = findRequest(b, h.bol)
	} else {
		i = findStatus(b)
	}
	if i < 0 {
		h.lostBytes += int64(len(b))
		h.bol = b[len(b)-1] == '\n'
		return len(b)
	}
	h.lostBytes += int64(i)
	h.st = stHead
	h.hd = headState{active: true, resync: true}
	return i
}

var httpPrefix = []byte("HTTP/1.")

// findStatus returns where the first possible status line in b starts:
// "HTTP/1.x NNN" then a space or line end, or a prefix of one cut by the
// end of b; -1 when there is none.
func findStatus(b []byte) int {
	for off := 0; off < len(b); {
		j := bytes.Index(b[off:], httpPrefix)
		if j < 0 {
			break
		}
		j += off
		if couldBeStatus(b[j:]) {
			return j
		}
		off = j + 1
	}
	// "HTTP/1" cut by the end of b.
	for k := max(0, len(b)-len(httpPrefix)+1); k < len(b); k++ {
		if bytes.HasPrefix(httpPrefix, b[k:]) {
			return k
		}
	}
	return -1
}

// couldBeStatusStart reports whether b may begin a status line: as much
// of "HTTP/" as it holds, then what couldBeStatus allows.
func couldBeStatusStart(b []byte) bool {
	k := min(len(b), len(httpPrefix))
	return string(b[:k]) == string(httpPrefix[:k]) && couldBeStatus(b)
}

// couldBeStatus: b starts with "HTTP/1." and goes on as a status line as
// far as it goes.
func couldBeStatus(b []byte) bool {
	const n = len("HTTP/1.x NNN ")
	for i := len(httpPrefix); i < min(len(b), n); i++ {
		c := b[i]
		switch {
		case i == 7 || i >= 9 && i <= 11:
			if !isDigit(c) {
				return false
			}
		case i == 8:
			if c != ' ' {
				return false
			}
		default: // after the code
			if c != ' ' && c != '\r' && c != '\n' {
				return false
			}
		}
	}
	return true
}

// knownMethods may start a request anywhere in the bytes a seeker passes
// over; other method tokens only at a line start.
var knownMethods = []string{"GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "TRACE",
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH"}

// longestMethod is the longest of knownMethods.
const longestMethod = len("PROPPATCH")

// findRequest returns where the first possible request line in b
// starts, -1 when there is none. bol says b[0] may start a line.
func findRequest(b []byte, bol bool) int {
	best := midRequest(b)
	// At line starts before it.
	limit := len(b)
	if best >= 0 {
		limit = best
	}
	i := 0
	if !bol {
		k := bytes.IndexByte(b[:limit], '\n')
		if k < 0 {
			return best
		}
		i = k + 1
	}
	for i < limit {
		if couldBeRequest(b[i:]) {
			return i
		}
		k := bytes.IndexByte(b[i:limit], '\n')
		if k < 0 {
			break
		}
		i += k + 1
	}
	return best
}

// midRequest finds a known method followed by a space and the start of a
// target ('/' or "http"), not glued to a capital letter before it, or
// such a start cut by the end of b; -1 when there is none.
func midRequest(b []byte) int {
	for off := 0; off < len(b); {
		j := bytes.IndexByte(b[off:], ' ')
		if j < 0 {
			break
		}
		j += off
		off = j + 1
		if j+1 < len(b) && b[j+1] != '/' && b[j+1] != 'h' {
			continue
		}
		if s, ok := methodEndingAt(b, j); ok {
			return s
		}
	}
	// "POS" or "GET " at the very end.
	for k := max(0, len(b)-longestMethod-1); k < len(b); k++ {
		if k > 0 && b[k-1] >= 'A' && b[k-1] <= 'Z' {
			continue
		}
		for _, m := range knownMethods {
			r := b[k:]
			if len(r) <= len(m) && r[0] == m[0] && string(r) == m[:len(r)] || len(r) == len(m)+1 && string(r[:len(m)]) == m && r[len(m)] == ' ' {
				return k
			}
		}
	}
	return -1
}

// methodEndingAt reports a known method right before the space at j,
// and where it starts.
func methodEndingAt(b []byte, j int) (int, bool) {
	for _, m := range knownMethods {
		s := j - len(m)
		if s >= 0 && string(b[s:j]) == m && (s == 0 || b[s-1] < 'A' || b[s-1] > 'Z') {
			return s, true
		}
	}
	return 0, false
}

// couldBeRequest: b starts with a method word, a space and the first
// byte of a target, as far as it goes.
func couldBeRequest(b []byte) bool {
	for i, c := range b {
		switch {
		case c == ' ':
			if i == 0 {
				return false
			}
			return i+1 >= len(b) || b[i+1] > ' ' && b[i+1] != 0x7f
		case i >= maxMethod:
			return false
		case c >= 'A' && c <= 'Z':
		case i > 0 && (isDigit(c) || c == '-' || c == '_'):
		default:
			return false
		}
	}
	return true
}
