package sensor

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/packet/decap"
)

// The Go-side constants must equal the C enums.
func TestClassAndFlagValuesMatchBPF(t *testing.T) {
	pairs := []struct {
		name      string
		got, want uint8
	}{
		{"tls", uint8(datapath.ClassTLS), bpf.ClassTLS},
		{"quic", uint8(datapath.ClassQUIC), bpf.ClassQUIC},
		{"stream", uint8(datapath.ClassStream), bpf.ClassStream},
		{"from_client", uint8(datapath.FlagFromClient), bpf.FlagFromClient},
		{"lost", uint8(datapath.FlagLost), bpf.FlagLost},
		{"snap_cut", uint8(datapath.FlagSnapCut), bpf.FlagSnapCut},
		{"flow_new", uint8(datapath.FlagFlowNew), bpf.FlagFlowNew},
		{"budget", uint8(datapath.FlagBudget), bpf.FlagBudget},
		{"hs_done", uint8(datapath.FlagHSDone), bpf.FlagHSDone},
		{"truncated", uint8(datapath.FlagTruncated), bpf.FlagTruncated},
	}
	for _, p := range pairs {
		if p.got != p.want {
			t.Errorf("%s: Go %d, BPF %d", p.name, p.got, p.want)
		}
	}
	names, err := bpf.CounterNames()
	if err != nil {
		t.Fatal(err)
	}
	if names[bpf.CounterTLSEvents] != "tls_events" || names[bpf.CounterStreamDrops] != "stream_drops" {
		t.Errorf("counter names from BTF are off: %v", names)
	}
}

var (
	client = testutil.Pkt{Sport: 40000, Dport: 443}
	web    = testutil.Pkt{Sport: 40001, Dport: 80}
)

func classes(evs []datapath.Event) map[datapath.Class]int {
	m := map[datapath.Class]int{}
	for _, e := range evs {
		m[e.Class]++
	}
	return m
}

func TestPrivilegedNonCandidatesNotEmitted(t *testing.T) {
	h := newHarness(t, nil)
	frames := [][]byte{
		testutil.Pkt{Sport: 5555, Dport: 6666, Flags: "S"}.Frame(),
		testutil.Pkt{Sport: 5555, Dport: 6666, Flags: "PA", Payload: []byte("hello, not TLS")}.Frame(),
		testutil.Pkt{Sport: 5555, Dport: 443, Flags: "PA", Payload: bytes.Repeat([]byte{0x17, 3, 3, 0, 10}, 20)}.Frame(),
		testutil.Pkt{UDP: true, Sport: 5353, Dport: 53, Payload: []byte("\x12\x34\x01\x00\x00\x01")}.Frame(),
		testutil.Pkt{UDP: true, Sport: 5000, Dport: 443, Payload: append([]byte{0x40}, make([]byte, 40)...)}.Frame(), // QUIC short header
	}
	if evs := h.runAll(frames...); len(evs) != 0 {
		t.Fatalf("non-candidates emitted %d events: %+v", len(evs), evs)
	}
	c := h.counters()
	if c.Get(bpf.CounterPackets) != uint64(len(frames)) {
		t.Errorf("packets counter %d, want %d", c.Get(bpf.CounterPackets), len(frames))
	}
	var want uint64
	for _, f := range frames {
		want += uint64(len(f))
	}
	if c.Get(bpf.CounterBytes) != want {
		t.Errorf("bytes counter %d, want %d", c.Get(bpf.CounterBytes), want)
	}
	if c.Get(bpf.CounterFlows) != 0 {
		t.Errorf("%d flows created for non-candidates", c.Get(bpf.CounterFlows))
	}
}

// A TLS 1.3-shaped exchange: every handshake packet emitted in both
// directions, nothing after application data was seen both ways.
func TestPrivilegedTLSHandshakeThenSilence(t *testing.T) {
	h := newHarness(t, nil)
	c, s := client, client.Reply(0, 0, "", nil)
	ch := testutil.ClientHello(500)
	sh := append(testutil.ServerHello(90), testutil.TLSRecord(20, []byte{1})...)
	sh = append(sh, testutil.AppData(1200)...) // EncryptedExtensions..Finished
	cfin := append(testutil.TLSRecord(20, []byte{1}), testutil.AppData(53)...)

	evs := h.runAll(
		c.With(1000, "S", nil).Frame(),
		s.With(5000, "SA", nil).Frame(),
		c.With(1001, "A", nil).Frame(),
		c.With(1001, "PA", ch).Frame(),
		s.With(5001, "A", nil).Frame(),
		s.With(5001, "PA", sh).Frame(),
		c.With(1001+uint32(len(ch)), "PA", cfin).Frame(),
	)
	if len(evs) != 3 {
		t.Fatalf("got %d events, want ClientHello, server flight, client Finished", len(evs))
	}
	for i, want := range []bool{true, false, true} {
		if evs[i].Class != datapath.ClassTLS || evs[i].FromClient() != want {
			t.Errorf("event %d: class %v from_client %v", i, evs[i].Class, evs[i].FromClient())
		}
	}
	if evs[0].Flags&datapath.FlagFlowNew == 0 || evs[2].Flags&datapath.FlagHSDone == 0 {
		t.Errorf("flags: first %v last %v", evs[0].Flags, evs[2].Flags)
	}
	if !bytes.Equal(evs[0].Payload, ch) || !evs[0].Complete() {
		t.Errorf("ClientHello payload not carried whole")
	}
	if evs[0].Client() != netip.MustParseAddrPort("10.0.0.1:40000") || evs[1].Client() != evs[0].Client() {
		t.Errorf("client endpoint wrong: %v / %v", evs[0].Client(), evs[1].Client())
	}

	// Bulk application data afterwards: nothing.
	seq := uint32(5001 + len(sh))
	for i := 0; i < 50; i++ {
		if e := h.run(s.With(seq, "A", testutil.AppData(1400)).Frame()); len(e) != 0 {
			t.Fatalf("application data %d after the handshake was emitted", i)
		}
		seq += 1405
	}
	if e := h.run(c.With(1001+uint32(len(ch)+len(cfin)), "FA", nil).Frame()); len(e) != 0 {
		t.Errorf("FIN after the handshake emitted")
	}
	f, ok := h.flow(c)
	if !ok || f.TlsState != bpf.TLSDone {
		t.Errorf("flow state %d (found %v), want TLS_DONE", f.TlsState, ok)
	}
	if got := h.counters().Get(bpf.CounterTLSDone); got != 1 {
		t.Errorf("tls_done counter %d", got)
	}
}

// A ClientHello with a post-quantum key share spans two segments; the
// TLS 1.2 server flight spans three. All of it arrives.
func TestPrivilegedMultiSegmentHandshake(t *testing.T) {
	h := newHarness(t, nil)
	c, s := client, client.Reply(0, 0, "", nil)
	ch := testutil.ClientHello(1800)
	flight := testutil.ServerHello(80)
	flight = append(flight, testutil.TLSRecord(22, testutil.Handshake(11, 3000))...) // Certificate
	flight = append(flight, testutil.TLSRecord(22, testutil.Handshake(14, 0))...)    // ServerHelloDone

	var frames [][]byte
	frames = append(frames, c.With(1, "A", ch[:1448]).Frame(), c.With(1449, "PA", ch[1448:]).Frame())
	for off := 0; off < len(flight); off += 1448 {
		end := min(off+1448, len(flight))
		frames = append(frames, s.With(uint32(9000+off), "A", flight[off:end]).Frame())
	}
	evs := h.runAll(frames...)
	if len(evs) != len(frames) {
		t.Fatalf("got %d events for %d handshake segments", len(evs), len(frames))
	}
	var got []byte
	for _, e := range evs[:2] {
		got = append(got, e.Payload...)
	}
	if !bytes.Equal(got, ch) {
		t.Error("ClientHello segments do not reassemble to the ClientHello")
	}
	got = nil
	for _, e := range evs[2:] {
		got = append(got, e.Payload...)
	}
	if !bytes.Equal(got, flight) {
		t.Error("server flight segments do not reassemble")
	}
}

// Bytes that look like an application_data record at the start of a
// segment in the middle of a certificate must not end tracking: only
// record boundaries count.
func TestPrivilegedLookAlikeMidRecordDoesNotBlind(t *testing.T) {
	h := newHarness(t, nil)
	c, s := client, client.Reply(0, 0, "", nil)
	ch := testutil.ClientHello(300)
	cert := testutil.Handshake(11, 4000)
	sh := testutil.ServerHello(90)
	// Plant "17 03 03 .." where the second and third segments start.
	for _, seg := range []int{1448, 2 * 1448} {
		copy(cert[seg-len(sh)-5:], []byte{0x17, 3, 3, 0, 20})
	}
	flight := append(sh, testutil.TLSRecord(22, cert)...)
	h.run(c.With(1, "PA", ch).Frame())
	// The client also "sent application data" (1.2 False Start style).
	h.run(c.With(1+uint32(len(ch)), "PA", testutil.AppData(40)).Frame())
	n := 0
	for off := 0; off < len(flight); off += 1448 {
		end := min(off+1448, len(flight))
		if flight[off] == 0x17 {
			n++
		}
		if evs := h.run(s.With(uint32(7000+off), "A", flight[off:end]).Frame()); len(evs) != 1 {
			t.Fatalf("certificate segment at %d not emitted", off)
		}
	}
	if n != 2 {
		t.Fatalf("test broken: %d look-alike segment starts planted", n)
	}
	if f, _ := h.flow(c); f.TlsState != bpf.TLSActive {
		t.Errorf("tracking state %d after the certificate, want active", f.TlsState)
	}
}

func TestPrivilegedHandshakeBudget(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Capture.HandshakePackets = 6 })
	c := client
	evs := h.run(c.With(1, "PA", testutil.ClientHello(200)).Frame())
	seq := uint32(1 + 205 + 4)
	// One huge record the walk can follow but that never ends.
	big := testutil.TLSRecord(22, testutil.Handshake(11, 16000))
	s := c.Reply(100, 0, "A", nil)
	for off := 0; off < len(big); off += 1000 {
		evs = append(evs, h.run(s.With(uint32(100+off), "A", big[off:min(off+1000, len(big))]).Frame())...)
	}
	_ = seq
	if len(evs) != 6 {
		t.Fatalf("emitted %d packets, budget is 6", len(evs))
	}
	if evs[5].Flags&datapath.FlagBudget == 0 || evs[5].Flags&datapath.FlagHSDone == 0 {
		t.Errorf("last event flags %v, want budget+handshake_done", evs[5].Flags)
	}
	if got := h.counters().Get(bpf.CounterTLSBudget); got != 1 {
		t.Errorf("tls_budget counter %d", got)
	}
}

// A ClientHello look-alike followed by something that is not TLS ends
// tracking at the record boundary; a real ClientHello later restarts it.
func TestPrivilegedNotTLSThenRealHello(t *testing.T) {
	h := newHarness(t, nil)
	c := testutil.Pkt{Sport: 40100, Dport: 5222}
	fake := testutil.ClientHello(60)
	evs := h.run(c.With(1, "PA", fake).Frame())
	evs = append(evs, h.run(c.With(1+uint32(len(fake)), "PA", []byte("<stream:stream to='x'>")).Frame())...)
	if len(evs) != 2 || evs[1].Flags&datapath.FlagHSDone == 0 {
		t.Fatalf("want the look-alike and the non-TLS packet (ending tracking), got %d", len(evs))
	}
	if e := h.run(c.With(100, "PA", []byte("more plain text")).Frame()); len(e) != 0 {
		t.Fatal("plain text after NOT_TLS emitted")
	}
	if e := h.run(c.With(200, "PA", testutil.ClientHello(300)).Frame()); len(e) != 1 || e[0].Flags&datapath.FlagFlowNew == 0 {
		t.Fatalf("a real ClientHello after NOT_TLS did not restart tracking: %+v", e)
	}
	cs := h.counters()
	if cs.Get(bpf.CounterFlowsTLS) != 2 || cs[sensorCounter("tls_not_tls")] != 1 || cs[sensorCounter("tls_rearm")] != 1 {
		t.Errorf("counters flows_tls=%d not_tls=%d rearm=%d", cs.Get(bpf.CounterFlowsTLS),
			cs[sensorCounter("tls_not_tls")], cs[sensorCounter("tls_rearm")])
	}
}

// sensorCounter finds a counter index by name.
func sensorCounter(name string) int {
	names, _ := bpf.CounterNames()
	for i, n := range names {
		if n == name {
			return i
		}
	}
	panic("no counter " + name)
}

func TestPrivilegedRetransmitAndReorder(t *testing.T) {
	h := newHarness(t, nil)
	c, s := client, client.Reply(0, 0, "", nil)
	ch := testutil.ClientHello(300)
	flight := append(testutil.ServerHello(90), testutil.TLSRecord(22, testutil.Handshake(11, 3500))...)
	seg := func(off int) []byte { return flight[off:min(off+1448, len(flight))] }
	evs := h.runAll(
		c.With(1, "PA", ch).Frame(),
		c.With(1, "PA", ch).Frame(),               // retransmission
		s.With(5000+1448, "A", seg(1448)).Frame(), // second segment first
		s.With(5000, "A", seg(0)).Frame(),         // then the first
		s.With(5000+2*1448, "PA", seg(2*1448)).Frame(),
	)
	if len(evs) != 5 {
		t.Fatalf("got %d events, want all 5 packets", len(evs))
	}
	f, _ := h.flow(c)
	if f.TlsState != bpf.TLSActive || f.TlsFlags&uint32(0x2) == 0 {
		t.Errorf("state %d flags %#x: want active with the server direction in sync", f.TlsState, f.TlsFlags)
	}
	if f.NextRec[1] != uint32(5000+len(flight)) {
		t.Errorf("server next record at %d, want %d", f.NextRec[1], 5000+len(flight))
	}
}

func TestPrivilegedTLSOnAnyPortAndServerHelloFirst(t *testing.T) {
	h := newHarness(t, nil)
	c := testutil.Pkt{Sport: 51000, Dport: 8443}
	if evs := h.run(c.With(1, "PA", testutil.ClientHello(100)).Frame()); len(evs) != 1 {
		t.Fatalf("ClientHello on port 8443 not emitted")
	}
	// Asymmetric routing: only the ServerHello passes this sensor.
	s := testutil.Pkt{Src: "10.9.0.2", Dst: "10.9.0.1", Sport: 443, Dport: 52000}
	evs := h.run(s.With(1, "PA", testutil.ServerHello(100)).Frame())
	if len(evs) != 1 || evs[0].FromClient() || evs[0].Client().Port() != 52000 {
		t.Fatalf("ServerHello-first flow: %+v", evs)
	}
}

func TestPrivilegedTLSClosedByFIN(t *testing.T) {
	h := newHarness(t, nil)
	c := client
	h.run(c.With(1, "PA", testutil.ClientHello(100)).Frame())
	evs := h.run(c.Reply(9, 1, "RA", nil).Frame())
	if len(evs) != 1 || evs[0].TCPFlags&datapath.TCPRst == 0 || evs[0].Flags&datapath.FlagHSDone == 0 {
		t.Fatalf("RST during the handshake: %+v", evs)
	}
	if e := h.run(c.With(200, "PA", []byte("x")).Frame()); len(e) != 0 {
		t.Error("packet after RST emitted")
	}
}

func TestPrivilegedQUICInitials(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Capture.QUICInitials = 3 })
	q := testutil.Pkt{UDP: true, Sport: 50000, Dport: 443}
	v1, v2 := testutil.QUICInitial(1), testutil.QUICInitial(0x6b3343cf)
	hs := append([]byte(nil), v1...)
	hs[0] = 0xc0 | 2<<4 // v1 Handshake packet
	evs := h.runAll(
		q.With(0, "", v1).Frame(),
		q.Reply(0, 0, "", v1).Frame(), // server Initial
		q.With(0, "", hs).Frame(),     // not an Initial
	)
	if len(evs) != 2 || evs[0].Class != datapath.ClassQUIC || !evs[0].FromClient() || evs[1].FromClient() {
		t.Fatalf("QUIC v1 Initials: %+v", evs)
	}
	evs = h.runAll(q.With(0, "", v1).Frame(), q.With(0, "", v1).Frame())
	if len(evs) != 1 {
		t.Fatalf("budget of 3 Initials: got %d more after 2", len(evs))
	}
	q2 := testutil.Pkt{UDP: true, Sport: 50001, Dport: 443, V6: true}
	if evs := h.run(q2.With(0, "", v2).Frame()); len(evs) != 1 || evs[0].Class != datapath.ClassQUIC {
		t.Fatalf("QUIC v2 Initial over IPv6 not emitted")
	}
	v2wrong := append([]byte(nil), v2...)
	v2wrong[0] = 0xc0 // type 0 is 0-RTT in v2
	if evs := h.run(testutil.Pkt{UDP: true, Sport: 50002, Dport: 443}.With(0, "", v2wrong).Frame()); len(evs) != 0 {
		t.Fatal("QUIC v2 0-RTT packet emitted as Initial")
	}
	if got := h.counters().Get(bpf.CounterQUICBudget); got != 1 {
		t.Errorf("quic_budget counter %d", got)
	}
}

// FuzzPrivilegedXDP pushes arbitrary frames through the real program: it
// must always pass the packet, and whatever it emits must describe itself
// consistently.
func FuzzPrivilegedXDP(f *testing.F) {
	seeds := [][]byte{
		client.With(1, "PA", testutil.ClientHello(200)).Frame(),
		client.Reply(1, 1, "PA", testutil.ServerHello(100)).Frame(),
		testutil.Pkt{V6: true, Sport: 9, Dport: 443, V6Ext: []byte{0, 43, 44}, VLANs: []uint16{5, 6}}.With(1, "PA", testutil.ClientHello(50)).Frame(),
		testutil.Pkt{UDP: true, Sport: 50000, Dport: 443}.With(0, "", testutil.QUICInitial(1)).Frame(),
		web.With(1, "S", nil).Frame(),
		web.With(1, "PA", []byte("GET / HTTP/1.1\r\n\r\n")).Frame(),
		testutil.Pkt{Sport: 25, Dport: 41000, IPv4Options: true}.With(1, "PA", []byte("220 ok\r\n")).Frame(),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	inner := client.With(1, "PA", testutil.ClientHello(200)).Frame()[14:]
	for _, enc := range tunnelCases() {
		f.Add(enc.Wrap(inner))
	}
	h := newHarness(f, nil)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 14 || len(frame) > 3000 {
			return
		}
		h.t = t
		for _, e := range h.run(frame) {
			if len(e.Frame) != min(len(frame), h.cfg.Capture.Snaplen) || e.FrameLen != len(frame) {
				t.Fatalf("event frame %d/%d for a %d-byte input", len(e.Frame), e.FrameLen, len(frame))
			}
			if len(e.Payload) > e.PayloadLen {
				t.Fatalf("payload %d exceeds its claim %d", len(e.Payload), e.PayloadLen)
			}
			if e.Class != datapath.ClassTLS && e.Class != datapath.ClassQUIC && e.Class != datapath.ClassStream &&
				e.Class != datapath.ClassFrag {
				t.Fatalf("class %d", e.Class)
			}
			// The Go parser follows the same rules: where the data plane
			// found a packet to analyse, it finds the same headers.
			var fr decap.Frame
			if err := decap.Parse(frame, &fr); err == nil && !fr.Fragment && e.Class != datapath.ClassFrag &&
				(fr.L3 != e.L3Off || fr.L4 != e.L4Off || fr.Tunnels() != int(e.Tunnels)) {
				t.Fatalf("data plane l3=%d l4=%d tunnels=%d, decap l3=%d l4=%d tunnels=%d",
					e.L3Off, e.L4Off, e.Tunnels, fr.L3, fr.L4, fr.Tunnels())
			}
		}
	})
}
