package craft

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/google/gopacket/layers"
)

// The TCP cases attack the receiver model: each sends, beside the real
// segments of a corpus download, segments a Linux receiver does not take
// (or takes in a way a naive reassembler does not expect). Their truth
// is the source's, unless the case says why not.

// mangle returns bytes of the same length that differ from b at every
// position: a decoy that, taken instead of b, gives another hash.
func mangle(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = c ^ 0xa5
	}
	return out
}

// sumNeutral returns bytes of the same length that differ from b but
// have the same one's-complement sum: b's 16-bit words in reverse order
// (the sum is commutative). A decoy fragment made so leaves the TCP
// checksum of whichever datagram a reassembler builds right, so only the
// overlap rule decides. Needs len(b) even and at least two distinct words.
func sumNeutral(b []byte) []byte {
	out := make([]byte, len(b))
	n := len(b) / 2
	for i := 0; i < n; i++ {
		out[2*i], out[2*i+1] = b[2*(n-1-i)], b[2*(n-1-i)+1]
	}
	return out
}

// decoyFile is a made-up PE (it starts with "MZ") that a sensor which
// took decoy bytes would report; the truth lists it in not_files.
func decoyFile(n int) []byte {
	b := []byte("MZ\x90\x00\x03\x00\x00\x00decoy: a receiver never took these bytes\n")
	for len(b) < n {
		b = append(b, fmt.Sprintf("decoy line %06d\n", len(b))...)
	}
	return b[:n]
}

func fileTruth(name string, b []byte) FileTruth {
	sum := sha256.Sum256(b)
	return FileTruth{Name: name, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b))}
}

// httpDecoyResponse is a whole HTTP response carrying a decoy file.
func httpDecoyResponse(body []byte) []byte {
	h := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n"+
		"Content-Disposition: attachment; filename=\"decoy.exe\"\r\n\r\n", len(body))
	return append([]byte(h), body...)
}

// download plays a corpus connection with hook on its segments.
func (b *builder) download(st *Stream, hook func(c *Conn, d, off int, data []byte) Action) error {
	c := b.connFor(st, b.cap)
	c.OnData = hook
	c.Replay(st)
	return finish(c)
}

func tcpCase(name, what string, f func(b *builder) error) Case {
	return Case{Name: name, What: what, build: f}
}

func tcpCases() []Case {
	return []Case{
		tcpCase("csum_tcp_decoy", "before every server segment, a decoy with the same sequence number and a wrong TCP checksum", csumDecoy(CsumBadTCP, "tcp_csum_bad")),
		tcpCase("csum_ip_decoy", "before every server segment, a decoy with the same sequence number and a wrong IPv4 header checksum", csumDecoy(CsumBadIP, "ip_csum_bad")),
		tcpCase("csum_offloaded", "every TCP checksum left as a sender with checksum offload writes it (pseudo-header sum, or 0)", csumOffloaded),
		tcpCase("window_decoy", "decoys starting at or beyond the client's advertised window, and a decoy while the window is zero", windowDecoy),
		tcpCase("noack_decoy", "before every server segment, a decoy without the ACK flag", noAckDecoy),
		tcpCase("after_fin_decoy", "after the server's FIN, a decoy HTTP response past the FIN's sequence number", afterFinDecoy),
		tcpCase("overlap_linux_inorder_wins", "an out-of-order decoy queued, then in-order real data covering it", overlapInorderWins),
		tcpCase("overlap_linux_longer_same_start", "an out-of-order short decoy, then a longer real segment with the same start, then the hole", overlapLongerSameStart),
		tcpCase("overlap_linux_contained_dropped", "an out-of-order real segment queued, then a shorter decoy with the same start, then the hole", overlapContainedDropped),
		tcpCase("retrans_conflict", "a delivered segment retransmitted at once with other bytes: which copy the host kept is unknowable", retransConflict),
		tcpCase("rst_bad_seq", "RSTs from both sides in the window but not at the next expected byte, and one far outside", rstBadSeq),
		tcpCase("syn_midstream", "mid-transfer, a client SYN with a new ISN on the same 4-tuple, never answered", synMidstream),
		tcpCase("syn_reuse_after_close", "the connection closes, a new one on the same 4-tuple downloads the file again", synReuseAfterClose),
		tcpCase("ack_unsent", "client ACKs for data the server never sent, far ahead of the highest byte", ackUnsent),
		tcpCase("tfo_unacked", "a SYN carrying a decoy request (Fast Open) the SYN-ACK does not acknowledge; the real request follows", tfoUnacked),
		tcpCase("tfo_acked", "a SYN carrying the real request (Fast Open), acknowledged by the SYN-ACK", tfoAcked),
		tcpCase("late_retransmission", "the first response segment (the HTTP header) sent after 1 MiB of later data", lateRetransmission),
		tcpCase("header_hole_keepalive", "on a keep-alive connection, the segment holding one response's header missing from the capture", headerHoleKeepalive),
		tcpCase("urgent_byte", "an urgent byte (URG, urgent pointer) inserted into the response body", urgentByte),
		tcpCase("http_300_headers", "the response header with 300 more header lines (curl, Chrome and Go accept them)", httpHeaders("http_exe", 300, 24, 1)),
		tcpCase("http_256k_header", "a 255 KB response header block (under Chrome's 256 KiB and curl's 300 KiB)", httpHeaders("http_exe", 300, 840, 1)),
		tcpCase("http_headers_keepalive", "every response of a keep-alive connection with 300 more header lines", httpHeaders("http_keepalive", 300, 24, 0)),
		tcpCase("smtp_hole_message_start", "two mails on one SMTP session; MAIL FROM, DATA and the start of the first mail missing from the capture", smtpHoleMessageStart),
	}
}

// csumDecoy: before every segment of the response, a segment with the
// same sequence number and length but other bytes, whose TCP (or IPv4
// header) checksum is wrong. Linux verifies both before it looks at the
// sequence number and drops the packet (tcp_v4_rcv: tcp_checksum_complete,
// TCP_MIB_CSUMERRORS; ip_rcv_core: ip_fast_csum, IPSTATS_MIB_CSUMERRORS),
// so the real copy that follows is the one taken. Truth: the file whole.
func csumDecoy(cs Csum, counter string) func(b *builder) error {
	return func(b *builder) error {
		st, err := b.source("http_exe")
		if err != nil {
			return err
		}
		b.counter(counter)
		return b.download(st, func(c *Conn, d, off int, data []byte) Action {
			if d == Down {
				c.Emit(Down, Seg{Off: off, Data: mangle(data), Csum: cs})
			}
			return Deliver
		})
	}
}

// csumOffloaded: the capture was taken on a host whose NIC computes TCP
// checksums, so the field holds the pseudo-header sum the stack leaves
// for the NIC (__tcp_v4_send_check), or 0 on some drivers; the IPv4
// header checksum is always done in software and right. The receiver got
// correct checksums from the NIC: a sensor must notice the capture is
// offloaded (Suricata's checksum-validation: auto) rather than drop every
// segment. Truth: the file whole.
func csumOffloaded(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	b.counter("csum_offload_detected")
	c := b.connFor(st, b.cap)
	c.Csum = func(n int) Csum {
		if n%5 == 4 {
			return CsumZero
		}
		return CsumPartial
	}
	c.Replay(st)
	return finish(c)
}

// windowDecoy: the client advertises a 23168-byte window (16 segments).
// Every eighth server segment is preceded by a decoy that starts exactly
// at the window's right edge (ack + window << wscale): Linux drops data
// that starts at or beyond it (tcp_data_queue: !before(seq, rcv_nxt +
// tcp_receive_window) → SKB_DROP_REASON_TCP_OVERWINDOW), and the real
// bytes for that range come later, once the window has moved. Midway the
// client stops reading: the server fills the window, the client
// acknowledges with a zero window (the right edge unchanged: Linux never
// shrinks its window), and a decoy at rcv_nxt is dropped (tcp_data_queue:
// in-sequence data with a zero receive window,
// LINUX_MIB_TCPZEROWINDOWDROP); a window update follows, then the real
// data. Truth: the file whole.
func windowDecoy(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	b.counter("tcp_out_of_window")
	down := st.Bytes(false)
	const win = 16 * 1448 // a multiple of 1448 and of 128 (the scale)
	cfg := b.connConfig(st)
	cfg.RcvWin[0] = win
	c := NewConn(b.cap, cfg)
	zeroAt := 400 * cfg.MSS
	done := map[int]bool{}
	c.OnData = func(c *Conn, d, off int, data []byte) Action {
		if d != Down {
			return Deliver
		}
		if done[off] {
			return Skip
		}
		if off == zeroAt && c.RcvNxt(Down) == off && c.RightEdge(Down) == off+win {
			for o := off; o < off+win; o += cfg.MSS { // fill the window; the client reads nothing
				c.Emit(Down, Seg{Off: o, Data: down[o : o+cfg.MSS]})
				c.Absorb(Down, o, cfg.MSS)
				done[o] = true
			}
			c.SetWindow(Up, 0)
			c.Ack(Down) // ack = right edge, window 0
			edge := off + win
			c.Emit(Down, Seg{Off: edge, Data: mangle(down[edge : edge+cfg.MSS])})
			c.Wait(200 * time.Millisecond)
			c.SetWindow(Up, win)
			c.Ack(Down) // the window update
			return Skip
		}
		if (off/cfg.MSS)%8 == 4 {
			edge := c.RightEdge(Down)
			if edge+cfg.MSS <= len(down) {
				c.Emit(Down, Seg{Off: edge, Data: mangle(down[edge : edge+cfg.MSS])})
			}
		}
		return Deliver
	}
	c.Replay(st)
	if len(done) != 16 {
		return fmt.Errorf("the zero-window episode did not happen")
	}
	return finish(c)
}

// noAckDecoy: before every server segment, a decoy with the same
// sequence number without the ACK flag. In an established connection
// Linux drops a segment without ACK (tcp_rcv_established and
// tcp_rcv_state_process: !th->ack && !th->rst && !th->syn →
// SKB_DROP_REASON_TCP_FLAGS; RFC 9293 3.10.7.4: "if the ACK bit is off,
// drop the segment"). Truth: the file whole.
func noAckDecoy(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	return b.download(st, func(c *Conn, d, off int, data []byte) Action {
		if d == Down {
			c.Emit(Down, Seg{Off: off, Data: mangle(data), Flags: PSH})
		}
		return Deliver
	})
}

// afterFinDecoy: the server closes first; after the client has
// acknowledged its FIN, the server sends a whole HTTP response with a
// decoy PE in bytes past the FIN's sequence number. The client is in
// CLOSE_WAIT, where Linux queues no data at or after rcv_nxt
// (tcp_rcv_state_process: CLOSE_WAIT, !before(seq, rcv_nxt) → not
// queued); its application has read end-of-file. Truth: the file whole
// and nothing more: the decoy is in not_files.
func afterFinDecoy(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	body := decoyFile(40 << 10)
	b.truth.NotFiles = append(b.truth.NotFiles, fileTruth("decoy.exe", body))
	c := b.connFor(st, b.cap)
	c.Handshake()
	c.Play(st.Turns)
	c.Fin(Down)
	c.Ack(Down)
	resp := httpDecoyResponse(body)
	past := c.Next(Down) + 1 // the FIN took one sequence number
	for off := 0; off < len(resp); off += 1448 {
		end := min(off+1448, len(resp))
		c.Emit(Down, Seg{Off: past + off, Data: resp[off:end]})
	}
	c.Fin(Up)
	c.Ack(Up)
	return finish(c)
}

// every50 picks a segment in fifty of the response, away from the
// header and the end.
func every50(off, mss, total int) bool {
	i := off / mss
	return i%50 == 7 && off+3*mss < total
}

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

// lateRetransmission: the first response segment (the HTTP header and
// the file's first bytes) is lost and retransmitted only after 1 MiB of
// later data; the client holds that 1 MiB out of order (a 4 MiB window),
// SACKing it. Linux delivers all of it once the hole is filled. Truth:
// the file whole.
func lateRetransmission(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	var held []byte
	return b.download(st, func(c *Conn, d, off int, data []byte) Action {
		if d != Down {
			return Deliver
		}
		if off == 0 {
			held = data
			return Skip
		}
		if held != nil && off >= 1<<20 {
			c.SendAt(Down, 0, held, false)
			held = nil
		}
		return Deliver
	})
}

// headerHoleKeepalive: on the keep-alive connection, the first segment
// of the fourth response (archive.zip: its HTTP header and the zip's
// first bytes) never reaches the capture; the client got it (its ACKs
// cover it). The sensor cannot have that file, but must say so and find
// the next response: the request that follows, and the next "HTTP/1.1"
// status line, mark where it starts. Truth: archive.zip incomplete with
// cut "gap" (bytes missing on the wire; the name is the request's), every
// other file of the connection whole.
func headerHoleKeepalive(b *builder) error {
	st, err := b.source("http_keepalive")
	if err != nil {
		return err
	}
	const victim = "archive.zip"
	at, ok := responseOffset(st, "GET /"+victim+" ")
	if !ok {
		return fmt.Errorf("http_keepalive has no request for %s", victim)
	}
	var kept []FileTruth
	for _, f := range b.truth.Files {
		if f.Name != victim {
			kept = append(kept, f)
		}
	}
	b.truth.Files = kept
	b.truth.Incomplete = []IncompleteFile{{Name: victim, Cut: "gap"}}
	return b.download(st, func(c *Conn, d, off int, data []byte) Action {
		if d == Down && off == at {
			return Unseen
		}
		return Deliver
	})
}

// responseOffset is the server stream offset of the response to the
// request that starts with prefix.
func responseOffset(st *Stream, prefix string) (int, bool) {
	off, found := 0, false
	for _, t := range st.Turns {
		if t.Up {
			found = bytes.HasPrefix(t.Data, []byte(prefix))
			continue
		}
		if found {
			return off, true
		}
		off += len(t.Data)
	}
	return 0, false
}

// urgentByte: one byte is inserted into the body on the wire, in a
// segment with URG set and the urgent pointer at that byte. Linux (like
// BSD) takes the urgent pointer as pointing one past the urgent byte
// (tcp_check_urg, tcp_stdurg off) and, unless the application set
// SO_OOBINLINE (curl does not), keeps that byte out of band: recv skips
// it (tcp_recvmsg, urg_hole). The application stream is the original
// file. Truth: the file whole (a sensor that cannot follow may instead
// flag the file; counted as tcp_urgent).
func urgentByte(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	b.counter("tcp_urgent")
	const at = 700_001 // wire offset of the urgent byte in the response
	wire := st.Clone()
	for i, t := range wire.Turns {
		if !t.Up {
			d := append(append(append([]byte(nil), t.Data[:at]...), '!'), t.Data[at:]...)
			wire.Turns[i].Data = d
			break
		}
	}
	return b.download(wire, func(c *Conn, d, off int, data []byte) Action {
		if d != Down || at < off || at >= off+len(data) {
			return Deliver
		}
		c.Emit(Down, Seg{Off: off, Data: data, Flags: ACK | PSH | URG, Urg: uint16(at - off + 1)})
		return Replaced
	})
}

// httpHeaders: responses of src carry n more header fields of about
// size bytes each, before the blank line that ends the header (every
// response when every is 0, else the every-th only). Real clients accept
// header blocks of this size: Chrome up to 256 KiB, curl 300 KiB (and
// any number of lines within), Go's Transport 10 MB. A sensor's limits
// must be at least as generous, paid from its memory budget. Truth: the
// files whole.
func httpHeaders(src string, n, size, every int) func(b *builder) error {
	return func(b *builder) error {
		st, err := b.source(src)
		if err != nil {
			return err
		}
		w := st.Clone()
		k := 0
		for i, t := range w.Turns {
			if t.Up || !bytes.HasPrefix(t.Data, []byte("HTTP/1.1 ")) {
				continue
			}
			if k++; every != 0 && k != every {
				continue
			}
			end := bytes.Index(t.Data, []byte("\r\n\r\n"))
			if end < 0 {
				return fmt.Errorf("%s: response without a whole header", src)
			}
			var extra []byte
			for j := 0; j < n; j++ {
				line := fmt.Sprintf("\r\nX-Extra-%03d: ", j)
				extra = append(extra, line...)
				extra = append(extra, bytes.Repeat([]byte{'v'}, max(size-len(line), 1))...)
			}
			d := append(append(append([]byte(nil), t.Data[:end]...), extra...), t.Data[end:]...)
			w.Turns[i].Data = d
		}
		return b.download(w, nil)
	}
}

// smtpHoleMessageStart: the session sends its mail twice (MAIL, RCPT,
// DATA, message, then the same transaction again). The capture misses
// the first transaction's MAIL FROM and DATA commands and the start of
// its message, up to past the first attachment's part header; the server
// got them all (its ACKs and 250/354 replies say so). The sensor cannot
// name or rebuild the first mail's cut attachment but must report it cut
// and find the second transaction. Truth: the second mail's two
// attachments whole; an incomplete file with cut "gap" whose name is
// unknowable ("").
func smtpHoleMessageStart(b *builder) error {
	st, err := b.source("smtp_attach")
	if err != nil {
		return err
	}
	var mail, quit int = -1, -1
	for i, t := range st.Turns {
		if t.Up && bytes.HasPrefix(t.Data, []byte("MAIL FROM:")) && mail < 0 {
			mail = i
		}
		if t.Up && bytes.HasPrefix(t.Data, []byte("QUIT")) {
			quit = i
		}
	}
	if mail < 0 || quit < mail {
		return fmt.Errorf("smtp_attach: no MAIL FROM ... QUIT")
	}
	two := &Stream{Client: st.Client, Server: st.Server}
	two.Turns = append(two.Turns, st.Turns[:quit]...)
	two.Turns = append(two.Turns, st.Turns[mail:quit]...)
	two.Turns = append(two.Turns, st.Turns[quit:]...)

	// Stream offsets of what the capture misses: the first MAIL FROM,
	// the first DATA, and the first message up to 2 KiB past its first
	// attachment's file name.
	type rng struct{ from, to int }
	var miss []rng
	off := 0
	for i, t := range two.Turns[:quit] {
		if !t.Up {
			continue
		}
		switch {
		case i == mail, bytes.Equal(t.Data, []byte("DATA\r\n")):
			miss = append(miss, rng{off, off + len(t.Data)})
		case len(t.Data) > 1<<16:
			fn := bytes.Index(t.Data, []byte("filename="))
			if fn < 0 {
				return fmt.Errorf("smtp_attach: no attachment file name in the message")
			}
			miss = append(miss, rng{off, off + fn + 2048})
		}
		off += len(t.Data)
	}
	b.truth.Incomplete = []IncompleteFile{{Name: "", Cut: "gap"}}
	return b.download(two, func(c *Conn, d, off int, data []byte) Action {
		if d != Up {
			return Deliver
		}
		for _, m := range miss {
			if off < m.to && off+len(data) > m.from {
				return Unseen
			}
		}
		return Deliver
	})
}
