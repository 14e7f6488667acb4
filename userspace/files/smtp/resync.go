package smtp

import (
	"bytes"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// Resynchronisation after a client gap. The client side skips lines up
// to a known command (desyncMode); what the gap took is told from what
// follows it:
//
//   - A gap in the commands between BDAT chunks goes to the message as a
//     gap, and a BDAT command is sought anywhere in the bytes that follow
//     (a chunk seldom ends in a line end), the bytes passed over going to
//     the message as a gap too. A BDAT that opens a message with no MAIL
//     since the gap may have lost earlier chunks: the message starts
//     with a gap.
//   - A gap that took a DATA command: the lines after it are a message
//     when the server said 354 more often than the client was seen to
//     send DATA, when the first line after the gap reads as a header
//     field, or at a line that is only a dot (an end of data, never a
//     command). The message is opened with a gap first (its start may be
//     lost: the MIME extractor reports it as a file whose head was lost)
//     and runs to its end of data.
//   - A gap inside a message that took its end of data: the message ends
//     at a line that is a command starting a transaction or ending the
//     session (MAIL, RSET, QUIT, HELO), or at a server reply (a server
//     answers only after the end of data), cut; the client side then
//     seeks a command.

// resync takes up commands again at a known command.
func (p *Parser) resync() {
	p.mode = cmdMode
	p.st.Resync++
	// What the gap took is behind: a DATA lost then is no news later.
	p.datas = p.replies354
	if p.inMsg && p.skipped > 0 {
		p.msgGapBytes(p.skipped) // chunk bytes passed over
	} else if !p.inMsg {
		p.lost = p.hole + p.skipped // for a message this command may open
	}
	p.hole, p.skipped, p.afterHole, p.cutEnd = 0, 0, false, false
}

// desyncLine looks at a line that is no command while the commands'
// framing is lost: the start of a message whose DATA a gap took, or a
// line passed over.
func (p *Parser) desyncLine(line []byte) {
	first := p.afterHole
	p.afterHole = false
	dot := isDotLine(line)
	if dot && p.cutEnd {
		// The end of the message lostEnd cut (a reply came before it).
		p.cutEnd = false
		dot = false
	}
	lostDATA := p.replies354 > p.datas || dot
	if p.inMsg || !lostDATA && !(first && headerLike(line)) {
		p.skipped += max(int64(len(line)), p.cl.n)
		return
	}
	p.datas = p.replies354
	p.st.Resync++
	p.openMessage()
	p.lostStart()
	if isDotLine(line) {
		p.endMessage() // all of it was lost
		p.mode = desyncMode
		return
	}
	// The line itself is not passed on: after a lost start the message
	// sink cannot read what follows anyway.
	p.mode, p.dot = dataMode, dotBOL
}

// lostStart marks the message just opened as begun after a gap: it gets
// the gap's bytes (and those passed over since) before any other.
func (p *Parser) lostStart() {
	p.st.LostStarts++
	p.msgGapBytes(min(max(p.hole+p.skipped+p.lost, 1), p.opt.MaxMessage))
	p.hole, p.skipped, p.lost = 0, 0, 0
}

// lostEndAt reports whether b starts a command line that cannot be
// message content after a gap took the end of data.
func (p *Parser) lostEndAt(b []byte) bool {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return false
	}
	switch command(b[:i+1]) {
	case vMAIL, vRSET, vQUIT, vEHLO, vHELO, vLHLO:
		return true
	}
	return false
}

// lostEnd ends a message whose end of data a gap took; the client side
// seeks the next command.
func (p *Parser) lostEnd() {
	p.st.LostEnds++
	p.closeMsg(transfer.CutGap)
	p.inMsg = false
	p.resetEnvelope()
	p.desync()
	p.cutEnd = true
}

// seekBDAT looks for a BDAT command anywhere in b while a BDAT message's
// framing is lost, and returns b from it (or b unchanged). The bytes
// before it are the lost chunk's.
func (p *Parser) seekBDAT(b []byte) []byte {
	at := func(j int) []byte {
		if j == 0 && len(p.cl.buf) == 0 && !p.cl.drop {
			return b // at a line start already
		}
		p.skipped += int64(j) + p.cl.n
		p.cl.reset()
		return b[j:]
	}
	for off := 0; off < len(b); {
		j := bytes.Index(b[off:], bdatVerb)
		if j < 0 {
			break
		}
		j += off
		off = j + 1
		k := bytes.IndexByte(b[j:], '\n')
		switch {
		case k < 0:
			return at(j) // the rest comes next: kept while it may be one
		case command(b[j:j+k+1]) == vBDAT:
			return at(j)
		}
	}
	// "BD" at the very end.
	for j := max(0, len(b)-len(bdatVerb)+1); j < len(b); j++ {
		if bytes.HasPrefix(bdatVerb, b[j:]) {
			return at(j)
		}
	}
	return b
}

var bdatVerb = []byte("BDAT ")

// headerLike: "Name:" with a name of printable characters, as the first
// line of a message reads (RFC 5322 2.2).
func headerLike(line []byte) bool {
	i := bytes.IndexByte(line, ':')
	if i <= 0 || i > 76 {
		return false
	}
	for _, c := range line[:i] {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func isDotLine(l []byte) bool { return string(l) == ".\r\n" || string(l) == ".\n" }

// isDotPrefix: the start of a split end-of-data line.
func isDotPrefix(b []byte) bool { return string(b) == "." || string(b) == ".\r" || isDotLine(b) }
