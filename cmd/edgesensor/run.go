package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/sensor"
	"github.com/edgesensor/edgesensor/userspace/anon"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/intel"
	"github.com/edgesensor/edgesensor/userspace/metrics"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var a attachFlags
	fs := newAttachFlags("run", "run [-c sensor.toml] [--iface IF]... [--force] [--stay-attached]", stderr, &a)
	stay := fs.Bool("stay-attached", false, "on SIGINT/SIGTERM leave XDP attached and pinned (the next run adopts it with no gap; edgesensor detach removes it)")
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
	if err := an.startOutputs(cfg, stdout, log); err != nil {
		return err
	}
	defer an.closeOutputs(0, log) // on the error paths

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	s, err := sensor.Setup(sensor.Options{Config: cfg, Interfaces: a.ifaces, Force: a.force, Log: log})
	if err != nil {
		return err
	}
	an.verdicts.set(s.Verdicts())
	if err := s.Start(an.router); err != nil {
		s.Close(!*stay)
		return err
	}
	if cfg.Metrics.Listen != "" {
		ms, err := metrics.Listen(cfg.Metrics.Listen, metrics.NewCollector(families(cfg, s, an)), health(s, an, cfg))
		if err != nil {
			s.Close(!*stay)
			return err
		}
		defer ms.Close()
		log.Info().Str("listen", ms.Addr()).Msg("metrics on /metrics, health on /healthz")
	}
	log.Info().Msg("running; SIGHUP reloads the config, SIGINT or SIGTERM stops")
	if r := an.intel.Load(); r != nil {
		log.Info().Interface("entries", r.Current().Counts()).Msg("intel loaded")
	}
	rt := &daemon{flags: &a, cfg: cfg, s: s, an: an, log: log, stdout: stdout}
	go rt.watchIntel(ctx)
	go rt.janitor(ctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				rt.reload()
			case <-ctx.Done():
				return
			}
		}
	}()
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
	if *stay {
		log.Info().Msg("leaving XDP attached and pinned (--stay-attached); `edgesensor detach` removes it")
	}
	cerr := s.Close(!*stay)
	if err := an.files.Close(); err != nil {
		cerr = errors.Join(cerr, fmt.Errorf("removing the spool: %w", err))
	}
	rt.mu.Lock() // no reload while the outputs close; held until exit
	oerr := an.closeOutputs(2*time.Second, log)
	ferr := an.out.Flush()
	stopped := log.Info().Uint64("events", ds.Events).Uint64("bad_records", ds.BadRecord)
	counts := an.counts()
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		stopped = stopped.Uint64(k, counts[k])
	}
	stopped.Msg("stopped")
	return errors.Join(werr, cerr, oerr, ferr)
}

// daemon is what a reload may change while the sensor runs.
type daemon struct {
	mu     sync.Mutex // reloads, and the stop path
	flags  *attachFlags
	cfg    *config.Config // the running config
	s      *sensor.Sensor
	an     *analysis
	log    zerolog.Logger
	stdout io.Writer
	keyErr string // the last key file error logged
}

// reload reads the config again and applies what can change live: ports,
// intel sources, privacy and uplink, SIEM sinks. A config that does not
// load or validate, or whose new parts cannot be built, is rejected as a
// whole and the running one stays.
func (rt *daemon) reload() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	log := rt.log
	next, err := rt.flags.load()
	if err != nil {
		log.Error().Err(err).Msg("config not reloaded; the running one stays")
		return
	}
	changed := config.Diff(rt.cfg, next)
	if len(changed) == 0 {
		log.Info().Str("config_file", rt.flags.configUsed).Msg("reload: config unchanged")
		return
	}
	live, restart := config.SplitLive(changed)
	has := func(prefix string) bool {
		return slices.ContainsFunc(live, func(k string) bool { return strings.HasPrefix(k, prefix) })
	}
	// Build everything new before touching anything running.
	var ir *intel.Reloader
	if has("intel.") {
		if ir, err = loadIntel(next); err != nil {
			log.Error().Err(err).Msg("config not reloaded; the running one stays")
			return
		}
	}
	if has("privacy.") || has("uplink.") {
		if _, err := policyFor(next, false); err != nil && next.UplinkEnabled() {
			log.Error().Err(err).Msg("config not reloaded; the running one stays")
			return
		}
	}
	if has("output.sinks") {
		sinks, err := openSinks(next, rt.stdout, log)
		if err != nil {
			log.Error().Err(err).Msg("config not reloaded; the running one stays")
			return
		}
		if old := rt.an.taps.sinks.Swap(sinks); old != nil {
			go old.Close(5 * time.Second)
		}
		rt.cfg.Output.Sinks = next.Output.Sinks
	}
	if has("ports.") {
		if err := rt.s.SetPorts(next.PortApps()); err != nil {
			log.Error().Err(err).Msg("reload: ports not changed")
			live = slices.DeleteFunc(live, func(k string) bool { return strings.HasPrefix(k, "ports.") })
		} else {
			rt.an.files.SetPorts(next.PortApps())
			rt.cfg.Ports = next.Ports
		}
	}
	if has("intel.") {
		rt.an.intel.Store(ir)
		rt.cfg.Intel = next.Intel
		if ir != nil {
			log.Info().Interface("entries", ir.Current().Counts()).Msg("intel loaded")
		}
	}
	if has("privacy.") || has("uplink.") {
		// The spool is one database: the old uplink closes before the new
		// one opens it. Events in between are not lost to the SIEM, only
		// not offered to the cloud (counted by the old link).
		if old := rt.an.taps.cloud.Swap(nil); old != nil {
			if err := old.close(); err != nil {
				log.Warn().Err(err).Msg("reload: closing the uplink")
			}
		}
		cloud, err := startCloud(next, rt.an.out, log)
		if err != nil {
			log.Error().Err(err).Msg("reload: the new uplink did not start; reverting to the running privacy and uplink settings")
			if cloud, err = startCloud(rt.cfg, rt.an.out, log); err != nil {
				log.Error().Err(err).Msg("reload: the previous uplink did not start either; nothing goes to the cloud")
			}
		} else {
			rt.cfg.Privacy, rt.cfg.Uplink = next.Privacy, next.Uplink
		}
		rt.an.taps.cloud.Store(cloud)
	}
	ev := log.Info().Strs("applied", live)
	if len(restart) > 0 {
		log.Warn().Strs("keys", restart).Msg("reload: these need a restart to apply; they keep their running values")
		ev = ev.Strs("need_restart", restart)
	}
	ev.Msg("config reloaded")
}

// watchIntel reloads the intelligence files when they change; a broken
// file keeps the previous set, and says so.
func (rt *daemon) watchIntel(ctx context.Context) {
	t := time.NewTicker(time.Duration(rt.cfg.Intel.Reload))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rt.checkKey()
		r := rt.an.intel.Load()
		if r == nil || !r.Changed() {
			continue
		}
		if err := r.Reload(); err != nil {
			rt.log.Warn().Err(err).Msg("intel not reloaded; the previous set stays")
			continue
		}
		rt.log.Info().Interface("entries", r.Current().Counts()).Msg("intel reloaded")
	}
}

// checkKey rotates the anonymisation key when privacy.key_file holds a
// new one: the uplink restarts on it (its spool carries over). A key file
// that does not load keeps the running key, and says so once.
func (rt *daemon) checkKey() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	c := rt.an.taps.cloud.Load()
	if c == nil {
		return
	}
	k, err := anon.LoadKey(rt.cfg.Privacy.KeyFile)
	if err != nil {
		if msg := err.Error(); msg != rt.keyErr {
			rt.keyErr = msg
			rt.log.Error().Err(err).Msg("privacy.key_file: the running key stays")
		}
		return
	}
	rt.keyErr = ""
	if k.ID() == c.pol.KeyID() {
		return
	}
	old := rt.an.taps.cloud.Swap(nil)
	if err := old.close(); err != nil {
		rt.log.Warn().Err(err).Msg("key rotation: closing the uplink")
	}
	next, err := startCloud(rt.cfg, rt.an.out, rt.log)
	if err != nil {
		rt.log.Error().Err(err).Msg("key rotation: the uplink did not restart; nothing goes to the cloud")
		return
	}
	rt.an.taps.cloud.Store(next)
	rt.log.Info().Str("old_key_id", old.pol.KeyID()).Str("key_id", k.ID()).Msg("anonymisation key rotated")
}

// janitor enforces files.retain_for on the retention directories.
func (rt *daemon) janitor(ctx context.Context) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		if err := rt.an.files.SweepRetained(time.Now()); err != nil {
			rt.log.Warn().Err(err).Msg("retention janitor")
		}
		if c := rt.an.taps.cloud.Load(); c != nil {
			c.sweepSamples(time.Now())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
