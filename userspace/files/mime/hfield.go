package mime

import (
	"bytes"
	"unsafe"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// Header fields are kept only when the extractor reads them: as a field
// ends, one it does not read (Received, DKIM-Signature, X-...) or a
// repeat of one whose first instance wins is dropped from the block. An
// unfinished header block so holds its current field and the fields
// read, not its junk: a flood of header lines costs one field.

// fieldState follows the field being collected in a header block.
type fieldState struct {
	st    uint8 // fieldUndecided, fieldKeep, fieldDrop
	start int   // where the field starts in hdr
	// seen marks the first-wins fields already kept in this block.
	seen uint8
}

const (
	fieldUndecided = iota // its name is not complete yet
	fieldKeep
	fieldDrop
)

// Field kinds; the first instance of each of these wins.
const (
	seenType = 1 << iota
	seenCTE
	seenDisp
	seenSubject
	seenMsgID
)

const (
	// maxFieldName bounds a name still without its colon: longer, the
	// line is no field the extractor reads.
	maxFieldName = 256
	// maxFieldKept bounds one kept field (its name and folded value):
	// values are read up to maxFieldValue.
	maxFieldKept = maxFieldValue + maxFieldName
)

// endField closes the field under way: kept, or dropped from hdr.
func (m *message) endField() {
	f := &m.field
	if f.st != fieldKeep {
		m.hdr = m.hdr[:f.start]
	}
	f.st, f.start = fieldUndecided, len(m.hdr)
}

// fieldText takes header bytes of the field under way.
func (m *message) fieldText(p []byte) {
	f := &m.field
	switch f.st {
	case fieldDrop:
		return
	case fieldKeep:
		if room := maxFieldKept - (len(m.hdr) - f.start); len(p) > room {
			p = p[:max(room, 0)]
		}
		m.hdrAppend(p)
		return
	}
	// Undecided: the name goes on up to its colon.
	have := len(m.hdr) - f.start
	colon := bytes.IndexByte(p, ':')
	name := p
	if colon >= 0 {
		name = p[:colon+1]
	}
	if have+len(name) > maxFieldName+1 {
		f.st = fieldDrop // no field read has such a name
		m.hdr = m.hdr[:f.start]
		return
	}
	m.hdrAppend(name)
	line := m.hdr[f.start:]
	if len(line) < have+len(name) {
		f.st = fieldDrop // past MaxHeaderBytes
		m.hdr = m.hdr[:f.start]
		return
	}
	if colon < 0 {
		return
	}
	if f.st = m.wanted(bytes.TrimRight(line[:len(line)-1], " \t")); f.st == fieldDrop {
		m.hdr = m.hdr[:f.start]
		return
	}
	m.fieldText(p[colon+1:])
}

// wanted decides whether the field named name is kept.
func (m *message) wanted(name []byte) uint8 {
	var bit uint8
	switch {
	case equalFold(name, "content-type"):
		bit = seenType
	case equalFold(name, "content-transfer-encoding"):
		bit = seenCTE
	case equalFold(name, "content-disposition"):
		bit = seenDisp
	case m.depth > 0:
		return fieldDrop
	case equalFold(name, "subject"):
		bit = seenSubject
	case equalFold(name, "message-id"):
		bit = seenMsgID
	case equalFold(name, "from"), equalFold(name, "to"), equalFold(name, "cc"):
		return fieldKeep // address lists add up (MaxAddresses)
	default:
		return fieldDrop
	}
	if m.field.seen&bit != 0 {
		return fieldDrop // the first one wins
	}
	m.field.seen |= bit
	return fieldKeep
}

// lostHead reports an entity whose header a gap of n bytes fell on: its
// type and where its body starts are unknown, so it is a file with
// Meta.HeadLost, closed at once, with what the complete fields before
// the gap said (the message's senders and subject for the top level).
func (m *message) lostHead(n int64) {
	st := m.x.stats
	if m.depth == 0 {
		if !m.lineEmpty || m.field.st != fieldKeep {
			m.hdr = m.hdr[:m.field.start] // a field the gap cut short
		}
		m.parseTop()
	}
	m.meta = m.env
	m.meta.From, m.meta.To, m.meta.Cc = m.top.from, m.top.to, m.top.cc
	m.meta.Subject, m.meta.MessageID = m.top.subject, m.top.messageID
	m.meta.Size = -1
	m.meta.HeadLost = true
	st.Files++
	st.HeadsLost++
	f := m.x.sink.Open(&m.meta)
	if f == nil {
		return
	}
	if wg, ok := f.(transfer.WireGapper); ok {
		wg.WireGap(n)
	}
	f.Close(transfer.CutGap)
}

// Footprint implements transfer.Footprinter: what the message holds (its
// header block, the line start held while deciding on a delimiter, the
// open multiparts' boundaries, its envelope and senders, and the
// decoders' state, which lives in the message itself).
func (m *message) Footprint() int {
	n := int(unsafe.Sizeof(*m)) + cap(m.hdr) + cap(m.lb) + m.topBytes
	n += cap(m.levels) * int(unsafe.Sizeof(level{}))
	for i := range m.levels { // MaxDepth at most
		n += cap(m.levels[i].delim)
	}
	if m.child != nil { // MaxDepth of them at most
		n += m.child.Footprint()
	}
	return n + len(m.meta.Name) + len(m.meta.ContentType) + len(m.meta.Transfer)
}

// Footprint implements transfer.Footprinter: what the Extractor holds
// beside its messages (the output buffer they share).
func (x *Extractor) Footprint() int {
	n := int(unsafe.Sizeof(*x)) + cap(x.out) + cap(x.bufs)*int(unsafe.Sizeof([]byte(nil)))
	for _, b := range x.bufs {
		n += cap(b)
	}
	return n
}

// strsBytes is what a list of strings holds.
func strsBytes(l []string) int {
	n := cap(l) * int(unsafe.Sizeof(""))
	for _, s := range l {
		n += len(s)
	}
	return n
}
