package daemon

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/sensor"
)

// Logger writes JSON logs at level, or readable ones on a terminal.
func Logger(stderr io.Writer, level string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	var w io.Writer = stderr
	if f, ok := stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		w = zerolog.ConsoleWriter{Out: stderr, TimeFormat: "15:04:05"}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

// ProgressLine is a ReplayOptions.Progress writing one self-overwriting
// line a second on stderr while a capture replays, when stderr is a
// terminal (mode "auto"), always ("always") or never ("never").
func ProgressLine(stderr io.Writer, mode string) func(path string, r *sensor.Replayer) func() {
	return func(path string, r *sensor.Replayer) func() { return progressLine(stderr, mode, path, r) }
}

func progressLine(stderr io.Writer, mode, path string, r *sensor.Replayer) func() {
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
