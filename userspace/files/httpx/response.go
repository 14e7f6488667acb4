package httpx

import "github.com/edgesensor/edgesensor/userspace/files/transfer"

// parseStatusLine reads "HTTP/1.x NNN[ reason]" (RFC 9112 §4); the
// reason may be missing, as some servers send it.
func parseStatusLine(l []byte) (status, minor int, ok bool) {
	if len(l) < 12 || string(l[:7]) != "HTTP/1." || !isDigit(l[7]) || l[8] != ' ' {
		return
	}
	for _, c := range l[9:12] {
		if !isDigit(c) {
			return
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 || len(l) > 12 && l[12] != ' ' {
		return 0, 0, false
	}
	return status, int(l[7] - '0'), true
}

// onResponse handles a response head, its block read.
func (h *half) onResponse(hd *headState) {
	p := h.p
	f := &hd.f
	status := hd.status
	switch {
	case status == 101:
		if r := p.fifo.front(); r != nil && r.upgrade {
			// The protocol the request asked for follows the head.
			p.fifo.pop()
			p.stats.Upgrades++
			p.finish(transfer.CutEnded)
			return
		}
		// No switch was asked for: the bytes after the head tell what
		// the client makes of it (upgrade.go).
		h.startPeek101(hd)
		return
	case status < 200:
		// Interim (100 Continue, 103 Early Hints): no body, and the
		// request still awaits its final response.
		p.stats.Interim++
		return
	}
	p.stats.Responses++
	req, paired := p.fifo.pop()
	if !paired {
		p.stats.Unpaired++
	}
	if req.connect {
		if status/100 == 2 {
			// The rest of the connection is a tunnel (tunnel.go).
			p.openTunnel(&req)
			return
		}
		p.req.unpause()
	}
	if req.head || status == 204 || status == 304 {
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
	want := true
	base := baseMeta(&req) // its URL is the file's, and keys its ranges
	var rng *rangeOf
	var piece *transfer.Range
	if status == 206 && !wholeRange(f.crange) && !h.savedWhole(f, &req, paired) {
		// A range is a piece of a file: hashing it alone would lie. The
		// ranges of one file fetched in order on this connection (as
		// download managers and update agents fetch) are joined; with
		// Options.Pieces the sink joins them, whatever their order and
		// connection.
		switch {
		case hd.over:
		case p.opts.Pieces:
			piece = rangePiece(f, base.URL, mode, length, &cod)
		default:
			rng = p.rangeFor(f, base.URL, mode, length, &cod)
		}
		if rng == nil && piece == nil {
			p.stats.Partial++
			want = false
		}
	}
	m := &h.b.meta
	*m = base
	m.Status = status
	m.ContentType = mediaType(f.ctype)
	if m.Name = dispositionFilename(f.cdisp); m.Name == "" {
		m.Name = urlName(req.target)
	}
	h.startBody(mode, length, &cod, want)
	h.b.limitCut = hd.over
	// After a request whose head was lost the method is unknown: a HEAD
	// would have a Content-Length and no body. The body's first bytes
	// tell (bodyData).
	h.b.maybeHead = req.lost && (mode == fLength || mode == fChunked)
	if piece != nil {
		m.Range = piece
		p.stats.RangePieces++
	}
	if rng != nil {
		h.b.rng = rng
		if rng.first == 0 {
			m.Size = rng.total // the file's size, not the range's
		} else {
			// The next range of the open file: it writes on.
			h.b.out = p.rng.out
			p.rng = rangeChain{}
			p.stats.RangesJoined++
		}
	}
}

// savedWhole says whether the client saves a 206 body as a file of its
// own, not a piece to place in one: it asked for no range (curl, wget and
// PowerShell save what comes), or for a range from another first byte
// than the body's (it writes the body where it asked, so placing it
// where Content-Range says would join a file the client never had).
// Both are counted; an unpaired response, or one to a request whose head
// was lost, is neither.
func (h *half) savedWhole(f *fields, req *request, paired bool) bool {
	if !paired || req.lost || req.ask == askAny {
		return false
	}
	if req.ask == 0 {
		h.p.stats.RangeUnasked++
		return true
	}
	if first, _, _, ok := parseContentRange(f.crange); ok && first != req.ask-1 {
		h.p.stats.RangeMismatch++
		return true
	}
	return false
}

// framing decides how the message's body is delimited (RFC 9112 §6.3)
// and adds transfer codings other than chunked to cod. ok is false when
// the framing cannot be trusted.
func (h *half) framing(f *fields, cod *codings) (mode framing, length int64, ok bool) {
	mal := &h.p.stats.Malformed
	if f.hasTE {
		if f.teBad {
			// Longer than a value is kept: whether chunked is last is
			// unknown, and so is the framing.
			mal.TransferEncoding++
			return fNone, 0, false
		}
		if f.hasCL || f.badCL {
			// A smuggling pattern; Transfer-Encoding overrides (§6.3).
			mal.TEAndCL++
		}
		chunked, good := cod.parseTE(f.te)
		if !good {
			mal.TransferEncoding++
		}
		switch {
		case chunked && good:
			return fChunked, -1, true
		case h.client:
			// A request cannot run until close: its length is unknown.
			if good {
				mal.TransferEncoding++
			}
			return fNone, 0, false
		default:
			return fClose, -1, true
		}
	}
	switch {
	case f.badCL:
		mal.ContentLength++
		return fNone, 0, false
	case f.hasCL && f.cl == 0:
		return fNone, 0, true
	case f.hasCL:
		return fLength, f.cl, true
	case h.client:
		return fNone, 0, true
	}
	return fClose, -1, true
}
