package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/sensor"
	"github.com/edgesensor/edgesensor/userspace/intel"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var a attachFlags
	fs := newAttachFlags("run", "run [-c sensor.toml] [--iface IF]... [--force]", stderr, &a)
	prof := profileFlag(fs)
	cfg, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	stopProfile, err := startProfile(*prof)
	if err != nil {
		return err
	}
	defer stopProfile()
	log := logger(stderr, cfg.Sensor.LogLevel)
	log.Info().Str("config_file", a.configUsed).Str("config", strings.Join(cfg.Summary(), " ")).Msg("starting")

	out, closeOut, err := openEvents(cfg, stdout)
	if err != nil {
		return err
	}
	defer closeOut()
	an, err := newAnalysis(cfg, out)
	if err != nil {
		return err
	}
	defer an.files.Close() // on the error paths; a second Close does nothing

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	s, err := sensor.Setup(sensor.Options{Config: cfg, Interfaces: a.ifaces, Force: a.force, Log: log})
	if err != nil {
		return err
	}
	an.verdicts.set(s.Verdicts())
	if err := s.Start(an.router); err != nil {
		s.Close(true)
		return err
	}
	log.Info().Msg("running; SIGINT or SIGTERM detaches and stops")
	if an.intel != nil {
		log.Info().Interface("entries", an.intel.Current().Counts()).Msg("intel loaded")
		go watchIntel(ctx, an.intel, time.Duration(cfg.Intel.Reload), log)
	}
	// Output that can no longer be written stops the sensor cleanly.
	go func() {
		select {
		case <-an.out.Failed():
			log.Error().Err(an.out.Flush()).Msg("cannot write events; stopping")
			stop()
		case <-ctx.Done():
		}
	}()
	werr := s.Wait(ctx)
	ds := s.DispatchStats()
	cerr := s.Close(true)
	if err := an.files.Close(); err != nil {
		cerr = errors.Join(cerr, fmt.Errorf("removing the spool: %w", err))
	}
	ferr := an.out.Flush()
	stopped := log.Info().Uint64("events", ds.Events).Uint64("bad_records", ds.BadRecord)
	counts := an.counts()
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		stopped = stopped.Uint64(k, counts[k])
	}
	stopped.Msg("stopped")
	return errors.Join(werr, cerr, ferr)
}

// watchIntel reloads the intelligence files when they change; a broken
// file keeps the previous set, and says so.
func watchIntel(ctx context.Context, r *intel.Reloader, every time.Duration, log zerolog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !r.Changed() {
			continue
		}
		if err := r.Reload(); err != nil {
			log.Warn().Err(err).Msg("intel not reloaded; the previous set stays")
			continue
		}
		log.Info().Interface("entries", r.Current().Counts()).Msg("intel reloaded")
	}
}
