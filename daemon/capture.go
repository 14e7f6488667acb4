package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/alertpcap"
	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/metrics"
)

// captureRate bounds how many captures are written per second, with a
// burst of as many: each is a synced file write on the goroutine that
// writes the event, so a flood of alerting flows (which an attacker can
// make) must not turn into a stalled analysis. What the bound refuses is
// counted (capture_skipped_rate); the events say nothing of a capture.
const captureRate = 20

// capturer decides and writes the captures of alerting events.
type capturer struct {
	k    *alertpcap.Keeper
	seed uint16
	log  zerolog.Logger

	mu     sync.Mutex
	tokens float64
	last   time.Time

	written, skippedRate, noFlow, errs atomic.Uint64
}

// openCapture opens the [capture_on_alert] keeper; nil when it is off.
func openCapture(cfg *config.Config, log zerolog.Logger) (*capturer, error) {
	if !cfg.CaptureOnAlert.Enabled {
		return nil, nil
	}
	k, err := alertpcap.New(cfg.CaptureOnAlert, log.With().Str("part", "capture_on_alert").Logger())
	if err != nil {
		return nil, fmt.Errorf("capture_on_alert: %w", err)
	}
	return &capturer{k: k, seed: cfg.Output.Seed(), log: log, tokens: captureRate}, nil
}

// allow takes a token of the rate bound.
func (c *capturer) allow(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.last.IsZero() {
		c.tokens = min(captureRate, c.tokens+now.Sub(c.last).Seconds()*captureRate)
	}
	c.last = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// capture is the pipelines' and the daemon's ecs.CaptureFunc.
func (c *capturer) capture(f *ecs.Fields) *ecs.Capture {
	action := f.Dataset == ecs.ActionDataset
	score := -1
	if f.Scored {
		score = f.Score
	}
	set := c.k.Settings()
	if !set.Wants(score, action) {
		return nil
	}
	src, err1 := netip.ParseAddr(f.Source.IP)
	dst, err2 := netip.ParseAddr(f.Destination.IP)
	if err1 != nil || err2 != nil {
		return nil
	}
	key, err := alertpcap.NewFlowKey(netip.AddrPortFrom(src, f.Source.Port), netip.AddrPortFrom(dst, f.Destination.Port), f.Transport)
	if err != nil {
		return nil // ICMP actions: no flow of packets kept
	}
	if !c.allow(time.Now()) {
		c.skippedRate.Add(1)
		return nil
	}
	id := f.Dataset + " " + f.Time.UTC().Format(time.RFC3339Nano) + " " + f.CommunityID
	reason := fmt.Sprintf("risk_score %d", score)
	switch {
	case action:
		reason = f.Action + ": " + f.Reason
	case f.Verdict != "":
		reason += " (" + f.Verdict + ")"
	}
	path, err := c.k.Capture(key, f.Time, f.CommunityID, id, reason)
	switch {
	case errors.Is(err, alertpcap.ErrNoFlow):
		c.noFlow.Add(1)
		return nil
	case err != nil:
		c.errs.Add(1)
		c.log.Warn().Err(err).Str("flow", key.String()).Msg("capture on alert failed")
		return nil
	}
	c.written.Add(1)
	return &ecs.Capture{Path: path}
}

// capturePipeline shows every emitted packet to the keeper before the
// analysis: it keeps what an alert will write.
type capturePipeline struct {
	inner datapath.Pipeline
	k     *alertpcap.Keeper
}

func (p capturePipeline) NewShard(id int) datapath.Shard {
	return &captureShard{Shard: p.inner.NewShard(id), k: p.k, sweeps: id == 0}
}

// captureShard tees a worker's packets to the keeper; the first worker
// also forgets idle flows, on the clock of the packets (wall time live,
// the capture's in replay), which is the keeper's clock.
type captureShard struct {
	datapath.Shard
	k      *alertpcap.Keeper
	sweeps bool
	last   time.Time
}

func (s *captureShard) Handle(ev *datapath.Event) {
	s.k.Observe(ev)
	s.Shard.Handle(ev)
}

func (s *captureShard) Tick(now time.Time) {
	if s.sweeps && now.Sub(s.last) >= time.Minute {
		s.k.Sweep(now)
		s.last = now
	}
	s.Shard.Tick(now)
}

// captureFamilies are the keeper's figures; none without the keeper.
func captureFamilies(a *analysis) []metrics.Family {
	type emitFn = func(float64, ...string)
	st := func() (alertpcap.Stats, *capturer) {
		c := a.capture
		if c == nil {
			return alertpcap.Stats{}, &capturer{}
		}
		return c.k.Stats(), c
	}
	return []metrics.Family{
		{Name: "capture_flows", Help: "Flows whose recent packets capture_on_alert keeps, and the bytes they hold (bounded by capture_on_alert.memory).", Kind: metrics.Gauge, Labels: []string{"what"},
			Read: func(emit emitFn) {
				s, _ := st()
				emit(float64(s.FlowsKept), "flows")
				emit(float64(s.BytesKept), "bytes")
			}},
		{Name: "capture_packets_total", Help: "Packets capture_on_alert saw, and those a flow's limits did not keep.", Kind: metrics.Counter, Labels: []string{"outcome"},
			Read: func(emit emitFn) {
				s, _ := st()
				emit(float64(s.PacketsObserved), "observed")
				emit(float64(s.PacketsNotKept), "not_kept")
			}},
		{Name: "capture_flows_evicted_total", Help: "Flows capture_on_alert forgot: memory (oldest out at capture_on_alert.memory) or idle.", Kind: metrics.Counter, Labels: []string{"reason"},
			Read: func(emit emitFn) {
				s, _ := st()
				emit(float64(s.FlowsEvicted), "memory")
				emit(float64(s.FlowsExpired), "idle")
			}},
		{Name: "capture_files_total", Help: "Alert captures: written, evicted (oldest out at capture_on_alert.quota), skipped (rate bound), no_flow (no packet kept), errors.", Kind: metrics.Counter, Labels: []string{"outcome"},
			Read: func(emit emitFn) {
				s, c := st()
				emit(float64(c.written.Load()), "written")
				emit(float64(s.FilesEvicted), "evicted")
				emit(float64(c.skippedRate.Load()), "skipped_rate")
				emit(float64(c.noFlow.Load()), "no_flow")
				emit(float64(c.errs.Load()+s.WriteErrors), "error")
			}},
		{Name: "capture_disk_bytes", Help: "Bytes of alert captures on disk, and the quota (capture_on_alert.quota).", Kind: metrics.Gauge, Labels: []string{"what"},
			Read: func(emit emitFn) {
				s, c := st()
				emit(float64(s.BytesOnDisk), "used")
				if c.k != nil {
					emit(float64(c.k.Settings().Quota), "quota")
				}
			}},
	}
}
