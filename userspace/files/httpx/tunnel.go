package httpx

import "github.com/edgesensor/edgesensor/userspace/files/transfer"

// Proxy tunnels. A 2xx answer to CONNECT turns the rest of the connection
// into a tunnel to the CONNECT target. What the client sends in it
// decides what the parser does: an HTTP/1.x request makes the tunnel a
// new HTTP connection, parsed with fresh directions (files get the inner
// Host's URL and Meta.Tunnel); anything else (TLS's 0x16 0x03 above all)
// ends the parser's interest (Stats.TunnelsOpaque): the TLS handshake
// inside is fingerprinted by the handshake path, which watches every
// port.
//
// Clients may send the tunnel's first bytes before the answer: up to
// maxTunnelHold of them are kept and replayed into the tunnel. Past that
// bound, or after a gap among them, the tunnel's start is unknown and
// the parser stops (Stats.TunnelsUnfollowed) rather than guess.
//
// A server may speak first in the tunnel: a client reads what it sent as
// the answer to its request, so those bytes (up to maxTunnelHold) are
// held until the client's first request is read, and then parsed as its
// response. Past the bound they are parsed at once (Stats.TunnelHoldOver;
// a response then pairs with no request).

const (
	maxTunnelHold = 8 << 10 // bytes kept per direction around a tunnel's start
	maxTunnels    = 4       // tunnels nested in one another
)

// pause keeps what the client sends after CONNECT before the answer.
func (h *half) pause(b []byte) {
	h.pausedBytes += int64(len(b))
	if h.heldLost {
		return
	}
	if len(h.held)+len(b) > maxTunnelHold {
		h.held, h.heldLost = nil, true
		return
	}
	h.keep(b)
}

// openTunnel follows the tunnel a 2xx answer to CONNECT r opened. It is
// called from the server direction's head: the bytes after the answer
// are the tunnel's.
func (p *Parser) openTunnel(r *request) {
	c := &p.req
	if c.heldLost || p.depth >= maxTunnels {
		// Its start is lost (or it nests too deep): what the tunnel
		// carries cannot be told, and is not guessed.
		p.stats.TunnelsUnfollowed++
		p.finish(transfer.CutEnded)
		return
	}
	p.stats.Tunnels++
	early, ended := c.held, c.st == stEnded
	// Nothing is open on either side (the client waited, the answer has
	// no body) but a file waiting for its next range, which cannot come
	// from another server.
	p.closeRange(transfer.CutNotFinal)
	p.req.abort(transfer.CutEnded)
	p.resp.abort(transfer.CutEnded)
	p.fifo.clear()
	p.depth++
	p.desyncs = 0
	p.tunnel, p.tunnelHTTP = r.target, false
	p.req = half{p: p, client: true, first: true}
	p.resp = half{p: p, first: true, st: stHold}
	if len(early) > 0 {
		p.req.feed(early)
	}
	if ended && !p.done {
		p.req.end()
	}
	p.maybeRelease()
}

// hold keeps server bytes of a new tunnel until the client's first
// request is read (maybeRelease); past maxTunnelHold they go on at once.
func (h *half) hold(b []byte) int {
	if len(h.held)+len(b) > maxTunnelHold {
		h.p.stats.TunnelHoldOver++
		h.releaseHeld()
		if h.tee != nil {
			// The held bytes started a 101's tee: b, which Data did not
			// give it (there was none), is its next bytes.
			h.tee.write(h.p, b)
		}
		return 0 // b goes on in the state the held bytes left
	}
	if len(h.held) == 0 {
		h.p.stats.TunnelServerFirst++
	}
	h.keep(b)
	return len(b)
}

// keep appends b to held, which the callers keep within maxTunnelHold;
// the buffer grows by doubling, never past the bound.
func (h *half) keep(b []byte) {
	if n := len(h.held) + len(b); n > cap(h.held) {
		c := min(maxTunnelHold, max(512, n, 2*cap(h.held)))
		held := make([]byte, len(h.held), c)
		copy(held, h.held)
		h.held = held
	}
	h.held = append(h.held, b...)
}

// releaseHeld parses the server bytes held at a tunnel's start.
func (h *half) releaseHeld() {
	b := h.held
	h.held = nil
	h.st = stHead
	h.feed(b)
}

// releaseAllHeld lets every held byte go, a nested tunnel's too: the
// direction is about to end or lose bytes, and nothing will release them.
func (h *half) releaseAllHeld() {
	for h.st == stHold && !h.p.done {
		h.releaseHeld()
	}
}

// maybeRelease lets the server's held bytes go once the client's first
// request in the tunnel was read, or the client can send none.
// A tunnel nested in the held bytes holds its own server bytes in turn.
func (p *Parser) maybeRelease() {
	for p.resp.st == stHold && !p.done &&
		(p.fifo.len() > 0 || p.req.st == stDesync || p.req.st == stEnded) {
		p.resp.releaseHeld()
	}
}
