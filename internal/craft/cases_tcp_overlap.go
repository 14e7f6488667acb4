package craft

import (
	"fmt"
	"time"

	"github.com/google/gopacket/layers"
)

// overlapInorderWins: with all earlier bytes taken, a decoy for bytes
// 100..600 of the next segment arrives first and is queued out of order
// (the receiver SACKs it); then the real segment arrives in order and
// covers it. Linux delivers the in-order segment and drops the queued
// one it covers (tcp_data_queue → tcp_ofo_queue: an out-of-order skb
// ending at or before rcv_nxt is dropped, SKB_DROP_REASON_TCP_OFO_DROP).
// Truth: the file whole.
func overlapInorderWins(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	total := len(st.Bytes(false))
	return b.download(st, func(c *Conn, d, off int, data []byte) Action {
		if d == Down && len(data) > 600 && every50(off, 1448, total) {
			c.Emit(Down, Seg{Off: off + 100, Data: mangle(data[100:600])})
			c.SackAck(Down, [2]int{off + 100, off + 600})
		}
		return Deliver
	})
}

// overlapLongerSameStart: segment A is held back; a short decoy for the
// start of the next segment B arrives (queued out of order), then the
// real B with the same start and longer, then A. Linux replaces a queued
// skb when a new one has the same start and ends later
// (tcp_data_queue_ofo: "skb's seq == skb1's seq and skb covers skb1",
// rb_replace_node). Truth: the file whole.
func overlapLongerSameStart(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	down := st.Bytes(false)
	done := map[int]bool{}
	return b.download(st, func(c *Conn, d, off int, data []byte) Action {
		if d != Down {
			return Deliver
		}
		if done[off] {
			return Skip
		}
		if !every50(off, 1448, len(down)) {
			return Deliver
		}
		bOff := off + len(data)
		real := down[bOff : bOff+1448]
		c.Emit(Down, Seg{Off: bOff, Data: mangle(real[:500])})
		c.SackAck(Down, [2]int{bOff, bOff + 500})
		c.SendAt(Down, bOff, real, false)
		done[bOff] = true
		return Deliver
	})
}

// overlapContainedDropped: the real segment B arrives out of order and
// is queued; then a shorter decoy with the same start; then the hole A.
// Linux drops a new out-of-order skb whose bytes are all queued already
// (tcp_data_queue_ofo: "All the bits are present. Drop.", with a D-SACK).
// Truth: the file whole.
func overlapContainedDropped(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	down := st.Bytes(false)
	done := map[int]bool{}
	return b.download(st, func(c *Conn, d, off int, data []byte) Action {
		if d != Down {
			return Deliver
		}
		if done[off] {
			return Skip
		}
		if !every50(off, 1448, len(down)) {
			return Deliver
		}
		bOff := off + len(data)
		real := down[bOff : bOff+1448]
		c.SendAt(Down, bOff, real, false)
		c.Emit(Down, Seg{Off: bOff, Data: mangle(real[:500])})
		c.SackAck(Down, [2]int{bOff, bOff + 500}, [2]int{bOff, bOff + 1448})
		done[bOff] = true
		return Deliver
	})
}

// retransConflict: one segment of the body is followed at once, before
// any ACK, by a copy with the same sequence number and other bytes.
// Linux keeps the first copy it got and drops the later one as old data;
// but a passive sensor cannot know which copy reached the host first or
// at all (a TTL-limited first copy dies on the way). Truth: the file
// reported as conflicting, with no hash; never a confident wrong hash.
func retransConflict(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	conflicted := b.truth.Files[0].Name
	b.truth.Files = b.truth.Files[1:]
	b.truth.Conflict = []string{conflicted}
	return b.download(st, func(c *Conn, d, off int, data []byte) Action {
		if d != Down || off != 300*1448 {
			return Deliver
		}
		c.Emit(Down, Seg{Off: off, Data: data})
		c.Emit(Down, Seg{Off: off, Data: mangle(data)})
		c.Take(Down, off, len(data))
		return Skip
	})
}

// rstBadSeq: during the body, the client sends an RST whose sequence
// number is inside the server's window but not rcv_nxt, the server one
// inside the client's window but not rcv_nxt, and the client one far
// outside any window. RFC 5961 3.2 (Linux tcp_validate_incoming): an RST
// in the window but not exactly at rcv_nxt only draws a challenge ACK; an
// RST outside the window is dropped. The connection goes on. Truth: the
// file whole.
func rstBadSeq(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	return b.download(st, func(c *Conn, d, off int, data []byte) Action {
		if d != Down {
			return Deliver
		}
		switch off / 1448 {
		case 200:
			c.Emit(Up, Seg{Flags: RST | ACK, Seq: U32(c.SndNxt(Up) + 1000)})
			c.Ack(Up) // the server's challenge ACK
		case 400:
			c.Emit(Down, Seg{Flags: RST | ACK, Seq: U32(c.SndNxt(Down) + 5000)})
			c.Ack(Down) // the client's challenge ACK
		case 600:
			c.Emit(Up, Seg{Flags: RST | ACK, Seq: U32(c.SndNxt(Up) + 0x80000000)})
		}
		return Deliver
	})
}

// synMidstream: during the body, a SYN from the client's address and
// port with a new ISN. Linux answers a SYN in an established connection
// with a challenge ACK and drops it (RFC 5961 4, tcp_validate_incoming
// step 4); no SYN-ACK ever comes, the old connection goes on. Truth: the
// file whole.
func synMidstream(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	isn := b.rng.Uint32()
	return b.download(st, func(c *Conn, d, off int, data []byte) Action {
		if d == Down && off == 300*1448 {
			c.Emit(Up, Seg{Flags: SYN, Seq: U32(isn), Win: Int(64240 << 7), Opts: synOpts(1448, 7)})
			c.Ack(Up) // the server's challenge ACK
		}
		return Deliver
	})
}

// synReuseAfterClose: the server closes first (it holds TIME_WAIT), the
// client's port is reused a second later with an ISN above the old
// connection's: Linux accepts such a SYN in TIME_WAIT as a new
// connection (tcp_timewait_state_process → TCP_TW_SYN, RFC 1122
// 4.2.2.13), which downloads the file again. Truth: the file twice.
func synReuseAfterClose(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	b.truth.Files = append(b.truth.Files, b.truth.Files...)
	cfg := b.connConfig(st)
	c1 := NewConn(b.cap, cfg)
	c1.Handshake()
	c1.Play(st.Turns)
	c1.Close(Down)
	b.cap.Wait(time.Second)
	cfg.ISN = [2]uint32{cfg.ISN[0] + 0x01000000, b.rng.Uint32()}
	c2 := NewConn(b.cap, cfg)
	c2.Handshake()
	c2.Play(st.Turns)
	c2.Close(Down)
	return finish(c1, c2)
}

// ackUnsent: every hundredth body segment, a client ACK acknowledging
// 1 MiB beyond anything the server sent. Linux ignores an ACK of
// unsent data (tcp_ack: after(ack, snd_nxt) →
// SKB_DROP_REASON_TCP_ACK_UNSENT_DATA); it says nothing about bytes
// missing. Truth: the file whole (no gap).
func ackUnsent(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	return b.download(st, func(c *Conn, d, off int, data []byte) Action {
		if d == Down && (off/1448)%100 == 50 {
			c.Emit(Up, Seg{Flags: ACK, Seq: U32(c.SndNxt(Up)), Ack: U32(c.SndNxt(Down) + 1<<20)})
		}
		return Deliver
	})
}

// tfoCookie is a TCP Fast Open option (RFC 7413, kind 34) with a cookie.
var tfoCookie = []layers.TCPOption{{OptionType: 34, OptionData: []byte{0x5e, 0x7a, 0x11, 0x90, 0x2c, 0x03, 0xd4, 0x61}}}

// tfoUnacked: the SYN carries a Fast Open cookie and a decoy request;
// the SYN-ACK acknowledges the SYN only, so the server dropped the data
// (RFC 7413 4.2.2: an invalid cookie; Linux tcp_conn_request queues SYN
// data only when tcp_try_fastopen accepts it). The real request follows
// the handshake at the same sequence number. Truth: the file whole, with
// its real name.
func tfoUnacked(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	decoy := []byte("GET /decoy.exe HTTP/1.1\r\nHost: files.example.test\r\nAccept: */*\r\n\r\n")
	c := b.connFor(st, b.cap)
	c.HandshakeWith(HandshakeOpts{SYNData: decoy, SYNOpts: tfoCookie})
	c.Play(st.Turns)
	c.Close(Up)
	return finish(c)
}

// tfoAcked: the SYN carries the cookie and the real request; the SYN-ACK
// acknowledges it (RFC 7413 4.2.2, Linux tcp_fastopen_create_child
// queues the SYN's data); the response follows. Truth: the file whole.
func tfoAcked(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	if !st.Turns[0].Up {
		return fmt.Errorf("http_exe does not start with the request")
	}
	c := b.connFor(st, b.cap)
	c.HandshakeWith(HandshakeOpts{SYNData: st.Turns[0].Data, SYNOpts: tfoCookie, AckSYNData: true})
	c.Play(st.Turns[1:])
	c.Close(Up)
	return finish(c)
}

// finReplacedByLonger: segment A is held back; a short decoy for the start
// of the next segment B arrives with a FIN (queued out of order, FIN and
// all), then the real B with the same start and longer, then A. Linux
// replaces the queued skb, FIN included, by the one with the later
// end_seq (tcp_data_queue_ofo, rb_replace_node): the connection goes on
// and the host reads the whole file. A sensor that keeps the first FIN
// cuts the file at the decoy. Truth: the file whole.
func finReplacedByLonger(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	down := st.Bytes(false)
	done := map[int]bool{}
	once := false
	return b.download(st, func(c *Conn, d, off int, data []byte) Action {
		if d != Down {
			return Deliver
		}
		if done[off] {
			return Skip
		}
		if once || !every50(off, 1448, len(down)) {
			return Deliver
		}
		once = true
		bOff := off + len(data)
		real := down[bOff : bOff+1448]
		c.Emit(Down, Seg{Off: bOff, Data: mangle(real[:500]), Flags: FIN | ACK})
		c.SackAck(Down, [2]int{bOff, bOff + 501})
		c.SendAt(Down, bOff, real, false)
		done[bOff] = true
		return Deliver
	})
}
