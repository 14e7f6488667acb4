package httpx

import "github.com/edgesensor/edgesensor/userspace/files/transfer"

// 101 Switching Protocols. A 101 switches protocols only when the request
// asked for it (an Upgrade field: WebSocket, h2c); the parser then stops
// (Done). A 101 to a request that asked for nothing is a server's trick
// to blind whatever follows, and clients differ on it:
//
//   - curl (lib/http.c, http_on_101_upgrade) takes it as the final
//     response when it asked for no upgrade, ignores its Content-Length
//     and Transfer-Encoding (a 1xx has no body, so they are not read) and
//     saves everything after its head, until the connection closes.
//   - Chromium (HttpStreamParser) takes every 1xx but a WebSocket's 101
//     as interim and reads the next response head; bytes that are no
//     status line there fail the request.
//   - Go's net/http client takes a 101 as final; its Body is the raw
//     connection when the 101 carries Upgrade and Connection: upgrade,
//     else empty.
//
// So the bytes after the head decide: a status line (after at most
// maxLead101 line ends) makes the 101 interim, and the next response
// pairs with the same request (Stats.Interim101), as Chromium reads it;
// anything else is the 101's body, raw, until the connection closes
// (Stats.Body101), as curl saves it, so the file is reported.
//
// An interim 101 is read both ways: curl still saves everything after
// it, status lines and all, and a server can hide a payload there from
// the Chromium reading (a 204, or a Content-Length: 0, then a script
// that "curl | sh" runs past the lines it cannot). So every byte after
// an interim 101's head, until the close, also goes to a file of its own
// (the tee, Stats.Tee101, Meta.Status 101), raw, as curl saves it (the
// sink types it by what follows the heads in it); nothing of the
// direction is skipped while it is written.

// maxLead101 is the line ends tolerated before the status line that
// makes a 101 interim (Chromium skips up to 4 bytes before "HTTP").
const maxLead101 = 4

// peek101 is what a 101 no Upgrade was asked for left to decide.
type peek101 struct {
	buf         [maxLead101 + len("HTTP/1.x NNN ")]byte
	n           int
	ctype, name string // the 101's Content-Type and Content-Disposition name
	over        bool   // its head went past its bounds
}

// startPeek101 waits for the bytes after a 101 the request did not ask
// for.
func (h *half) startPeek101(hd *headState) {
	f := &hd.f
	h.st = stPeek101
	h.pk = peek101{ctype: mediaType(f.ctype), name: dispositionFilename(f.cdisp), over: hd.over}
}

// peek reads the first bytes after the 101 until they decide.
func (h *half) peek(b []byte) int {
	pk := &h.pk
	for i, c := range b {
		pk.buf[pk.n] = c
		pk.n++
		switch statusAhead(pk.buf[:pk.n]) {
		case 1:
			tee := h.tee
			h.settle101(true)
			if tee == nil && h.tee != nil {
				// Started now: the rest of these bytes is the tee's too
				// (Data gives it the next ones).
				h.tee.write(h.p, b[i+1:])
			}
			return i + 1
		case -1:
			h.settle101(false)
			return i + 1
		}
	}
	return len(b)
}

// statusAhead says whether b, the first bytes after a 101's head, start
// a status line: 1 yes, -1 no, 0 not known yet. It decides by
// len(peek101.buf) bytes.
func statusAhead(b []byte) int {
	i := 0
	for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
		i++
	}
	if i > maxLead101 {
		return -1
	}
	r := b[i:]
	if !couldBeStatusStart(r) {
		return -1
	}
	if len(r) >= len("HTTP/1.x NNN ") {
		return 1
	}
	return 0
}

// settle101 acts on the decision: interim, the bytes peeked are read as
// the next response's head; else they start the 101's body.
func (h *half) settle101(interim bool) {
	pk := h.pk // a copy: the head read from it may meet another 101
	h.pk = peek101{}
	p := h.p
	if interim {
		p.stats.Interim101++
		if h.tee == nil {
			h.startTee(&pk)
		}
		h.st = stHead
		h.feed(pk.buf[:pk.n])
		return
	}
	p.stats.Body101++
	p.stats.Responses++
	req, paired := p.fifo.pop()
	if !paired {
		p.stats.Unpaired++
	}
	h.b.meta = meta101(&req, &pk)
	// Raw: curl decodes no coding of a 1xx, and reads it to the close.
	h.startBody(fClose, -1, &codings{}, true)
	h.b.limitCut = pk.over
	if pk.n > 0 {
		h.bodyData(pk.buf[:pk.n])
	}
}

// meta101 is the Meta of a file read after a 101 answering req: curl's
// reading of it.
func meta101(req *request, pk *peek101) transfer.Meta {
	m := baseMeta(req)
	m.Status = 101
	m.ContentType = pk.ctype
	if m.Name = pk.name; m.Name == "" {
		m.Name = urlName(req.target)
	}
	return m
}

// tee101 is the file of everything after an interim 101's head, as curl
// saves it.
type tee101 struct {
	o    out
	meta transfer.Meta
}

// startTee opens the tee of the 101 pk describes, paired with the
// request it answers (which stays for the next response), and writes
// the bytes peeked.
func (h *half) startTee(pk *peek101) {
	p := h.p
	p.stats.Tee101++
	var req request
	if r := p.fifo.front(); r != nil {
		req = *r
	}
	t := &tee101{meta: meta101(&req, pk)}
	t.meta.Transfer = transferNames[fClose]
	h.tee = t
	t.write(p, pk.buf[:pk.n])
}

// teeing: a tee wants the direction's bytes (one the sink declined
// takes none, and skipping goes on as without it).
func (h *half) teeing() bool { return h.tee != nil && !h.tee.o.declined }

func (t *tee101) write(p *Parser, b []byte) {
	if len(b) > 0 {
		t.o.write(p, &t.meta, b)
	}
}

// endTee closes the tee, if any: Whole at the direction's end (curl
// reads to the close), else cut.
func (h *half) endTee(cut transfer.Cut) {
	if h.tee != nil {
		h.tee.o.close(cut)
		h.tee = nil
	}
}
