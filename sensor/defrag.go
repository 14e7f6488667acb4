package sensor

import (
	"sync"
	"time"

	"github.com/cilium/ebpf"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/packet/decap"
	"github.com/edgesensor/edgesensor/userspace/packet/ipfrag"
	"github.com/edgesensor/edgesensor/userspace/packet/pcapfile"
)

// defrag reassembles the IP fragments the data plane emits, as the
// receiving host does (userspace/packet/ipfrag: Linux's rules, RFC 5722), and
// runs each whole datagram through the same program again with
// BPF_PROG_TEST_RUN, marked as re-injected, so it meets the flow table,
// the verdicts and the analysis like any packet: one code path. The
// enclosing layers of a tunnelled fragment are kept, their lengths fixed
// (decap.Rebuild). A TCP datagram too large for a test run is cut into
// wire-sized segments first; any other is dropped and counted.
type defrag struct {
	mu    sync.Mutex
	r     *ipfrag.Reassembler
	prog  *progRunner
	fr    decap.Frame
	buf   []byte
	data  []byte
	reseg []byte
	st    DefragStats
}

// DefragStats count what fragment reassembly did, beside ipfrag.Stats.
type DefragStats struct {
	Fragments  uint64 // fragment events handled
	Reinjected uint64 // datagrams run through the program again
	Segments   uint64 // wire-sized segments a large datagram was cut into
	TooBig     uint64 // datagrams too large to re-inject (not TCP, or in a tunnel)
	Cut        uint64 // fragments cut by the snaplen: their datagram cannot be whole
	Unreadable uint64 // fragment events the Go parser did not follow
	RunErrors  uint64 // re-injections the kernel refused
}

func newDefrag(c *config.Config, prog *ebpf.Program) *defrag {
	return &defrag{prog: newProgRunner(prog), r: ipfrag.New(ipfrag.Config{
		MaxBytes: int64(c.Reassembly.FragmentMemory),
		Timeout:  time.Duration(c.Reassembly.FragmentTimeout),
	})}
}

// fragment takes one fragment event.
func (d *defrag) fragment(ev *datapath.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st.Fragments++
	if decap.Parse(ev.Frame, &d.fr); !d.fr.Fragment {
		d.st.Unreadable++
		return
	}
	if d.fr.L3End > len(ev.Frame) {
		d.st.Cut++
		return
	}
	dgram, ok := d.r.Add(ev.Time, ev.Zone, ev.Frame[d.fr.L3:d.fr.L3End])
	if !ok {
		return
	}
	out, err := decap.Rebuild(d.buf[:0], ev.Frame, d.fr.L3, dgram)
	if err != nil {
		d.st.Unreadable++
		return
	}
	d.buf = out
	if len(out) <= maxTestRunFrame {
		d.run(out, ev.Ifindex)
		return
	}
	n := uint64(0)
	d.reseg, err = pcapfile.Resegment(out, wireFrame, d.reseg, func(f []byte) {
		n++
		d.run(f, ev.Ifindex)
	})
	if err != nil {
		d.st.TooBig++
		return
	}
	d.st.Segments += n
}

// run re-injects one whole frame.
func (d *defrag) run(frame []byte, ifindex uint32) {
	// The metadata in front of the frame marks it as re-injected.
	d.data = markFrame(d.data, bpf.ReinjectMagic, frame)
	ret, err := d.prog.runAt(d.data, 4, ifindex)
	if err != nil || ret != xdpPass {
		d.st.RunErrors++
		return
	}
	d.st.Reinjected++
}

// expire drops datagrams that did not complete in time.
func (d *defrag) expire(now time.Time) {
	d.mu.Lock()
	d.r.Expire(now)
	d.mu.Unlock()
}

// held is what fragment reassembly holds now (reassembly.fragment_memory).
func (d *defrag) held() int64 {
	if d == nil {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.r.Held()
}

// stats returns the counters so far.
func (d *defrag) stats() (DefragStats, ipfrag.Stats) {
	if d == nil {
		return DefragStats{}, ipfrag.Stats{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st, *d.r.Stats()
}
