// Flow blocks through the real program: resets, action records, tiny
// fragments, lapsing and the table's bound.

package sensor

import (
	"net/netip"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
)

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
