package sensor

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/packet/decap"
)

// Holds is the data plane's side of held downloads (hold.h): the gates
// in file_holds, the kernel's fail-open timeout, and the way a held
// packet is handed on. Safe for concurrent use.
type Holds struct {
	objs *bpf.Objects
	// pass returns XDP_PASS: a frame run through it with live frames
	// enters the stack as if just received on its interface.
	pass *ebpf.Program
	// live: hand frames on for real (BPF_F_TEST_XDP_LIVE_FRAMES); replay
	// has no interface to hand them to.
	live bool
}

// NewHolds takes over the hold state of objs, loaded with enforcement.
// live says held packets are real ones to hand on (false in replay).
func NewHolds(objs *bpf.Objects, live bool) (*Holds, error) {
	if objs.FileHolds == nil || objs.FileHolds.MaxEntries() <= 1 {
		return nil, errors.New("held downloads: the data plane was loaded without enforcement")
	}
	h := &Holds{objs: objs, live: live}
	// A quarter of the streams ring waiting: the reader is behind by
	// tens of milliseconds or more, and what it would hold waits as long.
	if err := h.SetMaxBacklog(uint64(objs.Streams.MaxEntries()) / 4); err != nil {
		return nil, err
	}
	if live {
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "edgesensor_pass", Type: ebpf.XDP, License: "Dual BSD/GPL",
			Instructions: asm.Instructions{asm.LoadImm(asm.R0, int64(2 /* XDP_PASS */), asm.DWord), asm.Return()}})
		if err != nil {
			return nil, fmt.Errorf("held downloads: loading the release program: %w", err)
		}
		h.pass = p
	}
	return h, nil
}

// NewHolds takes over the data plane's held downloads, and hands on the
// pieces of held datagrams (fragments) that their gate does not hold.
func (s *Sensor) NewHolds() (*Holds, error) {
	h, err := NewHolds(s.objs, true)
	if err != nil {
		return nil, err
	}
	if s.disp != nil && s.disp.frags != nil {
		// Through the program, not around it: a flow blocked while the
		// datagram was put together gets its reset, a chained program
		// sees the piece.
		s.disp.frags.setRelease(h.Resend)
	}
	return h, nil
}

// Live reports whether held packets are real ones, handed on for real.
func (h *Holds) Live() bool { return h.live }

// Close releases the release program. Gates left in the map fail open.
func (h *Holds) Close() error {
	if h.pass != nil {
		return h.pass.Close()
	}
	return nil
}

// SetTimeout sets how long the data plane holds a packet without word
// from userspace before it lets it through; 0 holds nothing.
func (h *Holds) SetTimeout(d time.Duration) error {
	if err := h.objs.HoldTimeoutNs.Set(uint64(max(d, 0))); err != nil {
		return fmt.Errorf("setting hold_timeout_ns: %w", err)
	}
	return nil
}

// HoldAlive is how long the data plane holds IP fragments for a verdict
// (hold.h frag_hold) after the daemon last said it lives (SetAlive): no
// gate's clock may be there to let them through.
const HoldAlive = 2 * time.Second

// SetAlive says the daemon lives: fragments are held for HoldAlive more.
// The daemon calls it every quarter second while it holds downloads.
func (h *Holds) SetAlive() error {
	if err := h.objs.HoldAliveUntil.Set(monoNow() + uint64(HoldAlive)); err != nil {
		return fmt.Errorf("setting hold_alive_until: %w", err)
	}
	return nil
}

// SetMaxBacklog sets how many bytes may wait in the streams ring for a
// packet to be held; past it packets pass unheld (0: no bound).
func (h *Holds) SetMaxBacklog(n uint64) error {
	if err := h.objs.HoldBacklog.Set(n); err != nil {
		return fmt.Errorf("setting hold_max_backlog: %w", err)
	}
	return nil
}

func (h *Holds) put(fl datapath.Flow, v bpf.FileHold) error {
	k := FlowKeyIn(fl.Client, fl.Server, datapath.ProtoTCP, fl.Zone)
	if err := h.objs.FileHolds.Put(&k, &v); err != nil {
		return fmt.Errorf("writing the hold of %s-%s: %w", fl.Client, fl.Server, err)
	}
	return nil
}

// Gate holds the flow's packets of one direction (the client's:
// fromClient) that carry bytes from seq on, and restarts the kernel's
// timeout.
func (h *Holds) Gate(fl datapath.Flow, seq uint32, fromClient bool) error {
	v := bpf.FileHold{GateSeq: seq, State: bpf.HoldGated}
	if fromClient {
		v.FromClient = 1
	}
	return h.put(fl, v)
}

// Open holds nothing more of the flow until its client's next request
// after the packet of time stamp basis (Event.Mono) it was decided on;
// judged is where the server's bytes were judged to (a request whose
// acknowledgement is far from it is no request of this connection).
func (h *Holds) Open(fl datapath.Flow, judged uint32, basis uint64) error {
	return h.put(fl, bpf.FileHold{State: bpf.HoldOpen, GateSeq: judged, OpenNs: basis})
}

// Stop holds nothing more of the connection: nothing on it can be judged
// any more (it upgraded to another protocol, tunnels, or went TLS). A new
// connection on the tuple starts a gate again.
func (h *Holds) Stop(fl datapath.Flow) error {
	return h.put(fl, bpf.FileHold{State: bpf.HoldOff})
}

// Forget deletes the flow's gate.
func (h *Holds) Forget(fl datapath.Flow) error {
	k := FlowKeyIn(fl.Client, fl.Server, datapath.ProtoTCP, fl.Zone)
	if err := h.objs.FileHolds.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("deleting the hold of %s-%s: %w", fl.Client, fl.Server, err)
	}
	return nil
}

// Release hands a held frame on: it enters the stack on ifindex as if
// just received (and is routed on to its destination).
// A program the sensor chains on that interface (sensor.xdp_share =
// "chain") never saw the held frame: the frame goes through it, and its
// verdict stands.
func (h *Holds) Release(frame []byte, ifindex uint32) error {
	p := h.pass
	if h.objs.Chain != nil {
		var id uint32
		if err := h.objs.Chain.Lookup(ifindex, &id); err == nil && id != 0 {
			if cp, err := ebpf.NewProgramFromID(ebpf.ProgramID(id)); err == nil {
				defer cp.Close()
				p = cp
			}
		}
	}
	return h.run(p, frame, 0, ifindex)
}

// Resend runs a held frame through the sensor's program as if just
// received on ifindex: the packet of a flow blocked meanwhile comes out
// as the reset the program makes of it; that of a connection no longer
// gated meets the rest of the data plane (handshake tracking, the hello
// gate). Metadata in front of it (RESEND_MAGIC) keeps it out of the
// packet counters, which counted it when it came in.
func (h *Holds) Resend(frame []byte, ifindex uint32) error {
	if !h.live {
		return nil
	}
	return h.run(h.objs.Program, markFrame(make([]byte, 0, 4+len(frame)), frame, bpf.ResendMagic), 4, ifindex)
}

// Reset makes a held frame of a blocked flow its receiver's reset: the
// program makes it (Resend) where it can; inside a tunnel, behind PPPoE
// or MPLS, or with IPv4 options or IPv6 extension headers userspace
// makes it (ownDirectionReset) and hands it on.
func (h *Holds) Reset(frame []byte, ifindex uint32) error {
	if !h.live {
		return nil
	}
	var fr decap.Frame
	if decap.Parse(frame, &fr); programResets(frame, &fr) {
		return h.Resend(frame, ifindex)
	}
	rst, err := ownDirectionReset(nil, frame, &fr)
	if err != nil {
		return fmt.Errorf("resetting a held frame (ifindex %d): %w", ifindex, err)
	}
	return h.run(h.pass, rst, 0, ifindex)
}

// run runs p in live mode over data, whose first meta bytes are XDP
// metadata.
func (h *Holds) run(p *ebpf.Program, data []byte, meta int, ifindex uint32) error {
	if !h.live {
		return nil
	}
	ctx := xdpMD{Data: uint32(meta), DataEnd: uint32(len(data)), IngressIfindex: ifindex}
	if _, err := p.Run(&ebpf.RunOptions{Data: data, Context: ctx, Repeat: 1, Flags: unix.BPF_F_TEST_XDP_LIVE_FRAMES}); err != nil {
		return fmt.Errorf("handing on a held frame (ifindex %d): %w", ifindex, err)
	}
	return nil
}

// xdpMD is struct xdp_md, the context of an XDP test run.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}
