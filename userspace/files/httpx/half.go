package httpx

import (
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

type hstate uint8

const (
	stHead    hstate = iota // reading a header block (or between messages)
	stBody                  // inside a body
	stDesync                // framing lost: seeking the next message start
	stPaused                // client side after CONNECT, until its response
	stEnded                 // the direction ended
	stHold                  // server side of a new tunnel, until the client's first request (tunnel.go)
	stPeek101               // server side after a 101 no Upgrade asked for (upgrade.go)
)

// half is one direction of the connection.
type half struct {
	p      *Parser
	client bool
	st     hstate
	// first is set until the direction's first start line was read:
	// bytes that cannot start one then mean the connection is not HTTP.
	first bool
	hd    headState // the header block under way
	acc   lineAcc   // a line of it that spans Data calls
	// pausedBytes counts what the client sent after CONNECT before the
	// answer: if the tunnel is refused they make the direction desync.
	pausedBytes int64
	// held: on the client side, the bytes sent after CONNECT before its
	// answer (for the tunnel), heldLost set when they could not all be
	// kept (over maxTunnelHold, or a gap); on the server side, a new
	// tunnel's bytes sent before the client's first request.
	held     []byte
	heldLost bool
	// pk: the first bytes after a 101 no Upgrade was asked for; tee:
	// after one read as interim, every byte to the close (upgrade.go).
	pk    peek101
	tee   *tee101
	b     body
	batch []byte // small chunks gathered within one Data call

	// After a desync: bol says the next byte may start a line (the
	// request seeker tries line starts); lostBytes counts the wire bytes
	// lost or passed over since; lost is the file that stands for a
	// response whose head was lost (Meta.HeadLost).
	bol       bool
	lostBytes int64
	lost      out
}

// desync drops the framing of this direction: the open body is cut and
// the direction seeks the next message start.
func (h *half) desync(cut transfer.Cut) {
	p := h.p
	h.abortBody(cut)
	// Requests and responses may pair wrongly after a resync: a file
	// waiting for its next range is not joined across it.
	p.closeRange(transfer.CutGap)
	h.hd = headState{}
	h.acc.reset()
	h.st = stDesync
	h.bol = true
	h.first = false // a desynced direction has spoken HTTP already
	p.stats.Desyncs++
	p.desyncs++
	if p.desyncs > maxDesyncs {
		p.finish(transfer.CutDesync)
	}
}

// loseHead handles a gap that fell on a message head, n bytes of it lost:
// what the head was for is recorded, and the direction seeks the next
// message. On the request side the lost request still gets a response:
// a stand-in is queued so that the response does not pair with the next
// request. On the response side the request it answered is known: a file
// stands for the response (Meta.HeadLost), so that a download the sensor
// could not judge is seen.
func (h *half) loseHead(n int64) {
	p := h.p
	hd := &h.hd
	p.stats.HeadsLost++
	lost := n + hd.bytes + h.acc.n
	if h.client {
		r := request{lost: true, tunnel: p.tunnel}
		if hd.start && hd.method != "CONNECT" {
			// The request line was read: the response pairs with it.
			r = request{method: hd.method, target: hd.target, host: hd.f.host, ua: hd.f.ua, head: hd.method == "HEAD", tunnel: p.tunnel,
				ask: askAny} // its Range field may be among what was lost
		}
		if !p.fifo.push(r) {
			p.stats.PipelineOverflow++
		}
	} else {
		h.openLost(hd.start, hd.status)
	}
	if p.done {
		return
	}
	h.desync(transfer.CutGap)
	h.lostBytes += lost
}

// openLost opens the file standing for a response whose head was lost,
// paired with the request it answered. known says the status line was
// read before the gap.
func (h *half) openLost(known bool, status int) {
	p := h.p
	if known && status < 200 {
		return // an interim response: the request awaits its final one
	}
	h.closeLost(transfer.CutGap)
	req, ok := p.fifo.pop()
	switch {
	case !ok, req.lost, req.head, known && (status == 204 || status == 304):
		return // no body, or nothing known to say about it
	case req.connect:
		// The tunnel's fate is unknown: so is the rest of the connection.
		p.finish(transfer.CutDesync)
		return
	}
	m := baseMeta(&req)
	m.Name = urlName(req.target)
	m.Status = status
	m.HeadLost = true
	p.stats.LostFiles++
	h.lost.open(p, &m)
}

// closeLost closes the file of a lost head, with the wire bytes that
// could not be read since the gap.
func (h *half) closeLost(cut transfer.Cut) {
	if h.lost.opened {
		if h.lostBytes > 0 {
			h.lost.wireGap(h.lostBytes)
		}
		h.lost.close(cut)
	}
	h.lostBytes = 0
}

// end handles the end of the direction (FIN or RST).
func (h *half) end() {
	switch h.st {
	case stHold:
		h.releaseAllHeld()
		if h.p.done || h.st == stEnded {
			return
		}
		h.end()
		return
	case stPeek101:
		h.settle101(false)
		if h.st == stBody {
			h.endBody(transfer.Whole, true)
		}
	case stPaused:
		// The client may half-close after sending its tunnel's request:
		// the bytes held stay for the answer (openTunnel).
		h.release()
		h.st = stEnded
		return
	case stHead:
		if h.hd.active && !h.hd.resync {
			h.p.stats.Malformed.Truncated++
		}
	case stBody:
		if h.b.mode == fClose {
			h.endBody(transfer.Whole, true)
		} else {
			h.endBody(transfer.CutEnded, false)
		}
	}
	// The lost response ran at most to here.
	h.lostBytes += h.hd.bytes + h.acc.n
	h.closeLost(transfer.CutGap)
	h.endTee(transfer.Whole)
	h.release()
	h.st = stEnded
}

// abort closes whatever is open with cut and stops the direction.
func (h *half) abort(cut transfer.Cut) {
	if h.st == stPeek101 {
		// What came after the 101 was the start of a body.
		h.settle101(false)
	}
	if h.st == stBody {
		h.abortBody(cut)
	}
	h.held, h.pk = nil, peek101{}
	h.endTee(cut)
	// Where the lost response ended is unknowable now.
	h.closeLost(transfer.CutDesync)
	h.release()
	h.st = stEnded
}

func (h *half) release() {
	h.hd = headState{}
	h.acc = lineAcc{}
	h.batch = nil
}
