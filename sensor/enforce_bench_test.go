package sensor

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
)

// benchTables are the load: 100,000 prefixes (/20 to /31) and
// 1,000,000 exact addresses, none in 10.0.0.0/8 (the fixtures'), plus
// the fixtures' own blocked address and prefix. EDGESENSOR_BENCH_EXACT
// and _PREFIXES change the counts.
func benchTables(tb testing.TB) *enforce.Tables {
	exact, prefixes := 1_000_000, 100_000
	if v, err := strconv.Atoi(os.Getenv("EDGESENSOR_BENCH_EXACT")); err == nil {
		exact = v
	}
	if v, err := strconv.Atoi(os.Getenv("EDGESENSOR_BENCH_PREFIXES")); err == nil {
		prefixes = v
	}
	r := rand.New(rand.NewPCG(1, 2))
	addr := func() netip.Addr {
		for {
			a := r.Uint32()
			if a>>24 != 10 && a>>24 != 0 && a>>24 < 224 {
				return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
			}
		}
	}
	t := &enforce.Tables{Lists: []string{"bench"}}
	for i := 0; i < exact; i++ {
		t.Entries = append(t.Entries, enforce.Entry{Prefix: netip.PrefixFrom(addr(), 32), Level: 9})
	}
	for i := 0; i < prefixes; i++ {
		p, _ := addr().Prefix(20 + r.IntN(12))
		t.Entries = append(t.Entries, enforce.Entry{Prefix: p, Level: 9})
	}
	t.Entries = append(t.Entries,
		enforce.Entry{Prefix: pfx("10.9.9.9"), Level: 9},
		enforce.Entry{Prefix: pfx("10.8.0.0/16"), Level: 9})
	return t
}

// BenchmarkPrivilegedEnforce: the kernel's ns per packet with enforcement
// on (block) and the lists loaded, beside the empty program and
// the sensor without enforcement, measured in alternating rounds.
func BenchmarkPrivilegedEnforce(b *testing.B) {
	testutil.RequireBPF(b)
	empty := emptyXDP(b)
	plain := newHarness(b, func(c *config.Config) { c.Capture.MaxFlows = 1 << 20 })
	h := newHarness(b, func(c *config.Config) { c.Capture.MaxFlows = 1 << 20; c.Enforce.Mode = "block" })
	enf, err := NewEnforcer(h.objs, time.Hour, 16)
	if err != nil {
		b.Fatal(err)
	}
	if err := enf.SetMode(enforce.Block); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	tables := benchTables(b)
	if err := enf.Replace(tables); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d entries swapped in in %v", len(tables.Entries), time.Since(start).Round(time.Millisecond))
	// An address that shares its /24 with a listed one: the prefilter
	// passes it on to both lookups.
	near := tables.Entries[0].Prefix.Addr().As4()
	near[3] ^= 1
	fx := []fixture{
		{name: "non_candidate_tcp", frame: func(int) []byte {
			return testutil.Pkt{Sport: 5555, Dport: 6666}.With(1, "A", make([]byte, 1400)).Frame()
		}},
		{name: "non_candidate_tcp_prefilter_hit", frame: func(int) []byte {
			return testutil.Pkt{Dst: netip.AddrFrom4(near).String(), Sport: 5555, Dport: 6666}.With(1, "A", make([]byte, 1400)).Frame()
		}},
		{name: "dropped_exact", frame: func(int) []byte {
			return testutil.Pkt{Dst: "10.9.9.9", Sport: 5555, Dport: 6666}.With(1, "A", make([]byte, 1400)).Frame()
		}},
		{name: "dropped_prefix", frame: func(int) []byte {
			return testutil.Pkt{Dst: "10.8.1.1", Sport: 5555, Dport: 6666}.With(1, "A", make([]byte, 1400)).Frame()
		}},
	}
	for _, f := range fx {
		b.Run(f.name, func(b *testing.B) {
			mb, moff, mon := threeWays(b, f, empty, plain, h.objs.Program, append(h.rings, h.actionsReader(b)))
			b.ReportMetric(mon, "ns/pkt")
			b.ReportMetric(moff, "off-ns/pkt")
			b.ReportMetric(mb, "empty-ns/pkt")
			b.ReportMetric(mon/mb, "x-empty")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkPrivilegedHold: an HTTP server packet with enforcement on
// (block, held downloads on): its gate ahead (passed after one lookup),
// or reached (held: emitted and dropped), beside the same packet in the
// sensor without enforcement (emitted as stream data) and the empty
// program.
func BenchmarkPrivilegedHold(b *testing.B) {
	testutil.RequireBPF(b)
	empty := emptyXDP(b)
	plain := newHarness(b, nil)
	h := newHarness(b, func(c *config.Config) { c.Enforce.Mode = "block" })
	enf, err := NewEnforcer(h.objs, time.Hour, 16)
	if err != nil {
		b.Fatal(err)
	}
	if err := enf.SetMode(enforce.Block); err != nil {
		b.Fatal(err)
	}
	holds, err := NewHolds(h.objs, false)
	if err != nil {
		b.Fatal(err)
	}
	if err := holds.SetTimeout(time.Hour); err != nil {
		b.Fatal(err)
	}
	server := func(port uint16) testutil.Pkt {
		return testutil.Pkt{Src: "10.0.0.2", Dst: "10.0.0.1", Sport: 80, Dport: port, Seq: 5000, Ack: 1000, Flags: "PA", Payload: make([]byte, 1400)}
	}
	flow := func(port uint16) datapath.Flow {
		return datapath.Flow{Client: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), port), Server: netip.MustParseAddrPort("10.0.0.2:80")}
	}
	if err := holds.Gate(flow(40000), 5000+1<<20, false); err != nil {
		b.Fatal(err)
	}
	if err := holds.Gate(flow(40001), 5000, false); err != nil {
		b.Fatal(err)
	}
	for _, f := range []fixture{
		{name: "http_gate_ahead", frame: func(int) []byte { return server(40000).Frame() }},
		{name: "http_held", frame: func(int) []byte { return server(40001).Frame() }},
	} {
		b.Run(f.name, func(b *testing.B) {
			mb, moff, mon := threeWays(b, f, empty, plain, h.objs.Program, h.rings)
			b.ReportMetric(mon, "ns/pkt")
			b.ReportMetric(moff, "off-ns/pkt")
			b.ReportMetric(mb, "empty-ns/pkt")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// threeWays measures a fixture in alternating rounds on the empty
// program, the sensor without enforcement (plain) and prog, and returns
// the medians of each, in ns per packet.
func threeWays(b *testing.B, f fixture, empty *ebpf.Program, plain *harness, prog *ebpf.Program, rings []*ringbuf.Reader) (base, off, on float64) {
	per := max(b.N/rounds, 1000)
	var bs, offs, ons []float64
	for r := 0; r < rounds; r++ {
		bs = append(bs, runKernel(b, empty, f, per, nil))
		offs = append(offs, runKernel(b, plain.objs.Program, f, per, plain.rings))
		ons = append(ons, runKernel(b, prog, f, per, rings))
	}
	return median(bs), median(offs), median(ons)
}

// BenchmarkPrivilegedFeedDelta: a feed of 100,000 blocklisted prefixes
// in force in the data plane takes a delta of 10,000 changes (5,000
// removed, 5,000 added): applied to the intel (scoring sees it), the
// lists built again from the intel, and the changes written into the
// spare generation's tables and flipped in. Reported: ns per delta to in
// force (build + swap, without the swap's trailing grace), and each
// part; the baseline is a swap that makes new tables (ns-full-swap).
func BenchmarkPrivilegedFeedDelta(b *testing.B) {
	h := newEnfHarness(b, "block")
	layer := intel.NewLayer()
	r, _ := intel.NewReloaderFeed(nil, layer)
	set := r.Current()
	prefix := func(i int) []byte {
		return fmt.Appendf(nil, "%d.%d.%d.0/24", 11+i>>16&0x3f, i>>8&0xff, i&0xff)
	}
	snap, _ := intel.NewBatch([]string{"c2"})
	for i := range 100_000 {
		snap.Add(intel.IP, prefix(i), 9, false, 0, time.Time{})
	}
	layer.Replace(snap)
	s := enforce.DefaultSettings()
	s.Mode = "block"
	var full time.Duration
	for range 2 { // both generations' tables made: the baseline
		if err := h.enf.Replace(enforce.Build(set, &s)); err != nil {
			b.Fatal(err)
		}
		full = max(full, time.Duration(h.enf.Stats.LastSwap.Load()))
	}
	var applyNs, buildNs, swapNs time.Duration
	b.ResetTimer()
	for i := range b.N {
		d, _ := intel.NewBatch([]string{"c2"})
		for j := range 5000 {
			d.Remove(intel.IP, prefix(i*5000+j))
			d.Add(intel.IP, prefix(100_000+i*5000+j), 9, false, 0, time.Time{})
		}
		start := time.Now()
		layer.Apply(d)
		applied := time.Now()
		t := enforce.Build(set, &s)
		built := time.Now()
		if err := h.enf.Replace(t); err != nil {
			b.Fatal(err)
		}
		applyNs += applied.Sub(start)
		buildNs += built.Sub(applied)
		swapNs += time.Duration(h.enf.Stats.LastSwap.Load())
	}
	n := time.Duration(b.N)
	b.ReportMetric(float64((applyNs+buildNs+swapNs)/n), "ns-to-in-force")
	b.ReportMetric(float64(applyNs/n), "ns-intel")
	b.ReportMetric(float64(buildNs/n), "ns-build")
	b.ReportMetric(float64(swapNs/n), "ns-swap")
	b.ReportMetric(float64(h.enf.Stats.InPlace.Load())/float64(b.N), "in-place/op")
	b.ReportMetric(float64(full), "ns-full-swap")
}
