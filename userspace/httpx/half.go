package httpx

import (
	"bytes"

	"github.com/edgesensor/edgesensor/userspace/extract"
)

type hstate uint8

const (
	stHead   hstate = iota // reading a header block (or between messages)
	stBody                 // inside a body
	stDesync               // framing lost: waiting for a resync point
	stPaused               // client side after CONNECT, until its response
	stEnded                // the direction ended
)

// half is one direction of the connection.
type half struct {
	p      *Parser
	client bool
	st     hstate
	// first is set until the direction's first message head parsed: bytes
	// that cannot start one then mean the connection is not HTTP.
	first bool
	hbuf  []byte // a header block spanning Data calls
	// pausedBytes counts what the client sent after CONNECT before the
	// answer: if the tunnel is refused they make the direction desync.
	pausedBytes int64
	b           body
	batch       []byte // small chunks gathered within one Data call
}

// desync drops the framing of this direction: the open body is cut.
func (h *half) desync(cut extract.Cut) {
	p := h.p
	h.abortBody(cut)
	// Requests and responses may pair wrongly after a resync: a file
	// waiting for its next range is not joined across it.
	p.closeRange(extract.CutGap)
	h.releaseHbuf()
	h.st = stDesync
	h.first = false // a desynced direction has spoken HTTP already
	p.stats.Desyncs++
	p.desyncs++
	if p.desyncs > maxDesyncs {
		p.finish(extract.CutDesync)
	}
}

// resync reports whether b starts a message the direction can take up
// again, and if so makes it read heads.
func (h *half) resync(b []byte) bool {
	var ok bool
	if h.client {
		ok = looksLikeRequest(b)
	} else {
		ok = looksLikeStatus(b)
	}
	if !ok {
		return false
	}
	h.st = stHead
	h.p.stats.Resyncs++
	if !h.client {
		// Unknown how many responses were lost: in the usual one-at-a-
		// time exchange the newest request is the one being answered.
		h.p.fifo.keepNewest()
	}
	return true
}

// looksLikeStatus: "HTTP/1.x NNN".
func looksLikeStatus(b []byte) bool {
	return len(b) >= 12 && bytes.HasPrefix(b, []byte("HTTP/1.")) && isDigit(b[7]) && b[8] == ' ' &&
		isDigit(b[9]) && isDigit(b[10]) && isDigit(b[11])
}

// looksLikeRequest: a whole request line in b, "METHOD target HTTP/1.x".
func looksLikeRequest(b []byte) bool {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return false
	}
	_, _, _, ok := parseRequestLine(trimCR(b[:i]))
	return ok
}

// end handles the end of the direction (FIN or RST).
func (h *half) end() {
	switch h.st {
	case stHead:
		if len(h.hbuf) > 0 {
			h.p.stats.Malformed.Truncated++
		}
	case stBody:
		if h.b.mode == fClose {
			h.endBody(extract.Whole, true)
		} else {
			h.endBody(extract.CutEnded, false)
		}
	}
	h.hbuf, h.batch = nil, nil
	h.st = stEnded
}

// abort closes whatever is open with cut and stops the direction.
func (h *half) abort(cut extract.Cut) {
	if h.st == stBody {
		h.abortBody(cut)
	}
	h.hbuf, h.batch = nil, nil
	h.st = stEnded
}
