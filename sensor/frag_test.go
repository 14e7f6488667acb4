package sensor

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// replayFrames runs frames through a Replayer (the program, the
// fragments ring, reassembly and re-injection) into a collector.
func replayFrames(t *testing.T, cfg *config.Config, frames [][]byte) ([]datapath.Event, ReplayStats) {
	t.Helper()
	testutil.RequireBPF(t)
	if cfg == nil {
		c := config.Default()
		cfg = &c
	}
	col := &collector{}
	r, err := NewReplayer(cfg, col)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1700000000, 0)
	for i, f := range frames {
		if err := r.Packet(f, t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	return col.evs, st
}

// A ClientHello carried in tiny IP fragments, in reverse order, over
// IPv4 (8 bytes) and IPv6 (24: RFC 8200 makes a host drop a first
// fragment without the whole TCP header, see below): reassembled and
// re-injected whole, it is emitted once as the hello of a new handshake;
// its fragments are not analysed.
func TestPrivilegedFragmentedHello(t *testing.T) {
	ch := testutil.ClientHello(300)
	for _, v6 := range []bool{false, true} {
		p := testutil.Pkt{V6: v6, Sport: 40123, Dport: 443, Seq: 1000, Ack: 1, Flags: "PA", Payload: ch}
		whole := p.Frame()
		size := 8
		if v6 {
			size = 24
		}
		frags := testutil.Fragments(whole, 14, size, 0x4242)
		slices.Reverse(frags)
		evs, st := replayFrames(t, nil, frags)
		var hello []datapath.Event
		for _, e := range evs {
			if e.Class == datapath.ClassTLS {
				hello = append(hello, e)
			}
		}
		if len(hello) != 1 || !bytes.Equal(hello[0].Payload, ch) || hello[0].Flags&datapath.FlagReinjected == 0 ||
			hello[0].Flags&datapath.FlagFlowNew == 0 {
			t.Fatalf("v6 %v: %d TLS events from %d fragments: %+v", v6, len(hello), len(frags), hello)
		}
		if st.Fragments["reassembled"] != 1 || st.Fragments["reinjected"] != 1 || st.Fragments["events"] != uint64(len(frags)) {
			t.Errorf("v6 %v: fragment stats %v", v6, st.Fragments)
		}
		if st.Counters["reinjected"] != 1 || st.Counters["fragments"] != uint64(len(frags)) {
			t.Errorf("v6 %v: data-plane counters reinjected=%d fragments=%d", v6, st.Counters["reinjected"], st.Counters["fragments"])
		}
	}
}

// Overlapping fragments drop the whole datagram (RFC 5722, and Linux for
// IPv4 too): nothing is emitted, the overlap is counted.
func TestPrivilegedOverlappingFragmentsDropped(t *testing.T) {
	ch := testutil.ClientHello(300)
	p := testutil.Pkt{Sport: 40124, Dport: 443, Seq: 1000, Ack: 1, Flags: "PA", Payload: ch}
	frags := testutil.Fragments(p.Frame(), 14, 64, 7)
	// A copy of the second fragment moved 8 bytes back overlaps two.
	bad := append([]byte(nil), frags[1]...)
	bad[21] -= 1 // offset in 8-byte units, low byte
	testutil.FixIPv4Checksum(bad, 14)
	frames := append([][]byte{frags[0], bad}, frags[1:]...)
	evs, st := replayFrames(t, nil, frames)
	for _, e := range evs {
		if e.Class == datapath.ClassTLS {
			t.Fatalf("an overlapping datagram was analysed: %+v", e)
		}
	}
	if st.Fragments["overlaps"] == 0 {
		t.Errorf("overlap not counted: %v", st.Fragments)
	}
}

// Fragments of a datagram whose first fragment shows nothing of interest
// stay in the kernel.
func TestPrivilegedBoringFragmentsStayInKernel(t *testing.T) {
	p := testutil.Pkt{UDP: true, Sport: 5000, Dport: 5001, Payload: bytes.Repeat([]byte("x"), 3000)}
	frags := testutil.Fragments(p.Frame(), 14, 1400, 9)
	evs, st := replayFrames(t, nil, frags)
	if len(evs) != 0 || st.Fragments["events"] != 0 {
		t.Fatalf("boring fragments emitted: %d events, stats %v", len(evs), st.Fragments)
	}
	if st.Counters["frag_skipped"] != uint64(len(frags)) {
		t.Errorf("frag_skipped %d, want %d", st.Counters["frag_skipped"], len(frags))
	}
	_ = bpf.ClassFrag
}

// An IPv6 first fragment too short for the TCP header: a host drops the
// datagram (RFC 8200 4.5), and so does the sensor, counted.
func TestPrivilegedIPv6TinyFirstFragment(t *testing.T) {
	p := testutil.Pkt{V6: true, Sport: 40125, Dport: 443, Seq: 1000, Ack: 1, Flags: "PA", Payload: testutil.ClientHello(100)}
	evs, st := replayFrames(t, nil, testutil.Fragments(p.Frame(), 14, 8, 11))
	for _, e := range evs {
		if e.Class == datapath.ClassTLS {
			t.Fatalf("a datagram with a tiny first fragment was analysed")
		}
	}
	if st.Fragments["tiny"] == 0 {
		t.Errorf("tiny first fragment not counted: %v", st.Fragments)
	}
}
