package craft

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
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
		tcpCase("overlap_linux_fin_replaced", "an out-of-order short decoy with a FIN, then a longer real segment with the same start, then the hole", finReplacedByLonger),
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
