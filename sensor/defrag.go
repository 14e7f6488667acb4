package sensor

import (
	"sync"
	"time"

	"github.com/cilium/ebpf"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/packet/csum"
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
//
// A datagram whose fragments the data plane held (hold.h frag_hold: one
// that may complete a download in block mode) reached no receiver: it is
// cut to its largest fragment's size, so each piece fits the path the
// fragments took, and each piece is judged and held like a packet of the
// wire (REINJECT_HOLD_MAGIC), put back in the layers it came in (a
// tunnel's too). A piece the program does not hold it hands on itself
// (release).
type defrag struct {
	mu    sync.Mutex
	r     *ipfrag.Reassembler
	prog  *progRunner
	fr    decap.Frame
	buf   []byte
	data  []byte
	reseg []byte
	// inner and piece: a held datagram's segment, and each piece of it
	// back in its layers (cutSegment).
	inner, piece []byte
	st           DefragStats
	// snaplen: the program copies no more of a frame, so no piece of a
	// held datagram is larger (its copy would be cut).
	snaplen int
	// release hands on a piece of a held datagram the program did not
	// hold (Holds.Resend); nil in replay, which hands nothing on.
	release func(frame []byte, ifindex uint32) error
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
	// Held datagrams: pieces judged, those the program did not hold and
	// userspace handed on, hand-ons that failed, and datagrams dropped
	// for a wrong TCP checksum (the receiver would have dropped them; cut
	// into pieces they would get good ones).
	HeldPieces, HeldPassed, HeldLost, HeldBadChecksum uint64
}

func newDefrag(c *config.Config, prog *ebpf.Program) *defrag {
	return &defrag{prog: newProgRunner(prog), snaplen: c.Capture.Snaplen, r: ipfrag.New(ipfrag.Config{
		MaxBytes: int64(c.Reassembly.FragmentMemory),
		Timeout:  time.Duration(c.Reassembly.FragmentTimeout),
	})}
}

// setRelease sets how pieces of held datagrams the program does not hold
// are handed on.
func (d *defrag) setRelease(fn func(frame []byte, ifindex uint32) error) {
	d.mu.Lock()
	d.release = fn
	d.mu.Unlock()
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
	dgram, ok := d.r.AddMarked(ev.Time, ev.Zone, ev.Frame[d.fr.L3:d.fr.L3End], ev.Held())
	if !ok {
		return
	}
	out, err := decap.Rebuild(d.buf[:0], ev.Frame, d.fr.L3, dgram)
	if err != nil {
		d.st.Unreadable++
		return
	}
	d.buf = out
	if done := d.r.Done(); done.Marked {
		d.judgeHeld(out, d.fr.L3, done.MaxFragment, ev.Ifindex)
		return
	}
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
	d.data = markFrame(d.data, frame, bpf.ReinjectMagic)
	ret, err := d.prog.runAt(d.data, 4, ifindex)
	if err != nil || ret != xdpPass {
		d.st.RunErrors++
		return
	}
	d.st.Reinjected++
}

// Floors of the pieces a held datagram is cut to: what every IPv4 host
// takes whole and every IPv6 link carries (a hostile sender's tiny
// fragments do not make tiny pieces).
const (
	minHeldPiece4 = 576
	minHeldPiece6 = 1280
)

// judgeHeld judges a datagram reassembled from held fragments: frame is it
// whole, its IP header at l3; maxFrag its largest fragment's IP length.
func (d *defrag) judgeHeld(frame []byte, l3, maxFrag int, ifindex uint32) {
	if !tcpChecksumOK(frame, &d.fr) {
		d.st.HeldBadChecksum++
		return
	}
	floor := minHeldPiece4
	if frame[l3]>>4 == 6 {
		floor = minHeldPiece6
	}
	limit := min(l3+max(maxFrag, floor), maxTestRunFrame)
	if d.snaplen > 0 {
		limit = min(limit, d.snaplen)
	}
	if len(frame) <= limit {
		d.runHeld(frame, ifindex)
		return
	}
	if d.cutSegment(frame, limit, ifindex) {
		return
	}
	if len(frame) > maxTestRunFrame || d.snaplen > 0 && len(frame) > d.snaplen {
		// Lost, and so is its sender's retransmission while the daemon
		// lives: no datagram that cannot be cut (IPv6 extension headers
		// in front of TCP) fits a run, or a copy (docs/enforcement.md,
		// Limits).
		d.st.TooBig++
		return
	}
	d.runHeld(frame, ifindex) // whole (IPv6 extension headers): a narrower path drops it
}

// cutSegment cuts the TCP segment a datagram carries (its innermost IP
// packet at d.fr.L3, as tcpChecksumOK parsed it, behind Ethernet and
// whatever layers: VLANs, a tunnel, PPPoE, MPLS) into pieces, each put
// back in those layers (decap.Rebuild: their lengths and checksums set
// for it) and at most limit bytes whole, and judges each. False when the segment cannot be cut (IPv6 extension headers in
// front of TCP) or its layers not rebuilt (then for none of the pieces:
// Rebuild depends on the layers alone).
func (d *defrag) cutSegment(frame []byte, limit int, ifindex uint32) bool {
	l3, end := d.fr.L3, d.fr.L3End
	room := limit - l3 // the inner IP packet's share of a piece
	if d.fr.Proto != 6 || end > len(frame) || room < 40+60+8 {
		return false
	}
	// Resegment cuts an Ethernet frame: the inner packet gets a bare
	// header of its version's EtherType.
	etype := []byte{0x08, 0x00}
	if frame[l3]>>4 == 6 {
		etype = []byte{0x86, 0xdd}
	}
	d.inner = append(append(append(d.inner[:0], make([]byte, 12)...), etype...), frame[l3:end]...)
	var n uint64
	var err error
	d.reseg, err = pcapfile.Resegment(d.inner, 14+room, d.reseg, func(f []byte) {
		out, err := decap.Rebuild(d.piece[:0], frame, l3, f[14:])
		if err != nil {
			return
		}
		d.piece = out
		n++
		d.runHeld(out, ifindex)
	})
	if err != nil || n == 0 {
		return false
	}
	d.st.Segments += n
	return true
}

// tcpChecksumOK reports whether the TCP segment in frame, a datagram
// reassembled from fragments, has the right checksum (a sender finishes
// it before it fragments: a partial one is wrong here); fr is scratch.
// Only a TCP header right after the IP header is judged (an IPv6 routing
// header would change the pseudo-header): the program decides the rest.
func tcpChecksumOK(frame []byte, fr *decap.Frame) bool {
	decap.Parse(frame, fr)
	if fr.Fragment || fr.Truncated || fr.Proto != 6 || fr.L3End > len(frame) || fr.L4 <= fr.L3 {
		return true
	}
	hdr := 40
	if fr.Family == 4 {
		hdr = int(frame[fr.L3]&0x0f) * 4
	}
	if fr.L4 != fr.L3+hdr {
		return true
	}
	return csum.L4(fr.Src, fr.Dst, 6, frame[fr.L4:fr.L3End]) == csum.Valid
}

// runHeld judges one piece of a held datagram, as a packet of the wire.
func (d *defrag) runHeld(frame []byte, ifindex uint32) {
	d.data = markFrame(d.data, frame, bpf.ReinjectMagic, bpf.ReinjectHoldMagic)
	ret, err := d.prog.runAt(d.data, 8, ifindex)
	if err != nil {
		d.st.RunErrors++
	} else {
		d.st.HeldPieces++
		if ret != xdpPass {
			return // held (or its flow blocked): the hold answers for it
		}
	}
	// Not held (the gate is past it, or open): nothing else hands it on.
	if d.release == nil {
		return
	}
	if err := d.release(frame, ifindex); err != nil {
		d.st.HeldLost++
		return
	}
	d.st.HeldPassed++
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
