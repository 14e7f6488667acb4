package sensor

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/config"
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
