package sensor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/packet/pcapfile"
)

// xdpPass is the XDP_PASS verdict.
const xdpPass = 2

// maxTestRunFrame is the largest frame BPF_PROG_TEST_RUN takes for an XDP
// program without multi-buffer support (a page minus headroom and
// skb_shared_info). Larger TCP frames are cut to wire size first.
const maxTestRunFrame = 3500

// wireFrame is what oversized TCP frames are cut to.
const wireFrame = 1514

// ReplayStats is what `replay --stats` prints: the data plane's counters
// for the replayed packets plus what userspace did with the events.
type ReplayStats struct {
	Packets      uint64            `json:"packets"`
	Bytes        uint64            `json:"bytes"`
	Emitted      EmittedStats      `json:"emitted"`
	RingbufDrops uint64            `json:"ringbuf_drops"`
	Flows        uint64            `json:"flows"`
	Events       uint64            `json:"events"`
	BadRecords   uint64            `json:"bad_records"`
	Files        int               `json:"capture_files"`
	Resegmented  uint64            `json:"resegmented_frames"`
	Skipped      uint64            `json:"skipped_frames"`
	Counters     map[string]uint64 `json:"counters"`
	// Fragments is what userspace did with the fragments the data plane
	// emitted: reassembly and re-injection.
	Fragments map[string]uint64 `json:"fragments,omitempty"`
	// Analysis holds the pipeline's own figures (filled by the caller).
	Analysis map[string]uint64 `json:"analysis,omitempty"`
}

// EmittedStats splits emitted events and bytes by ring buffer.
type EmittedStats struct {
	Handshakes RingStats `json:"handshakes"`
	Streams    RingStats `json:"streams"`
	Fragments  RingStats `json:"fragments"` // IP fragments, for reassembly in userspace
}

// RingStats counts the events and bytes into one ring buffer.
type RingStats struct {
	Events uint64 `json:"events"`
	Bytes  uint64 `json:"bytes"`
}

// Replayer pushes captured packets through the XDP program with
// BPF_PROG_TEST_RUN and drains the ring buffers after every packet into
// the same decoder, fragment reassembly and pipeline as live traffic.
//
// A packet's records are analysed before the next packet runs, as for a
// live sensor whose userspace keeps up: a verdict written on reading them
// (stream SKIP, CAPTURE or IGNORE, handshake END or EXTEND) changes what
// the data plane does with the flow's next packet, and an interface's
// checksum policy what it does with every flow's. The shards run in this
// goroutine (NewInlineDispatcher), as many as live, so flows split among
// them as live. Handing records to workers and waiting only where a flow
// has records in flight measured more CPU, not less: a capture's flows
// come in bursts (in bench section 8's corpus mix, 57% of packets
// directly follow one of their own flow), so nearly every packet waited
// for a hand-over between threads. Ticks follow capture time and are
// handled before the next packet too.
type Replayer struct {
	cfg   *config.Config
	objs  *bpf.Objects
	rings []*ringbuf.Reader
	disp  *Dispatcher
	rec   ringbuf.Record
	prog  *progRunner
	// per packet, read by fix
	now   time.Time
	iface string
	fix   func(*datapath.Event)

	// Done, when closed, stops File between packets (Ctrl-C).
	Done <-chan struct{}

	// Read counts what File has read so far (packets, and frame bytes
	// plus a record header each), for a progress display.
	Read struct{ Packets, Bytes atomic.Uint64 }

	csum *checksumModes
	// enforcement: its own records, read after each packet and stamped
	// with the packet's capture time (EnforceWith).
	enf         *Enforcer
	actions     *ringbuf.Reader
	onAction    func(*Action)
	lastTick    time.Time
	reseg       []byte
	files       int
	resegmented uint64
	skipped     uint64
}

// ErrStopped is File's error when Done closed.
var ErrStopped = errors.New("replay stopped")

// ReplayStreamBudget is the per-flow byte budget replay runs with: none
// to speak of, so a capture is analysed whole whatever the workers' pace.
const ReplayStreamBudget = 1 << 50

// replayRing bounds replay's rings: many times what one packet can emit
// (a record is at most capture.snaplen and a few headers).
const replayRing = 1 << 20

// NewReplayer loads a private (unpinned) copy of the data plane for c
// and starts it with the pipeline p.
func NewReplayer(c *config.Config, p datapath.Pipeline) (*Replayer, error) {
	r, err := LoadReplayer(c)
	if err != nil {
		return nil, err
	}
	r.Start(p)
	return r, nil
}

// LoadReplayer loads the program and its maps for replay; the analysis
// that steers them (Verdicts, HSVerdicts, ChecksumMode) can then be built,
// and Start hands it the events.
func LoadReplayer(c *config.Config) (*Replayer, error) {
	// Replay drains the rings after every packet, so they never hold more
	// than one packet's records: rings of the configured size (40 MiB by
	// default, every page allocated and charged when the map is made)
	// would cost a short replay a sixth of its CPU for nothing.
	rc := *c
	rc.Capture.HandshakeRing = min(rc.Capture.HandshakeRing, replayRing)
	rc.Capture.StreamRing = min(rc.Capture.StreamRing, replayRing)
	rc.Capture.FragmentRing = min(rc.Capture.FragmentRing, replayRing)
	objs, err := Load(&rc, "")
	if err != nil {
		return nil, err
	}
	r := &Replayer{objs: objs}
	if r.csum, err = newChecksumModes(objs, c); err != nil {
		objs.Close()
		return nil, err
	}
	for _, m := range []*ebpf.Map{objs.Handshakes, objs.Streams, objs.Fragments} {
		rd, err := ringbuf.NewReader(m)
		if err != nil {
			r.closeKernel()
			return nil, fmt.Errorf("opening ring buffer reader: %w", err)
		}
		// Never block: the rings are drained right after each run.
		rd.SetDeadline(time.Unix(1, 0))
		r.rings = append(r.rings, rd)
	}
	r.fix = func(ev *datapath.Event) {
		ev.Time = r.now
		ev.Interface = r.iface
	}
	r.prog = newProgRunner(objs.Program)
	r.cfg = c
	return r, nil
}

// Start sets the pipeline the records go to; call it once, before the
// first packet.
func (r *Replayer) Start(p datapath.Pipeline) {
	r.disp = NewInlineDispatcher(p, NewDecoder(nil, "replay"), r.cfg.WorkerCount())
	if r.cfg.Capture.Fragments {
		r.disp.frags = newDefrag(r.cfg, r.objs.Program)
	}
}

// Objects exposes the loaded data plane (tests read its maps).
func (r *Replayer) Objects() *bpf.Objects { return r.objs }

// Verdicts returns a writer for the replay's own stream verdicts.
func (r *Replayer) Verdicts() *VerdictWriter { return NewVerdictWriter(r.objs.StreamVerdicts) }

// HSVerdicts returns a writer for the replay's own handshake verdicts.
func (r *Replayer) HSVerdicts() *HSVerdictWriter { return NewHSVerdictWriter(r.objs.HSVerdicts) }

// ChecksumMode sets the data plane's checksum policy for an interface
// (in replay, every packet comes in on one).
func (r *Replayer) ChecksumMode(ifindex uint32, strict bool) { r.csum.set(0, strict) }

// File replays one pcap or pcapng file.
func (r *Replayer) File(path string) error {
	pr, err := pcapfile.Open(path)
	if err != nil {
		return err
	}
	defer pr.Close()
	defer func() { r.skipped += uint64(pr.Skipped) }()
	r.files++
	r.lastTick = time.Time{} // the next file may start earlier than this one ended
	for {
		pkt, err := pr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if n := r.Read.Packets.Add(1); n%1024 == 0 && r.Done != nil {
			select {
			case <-r.Done:
				return fmt.Errorf("%s: %w", path, ErrStopped)
			default:
			}
		}
		r.Read.Bytes.Add(uint64(len(pkt.Frame)) + 16)
		r.iface = pkt.Interface
		if r.iface == "" {
			r.iface = "replay"
		}
		if err := r.Packet(pkt.Frame, pkt.Time); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

// Packet runs one Ethernet frame captured at ts.
func (r *Replayer) Packet(frame []byte, ts time.Time) error {
	r.now = ts
	// Ticks follow capture time (packets without a time never tick).
	if !ts.IsZero() && (r.lastTick.IsZero() || ts.Sub(r.lastTick) >= time.Second) {
		r.disp.Tick(ts)
		r.lastTick = ts
	}
	if len(frame) < 14 {
		r.skipped++
		return nil
	}
	if len(frame) <= maxTestRunFrame {
		return r.run(frame)
	}
	var runErr error
	var err error
	r.reseg, err = pcapfile.Resegment(frame, wireFrame, r.reseg, func(f []byte) {
		r.resegmented++
		if runErr == nil {
			runErr = r.run(f)
		}
	})
	if err != nil {
		r.skipped++
		return nil
	}
	return runErr
}

func (r *Replayer) run(frame []byte) error {
	ret, err := r.prog.run(frame)
	if err != nil {
		return fmt.Errorf("running XDP program: %w", err)
	}
	if ret != xdpPass {
		// Only enforcement drops or sends back (counted in its
		// counters): the packet goes no further, as live.
		if r.enf == nil || (ret != xdpDrop && ret != xdpTX) {
			return fmt.Errorf("XDP program returned %d, not XDP_PASS", ret)
		}
	}
	if r.enf != nil {
		if err := r.drainActions(); err != nil {
			return err
		}
	}
	return r.drain()
}

// Other XDP verdicts than XDP_PASS, which only enforcement returns.
const (
	xdpDrop = 1
	xdpTX   = 3
)

// EnforceWith has the replay enforce as e decides (its lists, its mode,
// its blocked flows) and hands each action, stamped with the capture
// time of its packet, to fn.
func (r *Replayer) EnforceWith(e *Enforcer, fn func(*Action)) error {
	rd, err := ringbuf.NewReader(r.objs.Actions)
	if err != nil {
		return fmt.Errorf("opening the actions ring: %w", err)
	}
	rd.SetDeadline(time.Unix(1, 0))
	r.enf, r.actions, r.onAction = e, rd, fn
	return nil
}

// drainActions hands the action records of the packet just run to
// onAction.
func (r *Replayer) drainActions() error {
	for r.actions.AvailableBytes() > 0 {
		err := r.actions.ReadInto(&r.rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the actions ring: %w", err)
		}
		a, err := r.enf.decode(r.rec.RawSample)
		if err != nil {
			r.enf.Stats.Errors.Add(1)
			continue
		}
		a.Time, a.Iface = r.now, r.iface
		r.onAction(a)
	}
	return nil
}

// drain hands every record in the rings to the pipeline. Re-injected
// datagrams (reassembled fragments) add records while the rings are
// read: it reads until none is left. ReadInto is called only while a
// ring holds bytes: it then takes the next record from the shared memory
// without a system call, where on a ring it last found empty it first
// polls (epoll_wait), which cost two calls per packet.
func (r *Replayer) drain() error {
	for more := true; more; {
		more = false
		for _, rd := range r.rings {
			for rd.AvailableBytes() > 0 {
				more = true
				err := rd.ReadInto(&r.rec)
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break // only discarded records were left
				}
				if err != nil {
					return fmt.Errorf("reading ring buffer: %w", err)
				}
				r.disp.Dispatch(r.rec.RawSample, r.fix)
			}
		}
	}
	return nil
}

// Close finishes the pipeline and returns the statistics.
func (r *Replayer) Close() (ReplayStats, error) {
	st := ReplayStats{Files: r.files, Resegmented: r.resegmented, Skipped: r.skipped}
	if r.disp != nil { // started
		r.disp.Close()
		ds := r.disp.Stats()
		st.Events, st.BadRecords = ds.Events, ds.BadRecord
		st.Fragments = r.disp.FragmentStats()
	}
	c, err := ReadCounters(r.objs.Counters, 0)
	if err == nil {
		fillStats(&st, &c)
	}
	r.closeKernel()
	return st, err
}

func fillStats(st *ReplayStats, c *Counters) {
	st.Packets = c.Get(bpf.CounterPackets)
	st.Bytes = c.Get(bpf.CounterBytes)
	st.Emitted.Handshakes = RingStats{
		Events: c.Get(bpf.CounterTLSEvents) + c.Get(bpf.CounterQUICEvents),
		Bytes:  c.Get(bpf.CounterTLSBytes) + c.Get(bpf.CounterQUICBytes),
	}
	st.Emitted.Streams = RingStats{Events: c.Get(bpf.CounterStreamEvents), Bytes: c.Get(bpf.CounterStreamBytes)}
	st.Emitted.Fragments = RingStats{Events: c.Get(bpf.CounterFragEvents), Bytes: c.Get(bpf.CounterFragBytes)}
	st.RingbufDrops = c.Get(bpf.CounterTLSDrops) + c.Get(bpf.CounterQUICDrops) + c.Get(bpf.CounterStreamDrops) + c.Get(bpf.CounterFragDrops)
	st.Flows = c.Get(bpf.CounterFlows)
	if m, err := c.Map(); err == nil {
		st.Counters = m
	}
}

func (r *Replayer) closeKernel() {
	if r.actions != nil {
		r.actions.Close()
	}
	for _, rd := range r.rings {
		rd.Close()
	}
	r.objs.Close()
}
