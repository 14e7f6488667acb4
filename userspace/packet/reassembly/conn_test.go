package reassembly

import (
	"encoding/binary"
	"testing"
	"time"
)

// A scripted connection: client ISN 1000, server ISN 5000, both with
// window scaling 2 unless a case says otherwise.
const (
	cISN = 1000
	sISN = 5000
)

type cseg struct {
	client bool
	Seg
}

func cl(seq uint32, flags uint8, data string) cseg {
	return cseg{true, Seg{Seq: seq, Ack: sISN + 1, Flags: flags, Window: 1000, WScale: -1, Payload: []byte(data)}}
}

func sv(seq uint32, flags uint8, data string) cseg {
	return cseg{false, Seg{Seq: seq, Ack: cISN + 1, Flags: flags, Window: 1000, WScale: -1, Payload: []byte(data)}}
}

func (g cseg) ack(a uint32) cseg    { g.Ack = a; return g }
func (g cseg) win(w uint16) cseg    { g.Window = w; return g }
func (g cseg) scale(s int8) cseg    { g.WScale = s; return g }
func (g cseg) bad() cseg            { g.Bad = true; return g }
func (g cseg) urgent(p uint16) cseg { g.Urgent = p; g.Flags |= FlagURG; return g }
func (g cseg) flags(f uint8) cseg   { g.Flags = f; return g }
func handshake(scale int8) []cseg {
	return []cseg{
		cl(cISN, FlagSYN, "").scale(scale),
		sv(sISN, FlagSYN|FlagACK, "").scale(scale),
		cl(cISN+1, FlagACK, ""),
	}
}

const A = FlagACK

type connRun struct {
	c       Conn
	st      Stats
	cst     ConnStats
	k       [2]*sink
	results []Result
}

func runConn(t *testing.T, segs []cseg) *connRun {
	t.Helper()
	r := &connRun{}
	r.c.Init(&Config{Policy: PolicyLinux}, &r.st, &r.cst, nil)
	r.k = [2]*sink{{t: t}, {t: t}}
	for _, g := range segs {
		g := g
		r.results = append(r.results, r.c.Segment(g.client, &g.Seg, [2]Consumer{r.k[0], r.k[1]}))
	}
	return r
}

func TestConnRules(t *testing.T) {
	body := "HTTP/1.1 200 OK\r\n\r\nbody"
	hs := handshake(2)
	tests := []struct {
		name   string
		segs   []cseg
		client string
		server string
		check  func(t *testing.T, r *connRun)
	}{
		{name: "plain", segs: append(hs, cl(cISN+1, A, "GET /"), sv(sISN+1, A, body)),
			client: "GET /", server: body},
		{name: "bad checksum decoy first",
			segs:   append(hs, cl(cISN+1, A, "GET /"), sv(sISN+1, A, "HTTP/1.1 404 XX\r\n\r\nxxxx").bad(), sv(sISN+1, A, body)),
			client: "GET /", server: body,
			check: func(t *testing.T, r *connRun) { eq(t, "bad checksum", r.cst.BadChecksum, 1) }},
		{name: "data without ACK is not stream data",
			segs:   append(hs, cl(cISN+1, A, "GET /"), sv(sISN+1, 0, "DECOY DECOY DECOY DECOY DE"), sv(sISN+1, A, body)),
			client: "GET /", server: body,
			check: func(t *testing.T, r *connRun) { eq(t, "no ack", r.cst.NoACK, 1) }},
		{name: "data beyond the advertised window",
			// The client advertises 10 << 2 = 40 bytes from its ACK.
			segs: append(handshake(2)[:2], cl(cISN+1, A, "").win(10), cl(cISN+1, A, "GET /").win(10),
				sv(sISN+1+40, A, "beyond"), sv(sISN+1, A, body)),
			client: "GET /", server: body,
			check: func(t *testing.T, r *connRun) {
				eq(t, "out of window", r.cst.OutOfWindow, 1)
				eq(t, "server held", r.c.S[1].Buffered(), 0)
			}},
		{name: "zero window: data at the next byte is dropped",
			// 2 << 2 = 8 bytes of window, all used: the window is zero.
			segs: append(handshake(2)[:2], cl(cISN+1, A, "").win(2), cl(cISN+1, A, "GET /").win(2),
				sv(sISN+1, A, "HTTP/1.1"), cl(cISN+6, A, "").ack(sISN+9).win(0), sv(sISN+9, A, "DECOY!"),
				cl(cISN+6, A, "").ack(sISN+9).win(100), sv(sISN+9, A, " 200 OK\r\n\r\nbody")),
			client: "GET /", server: body,
			check: func(t *testing.T, r *connRun) { eq(t, "out of window", r.cst.OutOfWindow, 1) }},
		{name: "window without scaling when one SYN lacks it",
			segs: []cseg{cl(cISN, FlagSYN, "").scale(7), sv(sISN, FlagSYN|FlagACK, ""), cl(cISN+1, A, "GET /").win(10),
				sv(sISN+11, A, "beyond"), sv(sISN+1, A, "0123456789ABCDE")},
			client: "GET /", server: "0123456789ABCDE",
			check: func(t *testing.T, r *connRun) { eq(t, "out of window", r.cst.OutOfWindow, 1) }},
		{name: "RST off the next sequence number is ignored",
			segs: append(hs, cl(cISN+1, A, "GET /"), sv(sISN+1, A, "HTTP/1.1"), sv(sISN+3, FlagRST|A, ""),
				cl(cISN+100, FlagRST, ""), sv(sISN+9, A, " 200 OK\r\n\r\nbody")),
			client: "GET /", server: body,
			check: func(t *testing.T, r *connRun) {
				eq(t, "bad rst", r.cst.BadRST, 2)
				eq(t, "over", r.c.Over(), false)
			}},
		{name: "RST at the next sequence number",
			segs:   append(hs, cl(cISN+1, A, "GET /"), sv(sISN+1, A, "HTTP"), sv(sISN+5, FlagRST, "")),
			client: "GET /", server: "HTTP",
			check: func(t *testing.T, r *connRun) {
				eq(t, "result", r.results[len(r.results)-1], Reset)
				eq(t, "over", r.c.Over(), true)
			}},
		{name: "mid-stream SYN with a new ISN, unanswered",
			segs: append(hs, cl(cISN+1, A, "GET /"), sv(sISN+1, A, "HTTP/1.1"), cl(9999999, FlagSYN, ""),
				sv(sISN+9, A, " 200 OK\r\n\r\nbody")),
			client: "GET /", server: body,
			check: func(t *testing.T, r *connRun) {
				eq(t, "syn ignored", r.cst.SYNIgnored, 1)
				eq(t, "result", r.results[5], Dropped)
			}},
		{name: "mid-stream SYN confirmed by its SYN-ACK",
			segs: append(hs, cl(cISN+1, A, "GET /"), cl(9999999, FlagSYN, ""),
				sv(7777777, FlagSYN|FlagACK, "").ack(10000000)),
			client: "GET /",
			check: func(t *testing.T, r *connRun) {
				eq(t, "result", r.results[len(r.results)-1], NewConnection)
				if p := r.c.Pending(); p == nil || p.Seq != 9999999 {
					t.Errorf("pending %+v", p)
				}
			}},
		{name: "SYN after the connection is over",
			segs:   append(hs, cl(cISN+1, A|FlagFIN, "GET /"), sv(sISN+1, A|FlagFIN, body), cl(9999999, FlagSYN, "")),
			client: "GET /", server: body,
			check: func(t *testing.T, r *connRun) { eq(t, "result", r.results[len(r.results)-1], NewConnection) }},
		{name: "ACK for data never sent declares no gap",
			segs: append(hs, cl(cISN+1, A, "GET /"), sv(sISN+1, A, "HTTP/1.1"), cl(cISN+6, A, "").ack(sISN+100000),
				sv(sISN+9, A, " 200 OK\r\n\r\nbody")),
			client: "GET /", server: body,
			check: func(t *testing.T, r *connRun) {
				eq(t, "ack beyond", r.cst.AckBeyond, 1)
				eq(t, "gaps", r.st.Gaps, 0)
			}},
		{name: "ACK over a hole the server was seen to fill",
			segs: append(hs, cl(cISN+1, A, "GET /"), sv(sISN+1, A, "HTTP"), sv(sISN+9, A, " 200"),
				cl(cISN+6, A, "").ack(sISN+13)),
			client: "GET /", server: "HTTP[4] 200",
			check: func(t *testing.T, r *connRun) { eq(t, "ack gaps", r.st.AckGaps, 1) }},
		{name: "Fast Open data not acknowledged: the retransmission counts",
			segs: []cseg{cl(cISN, FlagSYN, "DECOY").scale(2), sv(sISN, FlagSYN|FlagACK, "").scale(2),
				cl(cISN+1, A, "GET /")},
			client: "GET /",
			check:  func(t *testing.T, r *connRun) { eq(t, "tfo dropped", r.cst.TFODropped, 1) }},
		{name: "Fast Open data acknowledged",
			segs: []cseg{cl(cISN, FlagSYN, "GET /").scale(2), sv(sISN, FlagSYN|FlagACK, "").scale(2).ack(cISN + 6),
				cl(cISN+6, A, " HTTP/1.1")},
			client: "GET / HTTP/1.1",
			check:  func(t *testing.T, r *connRun) { eq(t, "tfo accepted", r.cst.TFOAccepted, 1) }},
		{name: "Fast Open without a SYN-ACK seen: the next data decides",
			segs:   []cseg{cl(cISN, FlagSYN, "GET /").scale(2), cl(cISN+6, A, " HTTP/1.1")},
			client: "GET / HTTP/1.1"},
		{name: "SYN-ACK acknowledging no SYN seen",
			segs:   []cseg{cl(cISN, FlagSYN, "").scale(2), sv(sISN, FlagSYN|FlagACK, "").ack(123), sv(sISN, FlagSYN|FlagACK, "").scale(2)},
			client: "",
			check:  func(t *testing.T, r *connRun) { eq(t, "bad syn-ack", r.cst.BadSYNACK, 1) }},
		{name: "urgent byte out of band",
			segs:   append(hs, cl(cISN+1, A, "GET X/").urgent(5), sv(sISN+1, A, body)),
			client: "GET /", server: body,
			check: func(t *testing.T, r *connRun) { eq(t, "urgent", r.st.UrgentBytes, 1) }},
		{name: "picked up mid-way: no window known, no ACK needed for the start",
			segs:   []cseg{sv(sISN+100, A, "abc"), cl(cISN+50, A, "").ack(sISN + 103).win(1), sv(sISN+103, A, "def")},
			server: "abcdef",
			check:  func(t *testing.T, r *connRun) { eq(t, "out of window", r.cst.OutOfWindow, 0) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runConn(t, tc.segs)
			r.c.S[0].Flush(r.k[0])
			r.c.S[1].Flush(r.k[1])
			if got := r.k[0].String(); got != tc.client {
				t.Errorf("client stream %q, want %q", got, tc.client)
			}
			if got := r.k[1].String(); got != tc.server {
				t.Errorf("server stream %q, want %q", got, tc.server)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// FuzzConn drives a Conn with arbitrary segments of both directions: no
// panic, delivery contiguous per direction, memory returned on Reset.
func FuzzConn(f *testing.F) {
	f.Add([]byte("\x02\x00\x00\x00\x00\x07\x12\x00\x01\x00\x00\x07\x10\x00\x01\x00\x01\x05GET /"))
	f.Add([]byte("\x02\x00\x00\x00\x00\x02\x04\x00\x03\x00\x01\x00\x10\x01\x05\x00\x09\x00\x10\x00\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var c Conn
		var st Stats
		var cst ConnStats
		b := &Budget{Max: 1 << 16}
		c.Init(&Config{Policy: Policy(len(in) % 3), MaxSegments: 8, MaxBuffered: 4096}, &st, &cst, b)
		k := [2]*sink{{t: t, s: &c.S[0]}, {t: t, s: &c.S[1]}}
		for n := 0; len(in) >= 6 && n < 200; n++ {
			flags, dir := in[0], in[1]&1
			seq := uint32(binary.BigEndian.Uint16(in[2:])) * 7
			ack := uint32(binary.BigEndian.Uint16(in[4:])) * 7
			ln := int(in[1] >> 1)
			in = in[6:]
			ln = min(ln, len(in))
			g := Seg{Seq: seq, Ack: ack, Flags: flags, Window: uint16(ack), WScale: int8(flags%16) - 1,
				Urgent: uint16(seq % 5), Payload: in[:ln], Bad: flags == 0xff}
			in = in[ln:]
			c.Segment(dir == 0, &g, [2]Consumer{k[0], k[1]})
			if b.Used() != c.Memory() {
				t.Fatalf("budget %d, conn holds %d", b.Used(), c.Memory())
			}
		}
		c.Reset()
		if b.Used() != 0 {
			t.Fatalf("after Reset the budget holds %d", b.Used())
		}
	})
}

// TestConnAckGrace: an ACK over a hole the sensor has not seen filled
// waits out the grace: bytes arriving after it (reassembled fragments
// reach the sensor after the ACKs that followed them) fill the hole; a
// hole older than the grace at the next segment, or at Settle, is lost.
func TestConnAckGrace(t *testing.T) {
	const ms = int64(1e6)
	at := func(g cseg, t int64) cseg { g.Time = t * ms; return g }
	hs := handshake(2)
	for _, tc := range []struct {
		name   string
		segs   []cseg
		settle bool
		server string
		late   uint64
	}{
		{name: "filled within the grace",
			segs: append(hs, at(sv(sISN+1, A, "HTTP"), 1), at(sv(sISN+9, A, " 200"), 2),
				at(cl(cISN+1, A, "").ack(sISN+13), 3), at(cl(cISN+1, A, "").ack(sISN+13), 50),
				at(sv(sISN+5, A, "/1.1"), 60)),
			server: "HTTP/1.1 200"},
		{name: "hole outlives the grace",
			segs: append(hs, at(sv(sISN+1, A, "HTTP"), 1), at(sv(sISN+9, A, " 200"), 2),
				at(cl(cISN+1, A, "").ack(sISN+13), 3), at(cl(cISN+1, A, "").ack(sISN+13), 200),
				at(sv(sISN+5, A, "/1.1"), 210)),
			server: "HTTP[4] 200", late: 4},
		{name: "settled at the end",
			segs: append(hs, at(sv(sISN+1, A, "HTTP"), 1), at(sv(sISN+9, A, " 200"), 2),
				at(cl(cISN+1, A, "").ack(sISN+13), 3)),
			settle: true, server: "HTTP[4] 200"},
		{name: "no time: at once",
			segs: append(hs, sv(sISN+1, A, "HTTP"), sv(sISN+9, A, " 200"),
				cl(cISN+1, A, "").ack(sISN+13), sv(sISN+5, A, "/1.1")),
			server: "HTTP[4] 200", late: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &connRun{}
			r.c.Init(&Config{Policy: PolicyLinux, AckGrace: 100 * time.Millisecond}, &r.st, &r.cst, nil)
			r.k = [2]*sink{{t: t}, {t: t}}
			cons := [2]Consumer{r.k[0], r.k[1]}
			for _, g := range tc.segs {
				r.c.Segment(g.client, &g.Seg, cons)
			}
			if tc.settle {
				r.c.Settle(cons)
			}
			if got := r.k[1].String(); got != tc.server {
				t.Errorf("server stream %q, want %q", got, tc.server)
			}
			eq(t, "late bytes", r.st.LateBytes, tc.late)
		})
	}
}
