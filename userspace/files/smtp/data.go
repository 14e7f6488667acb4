package smtp

import (
	"bytes"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// envelope is the current mail transaction.
type envelope struct {
	from  string
	rcpt  []rcpt
	gen   uint32 // bumped at every reset, so late RCPT replies find theirs
	bytes int    // what from and the addresses hold (Footprint)
}

type rcpt struct {
	addr    string
	refused bool // the server refused it (known before the message opened)
}

func (p *Parser) resetEnvelope() {
	p.env.from = ""
	clear(p.env.rcpt)
	p.env.rcpt = p.env.rcpt[:0]
	p.env.gen++
	p.env.bytes = 0
}

// address takes the path of MAIL FROM / RCPT TO: "<a@b> PARAM=..." or a
// bare address, bounded to transfer.MaxHeaderValue.
func address(b []byte) string {
	b = bytes.TrimLeft(b, " \t")
	if len(b) > 0 && b[0] == '<' {
		b = b[1:]
		if i := bytes.IndexByte(b, '>'); i >= 0 {
			b = b[:i]
		}
	} else if i := bytes.IndexAny(b, " \t\r\n"); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) > transfer.MaxHeaderValue {
		b = b[:transfer.MaxHeaderValue]
	}
	return string(b)
}

func (p *Parser) openMessage() {
	p.rcpts = p.rcpts[:0]
	for _, r := range p.env.rcpt {
		if !r.refused {
			p.rcpts = append(p.rcpts, r.addr)
		}
	}
	m := transfer.Meta{
		Protocol: transfer.SMTP,
		Upload:   true,
		Size:     -1,
		MailFrom: p.env.from,
		RcptTo:   p.rcpts, // only read during the call
	}
	p.st.Messages++
	p.inMsg = true
	p.msg = p.sink.OpenMessage(&m)
	p.msgN, p.msgGap = 0, false
}

// write passes message bytes on, up to MaxMessage.
func (p *Parser) write(b []byte) {
	if len(b) == 0 || p.msg == nil {
		return
	}
	if room := p.opt.MaxMessage - p.msgN; int64(len(b)) > room {
		if room > 0 {
			p.msg.Write(b[:room])
			p.st.Bytes += uint64(room)
		}
		p.st.Limit++
		p.closeMsg(transfer.CutLimit)
		return
	}
	p.msg.Write(b)
	p.msgN += int64(len(b))
	p.st.Bytes += uint64(len(b))
}

// msgGapBytes records n missing message bytes; they count towards
// MaxMessage so that a message whose end was lost stays bounded.
func (p *Parser) msgGapBytes(n int64) {
	if p.msg == nil {
		return
	}
	if n > p.opt.MaxMessage-p.msgN {
		p.st.Limit++
		p.closeMsg(transfer.CutLimit)
		return
	}
	p.msg.Gap(n)
	p.msgN += n
	p.msgGap = true
}

// closeMsg closes the open message, once.
func (p *Parser) closeMsg(cut transfer.Cut) {
	if p.msg == nil {
		return
	}
	if cut == transfer.Whole && p.msgGap {
		cut = transfer.CutGap
	}
	p.msg.Close(cut)
	p.msg = nil
}

// endMessage ends a transaction's message at its own end.
func (p *Parser) endMessage() {
	p.closeMsg(transfer.Whole)
	p.inMsg = false
	p.resetEnvelope()
	p.mode = cmdMode
	p.push(entry{kind: kEnd}) // its reply says accepted or rejected
}

// abortBDAT ends a BDAT message the client gave up (RSET, new MAIL...).
func (p *Parser) abortBDAT() {
	if p.inMsg {
		p.closeMsg(transfer.CutNotFinal)
		p.inMsg = false
	}
}

// dotState is where the DATA reader stands in the current line.
type dotState uint8

const (
	dotMid   dotState = iota // inside a line
	dotBOL                   // at the start of a line
	dotDot                   // the line began with '.', dropped
	dotDotCR                 // the line began with ".\r"
)

var crBytes = []byte{'\r'}

func (p *Parser) startData() {
	p.mode = dataMode
	p.dot = dotBOL
	p.openMessage()
}

// dataBytes passes DATA bytes on, dot-unstuffed (RFC 5321 4.5.2: a line's
// leading dot is dropped), up to the end-of-data line ".CRLF" (".LF"
// tolerated), which is not part of the message. It returns how many bytes
// of b it took. Runs between dropped dots go out as one Write.
func (p *Parser) dataBytes(b []byte) int {
	start, i := 0, 0
	for i < len(b) {
		switch p.dot {
		case dotMid:
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				i = len(b)
				continue
			}
			i += j + 1
			p.dot = dotBOL
		case dotBOL:
			if p.msgGap && p.lostEndAt(b[i:]) {
				// A gap took the end of data: this line is the next
				// command.
				p.write(b[start:i])
				p.lostEnd()
				return i
			}
			if b[i] != '.' {
				p.dot = dotMid
				continue
			}
			p.write(b[start:i])
			i++
			start = i
			p.dot = dotDot
		case dotDot:
			switch b[i] {
			case '\n':
				p.endMessage()
				return i + 1
			case '\r':
				i++
				start = i // the CR is held until the next byte says
				p.dot = dotDotCR
			default:
				p.dot = dotMid
			}
		case dotDotCR:
			if b[i] == '\n' {
				p.endMessage()
				return i + 1
			}
			p.write(crBytes) // ".\rX": the CR was content
			p.dot = dotMid
		}
	}
	p.write(b[start:i])
	return len(b)
}

// bdatBytes passes chunk bytes on as they are.
func (p *Parser) bdatBytes(b []byte) int {
	n := int(min(int64(len(b)), p.bdatLeft))
	p.write(b[:n])
	p.bdatLeft -= int64(n)
	if p.bdatLeft == 0 {
		p.chunkEnd()
	}
	return n
}

// chunkEnd follows a BDAT chunk: LAST ends the message.
func (p *Parser) chunkEnd() {
	if !p.bdatLast {
		p.mode = cmdMode
		return
	}
	p.closeMsg(transfer.Whole)
	p.inMsg = false
	p.resetEnvelope()
	p.mode = cmdMode
}
