package mime

import (
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// mode says where content bytes go.
type mode uint8

const (
	modeHeader  mode = iota // a header block
	modeBody                // a leaf part's body, decoded into a file
	modeDiscard             // preamble, epilogue, skipped parts
)

// message is one message being parsed.
type message struct {
	x      *Extractor
	env    transfer.Meta // envelope, copied into every file's Meta
	top    topFields     // From, To, Subject, Message-ID of the top-level header
	meta   transfer.Meta // reused for Sink.Open (only read during the call)
	closed bool
	gapped bool // a gap was seen: a missing delimiter is no news then

	// An attached message carried base64, quoted-printable or uuencoded
	// is parsed by a child message fed with the decoded bytes: root is
	// the top-level message (it counts the parts of all), level the
	// number of such decodings around this one (it picks the output
	// buffer: Extractor.bufs).
	root  *message
	level int

	// Scanner.
	bol     bool   // at the start of a line
	hasHeld bool   // held is the previous line's end, not yet given out
	held    string // "\r\n" or "\n"
	cr      bool   // a CR ended the last Write, mid-line
	skipEOL bool   // dropping the rest of a delimiter line
	lb      []byte // a line start that may be a delimiter (MaxLine)
	lbn     int
	levels  []level // open multiparts, innermost last

	// Current entity.
	mode      mode
	depth     int    // nesting of the current entity (0: the message)
	defType   string // media type when the header has none
	parts     int    // entities below the top level so far
	partsHit  bool   // MaxParts reached
	hdr       []byte // header block: lines joined by '\n', line ends removed
	hdrCut    bool   // hdr reached MaxHeaderBytes
	lineEmpty bool   // nothing since the last header line end
	sawLine   bool   // the block has a line (hdr keeps only some: hfield.go)
	field     fieldState

	// topBytes is what the strings of env and top hold (Footprint).
	topBytes int

	// Current leaf.
	file    transfer.File
	want    bool         // the file still wants bytes
	enc     encoding     // transfer encoding being decoded
	fileCut transfer.Cut // CutGap once a gap hit an identity-coded part
	b64     b64Decoder
	qp      qpDecoder
	uu      uuDecoder
	child   *message // the encoded attached message the decoded bytes go to, instead of file
}

// Write parses the next bytes of the message.
func (m *message) Write(p []byte) {
	if m.closed || len(p) == 0 {
		return
	}
	m.scan(p)
	m.flush()
}

// Gap says n bytes of the message are missing here.
func (m *message) Gap(n int64) {
	if m.closed {
		return
	}
	st := m.x.stats
	st.Gaps++
	m.gapped = true
	m.drain(false)
	switch m.mode {
	case modeHeader:
		// The entity's framing is lost: skip to the next delimiter. It
		// is reported as a file whose head was lost, with what is known.
		st.GapCuts++
		m.lostHead(n)
		m.mode = modeDiscard
	case modeBody:
		if m.enc == encIdentity {
			m.flush()
			if m.file != nil && m.want {
				m.file.Gap(n)
			}
			if m.fileCut != transfer.CutGap {
				st.GapCuts++
				m.fileCut = transfer.CutGap
			}
			break
		}
		// Decoded bytes for n wire bytes are unknown: cut the part.
		st.GapCuts++
		m.cutWire(n)
		m.mode = modeDiscard
	}
	m.bol, m.hasHeld, m.cr = true, false, false
	m.flush()
}

// Close ends the message; cut says whether all of it came.
func (m *message) Close(cut transfer.Cut) {
	if m.closed {
		return
	}
	m.drain(true)
	if m.mode == modeBody {
		m.closeFile(cut, 0)
	}
	if len(m.levels) > 0 && cut == transfer.Whole && !m.gapped {
		m.x.stats.MissingBoundary += uint64(len(m.levels))
	}
	m.levels = nil
	m.mode = modeDiscard
	m.closed = true
	m.flush()
}

// text takes bytes within a line.
func (m *message) text(p []byte) {
	switch m.mode {
	case modeHeader:
		if len(p) == 0 {
			return
		}
		if m.lineEmpty && p[0] != ' ' && p[0] != '\t' {
			m.endField() // a line that is no continuation: a new field
		}
		m.lineEmpty, m.sawLine = false, true
		m.fieldText(p)
	case modeBody:
		if m.want {
			m.decode(p)
		}
	}
}

// eol takes a line end that belongs to the content.
func (m *message) eol(term string) {
	switch m.mode {
	case modeHeader:
		if m.lineEmpty {
			m.endField()
			m.endHeader()
			return
		}
		m.lineEmpty = true
		if f := &m.field; f.st == fieldUndecided || f.st == fieldKeep && len(m.hdr)-f.start < maxFieldKept {
			m.hdrAppend(nlBytes)
		}
	case modeBody:
		if m.want {
			m.decodeEOL(term)
		}
	}
}

var nlBytes = []byte{'\n'}

func (m *message) hdrAppend(p []byte) {
	room := m.x.opts.MaxHeaderBytes - len(m.hdr)
	if len(p) > room {
		if !m.hdrCut {
			m.hdrCut = true
			m.x.stats.HeaderLimit++
		}
		p = p[:max(room, 0)]
	}
	m.hdr = append(m.hdr, p...)
}

// startEntity begins a header block at depth.
func (m *message) startEntity(depth int, defType string) {
	m.depth, m.defType = depth, defType
	m.hdr = m.hdr[:0]
	m.hdrCut = false
	m.lineEmpty, m.sawLine = true, false
	m.field = fieldState{}
	m.mode = modeHeader
	if depth == 0 {
		return
	}
	r := m.root
	r.parts++
	m.x.stats.Parts++
	if r.parts > m.x.opts.MaxParts {
		if !r.partsHit {
			r.partsHit = true
			m.x.stats.PartLimit++
		}
		m.mode = modeDiscard
	}
}

// endHeader acts on a complete header block: open a multipart, descend
// into an attached message, or open a file.
func (m *message) endHeader() {
	if m.depth == 0 {
		m.parseTop()
	}
	h := parsePartHeader(m.hdr, m.defType)
	st := m.x.stats
	switch {
	case h.multipart:
		if m.depth >= m.x.opts.MaxDepth {
			st.DepthLimit++
			m.mode = modeDiscard
			return
		}
		if n := len(h.boundary); n == 0 || n > maxBoundary {
			st.BadBoundary++
			break // a leaf, below
		}
		d := make([]byte, 2+len(h.boundary))
		copy(d, "--")
		copy(d[2:], h.boundary)
		m.levels = append(m.levels, level{delim: d, depth: m.depth, digest: h.digest})
		if m.lb == nil {
			m.lb = make([]byte, m.x.opts.MaxLine)
		}
		m.mode = modeDiscard // the preamble
		return
	case h.message && h.enc == encIdentity:
		if m.depth >= m.x.opts.MaxDepth {
			st.DepthLimit++
			m.mode = modeDiscard
			return
		}
		m.startEntity(m.depth+1, "text/plain")
		return
	case h.message:
		// Encoded although RFC 2046 5.2.1 forbids it: mail clients open
		// it all the same, so its decoded bytes are parsed as a message.
		if m.depth >= m.x.opts.MaxDepth {
			st.DepthLimit++
			m.mode = modeDiscard
			return
		}
		m.openChild(&h)
		return
	}
	m.openFile(&h)
}

// delimiter ends the current entity at a delimiter of levels[lv].
func (m *message) delimiter(lv int, closing bool) {
	switch m.mode {
	case modeHeader:
		// Header lines then the delimiter: a part with no body (RFC 2046
		// body-part = MIME-part-headers [CRLF *OCTET]), an empty file.
		// Nothing at all, or a header line cut by the delimiter: no part.
		if m.lineEmpty && m.sawLine {
			m.endField()
			m.endHeader()
			if m.mode == modeBody {
				m.closeFile(transfer.Whole, 0)
			}
		}
	case modeBody:
		m.closeFile(transfer.Whole, 0)
	}
	// Multiparts opened inside the ended part (never closed) end too.
	if len(m.levels) > lv+1 {
		m.x.stats.MissingBoundary += uint64(len(m.levels) - lv - 1)
		m.levels = m.levels[:lv+1]
	}
	l := m.levels[lv]
	if closing {
		m.levels = m.levels[:lv]
		m.mode = modeDiscard // the epilogue
		return
	}
	def := "text/plain"
	if l.digest {
		def = "message/rfc822"
	}
	m.startEntity(l.depth+1, def)
}
