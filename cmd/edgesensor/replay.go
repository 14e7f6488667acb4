package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/edgesensor/edgesensor/sensor"
)

func cmdReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("replay", "replay [-c sensor.toml] [--stats] FILE...", stderr, &c)
	stats := fs.Bool("stats", false, "print one JSON object of statistics to stderr at the end")
	prof := profileFlag(fs)
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
	cfg, err := c.load()
	if err != nil {
		return err
	}
	out, closeOut, err := openEvents(cfg, stdout)
	if err != nil {
		return err
	}
	defer closeOut()
	// A capture is analysed whole: the per-flow byte budget protects the
	// live rings, and raising it per file from a worker would make what
	// replay finds depend on timing. files.max_size still bounds files.
	cfg.Capture.StreamBudget = sensor.ReplayStreamBudget
	a, err := newAnalysis(cfg, out)
	if err != nil {
		return err
	}
	defer a.files.Close() // on the error paths; a second Close does nothing
	r, err := sensor.NewReplayer(cfg, a.router)
	if err != nil {
		return err
	}
	a.verdicts.set(r.Verdicts())
	var ferr error
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		if ferr = r.File(f); ferr != nil {
			break
		}
	}
	st, cerr := r.Close()
	if err := a.files.Close(); err != nil && cerr == nil {
		cerr = fmt.Errorf("removing the spool: %w", err)
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
