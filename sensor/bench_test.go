package sensor

import (
	"errors"
	"os"
	"sort"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// fixture is one packet kind: the frame, what it should produce, and
// whether runs of the same frame are representative (stateless) or each
// run needs a fresh flow.
type fixture struct {
	name  string
	frame func(i int) []byte // i varies the flow when fresh is set
	fresh bool
	want  datapath.Class // 0: nothing emitted
	prime func() []byte  // a frame run once before (state the fixture needs)
}

var fixtures = []fixture{
	{name: "non_candidate_tcp", want: 0, frame: func(int) []byte {
		return testutil.Pkt{Sport: 5555, Dport: 6666}.With(1, "A", make([]byte, 1400)).Frame()
	}},
	// A client's SYN costs one flow lookup (a reused tuple may hold an old
	// handshake's state).
	{name: "syn", want: 0, frame: func(int) []byte {
		return testutil.Pkt{Sport: 5555, Dport: 6666}.With(1, "S", nil).Frame()
	}},
	{name: "udp", want: 0, frame: func(int) []byte {
		return testutil.Pkt{UDP: true, Sport: 5353, Dport: 53, Payload: make([]byte, 100)}.Frame()
	}},
	{name: "client_hello", want: datapath.ClassTLS, fresh: true, frame: func(i int) []byte {
		return testutil.Pkt{Sport: uint16(10000 + i%50000), Dport: 443, Src: "10.1.0.1", Dst: "10.2.0.1"}.With(1, "PA", testutil.ClientHello(512)).Frame()
	}},
	{name: "stream_packet", want: datapath.ClassStream, frame: func(int) []byte {
		return testutil.Pkt{Sport: 80, Dport: 45000}.With(1, "A", make([]byte, 1448)).Frame()
	}},
	{name: "quic_initial", want: datapath.ClassQUIC, fresh: true, frame: func(i int) []byte {
		return testutil.Pkt{UDP: true, Sport: uint16(10000 + i%50000), Dport: 443, Src: "10.1.0.1", Dst: "10.2.0.1"}.With(0, "", testutil.QUICInitial(1)).Frame()
	}},
	// The same non-candidate packet inside the encapsulations an edge
	// router carries: the deep parser's cost.
	{name: "non_candidate_tcp_vlan", want: 0, frame: func(int) []byte {
		return testutil.Encap{VLANs: []uint16{10}}.Wrap(nonCandidateIP())
	}},
	{name: "non_candidate_tcp_qinq_pppoe", want: 0, frame: func(int) []byte {
		return testutil.Encap{VLANs: []uint16{10, 20}, Layers: []testutil.Layer{{Kind: "pppoe", ID: 7}}}.Wrap(nonCandidateIP())
	}},
	{name: "non_candidate_tcp_vxlan", want: 0, frame: func(int) []byte {
		return testutil.Encap{Layers: []testutil.Layer{{Kind: "vxlan", Src: "192.0.2.1", Dst: "192.0.2.2", ID: 42}}}.Wrap(nonCandidateIP())
	}},
	{name: "non_candidate_tcp_gre_key", want: 0, frame: func(int) []byte {
		return testutil.Encap{Layers: []testutil.Layer{{Kind: "gre", Src: "192.0.2.1", Dst: "192.0.2.2", ID: 9, GREKey: true}}}.Wrap(nonCandidateIP())
	}},
	{name: "non_candidate_tcp_gtpu", want: 0, frame: func(int) []byte {
		return testutil.Encap{Layers: []testutil.Layer{{Kind: "gtpu", Src: "192.0.2.1", Dst: "192.0.2.2", ID: 0x1234}}}.Wrap(nonCandidateIP())
	}},
	// A fragmented non-candidate datagram: the first fragment (ports
	// known: decided, the decision kept for the rest) and a later one.
	{name: "fragment_first", want: 0, frame: func(int) []byte {
		return testutil.Fragments(testutil.Pkt{Sport: 5555, Dport: 6666}.With(1, "A", make([]byte, 1400)).Frame(), 14, 728, 77)[0]
	}},
	{name: "fragment_later", want: 0, frame: func(int) []byte {
		return testutil.Fragments(testutil.Pkt{Sport: 5555, Dport: 6666}.With(1, "A", make([]byte, 1400)).Frame(), 14, 728, 77)[1]
	}, prime: func() []byte {
		return testutil.Fragments(testutil.Pkt{Sport: 5555, Dport: 6666}.With(1, "A", make([]byte, 1400)).Frame(), 14, 728, 77)[0]
	}},
}

// nonCandidateIP is the IP packet of non_candidate_tcp.
func nonCandidateIP() []byte {
	return testutil.Pkt{Sport: 5555, Dport: 6666}.With(1, "A", make([]byte, 1400)).Frame()[14:]
}

// The fixtures produce what they claim: the benchmarks measure the paths
// they are named after.
func TestPrivilegedFixtures(t *testing.T) {
	h := newHarness(t, nil)
	for _, fx := range fixtures {
		if fx.prime != nil {
			h.run(fx.prime())
		}
		evs := h.run(fx.frame(1))
		if fx.want == 0 && len(evs) != 0 || fx.want != 0 && (len(evs) != 1 || evs[0].Class != fx.want) {
			t.Errorf("%s: %d events %v, want class %v", fx.name, len(evs), classes(evs), fx.want)
		}
	}
}

func emptyXDP(b *testing.B) *ebpf.Program {
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "MIT",
		Instructions: asm.Instructions{asm.LoadImm(asm.R0, 2, asm.DWord), asm.Return()}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

// drainAll empties the rings so emitting runs never hit a full ring.
func drainAll(b *testing.B, rings []*ringbuf.Reader) {
	var rec ringbuf.Record
	for _, rd := range rings {
		for rd.AvailableBytes() > 0 {
			if err := rd.ReadInto(&rec); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break
				}
				b.Fatal(err)
			}
		}
	}
}

// runKernel runs prog over frames and returns the kernel-measured ns per
// run: BPF_PROG_TEST_RUN times the program itself, not the syscall.
func runKernel(b *testing.B, prog *ebpf.Program, fx fixture, n int, rings []*ringbuf.Reader) float64 {
	var total float64
	if !fx.fresh {
		frame := fx.frame(0)
		for done := 0; done < n; {
			batch := min(n-done, 4096) // a batch of emitted frames fits in the rings
			_, d, err := prog.Benchmark(frame, batch, nil)
			if err != nil {
				b.Fatal(err)
			}
			total += float64(d.Nanoseconds()) * float64(batch)
			done += batch
			drainAll(b, rings)
		}
		return total / float64(n)
	}
	// Each run a new flow: one frame per call, so the kernel's timer wraps
	// a single run; the empty program is measured the same way.
	for i := 0; i < n; i++ {
		_, d, err := prog.Benchmark(fx.frame(i), 1, nil)
		if err != nil {
			b.Fatal(err)
		}
		total += float64(d.Nanoseconds())
		if i%1024 == 0 {
			drainAll(b, rings)
		}
	}
	return total / float64(n)
}

// BenchmarkPrivilegedXDP reports, per fixture, the kernel's ns/packet for
// the sensor and for an empty XDP_PASS program measured in the same run,
// and their ratio. The two are measured in alternating rounds and the
// medians compared, so a noisy neighbour hits both alike.
func BenchmarkPrivilegedXDP(b *testing.B) {
	empty := emptyXDP(b)
	for _, fx := range fixtures {
		b.Run(fx.name, func(b *testing.B) {
			h := newHarness(b, func(c *config.Config) { c.Capture.MaxFlows = 1 << 20 })
			if fx.prime != nil {
				h.run(fx.prime())
			}
			per := max(b.N/rounds, 1000)
			if fx.fresh {
				per = min(per, 2000)
			}
			var base, got []float64
			for r := 0; r < rounds; r++ {
				base = append(base, runKernel(b, empty, fx, per, nil))
				got = append(got, runKernel(b, h.objs.Program, fx, per, h.rings))
			}
			mb, mg := median(base), median(got)
			b.ReportMetric(mg, "ns/pkt")
			b.ReportMetric(mb, "empty-ns/pkt")
			b.ReportMetric(mg/mb, "x-empty")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// rounds of alternating measurements per fixture.
const rounds = 21

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
