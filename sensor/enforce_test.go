package sensor

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/packet/csum"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
)

// enfHarness is the harness with enforcement loaded and an Enforcer.
type enfHarness struct {
	*harness
	enf     *Enforcer
	actions *ringbuf.Reader
}

func newEnfHarness(t testing.TB, mode string) *enfHarness {
	t.Helper()
	h := newHarness(t, func(c *config.Config) { c.Enforce.Mode = mode })
	enf, err := NewEnforcer(h.objs, time.Minute, 16)
	if err != nil {
		t.Fatal(err)
	}
	if err := enf.SetMode(h.cfg.Enforce.ModeValue()); err != nil {
		t.Fatal(err)
	}
	rd, err := ringbuf.NewReader(h.objs.Actions)
	if err != nil {
		t.Fatal(err)
	}
	rd.SetDeadline(time.Unix(1, 0))
	t.Cleanup(func() { rd.Close() })
	return &enfHarness{harness: h, enf: enf, actions: rd}
}

// verdict runs one frame and returns the program's action and the frame
// it left.
func (h *enfHarness) verdict(frame []byte) (uint32, []byte) {
	h.t.Helper()
	out := make([]byte, len(frame)+256)
	opts := &ebpf.RunOptions{Data: frame, DataOut: out}
	ret, err := h.objs.Program.Run(opts)
	if err != nil {
		h.t.Fatalf("running program: %v", err)
	}
	h.drain()
	return ret, opts.DataOut
}

func (h *enfHarness) records() []bpf.EnfEvent {
	h.t.Helper()
	var out []bpf.EnfEvent
	var rec ringbuf.Record
	for {
		err := h.actions.ReadInto(&rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return out
		}
		if err != nil {
			h.t.Fatal(err)
		}
		var ev bpf.EnfEvent
		if _, err := binary.Decode(rec.RawSample, binary.NativeEndian, &ev); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, ev)
	}
}

func pfx(s string) netip.Prefix {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p
	}
	a := netip.MustParseAddr(s)
	return netip.PrefixFrom(a, a.BitLen())
}

func testTables() *enforce.Tables {
	return &enforce.Tables{
		Lists: []string{"c2", "infected"},
		Entries: []enforce.Entry{
			{Prefix: pfx("198.51.100.7"), List: 0, Level: 9},
			{Prefix: pfx("203.0.113.0/24"), List: 0, Level: 8},
			{Prefix: pfx("192.0.2.99"), List: 1, Level: 7},
			{Prefix: pfx("2001:db8:bad::/48"), List: 0, Level: 9},
			{Prefix: pfx("fd00::66"), List: 1, Level: 10},
			{Prefix: pfx("10.64.0.0/10"), List: 1, Level: 7},
		},
		Allow: []netip.Prefix{pfx("203.0.113.200"), pfx("192.0.2.0/25")},
	}
}

// A non-candidate packet (no watched port, no TLS), so only enforcement
// can stop it.
func plain(src, dst string) testutil.Pkt {
	return testutil.Pkt{Src: src, Dst: dst, Sport: 40000, Dport: 5555, Seq: 1, Ack: 1, Flags: "A", Payload: []byte("hello")}
}

func TestPrivilegedEnforceAddresses(t *testing.T) {
	h := newEnfHarness(t, "block")
	if err := h.enf.Replace(testTables()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		p    testutil.Pkt
		want uint32
	}{
		{"to an address", plain("10.0.0.1", "198.51.100.7"), xdpDrop},
		{"from an address", plain("198.51.100.7", "10.0.0.1"), xdpDrop},
		{"next address", plain("10.0.0.1", "198.51.100.8"), xdpPass},
		{"in a /24", plain("10.0.0.1", "203.0.113.5"), xdpDrop},
		{"allowlisted in a /24", plain("10.0.0.1", "203.0.113.200"), xdpPass},
		{"allowlisted other side", plain("192.0.2.3", "198.51.100.7"), xdpPass},
		{"allowlist beats exact", plain("10.0.0.1", "192.0.2.99"), xdpPass},
		{"in a /10", plain("10.100.1.1", "10.0.0.1"), xdpDrop},
		{"outside the /10", plain("10.128.0.1", "10.0.0.1"), xdpPass},
		{"udp", testutil.Pkt{Src: "10.0.0.1", Dst: "198.51.100.7", UDP: true, Sport: 5000, Dport: 53, Payload: []byte("q")}, xdpDrop},
		{"vlan", func() testutil.Pkt { p := plain("10.0.0.1", "198.51.100.7"); p.VLANs = []uint16{7}; return p }(), xdpDrop},
		{"ip options", func() testutil.Pkt { p := plain("10.0.0.1", "198.51.100.7"); p.IPv4Options = true; return p }(), xdpDrop},
		{"v6 in a /48", testutil.Pkt{V6: true, Src: "fd00::1", Dst: "2001:db8:bad:1::9", Sport: 1, Dport: 2, Flags: "A"}, xdpDrop},
		{"v6 outside", testutil.Pkt{V6: true, Src: "fd00::1", Dst: "2001:db8:bae::9", Sport: 1, Dport: 2, Flags: "A"}, xdpPass},
		{"v6 exact", testutil.Pkt{V6: true, Src: "fd00::66", Dst: "fd00::2", Sport: 1, Dport: 2, Flags: "A"}, xdpDrop},
		{"v6 fragment", testutil.Pkt{V6: true, Src: "fd00::66", Dst: "fd00::2", Sport: 1, Dport: 2, Flags: "A", V6Ext: []byte{44}, FragOffset: 10}, xdpDrop},
		{"v4 later fragment", func() testutil.Pkt { p := plain("10.0.0.1", "198.51.100.7"); p.FragOffset = 100; return p }(), xdpDrop},
	}
	// A tunnel does not hide a blocklisted endpoint: the outer addresses
	// count too (a GRE, IPIP, VXLAN or GTP-U packet from 198.51.100.7
	// carrying an unlisted inner flow).
	inner := plain("10.0.0.1", "10.0.0.2").Frame()[14:]
	tunnels := map[string]testutil.Encap{
		"gre":        {Layers: []testutil.Layer{{Kind: "gre", Src: "198.51.100.7", Dst: "192.0.2.200"}}},
		"ipip":       {Layers: []testutil.Layer{{Kind: "ipip", Src: "192.0.2.200", Dst: "198.51.100.7"}}},
		"vxlan":      {Layers: []testutil.Layer{{Kind: "vxlan", Src: "203.0.113.9", Dst: "192.0.2.200", ID: 5}}},
		"gtpu":       {Layers: []testutil.Layer{{Kind: "gtpu", Src: "198.51.100.7", Dst: "192.0.2.201", ID: 7}}},
		"vlan+gre":   {VLANs: []uint16{9}, Layers: []testutil.Layer{{Kind: "gre", Src: "198.51.100.7", Dst: "192.0.2.200", GREKey: true, ID: 3}}},
		"gre in gre": {Layers: []testutil.Layer{{Kind: "gre", Src: "192.0.2.200", Dst: "192.0.2.201"}, {Kind: "gre", Src: "198.51.100.7", Dst: "192.0.2.202"}}},
	}
	before := h.counters()
	drops := 0
	for name, enc := range tunnels {
		if got, _ := h.verdict(enc.Wrap(inner)); got != xdpDrop {
			t.Errorf("%s from a blocklisted endpoint: got %d, want XDP_DROP", name, got)
		}
		drops++
	}
	clean := testutil.Encap{Layers: []testutil.Layer{{Kind: "gre", Src: "192.0.2.200", Dst: "192.0.2.201"}}}
	if got, _ := h.verdict(clean.Wrap(inner)); got != xdpPass {
		t.Errorf("unlisted tunnel: got %d, want XDP_PASS", got)
	}
	for _, c := range cases {
		got, _ := h.verdict(c.p.Frame())
		if got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
		if c.want == xdpDrop {
			drops++
		}
	}
	after := h.counters()
	if d := after.Get(bpf.Counter(sensorCounterOf(t, "enf_drop_addr"))) - before.Get(bpf.Counter(sensorCounterOf(t, "enf_drop_addr"))); d != uint64(drops) {
		t.Errorf("enf_drop_addr rose by %d, want %d", d, drops)
	}
	if after.Get(bpf.Counter(sensorCounterOf(t, "enf_allowed"))) < 3 {
		t.Errorf("enf_allowed = %d, want >= 3", after.Get(bpf.Counter(sensorCounterOf(t, "enf_allowed"))))
	}

	// One record per entry per second: the /32 was hit from both sides
	// and by UDP, VLAN and options frames, and reported once.
	recs := h.records()
	per := map[string]int{}
	for _, r := range recs {
		a := h.enf.action(&r)
		per[a.Prefix.String()]++
		if !a.Blocked || a.What != bpf.EnfWhatAddr {
			t.Errorf("record %+v: want a blocked address", a)
		}
		if a.Prefix.String() == "203.0.113.0/24" && (a.List != "c2" || a.Level != 8) {
			t.Errorf("record of the /24: %+v", a)
		}
	}
	for _, p := range []string{"203.0.113.0/24", "10.64.0.0/10", "2001:db8:bad::/48", "fd00::66/128"} {
		if per[p] != 1 {
			t.Errorf("%d records for %s, want 1 (all: %v)", per[p], p, per)
		}
	}
	st, err := h.enf.ListStats()
	if err != nil {
		t.Fatal(err)
	}
	if st["c2"].Packets == 0 || st["infected"].Packets == 0 || st["c2"].Packets+st["infected"].Packets != uint64(drops) {
		t.Errorf("list counters %+v, want %d packets in all", st, drops)
	}

	// Monitor: decided and counted, nothing dropped.
	if err := h.enf.SetMode(enforce.Monitor); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.verdict(plain("10.0.0.1", "198.51.100.7").Frame()); got != xdpPass {
		t.Errorf("monitor: got %d, want XDP_PASS", got)
	}
	if n := h.counters().Get(bpf.Counter(sensorCounterOf(t, "enf_would_addr"))); n != 1 {
		t.Errorf("enf_would_addr = %d, want 1", n)
	}
	if err := h.enf.SetMode(enforce.Block); err != nil {
		t.Fatal(err)
	}

	// Stale lists lapse: a dead daemon never blocks forever.
	if err := h.enf.Stale(); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.verdict(plain("10.0.0.1", "198.51.100.7").Frame()); got != xdpPass {
		t.Errorf("stale list: got %d, want XDP_PASS", got)
	}
	if err := h.enf.Refresh(); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.verdict(plain("10.0.0.1", "198.51.100.7").Frame()); got != xdpDrop {
		t.Errorf("refreshed list: got %d, want XDP_DROP", got)
	}

	// A replacement takes effect whole, and the prefilter forgets what
	// no list needs.
	next := testTables()
	next.Entries = next.Entries[1:]
	next.Entries = append(next.Entries, enforce.Entry{Prefix: pfx("198.51.100.9"), Level: 9, Until: time.Now().Add(300 * time.Millisecond)})
	if err := h.enf.Replace(next); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.verdict(plain("10.0.0.1", "198.51.100.7").Frame()); got != xdpPass {
		t.Errorf("removed address: got %d, want XDP_PASS", got)
	}
	if got, _ := h.verdict(plain("10.0.0.1", "203.0.113.5").Frame()); got != xdpDrop {
		t.Errorf("kept prefix: got %d, want XDP_DROP", got)
	}
	if got, _ := h.verdict(plain("10.0.0.1", "198.51.100.9").Frame()); got != xdpDrop {
		t.Errorf("expiring entry, before: got %d, want XDP_DROP", got)
	}
	time.Sleep(400 * time.Millisecond)
	if got, _ := h.verdict(plain("10.0.0.1", "198.51.100.9").Frame()); got != xdpPass {
		t.Errorf("expired entry: got %d, want XDP_PASS", got)
	}
	// A prefix still listed keeps its bit.
	if top := uint32(203)<<16 | 0<<8 | 113; h.enf.bits[bpf.Prefilter4][top>>6]>>(top&63)&1 != 1 {
		t.Errorf("prefilter bit of 203.0.113.0/24 not set")
	}
	if err := h.enf.Replace(&enforce.Tables{Lists: []string{"none"}}); err != nil {
		t.Fatal(err)
	}
	for _, b := range h.enf.bits {
		for i, w := range b {
			if w != 0 {
				t.Fatalf("prefilter word %d = %x after emptying the lists", i, w)
			}
		}
	}
	live := make([]uint64, bpf.EnfPrefilterWords)
	if err := h.objs.EnfBits4Var.Get(live); err != nil {
		t.Fatal(err)
	}
	for i, w := range live {
		if w != 0 {
			t.Fatalf("kernel prefilter word %d = %x after emptying the lists", i, w)
		}
	}

	if err := h.enf.SetMode(enforce.Off); err != nil {
		t.Fatal(err)
	}
}

// sensorCounterOf finds a counter's index by name.
func sensorCounterOf(t *testing.T, name string) int {
	t.Helper()
	names, err := bpf.CounterNames()
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		if n == name {
			return i
		}
	}
	t.Fatalf("no counter %q", name)
	return 0
}

// checkReset parses a frame the program sent back and checks it is the
// reset RFC 9293 gives for in (addresses, ports, sequence numbers,
// checksums).
func checkReset(t testing.TB, in testutil.Pkt, out []byte) {
	t.Helper()
	pk := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	tcp, _ := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if eth == nil || tcp == nil {
		t.Fatalf("reset does not parse: %v", pk)
	}
	if eth.SrcMAC.String() != "02:00:00:00:00:02" || eth.DstMAC.String() != "02:00:00:00:00:01" {
		t.Errorf("reset MACs %s -> %s", eth.SrcMAC, eth.DstMAC)
	}
	if len(in.VLANs) > 0 {
		d, _ := pk.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
		if d == nil || d.VLANIdentifier != in.VLANs[0] {
			t.Errorf("reset lost its VLAN tag")
		}
	}
	src, dst := in.Endpoints()
	if in.V6 {
		ip, _ := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if ip == nil || netip.MustParseAddr(ip.SrcIP.String()) != dst.Addr() || netip.MustParseAddr(ip.DstIP.String()) != src.Addr() {
			t.Fatalf("reset IPv6 header: %+v", ip)
		}
		if ip.Length != 20 {
			t.Errorf("IPv6 payload length %d", ip.Length)
		}
	} else {
		ip, _ := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil || netip.MustParseAddr(ip.SrcIP.String()) != dst.Addr() || netip.MustParseAddr(ip.DstIP.String()) != src.Addr() {
			t.Fatalf("reset IPv4 header: %+v", ip)
		}
		if ip.Length != 40 || ip.IHL != 5 {
			t.Errorf("IPv4 length %d ihl %d", ip.Length, ip.IHL)
		}
		if !csum.IPv4HeaderValid(ip.Contents) {
			t.Errorf("IPv4 header checksum wrong")
		}
	}
	if !tcp.RST || tcp.SYN || tcp.FIN || len(tcp.Payload) != 0 || len(tcp.Contents) != 20 {
		t.Errorf("reset TCP flags or length: %+v", tcp)
	}
	if uint16(tcp.SrcPort) != dst.Port() || uint16(tcp.DstPort) != src.Port() {
		t.Errorf("reset ports %d -> %d", tcp.SrcPort, tcp.DstPort)
	}
	if st := csum.L4(dst.Addr(), src.Addr(), 6, tcp.Contents); st != csum.Valid {
		t.Errorf("TCP checksum %v", st)
	}
	if hasFlag(in, 'A') {
		if tcp.Seq != in.Ack || tcp.ACK {
			t.Errorf("reset to an ACK: seq %d (want %d) ack flag %v", tcp.Seq, in.Ack, tcp.ACK)
		}
	} else {
		n := uint32(len(in.Payload))
		if hasFlag(in, 'S') {
			n++
		}
		if hasFlag(in, 'F') {
			n++
		}
		if !tcp.ACK || tcp.Ack != in.Seq+n || tcp.Seq != 0 {
			t.Errorf("reset without ACK: seq %d ack %d flag %v, want ack %d", tcp.Seq, tcp.Ack, tcp.ACK, in.Seq+n)
		}
	}
}

func hasFlag(p testutil.Pkt, f rune) bool {
	for _, c := range p.Flags {
		if c == f {
			return true
		}
	}
	return false
}

// checkForwardReset checks that the program turned in into a reset in
// its own direction at its sequence number, for the kernel to forward.
func checkForwardReset(t testing.TB, in testutil.Pkt, out []byte) {
	t.Helper()
	pk := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
	tcp, _ := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if tcp == nil {
		t.Fatalf("forwarded reset does not parse: %v", pk)
	}
	src, dst := in.Endpoints()
	var from, to string
	if in.V6 {
		ip, _ := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if ip == nil || ip.Length != 20 {
			t.Fatalf("forwarded reset IPv6 header: %+v", ip)
		}
		from, to = ip.SrcIP.String(), ip.DstIP.String()
	} else {
		ip, _ := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil || ip.Length != 40 {
			t.Fatalf("forwarded reset IPv4 header: %+v", ip)
		}
		if !csum.IPv4HeaderValid(ip.Contents) {
			t.Errorf("IPv4 header checksum wrong")
		}
		from, to = ip.SrcIP.String(), ip.DstIP.String()
	}
	if from != src.Addr().String() || to != dst.Addr().String() ||
		uint16(tcp.SrcPort) != src.Port() || uint16(tcp.DstPort) != dst.Port() {
		t.Errorf("forwarded reset %s:%d -> %s:%d, want the packet's direction", from, tcp.SrcPort, to, tcp.DstPort)
	}
	if !tcp.RST || tcp.ACK || tcp.SYN || tcp.FIN || tcp.Seq != in.Seq || len(tcp.Payload) != 0 || len(tcp.Contents) != 20 {
		t.Errorf("forwarded reset: %+v", tcp)
	}
	if st := csum.L4(src.Addr(), dst.Addr(), 6, tcp.Contents); st != csum.Valid {
		t.Errorf("TCP checksum %v", st)
	}
}

func blockPkt(t testing.TB, h *enfHarness, p testutil.Pkt, d time.Duration) {
	t.Helper()
	src, dst := p.Endpoints()
	if err := h.enf.BlockFlow(datapath.Flow{Client: src, Server: dst}, p.Proto(), h.enf.Lists()[0], d,
		FlowDetail{Reason: enforce.ReasonSNI, Kind: "domain", Value: "evil.example", List: "c2", Level: 9}); err != nil {
		t.Fatal(err)
	}
}

func TestPrivilegedEnforceFlows(t *testing.T) {
	h := newEnfHarness(t, "block")
	if err := h.enf.Replace(&enforce.Tables{Lists: []string{"c2"}}); err != nil {
		t.Fatal(err)
	}
	client := testutil.Pkt{Src: "10.0.0.1", Dst: "10.0.0.2", Sport: 40000, Dport: 443, Seq: 1000, Ack: 5000, Flags: "PA", Payload: make([]byte, 100)}
	blockPkt(t, h, client, time.Minute)

	server := client.Reply(5000, 1100, "PA", make([]byte, 50))
	syn := client.With(999, "S", nil)
	fin := client.With(1000, "F", nil) // no ACK: RST|ACK
	rst := client.With(1000, "RA", nil)
	v6 := testutil.Pkt{V6: true, Sport: 40001, Dport: 443, Seq: 7, Ack: 9, Flags: "A", Payload: []byte("x")}
	vlan := client
	vlan.VLANs = []uint16{42}
	opts := client
	opts.IPv4Options = true
	quic := testutil.Pkt{Src: "10.0.0.1", Dst: "10.0.0.2", UDP: true, Sport: 40002, Dport: 443, Payload: testutil.QUICInitial(1)}
	blockPkt(t, h, v6, time.Minute)
	blockPkt(t, h, quic, time.Minute)
	// A client that is endpoint b of the key (the higher address).
	high := testutil.Pkt{Src: "10.0.0.9", Dst: "10.0.0.3", Sport: 40000, Dport: 443, Seq: 70, Ack: 80, Flags: "PA", Payload: []byte("x")}
	blockPkt(t, h, high, time.Minute)
	if err := h.enf.BlockFlow(datapath.Flow{Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:443"), Zone: zoneOfVLAN(42)}, 6, "c2", time.Minute, FlowDetail{}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		p    testutil.Pkt
		want uint32
	}{
		{"client data", client, xdpTX},
		{"server data: a reset on to the client", server, xdpPass},
		{"syn", syn, xdpTX},
		{"fin without ack", fin, xdpTX},
		{"rst", rst, xdpDrop},
		{"ipv6", v6, xdpTX},
		{"vlan", vlan, xdpTX},
		{"ip options: dropped, no reset", opts, xdpDrop},
		{"quic", quic, xdpDrop},
		{"another flow", testutil.Pkt{Src: "10.0.0.1", Dst: "10.0.0.2", Sport: 40009, Dport: 443, Flags: "A"}, xdpPass},
		{"client as endpoint b", high, xdpTX},
		{"server of a client as endpoint b: a reset on to it", high.Reply(80, 71, "PA", []byte("y")), xdpPass},
	} {
		got, out := h.verdict(c.p.Frame())
		if got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
			continue
		}
		if got == xdpTX {
			checkReset(t, c.p, out)
		}
		if got == xdpPass && c.p.Sport == 443 {
			checkForwardReset(t, c.p, out)
		}
	}
	recs := h.records()
	if len(recs) != 5 { // one per blocked flow (the VLAN's is its own)
		t.Errorf("%d action records, want 5", len(recs))
	}
	for _, r := range recs {
		a := h.enf.action(&r)
		if a.What != bpf.EnfWhatFlow || !a.Blocked {
			t.Errorf("record %+v", a)
		}
		if r.Zone == 0 && (!a.HaveDetail || a.Detail.Value != "evil.example" || a.List != "c2") {
			t.Errorf("record without its detail: %+v", a)
		}
	}
	if n := h.counters().Get(bpf.Counter(sensorCounterOf(t, "enf_resets"))); n != 8 {
		t.Errorf("enf_resets = %d, want 8", n)
	}
	for _, r := range recs {
		if r.Zone == 0 && r.L4proto == 6 && r.Reset == 0 {
			t.Errorf("record of a TCP flow without its reset: %+v", r)
		}
	}

	// A first fragment too short for its ports passes no more while flows
	// are blocked (RFC 1858): its flow cannot be told.
	tiny := client
	tiny.IPv4Options = true
	if got, _ := h.verdict(testutil.Fragments(tiny.Frame(), 14, 8, 99)[0]); got != xdpDrop {
		t.Errorf("tiny first fragment: got %d, want XDP_DROP", got)
	}
	if n := h.counters().Get(bpf.Counter(sensorCounterOf(t, "enf_tiny_frag"))); n != 1 {
		t.Errorf("enf_tiny_frag = %d, want 1", n)
	}
	whole := testutil.Pkt{Src: "10.0.0.7", Dst: "10.0.0.8", Sport: 1, Dport: 2, Flags: "A", Payload: make([]byte, 64)}
	if got, _ := h.verdict(testutil.Fragments(whole.Frame(), 14, 32, 98)[0]); got != xdpPass {
		t.Errorf("first fragment with its ports, of an unblocked flow: got %d, want XDP_PASS", got)
	}

	// Blocks lapse in the kernel on their own, and userspace forgets them.
	short := testutil.Pkt{Src: "10.0.0.5", Dst: "10.0.0.6", Sport: 1234, Dport: 443, Seq: 1, Ack: 1, Flags: "A"}
	blockPkt(t, h, short, 200*time.Millisecond)
	if got, _ := h.verdict(short.Frame()); got != xdpTX {
		t.Errorf("short block: got %d, want XDP_TX", got)
	}
	time.Sleep(300 * time.Millisecond)
	if got, _ := h.verdict(short.Frame()); got != xdpPass {
		t.Errorf("lapsed block: got %d, want XDP_PASS", got)
	}
	h.enf.ExpireFlows(time.Now())
	if n := h.enf.BlockedFlows(); n != 5 {
		t.Errorf("%d flows blocked after expiry, want 5", n)
	}

	// The table is bounded: past its size the oldest block goes (the
	// client one, first blocked, passes again).
	before := h.enf.Stats.FlowsEvicted.Load()
	for i := 0; i < 20; i++ {
		p := testutil.Pkt{Src: "10.1.0.1", Dst: "10.1.0.2", Sport: uint16(2000 + i), Dport: 443}
		src, dst := p.Endpoints()
		if err := h.enf.BlockFlow(datapath.Flow{Client: src, Server: dst}, 6, "c2", time.Minute, FlowDetail{}); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
	}
	if n, ev := h.enf.BlockedFlows(), h.enf.Stats.FlowsEvicted.Load()-before; n != 16 || ev != 9 {
		t.Errorf("%d flows blocked, %d evicted; want 16 and 9", n, ev)
	}
	if got, _ := h.verdict(client.Frame()); got != xdpPass {
		t.Errorf("evicted block: got %d, want XDP_PASS", got)
	}
	last := testutil.Pkt{Src: "10.1.0.1", Dst: "10.1.0.2", Sport: 2019, Dport: 443, Seq: 1, Ack: 1, Flags: "A"}
	if got, _ := h.verdict(last.Frame()); got != xdpTX {
		t.Errorf("newest block: got %d, want XDP_TX", got)
	}

	// Monitor: reported, passed.
	if err := h.enf.SetMode(enforce.Monitor); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.verdict(client.Frame()); got != xdpPass {
		t.Errorf("monitor: got %d, want XDP_PASS", got)
	}
}

// zoneOfVLAN is the zone parse.h gives one VLAN tag (vlan_tracking on).
func zoneOfVLAN(id uint16) uint32 {
	z := uint32(0)
	mix := func(v uint32) { z ^= v + 0x9e3779b9 + (z << 6) + (z >> 2) }
	mix(1) // Z_VLAN
	mix(uint32(id))
	return z
}

// FuzzEnforceReset sends packets of blocked TCP flows, in both
// directions, of any flags, sequence numbers, options and payload,
// through the real program: a packet comes back as a valid reset to its
// sender (the client's), goes on as a valid reset to its receiver (the
// server's), or is dropped; never anything else, never a reset to a
// reset.
func FuzzEnforceReset(f *testing.F) {
	f.Add(false, false, false, uint8(0x18), uint32(1000), uint32(5000), []byte("hello"), false)
	f.Add(true, false, false, uint8(0x10), uint32(7), uint32(9), []byte{}, true)
	f.Add(false, true, false, uint8(0x02), uint32(0xffffffff), uint32(0), []byte{}, false)
	f.Add(false, false, true, uint8(0x11), uint32(1), uint32(2), make([]byte, 1400), true)
	f.Add(false, false, false, uint8(0x04), uint32(1), uint32(2), []byte{1}, false)
	h := newEnfHarness(f, "block")
	if err := h.enf.Replace(&enforce.Tables{Lists: []string{"l"}}); err != nil {
		f.Fatal(err)
	}
	for _, v := range []bool{false, true} {
		for _, zone := range []uint32{0, zoneOfVLAN(5)} {
			src, dst := testutil.Pkt{V6: v, Sport: 40000, Dport: 443}.Endpoints()
			if err := h.enf.BlockFlow(datapath.Flow{Client: src, Server: dst, Zone: zone}, 6, "l", time.Hour, FlowDetail{}); err != nil {
				f.Fatal(err)
			}
		}
	}
	f.Fuzz(func(t *testing.T, v6, vlan, opts bool, flags uint8, seq, ack uint32, payload []byte, fromServer bool) {
		h.t = t
		if len(payload) > 1400 {
			payload = payload[:1400]
		}
		var fl strings.Builder
		for i, c := range "FSRPA" {
			if flags&(1<<i) != 0 || (c == 'A' && flags&0x10 != 0) {
				fl.WriteRune(c)
			}
		}
		p := testutil.Pkt{V6: v6, Sport: 40000, Dport: 443, Seq: seq, Ack: ack, Flags: fl.String(), Payload: payload,
			IPv4Options: opts && !v6}
		if vlan {
			p.VLANs = []uint16{5}
		}
		if fromServer {
			p = p.Reply(seq, ack, fl.String(), payload)
			p.IPv4Options = opts && !v6
		}
		got, out := h.verdict(p.Frame())
		switch {
		case hasFlag(p, 'R') || p.IPv4Options:
			if got != xdpDrop {
				t.Fatalf("flags %q options %v: got %d, want XDP_DROP", p.Flags, p.IPv4Options, got)
			}
		case fromServer:
			if got != xdpPass {
				t.Fatalf("server packet: got %d, want a reset passed on", got)
			}
			checkForwardReset(t, p, out)
		default:
			if got != xdpTX {
				t.Fatalf("client packet: got %d, want XDP_TX", got)
			}
			checkReset(t, p, out)
		}
		h.records()
	})
}
