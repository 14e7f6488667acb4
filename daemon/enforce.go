package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
)

// enforcer runs [enforcement] in a live sensor: the intel's IP entries
// become the data plane's blocklists (swapped whole when the intel
// changes), kept fresh while the daemon lives; handshakes whose SNI, JA3
// or JA4 hit the intel get their flow blocked; and what the data plane
// did becomes edgesensor.action events.
type enforcer struct {
	set  enforce.Settings
	mode enforce.Mode
	k    *sensor.Enforcer
	an   *analysis
	log  zerolog.Logger

	tables    atomic.Pointer[enforce.Tables]
	built     *intel.Set   // the set the tables were built from
	confirmed atomic.Int64 // unix ns of the last Refresh
	actions   atomic.Uint64
	blockErrs atomic.Uint64

	ifMu    sync.Mutex
	ifnames map[uint32]string
}

func startEnforcer(cfg *config.Config, s *sensor.Sensor, an *analysis, log zerolog.Logger) (*enforcer, error) {
	k, err := s.NewEnforcer()
	if err != nil {
		return nil, err
	}
	e := &enforcer{set: cfg.Enforce, mode: cfg.Enforce.ModeValue(), k: k, an: an, log: log, ifnames: map[uint32]string{}}
	if err := e.rebuild(); err != nil {
		return nil, err
	}
	if err := k.SetMode(e.mode); err != nil {
		return nil, err
	}
	hook := e.onClientHello
	an.onHello.Store(&hook)
	t := e.tables.Load()
	log.Info().Str("mode", e.mode.String()).Int("threshold", e.set.Threshold).Int("entries", len(t.Entries)).
		Int("below_threshold", t.Below).Int("allow", len(t.Allow)).Dur("max_age", time.Duration(e.set.MaxAge)).
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
	t := enforce.Build(set, &e.set)
	start := time.Now()
	if err := e.k.Replace(t); err != nil {
		return fmt.Errorf("enforcement: loading the blocklists: %w", err)
	}
	e.tables.Store(t)
	e.built = set
	e.confirmed.Store(time.Now().UnixNano())
	if t.AllowDropped > 0 {
		e.log.Warn().Int("left_out", t.AllowDropped).Int("limit", enforce.MaxAllow).Msg("enforcement: allowlist too long; entries left out")
	}
	e.log.Info().Int("entries", len(t.Entries)).Int("below_threshold", t.Below).Int("allow", len(t.Allow)).
		Int64("took_ms", time.Since(start).Milliseconds()).Msg("enforcement: blocklists swapped in")
	return nil
}

// run keeps the lists fresh and current, expires flow blocks and turns
// the data plane's action records into events, until ctx ends.
func (e *enforcer) run(ctx context.Context) {
	go func() {
		if err := e.k.ReadActions(ctx, e.onAction); err != nil {
			e.log.Error().Err(err).Msg("enforcement: action records no longer read")
		}
	}()
	beat := max(time.Duration(e.set.MaxAge)/4, time.Second)
	refresh := time.NewTicker(beat)
	// New intel is in force within a quarter second of its load.
	tick := time.NewTicker(250 * time.Millisecond)
	defer refresh.Stop()
	defer tick.Stop()
	var expired time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if now.Sub(expired) >= time.Second {
				e.k.ExpireFlows(now)
				expired = now
			}
			if set := e.currentSet(); set != e.built {
				if err := e.rebuild(); err != nil {
					// The previous lists stay, and lapse at max_age unless a
					// later rebuild succeeds.
					e.log.Error().Err(err).Msg("enforcement: new intel not in force")
				}
			}
		case <-refresh.C:
			if err := e.k.Refresh(); err != nil {
				e.log.Error().Err(err).Msg("enforcement: lists not refreshed; they lapse at max_age")
				continue
			}
			e.confirmed.Store(time.Now().UnixNano())
		}
	}
}

// stop ends all enforcement: mode off, every list stale.
func (e *enforcer) stop() error {
	e.an.onHello.Store(nil)
	return errors.Join(e.k.SetMode(enforce.Off), e.k.Stale())
}

// onClientHello blocks the flow of a handshake the intel condemns.
func (e *enforcer) onClientHello(fl datapath.Flow, proto uint8, sni, ja3, ja4 string) {
	hit, reason, ok := enforce.Handshake(e.currentSet(), e.set.Threshold, sni, ja3, ja4)
	if !ok {
		return
	}
	t := e.tables.Load()
	d := sensor.FlowDetail{Reason: reason, Kind: hit.Kind.String(), Value: hit.Value, List: hit.Source, Level: hit.Level}
	if err := e.k.BlockFlow(fl, proto, t.ListID(hit.Source), time.Duration(e.set.FlowBlockFor), d); err != nil {
		e.blockErrs.Add(1)
		e.log.Warn().Err(err).Str("client", fl.Client.String()).Str("server", fl.Server.String()).Msg("enforcement: flow not blocked")
	}
}

// onAction writes one action record as an edgesensor.action event.
func (e *enforcer) onAction(a *sensor.Action) {
	ev := ecs.NewActionEvent(a.Time, a.Blocked, a.Level)
	ev.Observer.Ingress.Interface.Name = e.ifname(a.Ifindex)
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
	line, err := ev.MarshalLine()
	if err != nil {
		return
	}
	e.actions.Add(1)
	e.an.out.Write(&ecs.Record{Fields: ev.Fields(), Line: line})
}

// ifname names an interface index, remembering the answer.
func (e *enforcer) ifname(idx uint32) string {
	e.ifMu.Lock()
	defer e.ifMu.Unlock()
	if n, ok := e.ifnames[idx]; ok {
		return n
	}
	n := strconv.Itoa(int(idx))
	if i, err := net.InterfaceByIndex(int(idx)); err == nil {
		n = i.Name
	}
	e.ifnames[idx] = n
	return n
}
