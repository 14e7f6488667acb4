package main

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/edgesensor/edgesensor/sensor"
	"github.com/edgesensor/edgesensor/userspace/capture"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/files"
	"github.com/edgesensor/edgesensor/userspace/handshake"
	"github.com/edgesensor/edgesensor/userspace/intel"
	"github.com/edgesensor/edgesensor/userspace/output"
	"github.com/edgesensor/edgesensor/userspace/yara"
)

// analysis is the pipeline behind the dispatcher: handshakes become
// edgesensor.tls events, stream flows edgesensor.file events.
type analysis struct {
	out        *output.NDJSON
	intel      *intel.Reloader // nil without intel sources
	handshakes *handshake.Pipeline
	files      *files.Pipeline
	verdicts   *lateVerdicts
	router     capture.Router
}

func newAnalysis(cfg *config.Config, w io.Writer) (*analysis, error) {
	out := output.NewNDJSON(w)
	ir, err := loadIntel(cfg)
	if err != nil {
		return nil, err
	}
	current := func() *intel.Set {
		if ir == nil {
			return nil
		}
		return ir.Current()
	}
	hs := handshake.New(handshake.Config{
		Idle:     time.Duration(cfg.Capture.HandshakeIdle),
		MaxFlows: cfg.Capture.MaxFlows,
		Shards:   cfg.WorkerCount(),
		Score:    handshake.Scorer(current, cfg.Score.Threshold),
	}, out)
	lv := &lateVerdicts{}
	fc := files.ConfigFrom(cfg, lv)
	fc.Intel = current
	if len(cfg.Score.YARARules) > 0 {
		rules, err := yara.Compile(cfg.Score.YARARules)
		if err != nil {
			return nil, fmt.Errorf("score.yara_rules: %w", err)
		}
		fc.YARA = rules
	}
	fp, err := files.New(fc, out)
	if err != nil {
		return nil, err
	}
	return &analysis{
		out:        out,
		intel:      ir,
		handshakes: hs,
		files:      fp,
		verdicts:   lv,
		router: capture.Router{
			capture.ClassTLS:    hs,
			capture.ClassQUIC:   hs,
			capture.ClassStream: fp,
		},
	}, nil
}

// counts are the analysis figures `replay --stats` adds and `run` logs
// when it stops.
func (a *analysis) counts() map[string]uint64 {
	m := map[string]uint64{
		"tls_events":         a.handshakes.Stats.Events.Load(),
		"tls_evicted":        a.handshakes.Stats.Evicted.Load(),
		"tls_parse_errors":   a.handshakes.Stats.Errors.Load(),
		"tls_cert_cached":    a.handshakes.Stats.CertHits.Load(),
		"tls_cert_parsed":    a.handshakes.Stats.CertMisses.Load(),
		"event_lines_output": a.out.Lines(),
	}
	fs := &a.files.Stats
	for k, v := range map[string]*atomic.Uint64{
		"file_events":          &fs.Files,
		"file_incomplete":      &fs.Incomplete,
		"file_oversize":        &fs.Oversize,
		"file_non_candidates":  &fs.NonCandidates,
		"file_spool_full":      &fs.SpoolFull,
		"file_spool_errors":    &fs.SpoolErrors,
		"file_retained":        &fs.Retained,
		"file_retain_errors":   &fs.RetainErrors,
		"file_yara_errors":     &fs.YARAErrors,
		"file_score_waits":     &fs.ScoreWaits,
		"file_flows":           &fs.Flows,
		"file_flows_evicted":   &fs.FlowsEvicted,
		"file_flows_expired":   &fs.FlowsExpired,
		"file_flows_lifetime":  &fs.FlowsLifetime,
		"file_flows_ignored":   &fs.FlowsIgnored,
		"file_verdict_skip":    &fs.VerdictSkip,
		"file_verdict_capture": &fs.VerdictCapture,
		"file_verdict_ignore":  &fs.VerdictIgnore,
		"file_verdict_errors":  &fs.VerdictErrors,
	} {
		m[k] = v.Load()
	}
	d := a.files.Detail()
	files.Flatten("reassembly", &d.Reassembly, m)
	files.Flatten("http", &d.HTTP, m)
	files.Flatten("smtp", &d.SMTP, m)
	files.Flatten("imap", &d.IMAP, m)
	files.Flatten("mime", &d.MIME, m)
	return m
}

// loadIntel reads the [[intel.sources]] files; nil when there are none.
func loadIntel(cfg *config.Config) (*intel.Reloader, error) {
	if len(cfg.Intel.Sources) == 0 {
		return nil, nil
	}
	var srcs []intel.Source
	for i, s := range cfg.Intel.Sources {
		src := intel.Source{Path: s.Path, Format: s.Format, Column: s.Column, Allow: s.Allow, Level: s.Level, Name: s.Name}
		if s.Kind != "" {
			k, err := intel.ParseKind(s.Kind)
			if err != nil {
				return nil, fmt.Errorf("intel.sources[%d].kind: %w", i, err)
			}
			src.Kind = k
		}
		srcs = append(srcs, src)
	}
	r, err := intel.NewReloader(srcs)
	if err != nil {
		return nil, fmt.Errorf("intel: %w", err)
	}
	return r, nil
}

// lateVerdicts lets the analysis be built before the data plane whose
// verdict map it writes: until set, verdicts are not written.
type lateVerdicts struct {
	w atomic.Pointer[sensor.VerdictWriter]
}

func (l *lateVerdicts) set(w *sensor.VerdictWriter) { l.w.Store(w) }

func (l *lateVerdicts) Capture(c, s netip.AddrPort, limit uint64) error {
	if w := l.w.Load(); w != nil {
		return w.Capture(c, s, limit)
	}
	return nil
}

func (l *lateVerdicts) Skip(c, s netip.AddrPort, fromServer bool, seq, n uint32, limit uint64) error {
	if w := l.w.Load(); w != nil {
		return w.Skip(c, s, fromServer, seq, n, limit)
	}
	return nil
}

func (l *lateVerdicts) Ignore(c, s netip.AddrPort) error {
	if w := l.w.Load(); w != nil {
		return w.Ignore(c, s)
	}
	return nil
}

func (l *lateVerdicts) Forget(c, s netip.AddrPort) error {
	if w := l.w.Load(); w != nil {
		return w.Forget(c, s)
	}
	return nil
}

// openEvents opens where events go: stdout or the configured file.
func openEvents(cfg *config.Config, stdout io.Writer) (io.Writer, func() error, error) {
	if cfg.Output.Events == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.OpenFile(cfg.Output.Events, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("output.events: opening %s: %w", cfg.Output.Events, err)
	}
	return f, f.Close, nil
}
