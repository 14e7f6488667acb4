package craft

import (
	"fmt"
	"time"
)

// acked records what the receiver of d just advertised.
func (c *Conn) acked(d int) {
	h := &c.h[d]
	h.lastAck, h.lastWin, h.pending = h.rcvNxt, c.win[1-d], 0
}

// Send writes data as the next bytes of direction d, in segments of at
// most MSS, each seen by OnData first.
func (c *Conn) Send(d int, data []byte) { c.SendSized(d, data, c.cfg.MSS) }

// SendSized is Send with segments of at most size bytes.
func (c *Conn) SendSized(d int, data []byte, size int) {
	h := &c.h[d]
	since := 0
	for len(data) > 0 && c.err == nil {
		n := min(len(data), size)
		c.sendNew(d, h.next, data[:n], n == len(data))
		h.next += n
		data = data[n:]
		if len(c.lost) > 0 {
			if since++; since >= 3 {
				c.retransmit()
				since = 0
			}
		}
	}
	if len(c.lost) > 0 {
		c.Wait(200 * time.Millisecond) // the retransmission timeout
		c.retransmit()
	}
	if h.pending > 0 {
		c.ack(d)
	}
}

func (c *Conn) sendNew(d, off int, chunk []byte, last bool) {
	act := Deliver
	if c.OnData != nil {
		act = c.OnData(c, d, off, chunk)
	}
	switch act {
	case Deliver:
		c.SendAt(d, off, chunk, last)
	case Replaced, Unseen:
		c.received(d, off, len(chunk))
	case Lost:
		c.lost = append(c.lost, lostSeg{d, off, chunk})
	case Skip:
	}
}

// SendAt writes real data of direction d at offset off (new or a
// retransmission) and lets the receiver take it.
func (c *Conn) SendAt(d, off int, data []byte, push bool) {
	h := &c.h[d]
	if end := off + len(data); end > h.lastAck+h.lastWin {
		c.fail(fmt.Errorf("direction %d: segment [%d,%d) beyond the advertised window (ack %d + %d)",
			d, off, end, h.lastAck, h.lastWin))
		return
	}
	flags := ACK
	if push {
		flags |= PSH
	}
	c.Emit(d, Seg{Off: off, Data: data, Flags: flags})
	c.acked(1 - d) // the segment carries the sender's ACK of the other direction
	c.received(d, off, len(data))
}

func (c *Conn) retransmit() {
	lost := c.lost
	c.lost = nil
	for _, l := range lost {
		c.SendAt(l.d, l.off, l.data, false)
	}
}

// Play sends every turn of a dialogue in order.
func (c *Conn) Play(turns []Turn) {
	for _, t := range turns {
		d := Down
		if t.Up {
			d = Up
		}
		c.Send(d, t.Data)
	}
}

// Close tears the connection down: side first sends FIN, the other side
// answers with its FIN, first acknowledges it.
func (c *Conn) Close(first int) {
	c.Fin(first)
	c.Fin(1 - first)
	c.ack(1 - first)
}

// Fin is side s sending FIN (with an ACK of what it holds); the other
// side takes it.
func (c *Conn) Fin(s int) {
	c.Emit(s, Seg{Flags: FIN | ACK, Seq: U32(c.sndNxt(s))})
	c.acked(1 - s)
	c.h[s].finSent = true
	c.h[s].finRcvd = true
}

// Replay writes a whole stream: handshake, dialogue, teardown by the
// client.
func (c *Conn) Replay(st *Stream) {
	c.Handshake()
	c.Play(st.Turns)
	c.Close(Up)
}
