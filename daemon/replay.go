package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/sensor"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
)

// ReplayOptions are what the command gives Replay besides the config.
type ReplayOptions struct {
	Stdout io.Writer // where events go when output.events is "-"
	Log    zerolog.Logger
	// UplinkWait bounds the wait at the end for the cloud to take every
	// record (the rest stays spooled).
	UplinkWait time.Duration
	// Progress, when set, is called as each file starts; what it returns
	// is called when the file is done.
	Progress func(path string, r *sensor.Replayer) (done func())
	// AfterLastPacket, when set, runs after the last packet, before the
	// flows still open are closed (a heap profile sees them).
	AfterLastPacket func() error
}

// Replay runs capture files through the same program (BPF_PROG_TEST_RUN)
// and the same analysis and outputs as Run. A capture is analysed whole:
// the per-flow byte budget that protects the live rings is lifted.
// ctx ending stops between packets: what was read is analysed and
// reported. The statistics come back even with an error.
func Replay(ctx context.Context, cfg *config.Config, files []string, o ReplayOptions) (sensor.ReplayStats, error) {
	// Raising the budget per file from a worker would make what replay
	// finds depend on timing; files.max_size still bounds files.
	c := *cfg
	c.Capture.StreamBudget = sensor.ReplayStreamBudget
	cfg = &c
	log := o.Log
	r, err := sensor.LoadReplayer(cfg)
	if err != nil {
		return sensor.ReplayStats{}, err
	}
	a, err := start(cfg, r, o.Stdout, log)
	if err != nil {
		r.Close()
		return sensor.ReplayStats{}, err
	}
	defer a.closeEvents()
	defer a.files.Close()             // on the error paths; a second Close does nothing
	defer a.closeOutputs(ctx, 0, log) // on the error paths
	r.Start(a.router)
	r.Done = ctx.Done()
	if cfg.Enforce.ModeValue() != enforce.Off {
		// The same decisions as live: the lists in the same program, the
		// hellos through the same hook; actions stamped with capture time.
		k, err := sensor.NewEnforcer(r.Objects(), time.Duration(cfg.Enforce.MaxAge), cfg.Enforce.MaxBlockedFlows)
		var holds *sensor.Holds
		if err == nil {
			// Held packets are judged as live; there is nowhere to hand
			// them on.
			holds, err = sensor.NewHolds(r.Objects(), false)
		}
		if err == nil {
			var e *enforcer
			if e, err = newEnforcer(cfg, k, holds, a, log); err == nil {
				a.enf.Store(e)
				err = r.EnforceWith(k, e.onAction)
				stop := e.keepFresh()
				defer stop()
			}
		}
		if err != nil {
			r.Close()
			return sensor.ReplayStats{}, err
		}
	}
	var ferr error
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		done := func() {}
		if o.Progress != nil {
			done = o.Progress(f, r)
		}
		ferr = r.File(f)
		done()
		if errors.Is(ferr, sensor.ErrStopped) {
			ferr = nil // Ctrl-C: what was read is analysed and reported
			break
		}
		if ferr != nil {
			break
		}
	}
	if o.AfterLastPacket != nil {
		if err := o.AfterLastPacket(); err != nil && ferr == nil {
			ferr = err
		}
	}
	st, cerr := r.Close()
	if err := a.files.Close(); err != nil && cerr == nil {
		cerr = fmt.Errorf("removing the spool: %w", err)
	}
	if err := a.closeOutputs(ctx, o.UplinkWait, log); err != nil && cerr == nil {
		cerr = err
	}
	st.Analysis = a.Counts()
	if err := a.out.Flush(); err != nil && ferr == nil {
		ferr = fmt.Errorf("writing events: %w", err)
	}
	return st, errors.Join(ferr, cerr)
}
