package daemon

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgesensor/edgesensor/sensor"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/ecs/communityid"
	"github.com/edgesensor/edgesensor/userspace/files"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// Held packets are copies of frames the data plane dropped: bounded per
// flow and in all. Past a bound a packet is not kept; its sender sends it
// again (TCP retransmits what is not acknowledged).
const (
	maxHeldPerFlow = 64
	maxHeldBytes   = 64 << 20
)

// holder is enforcement's hold on downloads (files.Holds): it keeps the
// packets the data plane held while their files are judged, moves each
// flow's gate past what the pipeline judged, and on the verdict hands
// the packets on (clean), or blocks the flow and sends the client a
// reset made of the held packet (malicious). A verdict later than
// hold_timeout gets on_timeout; the daemon decides at 90% of it, before
// the data plane's own fail-open deadline.
type holder struct {
	e *enforcer
	k *sensor.Holds

	mu       sync.Mutex
	flows    map[datapath.Flow]*heldFlow
	bytes    int
	stopping bool // stop: every wait settles as clean

	// cut: flows whose wait ended in a block, and when. A packet of such a
	// flow that the data plane held meanwhile (the sender's retransmission
	// of the held bytes, between the verdict and the block taking
	// effect) is dropped, not handed on around the block.
	cut map[datapath.Flow]time.Time

	stats holdStats
	// waited: how long a clean download's last packet was held, from the
	// data plane holding it to its release; cloudTook, the cloud lookups.
	waited    latencies
	cloudTook latencies
	// read: how long packets handed on at once were held (the data
	// plane holding them to their re-injection).
	read latencies
	// lookup is the uplink's hash lookup, or nil (no uplink).
	lookup func() cloudLookup
	done   chan struct{}
}

type holdStats struct {
	Packets      atomic.Uint64 // held packets read
	Passed       atomic.Uint64 // handed on at once (nothing awaited)
	Kept         atomic.Uint64 // kept while a verdict was awaited
	NotKept      atomic.Uint64 // not kept (a bound, or a frame cut at the snaplen): left to a retransmission
	Released     atomic.Uint64 // downloads released on a clean verdict (in time: late ones are Timeouts)
	Blocked      atomic.Uint64 // downloads blocked on their verdict
	Timeouts     atomic.Uint64 // verdicts later than hold_timeout (on_timeout applied)
	AfterTheFact atomic.Uint64 // malicious downloads not held (the client had them); flow blocked after
	AfterBlock   atomic.Uint64 // held packets of a flow whose wait ended in a block: dropped
	Errors       atomic.Uint64 // gate writes or hand-ons that failed
	CloudErrors  atomic.Uint64 // cloud lookups that failed or timed out
}

// heldFlow is one flow's held packets while verdicts are awaited.
type heldFlow struct {
	frames  []heldFrame
	pending int                // verdicts awaited (may dip below 0: a verdict before the packet's report)
	seen    bool               // Held reported the packet that completed a file
	since   time.Time          // when the wait started (the timeout's clock)
	at      time.Time          // when the data plane held that packet
	d       files.HoldDecision // the latest, on the packet of time stamp basis
	basis   uint64
	bad     *files.FileVerdict
}

type heldFrame struct {
	b       []byte
	ifindex uint32
}

func newHolder(e *enforcer, k *sensor.Holds) *holder {
	h := &holder{e: e, k: k, flows: map[datapath.Flow]*heldFlow{}, cut: map[datapath.Flow]time.Time{}, done: make(chan struct{})}
	h.lookup = func() cloudLookup { return e.an.taps.cloud.Load().lookupFn() }
	return h
}

// apply sets the data plane's hold timeout for s: holds are on only in
// block mode.
func (h *holder) apply(s *enforce.Settings) error {
	d := time.Duration(s.HoldTimeout)
	if s.ModeValue() != enforce.Block {
		d = 0
	}
	return h.k.SetTimeout(d)
}

// Held implements files.Holds.
func (h *holder) Held(ev *datapath.Event, d files.HoldDecision) {
	h.stats.Packets.Add(1)
	h.mu.Lock()
	if at, ok := h.cut[d.Flow]; ok {
		if time.Since(at) < cutMemory {
			h.mu.Unlock()
			h.stats.AfterBlock.Add(1)
			return
		}
		delete(h.cut, d.Flow)
	}
	st := h.flows[d.Flow]
	if d.Files == 0 && st == nil {
		h.mu.Unlock()
		h.pass(d, ev.Mono, [][]byte{ev.Frame}, ev.Ifindex)
		h.read.add(time.Since(ev.Time))
		return
	}
	if st == nil {
		st = &heldFlow{since: time.Now()}
		h.flows[d.Flow] = st
	}
	st.pending += d.Files
	if d.Files > 0 && !st.seen {
		st.seen, st.at = true, ev.Time
	}
	st.d, st.basis = d, ev.Mono
	if len(ev.Frame) == ev.FrameLen && len(st.frames) < maxHeldPerFlow && h.bytes+len(ev.Frame) <= maxHeldBytes {
		st.frames = append(st.frames, heldFrame{b: append([]byte(nil), ev.Frame...), ifindex: ev.Ifindex})
		h.bytes += len(ev.Frame)
		h.stats.Kept.Add(1)
	} else {
		h.stats.NotKept.Add(1)
	}
	h.settleLocked(d.Flow, st, false)
	h.mu.Unlock()
}

// Judged implements files.Holds.
func (h *holder) Judged(fl datapath.Flow, v files.FileVerdict) {
	set := h.e.set.Load()
	bad := v.Score.Score >= set.Threshold
	h.mu.Lock()
	st := h.flows[fl]
	if st == nil {
		if _, cut := h.cut[fl]; cut {
			// Its held packet was dropped (the flow blocked): no wait
			// to settle, and none to leave behind.
			h.mu.Unlock()
			return
		}
		st = &heldFlow{since: time.Now()}
		h.flows[fl] = st
	}
	st.pending--
	if bad && st.bad == nil {
		st.bad = &v
	}
	if lookup := h.lookup(); !bad && set.HoldCloud && v.CloudLookup && lookup != nil {
		// The cloud's word too, within what is left of the hold.
		st.pending++
		go h.askCloud(fl, st, v, lookup, st.since.Add(verdictBudget(set)))
	}
	h.settleLocked(fl, st, false)
	h.mu.Unlock()
}

// askCloud looks a held download's hash up in the cloud. No answer by
// deadline (or none at all) settles the wait by on_timeout.
func (h *holder) askCloud(fl datapath.Flow, st *heldFlow, v files.FileVerdict, lookup cloudLookup, deadline time.Time) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	r, err := lookup(ctx, v.SHA256)
	h.cloudTook.add(time.Since(start))
	if err != nil {
		h.stats.CloudErrors.Add(1)
	}
	set := h.e.set.Load()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.flows[fl] != st {
		return // settled meanwhile (hold_timeout)
	}
	if err != nil {
		// No word from the cloud (too slow, or unreachable): the
		// hold's fallback decides, now.
		h.settleLocked(fl, st, true)
		return
	}
	st.pending--
	if r.Known && r.Score >= set.Threshold && st.bad == nil {
		c := v
		c.Score.Score = r.Score
		c.Score.Reasons = append([]score.Reason{{Rule: "cloud.verdict", Weight: r.Score,
			Text: fmt.Sprintf("the cloud's lookup: %s (score %d)", r.Verdict, r.Score)}}, v.Score.Reasons...)
		st.bad = &c
	}
	h.settleLocked(fl, st, false)
}

// cloudLookup asks the cloud about a hash.
type cloudLookup func(ctx context.Context, sha string) (cloudapi.LookupResult, error)

// allowed: an allowlist in force holds either address of the flow, so
// the data plane passes it whatever its files hold (allowlists win).
func (h *holder) allowed(fl datapath.Flow) bool {
	t := h.e.tables.Load()
	if t == nil {
		return false
	}
	c, s := fl.Client.Addr().Unmap(), fl.Server.Addr().Unmap()
	for _, p := range t.Allow {
		if p.Contains(c) || p.Contains(s) {
			return true
		}
	}
	return false
}

// Unheld implements files.Holds: a judged file no held packet completed
// (monitor mode, mail, an upload, a body the data plane did not hold). A
// malicious one is reported, and in block mode its flow cut.
func (h *holder) Unheld(fl datapath.Flow, v files.FileVerdict, iface string) {
	set := h.e.set.Load()
	if v.Score.Score < set.Threshold || set.ModeValue() == enforce.Off || h.allowed(fl) {
		return
	}
	blocked := set.ModeValue() == enforce.Block
	hold := ""
	if blocked {
		h.stats.AfterTheFact.Add(1)
		hold = "not_held"
		h.block(fl, &v)
	}
	h.report(fl, &v, blocked, hold, iface)
}

// cutMemory is how long a blocked flow's held packets are dropped: the
// data plane's block is in force long before; maxCut bounds the record.
const (
	cutMemory = 10 * time.Second
	maxCut    = 4096
)

// markCut records that fl's wait ended in a block. h.mu held.
func (h *holder) markCut(fl datapath.Flow) {
	if len(h.cut) >= maxCut {
		now := time.Now()
		for f, at := range h.cut {
			if now.Sub(at) >= cutMemory || len(h.cut) >= maxCut {
				delete(h.cut, f)
			}
		}
	}
	h.cut[fl] = time.Now()
}

// settleLocked ends a flow's wait once every verdict is in, or when
// timedOut. h.mu held.
func (h *holder) settleLocked(fl datapath.Flow, st *heldFlow, timedOut bool) {
	if !timedOut && (st.pending > 0 || !st.seen) {
		return
	}
	if h.stopping {
		timedOut, st.bad = false, nil // what is held goes on
	}
	delete(h.flows, fl)
	for _, f := range st.frames {
		h.bytes -= len(f.b)
	}
	frames := st.frames
	set := h.e.set.Load()
	bad, hold := st.bad, "held"
	if bad != nil && h.allowed(fl) {
		bad = nil // allowlists win
	}
	if timedOut && bad == nil {
		h.stats.Timeouts.Add(1)
		if set.OnTimeout == enforce.OnTimeoutBlock {
			bad, hold = &files.FileVerdict{Name: "(verdict pending)", Sent: st.d.FromClient}, "timeout"
		}
	}
	if bad == nil && !st.seen {
		return // a verdict with no held packet to hand on (a daemon stopping)
	}
	if bad != nil {
		h.markCut(fl)
	}
	// Hand on (or reset) outside the lock: a run of the program takes
	// the packet through the stack. (Replay hands nothing on, and its
	// events must be written before its outputs close.)
	settle := func() {
		if bad == nil {
			if !timedOut {
				h.stats.Released.Add(1)
				h.waited.add(time.Since(st.at))
			}
			bs := make([][]byte, len(frames))
			for i, f := range frames {
				bs[i] = f.b
			}
			ifindex := uint32(0)
			if len(frames) > 0 {
				ifindex = frames[0].ifindex
			}
			h.pass(st.d, st.basis, bs, ifindex)
			return
		}
		h.stats.Blocked.Add(1)
		h.block(fl, bad)
		// The first held packet, run through the program now that the
		// flow is blocked (or made one in userspace where the program
		// cannot), reaches its receiver as a reset.
		if len(frames) > 0 {
			if err := h.k.Reset(frames[0].b, frames[0].ifindex); err != nil {
				h.stats.Errors.Add(1)
			}
		}
		if err := h.k.Forget(fl); err != nil {
			h.stats.Errors.Add(1)
		}
		h.report(fl, bad, true, hold, "")
	}
	if h.k.Live() {
		go settle()
	} else {
		settle()
	}
}

// pass hands frames on (or, with hold_release = "retransmit", lets the
// sender's retransmission through), then moves the flow's gate. In that
// order: until the frames are in, the gate the data plane lowered to
// them holds any other copy of their bytes, which then follows them, so
// the receiver keeps the bytes userspace read. A connection on which
// nothing more is judged for files (d.Off) is the exception, below.
func (h *holder) pass(d files.HoldDecision, basis uint64, frames [][]byte, ifindex uint32) {
	if h.e.k != nil && h.e.k.FlowBlocked(d.Flow, datapath.ProtoTCP) {
		// Blocked meanwhile (a file after the fact, intel): the first
		// frame becomes its receiver's reset (the program's, or made in
		// userspace inside a tunnel), the rest are dropped.
		if len(frames) > 0 {
			if err := h.k.Reset(frames[0], ifindex); err != nil {
				h.stats.Errors.Add(1)
			}
		}
		return
	}
	h.stats.Passed.Add(uint64(len(frames)))
	hand := h.k.Release
	if d.Off {
		// Nothing more to judge for files (TLS on the port, STARTTLS,
		// a tunnel): the gate comes off first, then the packets go back
		// through the program, not around it, so that what the rest of
		// the data plane says of them stands: a ServerHello waits for
		// its hello's verdict (the hello gate) and is analysed, a flow
		// blocked meanwhile gets its reset. Gate first: its bytes are
		// judged for files no more, and with the gate still on they
		// would only be held again (so, when it could not be lifted,
		// they are handed on around the program, as any).
		if err := h.k.Stop(d.Flow); err != nil {
			h.stats.Errors.Add(1)
		} else {
			hand = h.k.Resend
		}
	}
	if h.e.set.Load().HoldRelease != enforce.ReleaseRetransmit {
		for _, b := range frames {
			if err := hand(b, ifindex); err != nil {
				h.stats.Errors.Add(1)
			}
		}
	}
	if d.Off {
		return
	}
	var err error
	if d.Open {
		err = h.k.Open(d.Flow, d.Gate, basis)
	} else {
		err = h.k.Gate(d.Flow, d.Gate, d.FromClient)
	}
	if err != nil {
		// The gate stays where it was: the data plane's timeout lets
		// the packets through.
		h.stats.Errors.Add(1)
	}
}

// block cuts the flow of a malicious download.
func (h *holder) block(fl datapath.Flow, v *files.FileVerdict) {
	set := h.e.set.Load()
	d := sensor.FlowDetail{Reason: enforce.ReasonFile, Kind: "sha256", Value: v.SHA256, List: fileRule(v), Level: min(max(v.Score.Score, 1), 10)}
	if v.SHA256 == "" {
		d.Kind, d.Value = "file", v.Name
	}
	if err := h.e.k.BlockFlow(fl, datapath.ProtoTCP, d.List, time.Duration(set.FlowBlockFor), d); err != nil {
		h.stats.Errors.Add(1)
		h.e.log.Warn().Err(err).Msg("enforcement: a malicious download's flow not blocked")
	}
}

// fileRule names what condemned a file: its highest reason's rule.
func fileRule(v *files.FileVerdict) string {
	if len(v.Score.Reasons) > 0 {
		return v.Score.Reasons[0].Rule
	}
	return "file.score"
}

// report writes the edgesensor.action event of a malicious download.
func (h *holder) report(fl datapath.Flow, v *files.FileVerdict, blocked bool, hold, iface string) {
	ev := ecs.NewActionEvent(time.Now(), blocked, v.Score.Score)
	ev.Observer.Ingress.Interface.Name = iface
	// From where the file came to where it went.
	ev.Source, ev.Destination = ecs.EndpointOf(fl.Server), ecs.EndpointOf(fl.Client)
	if v.Sent {
		ev.Source, ev.Destination = ecs.EndpointOf(fl.Client), ecs.EndpointOf(fl.Server)
	}
	ev.Network.Transport, ev.Network.Type = "tcp", "ipv4"
	if fl.Client.Addr().Unmap().Is6() {
		ev.Network.Type = "ipv6"
	}
	ev.Network.CommunityID = communityid.String(h.e.an.cidSeed, communityid.TCP, fl.Client, fl.Server)
	ev.Rule.Name, ev.Rule.Category = fileRule(v), "file"
	act := &ev.Edgesensor.Action
	act.Kind, act.Matched, act.Hold, act.Reset = "sha256", v.SHA256, hold, blocked
	if v.SHA256 == "" {
		act.Kind, act.Matched = "file", v.Name
	}
	var why []string
	for _, r := range v.Score.Reasons {
		why = append(why, r.Rule)
	}
	switch hold {
	case "timeout":
		ev.Event.Reason = "download held past hold_timeout without a verdict (on_timeout = block)"
	default:
		ev.Event.Reason = fmt.Sprintf("download %s scored %d (%s)", v.Name, v.Score.Score, strings.Join(why, ", "))
	}
	if c := h.e.an.capture; c != nil {
		f := ev.Fields()
		ev.Edgesensor.Capture = c.capture(&f)
	}
	line, err := ev.MarshalLine()
	if err != nil {
		return
	}
	h.e.actions.Add(1)
	h.e.an.out.Write(&ecs.Record{Fields: ev.Fields(), Line: line})
}

// verdictBudget is how long the daemon waits for a held file's verdict:
// 90% of hold_timeout, so that it decides before the data plane's own
// fail-open deadline.
func verdictBudget(s *enforce.Settings) time.Duration {
	return time.Duration(s.HoldTimeout) * 9 / 10
}

// run applies on_timeout to verdicts later than verdictBudget, until
// stop.
func (h *holder) run() {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-h.done:
			return
		case now := <-t.C:
			limit := verdictBudget(h.e.set.Load())
			h.mu.Lock()
			for fl, st := range h.flows {
				if st.seen && now.Sub(st.since) >= limit {
					h.settleLocked(fl, st, true)
				} else if !st.seen && now.Sub(st.since) >= time.Minute {
					// A verdict whose packet report never came.
					delete(h.flows, fl)
				}
			}
			h.mu.Unlock()
		}
	}
}

// stop ends the timeouts; what is held is handed on (nothing is held
// past the daemon).
func (h *holder) stop() {
	close(h.done)
	h.mu.Lock()
	h.stopping = true
	for fl, st := range h.flows {
		st.bad, st.pending = nil, 0
		h.settleLocked(fl, st, true)
	}
	h.mu.Unlock()
}
