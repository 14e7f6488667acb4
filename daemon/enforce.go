package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/sensor"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/ecs/communityid"
	"github.com/edgesensor/edgesensor/userspace/handshake"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
)

// enforcer runs [enforcement] in a live sensor: the intel's IP entries
// become the data plane's blocklists (swapped whole when the intel
// changes), kept fresh while the daemon lives; handshakes whose SNI, JA3
// or JA4 hit the intel get their flow blocked; and what the data plane
// did becomes edgesensor.action events.
type enforcer struct {
	set atomic.Pointer[enforce.Settings] // replaced whole by a reload
	k   *sensor.Enforcer
	an  *analysis
	log zerolog.Logger

	tables    atomic.Pointer[enforce.Tables]
	built     *intel.Set   // the set the tables were built from (the run loop's)
	builtFeed uint64       // and the feed's IP generation then
	stale     atomic.Bool  // a reload changed what the tables are built with
	confirmed atomic.Int64 // unix ns of the last Refresh
	actions   atomic.Uint64
	blockErrs atomic.Uint64
	// decided: how long blocking a flow took, from its hello's last
	// packet in the data plane to the block in force.
	decided latencies

	// readActions reads the data plane's action records (nil in replay,
	// which reads them after each packet).
	readActions func(context.Context, func(*sensor.Action)) error
	// ran is closed when run returns (stop waits for it, so no late
	// refresh follows).
	ran chan struct{}
	// hold holds downloads until their verdict (nil without a data plane
	// that can).
	hold *holder
	// helloHold is the hello gate's time in force in the data plane (0:
	// off); helloStats what became of the packets it held.
	helloHold  atomic.Int64
	helloMu    sync.Mutex // one syncHelloHold at a time (run loop, reloads, replay's ticker)
	helloStats helloStats
	// aliveFailing: the last keepHoldsAlive could not write.
	aliveFailing atomic.Bool
}

// helloStats count the packets the hello gate held, by fate.
type helloStats struct {
	Released atomic.Uint64 // the hello allowed: handed on
	Blocked  atomic.Uint64 // the flow blocked: TCP back through the program as the client's reset, QUIC dropped
	NotKept  atomic.Uint64 // cut at the snaplen: left to the sender's retransmission
	Waiting  atomic.Uint64 // the hello still to come: dropped (the gate stays; the sender retransmits)
	Errors   atomic.Uint64 // writes and hand-ons that failed (the gate's own time lets packets through)
}

func startEnforcer(cfg *config.Config, s *sensor.Sensor, an *analysis, log zerolog.Logger) (*enforcer, error) {
	k, err := s.NewEnforcer()
	if err != nil {
		return nil, err
	}
	holds, err := s.NewHolds()
	if err != nil {
		return nil, err
	}
	e, err := newEnforcer(cfg, k, holds, an, log)
	if err != nil {
		holds.Close()
		return nil, err
	}
	e.readActions = func(ctx context.Context, fn func(*sensor.Action)) error { return s.ReadActions(ctx, k, fn) }
	return e, nil
}

// newEnforcer puts the lists of the current intel in force through k,
// sets the mode and takes the analysis' hellos.
func newEnforcer(cfg *config.Config, k *sensor.Enforcer, holds *sensor.Holds, an *analysis, log zerolog.Logger) (*enforcer, error) {
	e := &enforcer{k: k, an: an, log: log, ran: make(chan struct{})}
	set := cfg.Enforce
	e.set.Store(&set)
	if err := e.rebuild(); err != nil {
		return nil, err
	}
	if err := k.SetMode(set.ModeValue()); err != nil {
		return nil, err
	}
	if holds != nil {
		e.hold = newHolder(e, holds)
		if err := e.hold.apply(&set); err != nil {
			return nil, err
		}
		go e.hold.run()
		an.files.SetHolds(e.hold)
	}
	hook, held := e.onClientHello, e.onHelloHeld
	an.onHello.Store(&hook)
	an.onHeld.Store(&held)
	e.syncHelloHold()
	e.keepHoldsAlive()
	t := e.tables.Load()
	log.Info().Str("mode", set.Mode).Int("threshold", set.Threshold).Int("entries", len(t.Entries)).
		Int("below_threshold", t.Below).Int("allow", len(t.Allow)).Dur("max_age", time.Duration(set.MaxAge)).
		Msg("enforcement on")
	return e, nil
}

// currentSet is the intel in force, or nil.
func (e *enforcer) currentSet() *intel.Set {
	if r := e.an.intel.Load(); r != nil {
		return r.Current()
	}
	return nil
}

// rebuild swaps in the tables of the current intel.
func (e *enforcer) rebuild() error {
	set := e.currentSet()
	gen := e.an.feed.layer().IPGen()
	t := enforce.Build(set, e.set.Load())
	start := time.Now()
	if err := e.k.Replace(t); err != nil {
		return fmt.Errorf("enforcement: loading the blocklists: %w", err)
	}
	e.tables.Store(t)
	e.built, e.builtFeed = set, gen
	e.confirmed.Store(time.Now().UnixNano())
	if t.AllowDropped > 0 {
		e.log.Warn().Int("left_out", t.AllowDropped).Int("limit", enforce.MaxAllow).Msg("enforcement: allowlist too long; entries left out")
	}
	if t.FeedAllowLeftOut > 0 {
		e.log.Info().Int("left_out", t.FeedAllowLeftOut).Msg("enforcement: feed allow entries a local block overlaps are not in the data plane's allowlist (the local block stays)")
	}
	if t.TooBroad > 0 {
		e.log.Warn().Int("left_out", t.TooBroad).Msg("enforcement: blocklist prefixes shorter than enforcement.min_prefix_v4/_v6 left out")
	}
	e.log.Info().Int("entries", len(t.Entries)).Int("below_threshold", t.Below).Int("allow", len(t.Allow)).
		Int64("took_ms", time.Since(start).Milliseconds()).Msg("enforcement: blocklists swapped in")
	return nil
}

// run keeps the lists fresh and current, expires flow blocks and turns
// the data plane's action records into events, until ctx ends. Lists are
// confirmed only while they are the current intel's: when new intel
// cannot be swapped in, the old lists lapse at max_age (retried every
// few seconds meanwhile).
func (e *enforcer) run(ctx context.Context) {
	defer close(e.ran)
	go func() {
		if err := e.readActions(ctx, e.onAction); err != nil {
			e.log.Error().Err(err).Msg("enforcement: action records no longer read")
		}
	}()
	// Confirmed four times per max_age (read at each beat: a reload may
	// change it).
	beat := func() time.Duration { return max(time.Duration(e.set.Load().MaxAge)/4, time.Second) }
	refresh := time.NewTicker(beat())
	// New intel is in force within a quarter second of its load.
	tick := time.NewTicker(250 * time.Millisecond)
	defer refresh.Stop()
	defer tick.Stop()
	var expired, failedAt time.Time
	failing := false
	check := func(now time.Time) {
		if now.Sub(expired) >= time.Second {
			e.k.ExpireFlows(now)
			expired = now
		}
		e.syncHelloHold()
		e.keepHoldsAlive()
		t := e.tables.Load()
		due := e.currentSet() != e.built || e.an.feed.layer().IPGen() != e.builtFeed || e.stale.Load() ||
			(t != nil && !t.NextExpiry.IsZero() && !now.Before(t.NextExpiry))
		if !due || (failing && now.Sub(failedAt) < 5*time.Second) {
			return
		}
		e.stale.Store(false)
		if err := e.rebuild(); err != nil {
			if !failing {
				e.log.Error().Err(err).Msg("enforcement: new intel not in force; the lists in force lapse at max_age unless a retry succeeds")
			}
			failing, failedAt = true, now
			e.stale.Store(true)
			return
		}
		failing = false
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.an.feed.changed():
			// The feed changed: its lists in force now, not at the tick.
			check(time.Now())
		case now := <-tick.C:
			check(now)
		case <-refresh.C:
			refresh.Reset(beat())
			if failing {
				continue
			}
			if err := e.k.Refresh(); err != nil {
				e.log.Error().Err(err).Msg("enforcement: lists not refreshed; they lapse at max_age")
				continue
			}
			e.confirmed.Store(time.Now().UnixNano())
		}
	}
}

// keepFresh confirms the lists every quarter of max_age until the
// returned stop (replay, which has no run loop).
func (e *enforcer) keepFresh() (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(max(time.Duration(e.set.Load().MaxAge)/4, time.Second))
		defer t.Stop()
		hello := time.NewTicker(250 * time.Millisecond) // the hello gate's liveness
		defer hello.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				e.k.Refresh()
			case <-hello.C:
				e.syncHelloHold()
				e.keepHoldsAlive()
			}
		}
	}()
	return func() { close(done) }
}

// apply takes a reload's [enforcement]: the mode at once (off here only
// stops acting: the program keeps enforcement compiled in) and the
// lists' maximum age; the run loop builds the tables again (threshold,
// allowlist) and confirms them, as it would without a reload. From the
// reload's goroutine; on an error nothing changed.
func (e *enforcer) apply(next enforce.Settings) error {
	old := e.set.Load()
	if err := e.k.SetMode(next.ModeValue()); err != nil {
		e.k.SetMode(old.ModeValue())
		return err
	}
	if e.hold != nil {
		if err := e.hold.apply(&next); err != nil {
			e.k.SetMode(old.ModeValue())
			return err
		}
	}
	e.set.Store(&next)
	e.k.SetMaxAge(time.Duration(next.MaxAge))
	e.stale.Store(true)
	e.syncHelloHold()
	return nil
}

// stop ends all enforcement: mode off, every list stale.
func (e *enforcer) stop() error {
	e.an.onHello.Store(nil)
	e.k.SetHelloHold(0)
	e.an.onHeld.Store(nil)
	if e.hold != nil {
		e.an.files.SetHolds(nil)
		e.hold.k.SetTimeout(0)
		e.hold.stop()
	}
	select {
	case <-e.ran:
	case <-time.After(10 * time.Second): // a swap in progress finishes first
	}
	return errors.Join(e.k.SetMode(enforce.Off), e.k.Stale())
}

// onClientHello blocks the flow of a handshake the intel condemns. A
// hello forged in a host's name can block only that tuple, and at most
// sensor.MaxFlowsPerClient of a client's are blocked at once.
func (e *enforcer) onClientHello(h *handshake.Hello) {
	set := e.set.Load()
	if set.ModeValue() == enforce.Off {
		return
	}
	hit, reason, ok := enforce.Handshake(e.currentSet(), set.Threshold, h.SNI, h.JA3, h.JA4)
	if !ok {
		e.releaseHello(h)
		return
	}
	d := sensor.FlowDetail{Reason: reason, Kind: hit.Kind.String(), Value: hit.Value, List: hit.Source, Level: hit.Level}
	err := e.k.BlockFlow(h.Flow, h.Proto, hit.Source, time.Duration(set.FlowBlockFor), d)
	if err == nil && !h.Seen.IsZero() {
		e.decided.add(time.Since(h.Seen))
	}
	if err != nil {
		e.releaseHello(h)
		e.blockErrs.Add(1)
		if e.blockErrs.Load()%1000 == 1 {
			e.log.Warn().Err(err).Uint64("errors", e.blockErrs.Load()).Msg("enforcement: flow not blocked")
		}
	}
}

// keepHoldsAlive tells the data plane, in block mode with holds, that the
// daemon lives: it holds IP fragments for a verdict only so long after
// (sensor.HoldAlive). Called every quarter second with syncHelloHold.
func (e *enforcer) keepHoldsAlive() {
	if set := e.set.Load(); e.hold == nil || set.ModeValue() != enforce.Block || set.HoldTimeout == 0 {
		return
	}
	err := e.hold.k.SetAlive()
	if err != nil {
		e.hold.stats.Errors.Add(1)
	}
	// Said once per failing spell, not every quarter second.
	if failing := err != nil; e.aliveFailing.Swap(failing) != failing && failing {
		e.log.Warn().Err(err).Msg("enforcement: the data plane not told the daemon lives; IP fragments pass unheld")
	}
}

// syncHelloHold puts the hello gate in force while it can act: block
// mode, hello_hold above zero, held packets can be handed on, and the
// intel holds handshake entries that block at the threshold (without,
// no hello is blocked, and none need wait).
func (e *enforcer) syncHelloHold() {
	e.helloMu.Lock()
	defer e.helloMu.Unlock()
	set := e.set.Load()
	want := time.Duration(0)
	if e.hold != nil && set.ModeValue() == enforce.Block && e.currentSet().Handshakes(set.Threshold) {
		want = time.Duration(set.HelloHold)
	}
	if want == 0 && e.helloHold.Load() == 0 {
		return
	}
	// Renewed while on: the data plane keeps the gate up only so long
	// after the last word (sensor.HelloAlive).
	if err := e.k.SetHelloHold(want); err != nil {
		e.helloStats.Errors.Add(1)
		e.log.Warn().Err(err).Msg("enforcement: the hello gate not changed")
		return
	}
	e.helloHold.Store(int64(want))
}

// releaseHello opens the hello gate of a handshake judged harmless: its
// server's packets go on from the data plane at once.
func (e *enforcer) releaseHello(h *handshake.Hello) {
	if e.helloHold.Load() == 0 {
		return
	}
	if e.k.ReleaseHello(h.Flow, h.Proto, h.Seq) != nil {
		e.helloStats.Errors.Add(1)
	}
}

// onHelloHeld takes a server packet the hello gate held. A blocked TCP
// flow's becomes the client's reset (sensor.Holds.Reset: the program
// makes it, or userspace inside a tunnel; a QUIC one stays dropped). One whose hello is still to come (the
// server answered part of it: a QUIC ACK, or a server racing its own
// client) stays dropped: the gate stays up, and the sender retransmits
// it. Any other goes on, then the gate opens (in that order, so the
// packets after it do not overtake it).
func (e *enforcer) onHelloHeld(ev *datapath.Event, judged *handshake.Hello) {
	if e.hold == nil {
		return
	}
	fl := ev.Flow()
	switch {
	case e.k.FlowBlocked(fl, ev.Proto):
		if ev.Proto == datapath.ProtoTCP && e.hold.k.Reset(ev.Frame, ev.Ifindex) != nil {
			e.helloStats.Errors.Add(1)
			return
		}
		e.helloStats.Blocked.Add(1)
		return
	case judged == nil:
		e.helloStats.Waiting.Add(1)
		return
	case len(ev.Frame) != ev.FrameLen:
		e.helloStats.NotKept.Add(1)
	case e.hold.k.Release(ev.Frame, ev.Ifindex) != nil:
		e.helloStats.Errors.Add(1)
	default:
		e.helloStats.Released.Add(1)
	}
	e.releaseHello(judged)
}

// onAction writes one action record as an edgesensor.action event.
func (e *enforcer) onAction(a *sensor.Action) {
	ev := ecs.NewActionEvent(a.Time, a.Blocked, a.Level)
	ev.Observer.Ingress.Interface.Name = a.Iface
	ev.Source, ev.Destination = ecs.EndpointOf(a.Src), ecs.EndpointOf(a.Dst)
	switch a.Proto {
	case 6:
		ev.Network.Transport = "tcp"
	case 17:
		ev.Network.Transport = "udp"
	case 1, 58:
		ev.Network.Transport = "icmp"
	default:
		ev.Network.Transport = strconv.Itoa(int(a.Proto))
	}
	ev.Network.Type = "ipv4"
	if a.Family == 6 {
		ev.Network.Type = "ipv6"
	}
	ev.Network.CommunityID = actionCommunityID(e.an.cidSeed, a)
	ev.Rule.Name = a.List
	act := &ev.Edgesensor.Action
	act.Reset = a.Reset
	switch a.What {
	case bpf.EnfWhatAddr:
		ev.Rule.Category = "address"
		act.Kind, act.Matched, act.Side = "ip", a.Prefix.String(), "source"
		if a.Side == bpf.EnfSideDst {
			act.Side = "destination"
		}
		ev.Event.Reason = fmt.Sprintf("%s address on blocklist %s (%s, level %d)", act.Side, a.List, act.Matched, a.Level)
	case bpf.EnfWhatFlow:
		ev.Rule.Category = "handshake"
		if a.HaveDetail {
			act.Kind, act.Matched = a.Detail.Kind, a.Detail.Value
			if a.Detail.Reason == enforce.ReasonFile {
				ev.Rule.Category = "file"
			}
			ev.Event.Reason = fmt.Sprintf("%s %s on blocklist %s (level %d)", a.Detail.Reason, a.Detail.Value, a.List, a.Level)
		} else {
			ev.Event.Reason = fmt.Sprintf("flow blocked (level %d)", a.Level)
		}
	}
	if c := e.an.capture; c != nil {
		f := ev.Fields()
		ev.Edgesensor.Capture = c.capture(&f)
	}
	line, err := ev.MarshalLine()
	if err != nil {
		return
	}
	e.actions.Add(1)
	e.an.out.Write(&ecs.Record{Fields: ev.Fields(), Line: line})
}

// actionCommunityID is network.community_id of the packet an action
// record describes (the same whichever way the packet went): none for
// ICMP, whose type and code the record does not keep, nor for a TCP or
// UDP packet without ports (a fragment after the first), whose id would
// not be its flow's.
func actionCommunityID(seed uint16, a *sensor.Action) string {
	switch a.Proto {
	case communityid.ICMP, communityid.ICMPv6:
		return ""
	case communityid.TCP, communityid.UDP, communityid.SCTP:
		if a.Src.Port() == 0 && a.Dst.Port() == 0 {
			return ""
		}
	}
	return communityid.String(seed, a.Proto, a.Src, a.Dst)
}

// latencies keeps the last latencySamples durations for quantiles.
type latencies struct {
	mu    sync.Mutex
	ring  [latencySamples]time.Duration
	n     uint64
	total atomic.Uint64
}

const latencySamples = 1024

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.ring[l.n%latencySamples] = d
	l.n++
	l.mu.Unlock()
	l.total.Add(1)
}

// quantiles of the samples kept; ok false when there are none.
func (l *latencies) quantiles(qs ...float64) ([]time.Duration, bool) {
	l.mu.Lock()
	n := min(l.n, latencySamples)
	s := append([]time.Duration(nil), l.ring[:n]...)
	l.mu.Unlock()
	if n == 0 {
		return nil, false
	}
	slices.Sort(s)
	out := make([]time.Duration, len(qs))
	for i, q := range qs {
		out[i] = s[min(int(q*float64(n)), int(n)-1)]
	}
	return out, true
}
