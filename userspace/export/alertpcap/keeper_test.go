package alertpcap

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/ecs/communityid"
	"github.com/edgesensor/edgesensor/userspace/setting"
)

// seqs returns the TCP sequence numbers of the packets of a file, which
// the tests number the packets with.
func seqs(t *testing.T, path string) []uint32 {
	t.Helper()
	var out []uint32
	for _, p := range readNg(t, path) {
		l4 := 14 + 20
		out = append(out, uint32(p.data[l4+4])<<24|uint32(p.data[l4+5])<<16|uint32(p.data[l4+6])<<8|uint32(p.data[l4+7]))
	}
	return out
}

func TestFlowKeyDirectionIndependent(t *testing.T) {
	c := netip.MustParseAddrPort("10.0.0.9:51000")
	s := netip.MustParseAddrPort("10.0.0.2:443")
	mapped := netip.AddrPortFrom(netip.AddrFrom16(c.Addr().As16()), c.Port())
	k1 := KeyFor(datapath.ProtoTCP, c, s)
	if k1 != KeyFor(datapath.ProtoTCP, s, c) || k1 != KeyFor(datapath.ProtoTCP, mapped, s) {
		t.Fatal("the key depends on the direction or the mapping")
	}
	nk, err := NewFlowKey(c, s, "tcp")
	if err != nil || nk != k1 {
		t.Fatalf("NewFlowKey = %v, %v; want %v", nk, err, k1)
	}
	if nk2, _ := NewFlowKey(c, s, "TCP"); nk2 != k1 {
		t.Error("transport is case-sensitive")
	}
	// Events of both directions land on the key of the event's fields.
	fwd := pktEvent(testutil.Pkt{Src: "10.0.0.9", Dst: "10.0.0.2", Sport: 51000, Dport: 443, Flags: "S"}, t0, "eth0", 1)
	rev := pktEvent(testutil.Pkt{Src: "10.0.0.2", Dst: "10.0.0.9", Sport: 443, Dport: 51000, Flags: "SA"}, t0, "eth0", 1)
	if EventKey(fwd) != k1 || EventKey(rev) != k1 {
		t.Fatalf("event keys %v, %v, want %v", EventKey(fwd), EventKey(rev), k1)
	}
	if KeyFor(datapath.ProtoUDP, c, s) == k1 {
		t.Error("UDP and TCP flows share a key")
	}
	if KeyFor(datapath.ProtoTCP, c, netip.MustParseAddrPort("10.0.0.2:444")) == k1 {
		t.Error("different ports share a key")
	}
	if got, want := k1.CommunityID(0), communityid.String(0, 6, s, c); got != want || got == "" {
		t.Errorf("CommunityID %q, want %q", got, want)
	}
	if k1.String() != "tcp 10.0.0.2:443 <-> 10.0.0.9:51000" {
		t.Errorf("String %q", k1)
	}
	if k1.hash() != KeyFor(datapath.ProtoTCP, s, c).hash() {
		t.Error("the hash depends on the direction")
	}
	for _, bad := range []string{"icmp", "", "sctp"} {
		if _, err := NewFlowKey(c, s, bad); err == nil {
			t.Errorf("transport %q accepted", bad)
		}
	}
	if _, err := NewFlowKey(netip.AddrPort{}, s, "tcp"); err == nil {
		t.Error("an invalid endpoint accepted")
	}
	if (FlowKey{}).IsValid() || !k1.IsValid() {
		t.Error("IsValid")
	}

	// A flow fed in both directions is one flow, found by NewFlowKey.
	k := newKeeper(t, testSettings(t.TempDir()))
	k.Observe(fwd)
	k.Observe(rev)
	if st := k.Stats(); st.FlowsKept != 1 {
		t.Fatalf("%d flows kept, want 1", st.FlowsKept)
	}
	path, err := k.Capture(nk, t0, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := readNg(t, path); len(got) != 2 {
		t.Fatalf("%d packets, want both directions", len(got))
	}
}

// TestFlowPacketLimit: with flow_packets 8, the first 4 packets stay and
// the last 4 are the latest; the 12 between are counted as not kept.
func TestFlowPacketLimit(t *testing.T) {
	s := testSettings(t.TempDir())
	s.FlowPackets = 8
	k := newKeeper(t, s)
	var ev *datapath.Event
	for i := 1; i <= 20; i++ {
		ev = pktEvent(flowPkt(1, uint32(i), 100), t0.Add(time.Duration(i)*time.Millisecond), "eth0", 2)
		k.Observe(ev)
	}
	st := k.Stats()
	if st.PacketsObserved != 20 || st.PacketsNotKept != 12 || st.FlowsKept != 1 {
		t.Fatalf("stats %+v", st)
	}
	path, err := k.Capture(EventKey(ev), t0, "", "e", "r")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(seqs(t, path)), "[1 2 3 4 17 18 19 20]"; got != want {
		t.Fatalf("kept %s, want %s", got, want)
	}
}

// TestFlowByteLimit: with flow_bytes 4KiB and frames of about 1KiB, the
// head holds what fits in half, the ring the latest that fit the rest.
func TestFlowByteLimit(t *testing.T) {
	s := testSettings(t.TempDir())
	s.FlowBytes = 4 << 10
	k := newKeeper(t, s)
	var ev *datapath.Event
	for i := 1; i <= 10; i++ {
		ev = pktEvent(flowPkt(1, uint32(i), 1000-54), t0.Add(time.Duration(i)), "eth0", 2) // 1000-byte frames
		k.Observe(ev)
	}
	path, err := k.Capture(EventKey(ev), t0, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(seqs(t, path)), "[1 2 9 10]"; got != want {
		t.Fatalf("kept %s, want %s", got, want)
	}
	if st := k.Stats(); st.PacketsNotKept != 6 {
		t.Fatalf("not kept %d, want 6", st.PacketsNotKept)
	}
	// A frame bigger than the flow's whole budget is not kept.
	big := pktEvent(flowPkt(2, 1, 5000), t0, "eth0", 2)
	k.Observe(big)
	if _, err := k.Capture(EventKey(big), t0, "", "", ""); !errors.Is(err, ErrNoFlow) {
		t.Fatalf("capture of a flow with nothing kept: %v", err)
	}
	if st := k.Stats(); st.PacketsNotKept != 7 {
		t.Fatalf("not kept %d, want 7", st.PacketsNotKept)
	}
}

// TestRingVariableSizes drives one flow's ring with frames of varied
// sizes and checks the kept packets are always the head and a suffix of
// the rest, within both limits, and that the charge matches.
func TestRingVariableSizes(t *testing.T) {
	s := testSettings(t.TempDir())
	s.FlowPackets, s.FlowBytes = 10, 8<<10
	k := newKeeper(t, s)
	key := EventKey(pktEvent(flowPkt(1, 0, 1), t0, "eth0", 2))
	sizes := []int{60, 1400, 200, 1400, 1400, 90, 1400, 1400, 1400, 70, 1400, 80, 1400, 1400, 1400, 1400, 300, 60}
	for round := 0; round < 5; round++ {
		for i, n := range sizes {
			seq := uint32(round*len(sizes) + i + 1)
			k.Observe(pktEvent(flowPkt(1, seq, n), t0.Add(time.Duration(seq)), "eth0", 2))
			sh := &k.shards[key.hash()&k.mask]
			f := sh.flows[key]
			var sum, want int
			f.packets(func(p *packet) { sum += cap(p.data) })
			if f.count() > s.FlowPackets || f.bytes > int(s.FlowBytes) || sum != f.bytes {
				t.Fatalf("seq %d: %d packets, %d bytes (sum %d)", seq, f.count(), f.bytes, sum)
			}
			for i := range k.shards {
				want += int(k.shards[i].mem)
			}
			if want != int(f.charge()) {
				t.Fatalf("seq %d: shard charge %d, flow %d", seq, want, f.charge())
			}
		}
	}
	path, err := k.Capture(key, t0, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	got := seqs(t, path)
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("out of order: %v", got)
		}
	}
	if got[len(got)-1] != uint32(5*len(sizes)) {
		t.Fatalf("latest packet missing: %v", got)
	}
}

// TestMemoryBoundEvicts: many flows in a small memory: the charge never
// passes the bound, the least recently active flows go, counted.
func TestMemoryBoundEvicts(t *testing.T) {
	s := testSettings(t.TempDir())
	s.FlowPackets, s.FlowBytes, s.Memory = 8, 4<<10, 64<<10
	k := newKeeper(t, s)
	const flows = 1000
	for i := 0; i < flows; i++ {
		for seq := uint32(1); seq <= 8; seq++ {
			k.Observe(pktEvent(flowPkt(i, seq, 400), t0.Add(time.Duration(i)*time.Millisecond), "eth0", 2))
		}
		if st := k.Stats(); st.BytesKept > uint64(s.Memory) {
			t.Fatalf("flow %d: %d bytes kept, over %d", i, st.BytesKept, s.Memory)
		}
	}
	st := k.Stats()
	if st.FlowsEvicted == 0 || st.FlowsKept+st.FlowsEvicted != flows || st.PacketsObserved != 8*flows {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("%d shards, %d flows kept, %d evicted, %d bytes", len(k.shards), st.FlowsKept, st.FlowsEvicted, st.BytesKept)
	last := EventKey(pktEvent(flowPkt(flows-1, 1, 1), t0, "eth0", 2))
	if _, err := k.Capture(last, t0, "", "", ""); err != nil {
		t.Errorf("the latest flow: %v", err)
	}
	first := EventKey(pktEvent(flowPkt(0, 1, 1), t0, "eth0", 2))
	if _, err := k.Capture(first, t0, "", "", ""); !errors.Is(err, ErrNoFlow) {
		t.Errorf("the first flow: %v, want ErrNoFlow", err)
	}
}

func TestSweep(t *testing.T) {
	s := testSettings(t.TempDir())
	s.FlowIdle = setting.Duration(time.Minute)
	k := newKeeper(t, s)
	k.Observe(pktEvent(flowPkt(1, 1, 10), t0, "eth0", 2))
	k.Observe(pktEvent(flowPkt(2, 1, 10), t0.Add(50*time.Second), "eth0", 2))
	k.Sweep(t0.Add(90 * time.Second))
	st := k.Stats()
	if st.FlowsKept != 1 || st.FlowsExpired != 1 {
		t.Fatalf("stats %+v", st)
	}
	k.Sweep(t0.Add(200 * time.Second))
	if st := k.Stats(); st.FlowsKept != 0 || st.FlowsExpired != 2 || st.BytesKept != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestIgnored: fragments, other protocols and empty frames are not kept.
func TestIgnored(t *testing.T) {
	k := newKeeper(t, testSettings(t.TempDir()))
	frag := pktEvent(flowPkt(1, 1, 10), t0, "eth0", 2)
	frag.Class = datapath.ClassFrag
	icmp := pktEvent(flowPkt(2, 1, 10), t0, "eth0", 2)
	icmp.Proto = 1
	empty := pktEvent(flowPkt(3, 1, 10), t0, "eth0", 2)
	empty.Frame = nil
	for _, ev := range []*datapath.Event{frag, icmp, empty} {
		k.Observe(ev)
	}
	if st := k.Stats(); st.PacketsObserved != 0 || st.FlowsKept != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNilKeeper(t *testing.T) {
	var k *Keeper
	k.Observe(pktEvent(flowPkt(1, 1, 10), t0, "eth0", 2))
	k.Sweep(t0)
	if _, err := k.Capture(FlowKey{}, t0, "", "", ""); !errors.Is(err, ErrDisabled) {
		t.Fatal(err)
	}
	if k.Stats() != (Stats{}) {
		t.Fatal("stats")
	}
}

// TestConcurrent observes from many goroutines while others capture,
// sweep and read stats (run with -race).
func TestConcurrent(t *testing.T) {
	s := testSettings(t.TempDir())
	s.FlowPackets, s.Memory = 16, 2<<20
	k := newKeeper(t, s)
	const workers, perWorker, flows = 8, 3000, 64
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			evs := make([]*datapath.Event, flows)
			for i := range evs {
				evs[i] = pktEvent(flowPkt(i, uint32(w), 200+i), t0, fmt.Sprint("eth", w%2), uint32(w%2))
			}
			for n := 0; n < perWorker; n++ {
				ev := evs[(n*7+w)%flows]
				if n%2 == 1 { // the other direction
					r := *ev
					r.Src, r.Dst = ev.Dst, ev.Src
					ev = &r
				}
				ev.Time = t0.Add(time.Duration(n) * time.Microsecond)
				k.Observe(ev)
			}
		}(w)
	}
	var bg sync.WaitGroup
	for c := 0; c < 2; c++ {
		bg.Add(1)
		go func(c int) {
			defer bg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				key := EventKey(pktEvent(flowPkt((i*5+c)%flows, 0, 1), t0, "", 0))
				if _, err := k.Capture(key, t0.Add(time.Duration(i)), "", fmt.Sprint(i), "race"); err != nil && !errors.Is(err, ErrNoFlow) {
					t.Error(err)
					return
				}
				k.Stats()
				if i%10 == 0 {
					k.Sweep(t0.Add(-time.Hour))
				}
			}
		}(c)
	}
	wg.Wait()
	close(done)
	bg.Wait()
	st := k.Stats()
	if st.PacketsObserved != workers*perWorker || st.FlowsKept != flows || st.BytesKept > uint64(s.Memory) || st.WriteErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
	k.Sweep(t0.Add(time.Hour))
	if st := k.Stats(); st.FlowsKept != 0 || st.BytesKept != 0 {
		t.Fatalf("after sweep %+v", st)
	}
}
