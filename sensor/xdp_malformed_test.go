package sensor

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
)

func TestPrivilegedEncapsulations(t *testing.T) {
	h := newHarness(t, nil)
	ch := testutil.ClientHello(200)
	cases := []struct {
		name string
		p    testutil.Pkt
		want int
	}{
		{"vlan", testutil.Pkt{Sport: 1, Dport: 443, VLANs: []uint16{100}}, 1},
		{"qinq", testutil.Pkt{Sport: 2, Dport: 443, VLANs: []uint16{200, 300}}, 1},
		{"three tags", testutil.Pkt{Sport: 3, Dport: 443, VLANs: []uint16{1, 2, 3}}, 1},
		{"four tags", testutil.Pkt{Sport: 13, Dport: 443, VLANs: []uint16{1, 2, 3, 4}}, 1},
		{"five tags", testutil.Pkt{Sport: 14, Dport: 443, VLANs: []uint16{1, 2, 3, 4, 5}}, 0},
		{"ipv4 options", testutil.Pkt{Sport: 4, Dport: 443, IPv4Options: true}, 1},
		{"ipv6", testutil.Pkt{V6: true, Sport: 5, Dport: 443}, 1},
		{"ipv6 hbh+dst+routing", testutil.Pkt{V6: true, Sport: 6, Dport: 443, V6Ext: []byte{0, 60, 43}}, 1},
		{"ipv6 ah", testutil.Pkt{V6: true, Sport: 7, Dport: 443, V6Ext: []byte{51}}, 1},
		{"ipv6 atomic fragment", testutil.Pkt{V6: true, Sport: 8, Dport: 443, V6Ext: []byte{44}}, 1},
		{"ipv6 first fragment", testutil.Pkt{V6: true, Sport: 9, Dport: 443, V6Ext: []byte{44}, MoreFrags: true}, 1},
		{"ipv6 nine extensions", testutil.Pkt{V6: true, Sport: 10, Dport: 443, V6Ext: []byte{0, 60, 60, 60, 60, 60, 60, 60, 60}}, 1},
		{"ipv6 32 extensions", testutil.Pkt{V6: true, Sport: 15, Dport: 443, V6Ext: append([]byte{0}, bytes.Repeat([]byte{60}, 31)...)}, 1},
		{"ipv6 33 extensions", testutil.Pkt{V6: true, Sport: 16, Dport: 443, V6Ext: append([]byte{0}, bytes.Repeat([]byte{60}, 32)...)}, 0},
		{"ipv4 fragment", testutil.Pkt{Sport: 11, Dport: 443, MoreFrags: true}, 1},
		{"vlan ipv6 ext", testutil.Pkt{V6: true, Sport: 12, Dport: 443, VLANs: []uint16{4094}, V6Ext: []byte{0}}, 1},
	}
	for _, tc := range cases {
		evs := h.run(tc.p.With(1, "PA", ch).Frame())
		if len(evs) != tc.want {
			t.Errorf("%s: %d events, want %d", tc.name, len(evs), tc.want)
			continue
		}
		if tc.want == 1 && evs[0].Class == datapath.ClassFrag {
			if !tc.p.MoreFrags {
				t.Errorf("%s: a whole packet emitted as a fragment", tc.name)
			}
			continue
		}
		if tc.want == 1 {
			e := evs[0]
			if !bytes.Equal(e.Payload, ch) {
				t.Errorf("%s: payload offset wrong", tc.name)
			}
			if len(tc.p.VLANs) > 0 && e.VLAN[0] != tc.p.VLANs[0] {
				t.Errorf("%s: vlan %v", tc.name, e.VLAN)
			}
			src, _ := tc.p.Endpoints()
			if e.Src != src {
				t.Errorf("%s: source %v, want %v", tc.name, e.Src, src)
			}
		}
	}
	cs := h.counters()
	if cs[sensorCounter("vlan_depth")] != 1 || cs[sensorCounter("ipv6_ext_depth")] != 1 || cs.Get(bpf.CounterFragments) != 2 ||
		cs[sensorCounter("frag_events")] != 2 {
		t.Errorf("vlan_depth=%d ipv6_ext_depth=%d fragments=%d", cs[sensorCounter("vlan_depth")],
			cs[sensorCounter("ipv6_ext_depth")], cs.Get(bpf.CounterFragments))
	}
}

// Every prefix of valid packets and random garbage: always XDP_PASS,
// counted, and any event emitted decodes with its payload inside.
func TestPrivilegedTruncatedAndGarbage(t *testing.T) {
	h := newHarness(t, nil)
	full := [][]byte{
		client.With(1, "PA", testutil.ClientHello(200)).Frame(),
		testutil.Pkt{V6: true, Sport: 9, Dport: 443, V6Ext: []byte{0, 43}, VLANs: []uint16{5, 6}}.With(1, "PA", testutil.ClientHello(50)).Frame(),
		testutil.Pkt{UDP: true, Sport: 50000, Dport: 443}.With(0, "", testutil.QUICInitial(1)).Frame(),
		web.With(1, "PA", []byte("GET / HTTP/1.1\r\n\r\n")).Frame(),
	}
	for _, f := range full {
		for n := 14; n < len(f); n++ {
			for _, e := range h.run(f[:n]) {
				if len(e.Payload) > e.PayloadLen || e.Complete() && n < len(f) && e.Flags&datapath.FlagTruncated == 0 {
					t.Fatalf("cut at %d: payload %d/%d flags %v", n, len(e.Payload), e.PayloadLen, e.Flags)
				}
			}
		}
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 3000; i++ {
		b := make([]byte, 14+rng.Intn(300))
		rng.Read(b)
		if i%3 == 0 && len(b) > 14 { // make the garbage look like IP more often
			b[12], b[13] = 0x08, 0x00
			b[14] = 0x45
		}
		h.run(b)
	}
	cs := h.counters()
	if cs.Get(bpf.CounterTruncated) == 0 || cs.Get(bpf.CounterParseErrors) == 0 {
		t.Errorf("truncated=%d parse_errors=%d: malformed input not counted", cs.Get(bpf.CounterTruncated), cs.Get(bpf.CounterParseErrors))
	}
}

func TestPrivilegedMalformedHeaders(t *testing.T) {
	h := newHarness(t, nil)
	f := client.With(1, "PA", testutil.ClientHello(50)).Frame()
	bad := func(mut func([]byte)) []byte { b := append([]byte(nil), f...); mut(b); return b }
	frames := [][]byte{
		bad(func(b []byte) { b[14] = 0x44 }),                            // IHL 4
		bad(func(b []byte) { b[16], b[17] = 0, 10 }),                    // total length < IHL
		bad(func(b []byte) { b[14+20+12] = 0x40 }),                      // TCP data offset 4
		bad(func(b []byte) { b[14+20+12], b[16], b[17] = 0xf0, 0, 50 }), // data offset beyond the segment
		bad(func(b []byte) { b[14] = 0x65 }),                            // version 6 in an IPv4 frame
	}
	udp := testutil.Pkt{UDP: true, Sport: 1, Dport: 443, Payload: testutil.QUICInitial(1)[:40]}.Frame()
	udp[16], udp[17] = 0, 24 // IP total length shorter than the UDP header
	frames = append(frames, udp)
	for i, fr := range frames {
		if evs := h.run(fr); len(evs) != 0 {
			t.Errorf("malformed frame %d emitted", i)
		}
	}
	if got := h.counters().Get(bpf.CounterParseErrors); got != uint64(len(frames)) {
		t.Errorf("parse_errors %d, want %d", got, len(frames))
	}
}

// A full ring drops events, counts them per class and marks the flow, and
// the next event that gets through says so.
func TestPrivilegedRingFullIsCountedAndFlagged(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Capture.StreamRing = 4096 })
	s := web.Reply(0, 0, "", nil)
	f := s.With(1, "A", make([]byte, 1400))
	for i := 0; i < 5; i++ {
		f.Seq = uint32(1 + i*1400)
		if _, err := h.objs.Program.Run(&ebpf.RunOptions{Data: f.Frame()}); err != nil {
			t.Fatal(err)
		}
	}
	cs := h.counters()
	if cs.Get(bpf.CounterStreamDrops) == 0 {
		t.Fatal("no drops counted with a 4 KiB ring and 7 KiB of events")
	}
	kept := h.drain()
	if uint64(len(kept))+cs.Get(bpf.CounterStreamDrops) != 5 {
		t.Errorf("%d kept + %d dropped != 5", len(kept), cs.Get(bpf.CounterStreamDrops))
	}
	evs := h.run(s.With(9000, "A", make([]byte, 100)).Frame())
	if len(evs) != 1 || evs[0].Flags&datapath.FlagLost == 0 || evs[0].Lost == 0 {
		t.Fatalf("event after drops: %+v", evs)
	}
	// The flow hurt is counted once, however many of its records went.
	if n := h.counters().Get(bpf.CounterFlowsLostStream); n != 1 {
		t.Errorf("flows_lost_stream %d after one flow's drops, want 1", n)
	}
	other := f
	other.Dport++ // another client port: another flow
	for i := 0; i < 5; i++ {
		other.Seq = uint32(1 + i*1400)
		h.objs.Program.Run(&ebpf.RunOptions{Data: other.Frame()})
	}
	h.drain()
	if n := h.counters().Get(bpf.CounterFlowsLostStream); n != 2 {
		t.Errorf("flows_lost_stream %d after a second flow's drops, want 2", n)
	}
}

// FlowKeyOf must build the kernel's keys exactly: verdicts depend on it.
func TestPrivilegedFlowKeyMatchesKernel(t *testing.T) {
	h := newHarness(t, nil)
	pkts := []testutil.Pkt{
		{Src: "10.0.0.9", Dst: "10.0.0.1", Sport: 80, Dport: 33000},
		{Src: "192.168.1.1", Dst: "10.0.0.1", Sport: 1234, Dport: 80},
		{Src: "10.0.0.1", Dst: "10.0.0.1", Sport: 8080, Dport: 80},
		{V6: true, Src: "2001:db8::1", Dst: "2001:db8::ff", Sport: 80, Dport: 2},
		{V6: true, Src: "fe80::2", Dst: "2001:db8::1", Sport: 143, Dport: 9999},
	}
	for _, p := range pkts {
		h.run(p.With(1, "PA", []byte("x")).Frame())
		if _, ok := h.flow(p); !ok {
			t.Errorf("%v -> %v: FlowKeyOf gives a key the kernel does not have", p.Src, p.Dst)
		}
		if _, ok := h.flow(p.Reply(0, 0, "", nil)); !ok {
			t.Errorf("%v -> %v: reverse key differs", p.Src, p.Dst)
		}
	}
}

// A handshake's lost record counts against it (flows_lost_tls, and the lost
// flag of its next event) only when it could hold plaintext handshake
// bytes: the encrypted tail past a direction's first application_data
// record is never read, and losing it hurts nothing.
func TestPrivilegedHandshakeLossCountsWhatTheAnalysisReads(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Capture.HandshakeRing = 4096 })
	overflow := func(frames ...[]byte) {
		t.Helper()
		for _, fr := range frames {
			if _, err := h.objs.Program.Run(&ebpf.RunOptions{Data: fr}); err != nil {
				t.Fatal(err)
			}
		}
		h.drain()
	}

	// TLS 1.3: the hellos are read; the server's encrypted flight, in
	// five full segments, overflows the ring.
	c := client
	s := c.Reply(0, 0, "", nil)
	ch := testutil.ClientHello(300)
	sh := append(testutil.ServerHello(90), testutil.TLSRecord(20, []byte{1})...)
	sh = append(sh, testutil.AppData(200)...)
	if evs := h.runAll(c.With(1001, "PA", ch).Frame(), s.With(5001, "PA", sh).Frame()); len(evs) != 2 {
		t.Fatalf("%d events for the hellos, want 2", len(evs))
	}
	var tail [][]byte
	seq := uint32(5001 + len(sh))
	for i := 0; i < 5; i++ {
		tail = append(tail, s.With(seq, "A", testutil.AppData(1400)).Frame())
		seq += 1405
	}
	overflow(tail...)
	cs := h.counters()
	if cs.Get(bpf.CounterTLSDrops) == 0 {
		t.Fatal("no handshake records dropped with a 4 KiB ring and 7 KiB of records")
	}
	if n := cs.Get(bpf.CounterFlowsLostTLS); n != 0 {
		t.Errorf("flows_lost_tls %d after losing only the encrypted tail, want 0", n)
	}
	cfin := append(testutil.TLSRecord(20, []byte{1}), testutil.AppData(53)...)
	evs := h.run(c.With(1001+uint32(len(ch)), "PA", cfin).Frame())
	if len(evs) != 1 || evs[0].Flags&datapath.FlagLost != 0 || evs[0].Lost == 0 {
		t.Fatalf("event after the tail's loss: %+v (want no lost flag, a lost count)", evs)
	}

	// TLS 1.2: the server's certificate, in four segments, overflows the
	// ring: the handshake lost what the analysis reads.
	c2 := client
	c2.Sport++
	s2 := c2.Reply(0, 0, "", nil)
	if evs := h.run(c2.With(1001, "PA", ch).Frame()); len(evs) != 1 {
		t.Fatalf("%d events for the second ClientHello, want 1", len(evs))
	}
	flight := testutil.ServerHello(80)
	flight = append(flight, testutil.TLSRecord(22, testutil.Handshake(11, 5000))...)
	flight = append(flight, testutil.TLSRecord(22, testutil.Handshake(14, 0))...)
	var pieces [][]byte
	for off := 0; off < len(flight); off += 1448 {
		pieces = append(pieces, s2.With(uint32(9001+off), "A", flight[off:min(off+1448, len(flight))]).Frame())
	}
	drops := h.counters().Get(bpf.CounterTLSDrops)
	overflow(pieces...)
	if h.counters().Get(bpf.CounterTLSDrops) == drops {
		t.Fatal("no certificate segment dropped")
	}
	if n := h.counters().Get(bpf.CounterFlowsLostTLS); n != 1 {
		t.Errorf("flows_lost_tls %d after losing a certificate segment, want 1", n)
	}
	cke := testutil.TLSRecord(22, testutil.Handshake(16, 70))
	evs = h.run(c2.With(1001+uint32(len(ch)), "PA", cke).Frame())
	if len(evs) != 1 || evs[0].Flags&datapath.FlagLost == 0 {
		t.Fatalf("event after the certificate's loss: %+v (want the lost flag)", evs)
	}

	// TLS 1.3, the ServerHello and ChangeCipherSpec alone in a segment:
	// the next starts with the first encrypted record, and it and those
	// after it (sealed, and marked so for userspace, which may never see
	// that record's header) are lost without hurting the analysis.
	c3 := client
	c3.Sport += 2
	s3 := c3.Reply(0, 0, "", nil)
	shc := append(testutil.ServerHello(90), testutil.TLSRecord(20, []byte{1})...)
	if evs := h.runAll(c3.With(1001, "PA", ch).Frame(), s3.With(5001, "PA", shc).Frame()); len(evs) != 2 || evs[1].State&datapath.StateSealed != 0 {
		t.Fatalf("hellos: %d events (want 2, the ServerHello's not sealed)", len(evs))
	}
	// Two other flows' hellos fill most of the ring first, so the
	// segment with the first encrypted record is among those lost.
	var frames [][]byte
	for i := uint16(3); i < 5; i++ {
		o := client
		o.Sport += i
		frames = append(frames, o.With(1001, "PA", testutil.ClientHello(1300)).Frame())
	}
	seq = uint32(5001 + len(shc))
	for i := 0; i < 3; i++ {
		frames = append(frames, s3.With(seq, "A", testutil.AppData(1400)).Frame())
		seq += 1405
	}
	drops = h.counters().Get(bpf.CounterTLSDrops)
	overflow(frames...)
	if d := h.counters().Get(bpf.CounterTLSDrops) - drops; d < 3 {
		t.Fatalf("%d records dropped, want the encrypted flight's 3", d)
	}
	if n := h.counters().Get(bpf.CounterFlowsLostTLS); n != 1 {
		t.Errorf("flows_lost_tls %d after losing a flight from its first encrypted record on, want 1 (the certificate's flow)", n)
	}
	evs = h.run(s3.With(seq, "A", testutil.AppData(100)).Frame())
	if len(evs) != 1 || evs[0].State&datapath.StateSealed == 0 || evs[0].Flags&datapath.FlagLost != 0 {
		t.Fatalf("event after the encrypted flight's loss: %+v (want sealed, no lost flag)", evs)
	}
}
