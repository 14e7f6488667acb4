package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/edgesensor/edgesensor/daemon"
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
	st, err := daemon.Replay(ctx, cfg, files, daemon.ReplayOptions{
		Stdout:     stdout,
		Log:        logger(stderr, cfg.Sensor.LogLevel),
		UplinkWait: *wait,
		Progress: func(path string, r *sensor.Replayer) func() {
			return showProgress(stderr, *progress, path, r)
		},
		AfterLastPacket: func() error { return writeHeapProfile(*memProf) },
	})
	if *stats {
		b, jerr := json.Marshal(st)
		if jerr != nil {
			return jerr
		}
		fmt.Fprintln(stderr, string(b))
	}
	return err
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
