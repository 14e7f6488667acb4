package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/edgesensor/edgesensor/userspace/capture"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/handshake"
	"github.com/edgesensor/edgesensor/userspace/output"
	"github.com/edgesensor/edgesensor/userspace/summary"
)

// analysis is the pipeline behind the dispatcher: handshakes become
// edgesensor.tls events; stream packets are summarised until the file
// analysis lands.
type analysis struct {
	out        *output.NDJSON
	handshakes *handshake.Pipeline
	router     capture.Router
}

func newAnalysis(cfg *config.Config, w io.Writer) *analysis {
	out := output.NewNDJSON(w)
	hs := handshake.New(handshake.Config{
		Idle:     time.Duration(cfg.Capture.HandshakeIdle),
		MaxFlows: cfg.Capture.MaxFlows,
		Shards:   cfg.WorkerCount(),
	}, out)
	return &analysis{
		out:        out,
		handshakes: hs,
		router: capture.Router{
			capture.ClassTLS:    hs,
			capture.ClassQUIC:   hs,
			capture.ClassStream: summary.New(out),
		},
	}
}

// counts are the analysis figures `replay --stats` adds and `run` logs
// when it stops.
func (a *analysis) counts() map[string]uint64 {
	return map[string]uint64{
		"tls_events":         a.handshakes.Stats.Events.Load(),
		"tls_evicted":        a.handshakes.Stats.Evicted.Load(),
		"tls_parse_errors":   a.handshakes.Stats.Errors.Load(),
		"tls_cert_cached":    a.handshakes.Stats.CertHits.Load(),
		"tls_cert_parsed":    a.handshakes.Stats.CertMisses.Load(),
		"event_lines_output": a.out.Lines(),
	}
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
