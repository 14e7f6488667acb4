package imap

import (
	"bytes"
	"unsafe"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// Messages fetched in pieces (BODY[]<0.N>, <N.M>...). One message per
// connection is joined at a time: the chain. Its pieces are written to
// the message in order; a piece that comes ahead of the next offset is
// held (MaxPieceHold bytes, maxSegments runs) until the bytes before it
// come; a piece that overlaps what was written is checked against the
// last maxTail bytes written, and one that overlaps held bytes against
// them. Pieces that disagree cut the message (CutConflict): which copy
// the client kept is not known. A piece that overlaps further back than
// maxTail is not joined (Stats.Offsets), except one from offset 0, which
// starts the message again (the old one is not final).
//
// The chain is one message: the same message number, in the same
// mailbox, and the same UID when the responses carry one. Pieces of
// another message while the chain's start is known are not joined; a
// piece whose message's start was not seen starts a chain without a
// message ("headless"), which its start opens.
//
// Pieces held ahead of the next offset: pieces_held.go.

// maxTail is what is kept of the bytes written to check overlaps.
const maxTail = 64 << 10

// maxSegments bounds the runs of held bytes (and held gaps) of a chain.
const maxSegments = 64

// DefaultMaxPieceHold bounds the bytes of pieces held ahead of the next
// offset, per connection (one chain at a time).
const DefaultMaxPieceHold = 1 << 20

// segment is a run of held bytes, or a held gap (gap > 0, no bytes).
type segment struct {
	off  int64
	data []byte
	gap  int64
}

func (s *segment) end() int64 {
	if s.gap > 0 {
		return s.off + s.gap
	}
	return s.off + int64(len(s.data))
}

// chain is a message being joined from its pieces.
type chain struct {
	active  bool
	msg     transfer.Message // nil while headless
	seq     uint32
	uid     uint32 // 0: not known
	mailbox string
	next    int64 // bytes (and gap bytes) written to msg
	gap     bool
	end     int64 // where a piece shorter than asked ended the message, -1 unknown
	dropped bool  // held bytes were dropped at the bound
	longer  bool  // a start came longer than asked: nothing is joined to it
	// unchecked: a piece was joined with no request under way to check
	// its offset and length against: never whole.
	unchecked bool

	// tail is the last bytes written (maxTail at most), a ring once
	// full: the oldest byte is at pos.
	tail []byte
	pos  int

	held  []segment // ahead of next, by offset, apart
	heldN int64     // bytes in held
}

// samePiece says whether a piece of the response under way belongs to
// the chain.
func (p *Parser) samePiece() bool {
	ch, r := &p.chain, &p.s.resp
	return ch.active && ch.seq == r.seq && ch.mailbox == p.mailbox && (ch.uid == 0 || r.fs.uid == 0 || ch.uid == r.fs.uid)
}

// pieceStart decides where a piece of n bytes at off of the response's
// message goes, and reports whether it is taken.
func (p *Parser) pieceStart(off, n int64) bool {
	r, ch := &p.s.resp, &p.chain
	if r.piece {
		p.pieceEnd() // two pieces in one response
	}
	same := p.samePiece()
	known := len(p.pieceReqs) > 0
	uid := r.fs.uid
	if uid == 0 && same {
		uid = ch.uid
	}
	asked, longer := p.pieceAsked(off, n, uid)
	switch {
	case off >= p.opt.MaxLiteral:
		p.st.Offsets++ // past what a message may hold: dropped (offset sums stay far from overflow)
		return false
	case off > 0 && known && (!asked || longer):
		// Joined by its origin it may not be where the client puts it:
		// a client may place a piece by its own request and append what
		// comes. Only pieces as asked are joined.
		p.st.PieceUnasked++
		return false
	case same && off == 0 && ch.msg != nil && !ch.covers(0):
		// Fetched again from its start, further back than can be
		// checked: a message again, the old one not final.
		p.closeChain(transfer.CutNotFinal)
		same = false
	case same && off < ch.next && !ch.covers(off):
		p.st.Offsets++
		return false
	case !same && off > 0 && ch.active && ch.msg != nil:
		p.st.Offsets++ // another message's piece while this one is under way
		return false
	}
	if !same {
		p.closeChain(transfer.CutNotFinal) // one at a time
		*ch = chain{active: true, seq: r.seq, mailbox: p.mailbox, end: -1}
	}
	if ch.uid == 0 {
		ch.uid = r.fs.uid
	}
	if off > 0 && !known {
		// No request seen to hold it to (the client's lines were
		// lost, or the server answered after its tagged status): the
		// joined message cannot be called whole.
		ch.unchecked = true
	}
	if off == 0 && longer {
		// A start longer than asked: where the client asks on from is
		// no longer where its bytes end. It is a message on its own.
		p.st.PieceUnasked++
		ch.longer = true
	}
	if off == 0 && ch.msg == nil {
		p.st.Messages++
		p.st.Partials++
		ch.msg = p.sink.OpenMessage(&transfer.Meta{Protocol: transfer.IMAP, Size: -1, Mailbox: p.mailbox})
		if ch.msg == nil {
			p.closeChain(transfer.CutNotFinal)
			return false
		}
	} else if off > 0 {
		p.st.Pieces++
	}
	r.piece, r.pieceOff, r.pieceLen = true, off, 0
	return true
}

// pieceData takes the bytes of the piece under way at offset at.
func (p *Parser) pieceData(at int64, b []byte, hint int64) {
	p.placeData(at, b, hint)
	p.drainHeld()
}

// pieceGap takes n missing bytes of the piece under way at offset at.
func (p *Parser) pieceGap(at, n int64) {
	ch := &p.chain
	if !ch.active {
		return
	}
	switch {
	case at+n <= ch.next:
		// Inside an overlap: nothing to check there.
	case at <= ch.next && ch.msg != nil:
		p.chainGap(at + n - ch.next)
	default:
		p.holdGap(max(at, ch.next), at+n-max(at, ch.next))
	}
	p.drainHeld()
}

// placeData checks, writes or holds b at offset at.
func (p *Parser) placeData(at int64, b []byte, hint int64) {
	ch := &p.chain
	for len(b) > 0 && ch.active {
		switch {
		case at < ch.next:
			k := min(int64(len(b)), ch.next-at)
			if !ch.covers(at) {
				p.st.PieceLimit++ // further back than kept
				p.closeChain(transfer.CutLimit)
				return
			}
			if !ch.agree(at, b[:k]) {
				p.pieceConflict()
				return
			}
			at += k
			b = b[k:]
		case at == ch.next && ch.msg != nil:
			p.chainWrite(b)
			return
		default:
			p.hold(at, b, hint)
			return
		}
	}
}

// chainWrite writes b at the chain's next offset, checking it against
// the held bytes it covers (which then go).
func (p *Parser) chainWrite(b []byte) {
	ch := &p.chain
	if !p.trimHeld(ch.next, b, int64(len(b))) {
		return
	}
	room := p.opt.MaxLiteral - ch.next
	over := int64(len(b)) > room
	if over {
		b = b[:max(room, 0)]
	}
	if len(b) > 0 {
		ch.msg.Write(b)
		p.st.Bytes += uint64(len(b))
		ch.next += int64(len(b))
		ch.remember(b)
	}
	if over {
		p.st.Limit++
		p.closeChain(transfer.CutLimit)
	}
}

// chainGap writes a gap of n bytes at the chain's next offset.
func (p *Parser) chainGap(n int64) {
	ch := &p.chain
	p.trimHeld(ch.next, nil, n)
	room := p.opt.MaxLiteral - ch.next
	over := n > room
	n = min(n, max(room, 0))
	if n > 0 {
		ch.msg.Gap(n)
		ch.next += n
		ch.gap = true
		ch.tail, ch.pos = ch.tail[:0], 0 // what came before cannot be checked across it
	}
	if over {
		p.st.Limit++
		p.closeChain(transfer.CutLimit)
	}
}

func (p *Parser) pieceConflict() {
	p.st.PieceConflicts++
	p.closeChain(transfer.CutConflict)
}

// covers says whether the bytes written from offset at on are all kept.
func (ch *chain) covers(at int64) bool { return at >= ch.next-int64(len(ch.tail)) }

// agree compares b with the bytes written at offset at (covers(at)).
func (ch *chain) agree(at int64, b []byte) bool {
	t := ch.tail
	i := (ch.pos + int(at-(ch.next-int64(len(t))))) % len(t)
	for len(b) > 0 {
		n := min(len(b), len(t)-i)
		if !bytes.Equal(t[i:i+n], b[:n]) {
			return false
		}
		b, i = b[n:], 0
	}
	return true
}

// remember keeps the last maxTail bytes written.
func (ch *chain) remember(b []byte) {
	if len(b) > maxTail {
		b = b[len(b)-maxTail:]
	}
	if len(ch.tail) < maxTail {
		k := min(len(b), maxTail-len(ch.tail))
		ch.tail = append(ch.tail, b[:k]...)
		b = b[k:]
	}
	for len(b) > 0 {
		n := copy(ch.tail[ch.pos:], b)
		ch.pos = (ch.pos + n) % maxTail
		b = b[n:]
	}
}

// pieceEnd decides, at the end of a response that carried a piece,
// whether the chain's message is complete: its size (RFC822.SIZE in
// this response or an earlier one) is reached, or the end a piece
// shorter than asked told (the server had no more); else it stays open
// for the next piece.
func (p *Parser) pieceEnd() {
	r, ch := &p.s.resp, &p.chain
	if !r.piece {
		return
	}
	r.piece = false
	if !ch.active {
		return
	}
	if uid := r.fs.uid; uid != 0 && ch.uid != uid {
		if ch.uid != 0 {
			p.pieceConflict() // the UID after the piece says another message
			return
		}
		ch.uid = uid
	}
	size := r.fs.size
	if size < 0 {
		if n, ok := p.sizes.get(r.seq); ok {
			size = n
		}
	}
	if size < 0 && p.shortPiece(r.pieceOff, r.pieceLen) {
		if e := r.pieceOff + r.pieceLen; ch.end < 0 || e < ch.end {
			ch.end = e
		}
	}
	end := ch.end
	if size >= 0 {
		end = size
	}
	heldEnd := int64(-1)
	if n := len(ch.held); n > 0 {
		heldEnd = ch.held[n-1].end()
	}
	switch {
	case ch.msg == nil:
	case end >= 0 && ch.next == end && len(ch.held) == 0:
		p.closeChain(transfer.Whole)
	case end >= 0 && (ch.next > end || heldEnd > end):
		p.closeChain(transfer.CutNotFinal) // not the message the size was of
	case ch.longer:
		p.closeChain(transfer.CutNotFinal) // nothing may be joined to it
	}
}

// pieceAsked says whether a piece request under way asked for a piece
// at off of the message of uid (0: not known) (asked), and whether all
// that did asked for fewer than n bytes (longer). A server sends at most
// what was asked (RFC 3501 6.4.5).
func (p *Parser) pieceAsked(off, n int64, uid uint32) (asked, longer bool) {
	longer = true
	for _, q := range p.pieceReqs {
		if q.off == off && (q.uid == 0 || uid == 0 || q.uid == uid) {
			asked = true
			if n <= q.n {
				longer = false
			}
		}
	}
	return asked, asked && longer
}

// shortPiece says whether a piece of n bytes at off is shorter than the
// one request under way for a piece at off asked for. (With several,
// which one it answers is not known: only the size can tell.)
func (p *Parser) shortPiece(off, n int64) bool {
	asked := int64(-1)
	for _, q := range p.pieceReqs {
		if q.off == off {
			if asked >= 0 {
				return false
			}
			asked = q.n
		}
	}
	return n < asked
}

// closeChain ends the chain, if any: its message with cut (not Whole if
// it had a gap; CutLimit rather than not final when held bytes were
// dropped at the bound). A headless chain's held bytes are dropped.
func (p *Parser) closeChain(cut transfer.Cut) {
	ch := &p.chain
	if !ch.active {
		return
	}
	if ch.msg != nil {
		switch {
		case cut == transfer.Whole && ch.gap:
			cut = transfer.CutGap
		case cut == transfer.Whole && ch.unchecked:
			cut = transfer.CutNotFinal
		case ch.dropped && (cut == transfer.CutEnded || cut == transfer.CutNotFinal):
			cut = transfer.CutLimit
		}
		ch.msg.Close(cut)
	} else if len(ch.held) > 0 {
		p.st.PiecesDropped++
	}
	*ch = chain{}
}

// footprint is what the chain holds.
func (ch *chain) footprint() int {
	n := cap(ch.tail) + cap(ch.held)*int(unsafe.Sizeof(segment{})) + int(ch.heldCap())
	if ch.msg != nil {
		n += transfer.FootprintOf(ch.msg)
	}
	return n
}

// requestUID is the UID a "UID FETCH n (...)" asks of, 0 for another
// command or a set of several.
func requestUID(cmd string, rest []byte) uint32 {
	if cmd != "UID" || !hasPrefixFold(rest, "FETCH ") {
		return 0
	}
	set := rest[len("FETCH "):]
	if i := bytes.IndexByte(set, ' '); i >= 0 {
		set = set[:i]
	}
	n, k, ok := number(set)
	if !ok || k != len(set) || n <= 0 || n >= 1<<32 {
		return 0
	}
	return uint32(n)
}
