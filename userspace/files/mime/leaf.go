package mime

import "github.com/edgesensor/edgesensor/userspace/files/transfer"

// encoding is a part's Content-Transfer-Encoding as decoded.
type encoding uint8

const (
	encIdentity encoding = iota // 7bit, 8bit, binary, and unknown ones
	encBase64
	encQP
	encUU
)

// openFile opens the file of a leaf part and starts decoding its body.
func (m *message) openFile(h *partHeader) {
	m.meta = m.env
	m.meta.From, m.meta.To, m.meta.Cc = m.top.from, m.top.to, m.top.cc
	m.meta.Subject, m.meta.MessageID = m.top.subject, m.top.messageID
	m.meta.Name = h.name
	m.meta.ContentType = h.mtype
	m.meta.Transfer = h.transfer
	m.meta.Size = -1
	m.file = m.x.sink.Open(&m.meta)
	m.x.stats.Files++
	m.want = m.file != nil
	m.startDecoder(h)
}

// openChild starts an attached message whose body is encoded: the
// decoded bytes feed a child message, one deeper, sharing the
// envelope, senders and part count of this one.
func (m *message) openChild(h *partHeader) {
	m.x.stats.Encoded++
	c := &message{x: m.x, env: m.env, top: m.top, root: m.root, level: m.level + 1}
	c.startEntity(m.depth+1, "text/plain")
	m.child, m.file, m.want = c, nil, true
	m.startDecoder(h)
}

// startDecoder starts decoding a leaf's body.
func (m *message) startDecoder(h *partHeader) {
	m.enc = h.enc
	m.fileCut = transfer.Whole
	switch h.enc {
	case encBase64:
		m.b64.reset()
	case encQP:
		m.qp.reset()
	case encUU:
		m.uu.reset()
	}
	if m.x.out == nil {
		m.x.out = make([]byte, 0, outSize)
	}
	m.mode = modeBody
}

// closeFile ends the current leaf. cut is why it ended early, Whole when
// its end came (a delimiter, or the end of a whole message); wire, when
// not 0, is the encoded bytes lost before the end (transfer.WireGapper),
// told after the decoder's last bytes.
func (m *message) closeFile(cut transfer.Cut, wire int64) {
	clean := true
	if m.want {
		m.room(qpMaxOut) // what a decoder's end may add
		out := m.x.out
		switch m.enc {
		case encBase64:
			var n int
			n, clean = m.b64.finish(out[len(out):cap(out)])
			out = out[:len(out)+n]
		case encQP:
			out = m.qp.finish(out)
		case encUU:
			out = m.uu.finish(out)
		}
		m.x.out = out
		m.flush()
		if wg, ok := m.file.(transfer.WireGapper); ok && wire > 0 && m.want {
			wg.WireGap(wire) // after the last bytes, just before the close
		}
	}
	st := m.x.stats
	switch {
	case m.enc == encBase64 && m.b64.malformed():
		st.Base64Malformed++
	case m.enc == encQP && m.qp.bad:
		st.QPMalformed++
	case m.enc == encUU && m.uu.bad:
		st.UUMalformed++
	}
	if cut == transfer.Whole {
		if m.fileCut != transfer.Whole {
			cut = m.fileCut
		} else if !clean {
			cut = transfer.CutCorrupt
		}
	}
	if c := m.child; c != nil {
		m.child = nil
		m.toChild(c, func() { c.Close(cut) })
	}
	if m.file != nil {
		m.file.Close(cut)
	}
	m.file = nil
	m.want = false
	m.mode = modeDiscard
}

// decode decodes line content of the body.
func (m *message) decode(p []byte) {
	switch m.enc {
	case encIdentity:
		m.emit(p)
	case encBase64:
		m.decodeB64(p)
	case encQP:
		m.decodeQP(p)
	case encUU:
		m.uu.text(p)
	}
}

// decodeEOL decodes a line end of the body.
func (m *message) decodeEOL(term string) {
	switch m.enc {
	case encIdentity:
		m.emitString(term)
	case encQP:
		m.room(qpMaxOut + 2)
		m.x.out = m.qp.eol(m.x.out, term)
	case encUU:
		m.room(uuMaxLine)
		m.x.out = m.uu.eol(m.x.out)
	}
}

func (m *message) decodeB64(p []byte) {
	for len(p) > 0 {
		if m.room(8); !m.want {
			return
		}
		out := m.x.out
		room := cap(out) - len(out)
		// (take+3 pending) sextets make at most 3/4 as many bytes.
		take := min(len(p), (room/3-1)*4)
		n := m.b64.decode(out[len(out):cap(out)], p[:take])
		m.x.out = out[:len(out)+n]
		p = p[take:]
	}
}

func (m *message) decodeQP(p []byte) {
	for len(p) > 0 {
		if m.room(qpMaxOut + 64); !m.want {
			return
		}
		out := m.x.out
		take := min(len(p), cap(out)-len(out)-qpMaxOut)
		m.x.out = m.qp.text(out, p[:take])
		p = p[take:]
	}
}

// room flushes the output buffer unless it has n bytes free.
func (m *message) room(n int) {
	if cap(m.x.out)-len(m.x.out) < n {
		m.flush()
	}
}

func (m *message) emit(p []byte) {
	for len(p) > 0 && m.want {
		out := m.x.out
		k := copy(out[len(out):cap(out)], p)
		m.x.out = out[:len(out)+k]
		p = p[k:]
		if len(m.x.out) == cap(m.x.out) {
			m.flush()
		}
	}
}

func (m *message) emitString(s string) {
	if cap(m.x.out)-len(m.x.out) < len(s) {
		m.flush()
	}
	if m.want {
		m.x.out = append(m.x.out, s...)
	}
}

// flush writes the decoded bytes to the current file. The buffer is
// shared by the Extractor's messages: it is empty whenever a call on a
// message returns.
func (m *message) flush() {
	out := m.x.out
	if len(out) == 0 {
		return
	}
	m.x.out = out[:0]
	if c := m.child; c != nil {
		m.toChild(c, func() { c.Write(out) })
		return
	}
	if m.file != nil && m.want && !m.file.Write(out) {
		m.want = false
		m.x.stats.Declined++
	}
}

// wireGap cuts what is open in an attached message whose encoded bytes
// lost n wire bytes: how many decoded bytes that is is unknown.
func (m *message) wireGap(n int64) {
	if m.closed {
		return
	}
	m.gapped = true
	m.drain(false)
	switch m.mode {
	case modeHeader:
		m.lostHead(n)
		m.mode = modeDiscard
	case modeBody:
		m.cutWire(n)
	}
	m.flush()
}

// cutWire cuts the open leaf, whose encoded bytes lost n wire bytes: the
// decoded bytes still buffered go first, then the gap (a file hears of it
// just before it closes, as transfer.WireGapper asks).
func (m *message) cutWire(n int64) {
	m.flush()
	if c := m.child; c != nil {
		// The attached message's stream is lost from here: what is open
		// in it is cut, with the wire bytes missing.
		m.child = nil
		m.toChild(c, func() { c.wireGap(n); c.Close(transfer.CutGap) })
		n = 0
	}
	m.closeFile(transfer.CutGap, n)
}

// toChild runs f, a call on the child c, with c's output buffer in
// place: the child decodes into it and leaves it empty.
func (m *message) toChild(c *message, f func()) {
	out := m.x.out
	m.x.out = m.x.buf(c.level)
	f()
	m.x.out = out[:0]
}

// buf is the output buffer of a level of encoded attached messages
// (level 0, the Extractor's own, is out): MaxDepth of them at most, kept
// for the Extractor's life.
func (x *Extractor) buf(level int) []byte {
	for len(x.bufs) < level {
		x.bufs = append(x.bufs, nil)
	}
	if x.bufs[level-1] == nil {
		x.bufs[level-1] = make([]byte, 0, innerOutSize)
	}
	return x.bufs[level-1][:0]
}
