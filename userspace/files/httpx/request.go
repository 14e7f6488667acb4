package httpx

import (
	"bytes"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// parseRequestLine splits "METHOD target HTTP/1.x" (RFC 9112 §3).
func parseRequestLine(l []byte) (method, target []byte, minor int, ok bool) {
	i := bytes.IndexByte(l, ' ')
	if i <= 0 || i > maxMethod {
		return
	}
	method = l[:i]
	for _, c := range method {
		if !isTchar(c) {
			return
		}
	}
	rest := l[i+1:]
	j := bytes.IndexByte(rest, ' ')
	if j <= 0 {
		return
	}
	target, ver := rest[:j], rest[j+1:]
	for _, c := range target {
		if c < ' ' || c == 0x7f {
			return
		}
	}
	if len(ver) != 8 || string(ver[:7]) != "HTTP/1." || !isDigit(ver[7]) {
		return
	}
	return method, target, int(ver[7] - '0'), true
}

// onRequest handles a request head, its block read.
func (h *half) onRequest(hd *headState) {
	p := h.p
	f := &hd.f
	p.stats.Requests++
	if p.fifo.len() > 0 {
		p.stats.Pipelined++
	}
	if f.expect100 {
		// Nothing to do: the body follows on this direction whenever the
		// client sends it; the 100 is an interim response.
		p.stats.Continue++
	}
	r := request{method: hd.method, target: hd.target, host: f.host, ua: f.ua, upgrade: f.upgrade, tunnel: p.tunnel}
	if r.ask = f.ask; hd.over {
		r.ask = askAny // the Range field may be among what was not read
	}
	r.head = r.method == "HEAD"
	r.connect = r.method == "CONNECT"
	if p.tunnel != "" && !p.tunnelHTTP {
		p.tunnelHTTP = true
		p.stats.TunnelsHTTP++
	}
	if !p.fifo.push(r) {
		p.stats.PipelineOverflow++
	}
	if r.connect {
		// A client may send tunnel bytes before the answer: wait for it,
		// keeping them (pause) for the tunnel.
		h.st, h.pausedBytes, h.held, h.heldLost = stPaused, 0, nil, false
		return
	}
	var cod codings
	cod.parse(f.cenc)
	cod.raw = cod.raw || f.cencRaw
	mode, length, ok := h.framing(f, &cod)
	if !ok {
		h.desync(transfer.CutDesync)
		return
	}
	if mode == fNone {
		return
	}
	m := &h.b.meta
	*m = baseMeta(&r)
	m.Upload = true
	m.ContentType = mediaType(f.ctype)
	if m.Name = dispositionFilename(f.cdisp); m.Name == "" {
		m.Name = urlName(r.target)
	}
	h.startBody(mode, length, &cod, p.opts.Uploads)
	h.b.limitCut = hd.over
	// Over its bounds the head may have lost the fields that describe the
	// parts: the body goes out as one file, cut.
	if h.b.want && !hd.over && m.ContentType == "multipart/form-data" {
		if bnd := boundary(f.ctype); bnd != "" {
			h.b.mp = newMultipart(p, m, bnd)
		}
	}
}

// unpause resumes the client direction after a refused CONNECT; bytes it
// sent meanwhile make it start desynchronised: they were meant for the
// tunnel, and where the proxy takes them to end is unknown.
func (h *half) unpause() {
	if h.st != stPaused {
		return
	}
	h.held, h.heldLost = nil, false
	h.st = stHead
	if h.pausedBytes > 0 {
		h.desync(transfer.CutDesync)
	}
}
