package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/edgesensor/edgesensor/sensor"
)

func cmdReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("replay", "replay [-c sensor.toml] [--stats] FILE...", stderr, &c)
	stats := fs.Bool("stats", false, "print one JSON object of statistics to stderr at the end")
	wait := fs.Duration("uplink-wait", time.Minute, "with an uplink, wait this long at the end for the cloud to take every record (the rest stays spooled)")
	progress := fs.String("progress", "auto", "progress on stderr: auto (when stderr is a terminal), always or never")
	prof := profileFlag(fs)
	memProf := memProfileFlag(fs)
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	stopProfile, err := startProfile(*prof)
	if err != nil {
		return err
	}
	defer stopProfile()
	if len(files) == 0 {
		return fmt.Errorf("%w: replay needs at least one capture file", errUsage)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, err := c.loadForStart()
	if err != nil {
		return err
	}
	// A capture is analysed whole: the per-flow byte budget protects the
	// live rings, and raising it per file from a worker would make what
	// replay finds depend on timing. files.max_size still bounds files.
	cfg.Capture.StreamBudget = sensor.ReplayStreamBudget
	log := logger(stderr, cfg.Sensor.LogLevel)
	a, closeOut, err := startAnalysis(cfg, stdout, log)
	if err != nil {
		return err
	}
	defer closeOut()
	defer a.files.Close()             // on the error paths; a second Close does nothing
	defer a.closeOutputs(ctx, 0, log) // on the error paths
	r, err := sensor.NewReplayer(cfg, a.router)
	if err != nil {
		return err
	}
	a.verdicts.set(r.Verdicts(), r.HSVerdicts(), r.ChecksumMode)
	r.Done = ctx.Done()
	var ferr error
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		stopProgress := showProgress(stderr, *progress, f, r)
		ferr = r.File(f)
		stopProgress()
		if errors.Is(ferr, sensor.ErrStopped) {
			ferr = nil // Ctrl-C: what was read is analysed and reported
			break
		}
		if ferr != nil {
			break
		}
	}
	if err := writeHeapProfile(*memProf); err != nil && ferr == nil {
		ferr = err
	}
	st, cerr := r.Close()
	if err := a.files.Close(); err != nil && cerr == nil {
		cerr = fmt.Errorf("removing the spool: %w", err)
	}
	if err := a.closeOutputs(ctx, *wait, log); err != nil && cerr == nil {
		cerr = err
	}
	st.Analysis = a.counts()
	if err := a.out.Flush(); err != nil && ferr == nil {
		ferr = fmt.Errorf("writing events: %w", err)
	}
	if *stats {
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		fmt.Fprintln(stderr, string(b))
	}
	if ferr != nil {
		return ferr
	}
	return cerr
}

// showProgress writes one self-overwriting line a second while a capture
// replays, when stderr is a terminal (or mode is "always"). The returned
// func clears it.
func showProgress(stderr io.Writer, mode, path string, r *sensor.Replayer) func() {
	f, isFile := stderr.(*os.File)
	if mode == "never" || mode != "always" && !(isFile && isatty.IsTerminal(f.Fd())) {
		return func() {}
	}
	var size int64
	if fi, err := os.Stat(path); err == nil {
		size = fi.Size()
	}
	p0, b0 := r.Read.Packets.Load(), r.Read.Bytes.Load()
	start := time.Now()
	done := make(chan struct{})
	finished := make(chan struct{})
	line := func() {
		p, b := r.Read.Packets.Load()-p0, r.Read.Bytes.Load()-b0
		el := time.Since(start).Seconds()
		pct := ""
		if size > 0 {
			pct = fmt.Sprintf(" %3.0f%%", min(100, 100*float64(b)/float64(size)))
		}
		fmt.Fprintf(stderr, "\r%s:%s %d packets, %.1f MiB, %.0f packets/s ", filepath.Base(path), pct, p, float64(b)/(1<<20), float64(p)/max(el, 0.001))
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				line()
			case <-done:
				line()
				fmt.Fprintln(stderr)
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}
