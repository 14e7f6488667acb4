package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/edgesensor/edgesensor/daemon"
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
	stopProfile, err := daemon.StartCPUProfile(*prof)
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
		Stdout:          stdout,
		Log:             logger(stderr, cfg.Sensor.LogLevel),
		UplinkWait:      *wait,
		Progress:        daemon.ProgressLine(stderr, *progress),
		AfterLastPacket: func() error { return daemon.WriteHeapProfile(*memProf) },
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
