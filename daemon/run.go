package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/sensor"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/export/metrics"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
)

// Options are what the command gives the daemon besides the config.
type Options struct {
	// Stdout is where events go when output.events is "-" (and stdout
	// sinks write).
	Stdout io.Writer
	Log    zerolog.Logger
	// ConfigFile names where the config came from, for the logs.
	ConfigFile string

	// Run only.
	Interfaces   []string // the interfaces to attach to
	Force        bool     // replace another owner's XDP program
	StayAttached bool     // leave XDP attached and pinned on stop
	// Reloads asks for a reload (SIGHUP); Reload reads the config again.
	Reloads <-chan struct{}
	Reload  func() (*config.Config, error)
}

// Run attaches the sensor, analyses until ctx ends or the events can no
// longer be written, and stops: the rings are drained, the outputs
// closed, and the figures logged. A failed start undoes what it did.
func Run(ctx context.Context, cfg *config.Config, o Options) error {
	log := o.Log
	log.Info().Str("config_file", o.ConfigFile).Str("config", strings.Join(cfg.Summary(), " ")).Msg("starting")
	s, err := sensor.Setup(sensor.Options{Config: cfg, Interfaces: o.Interfaces, Force: o.Force, Log: log})
	if err != nil {
		return err
	}
	an, err := start(cfg, s, o.Stdout, log)
	if err != nil {
		s.Close(!o.StayAttached)
		return err
	}
	an.taps.counts.live.Store(true) // packet times are now: the verdict latency holds
	defer an.closeEvents()
	defer an.files.Close()                              // on the error paths; a second Close does nothing
	defer an.closeOutputs(context.Background(), 0, log) // on the error paths
	if err := s.Start(an.router); err != nil {
		s.Close(!o.StayAttached)
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var enf *enforcer
	if cfg.Enforce.ModeValue() != enforce.Off {
		if enf, err = startEnforcer(cfg, s, an, log); err != nil {
			s.Close(!o.StayAttached)
			return err
		}
		an.enf.Store(enf)
		go enf.run(ctx)
	}
	var quiet *quietWatch
	if d := time.Duration(cfg.Metrics.QuietAfter); d > 0 {
		quiet = newQuietWatch(d)
		go quiet.run(ctx, cfg.Sensor.PinPath, log)
	}
	var ms *metrics.Server
	if cfg.Metrics.Listen != "" {
		if ms, err = metrics.Listen(cfg.Metrics.Listen, metrics.NewCollector(families(cfg, s, an, quiet)), health(s, an, cfg, quiet),
			metrics.Route{Path: SinksPath, Handler: sinksHandler(an.taps)}); err != nil {
			s.Close(!o.StayAttached)
			return err
		}
		log.Info().Str("listen", ms.Addr()).Msg("metrics on /metrics, health on /healthz, sinks on " + SinksPath)
	}
	log.Info().Msg("running; SIGHUP reloads the config, SIGINT or SIGTERM stops")
	if r := an.intel.Load(); r != nil {
		log.Info().Interface("entries", r.Current().Counts()).Msg("intel loaded")
	}
	rt := &running{opts: o, cfg: cfg, s: s, an: an, log: log}
	go rt.watchIntel(ctx, time.Duration(cfg.Intel.Reload))
	go rt.janitor(ctx)
	go func() {
		for {
			select {
			case <-o.Reloads:
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
	// Scrapes and the quiet watch read the data plane: they end before it
	// closes.
	stop()
	if ms != nil {
		ms.Close()
	}
	rt.mu.Lock() // no reload from here on (enforcement, outputs); held until exit
	if enf != nil {
		// A sensor that is not running enforces nothing, also when its
		// program stays attached.
		if err := enf.stop(); err != nil {
			log.Error().Err(err).Msg("enforcement not turned off; the lists lapse at enforcement.max_age")
		}
	}
	ds := s.DispatchStats()
	frags := s.FragmentStats()
	if o.StayAttached {
		log.Info().Msg("leaving XDP attached and pinned (--stay-attached); `edgesensor detach` removes it")
	}
	cerr := s.Close(!o.StayAttached)
	if err := an.files.Close(); err != nil {
		cerr = errors.Join(cerr, fmt.Errorf("removing the spool: %w", err))
	}
	oerr := an.closeOutputs(context.Background(), 2*time.Second, log)
	ferr := an.out.Flush()
	stopped := log.Info().Uint64("events", ds.Events).Uint64("bad_records", ds.BadRecord)
	counts := an.Counts()
	for k, v := range frags {
		counts["fragments_"+k] = v
	}
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		stopped = stopped.Uint64(k, counts[k])
	}
	stopped.Msg("stopped")
	return errors.Join(werr, cerr, oerr, ferr)
}

// running is what a reload may change while the sensor runs.
type running struct {
	mu     sync.Mutex // reloads, and the stop path
	opts   Options
	cfg    *config.Config // the running config
	s      *sensor.Sensor
	an     *analysis
	log    zerolog.Logger
	keyErr string // the last key file error logged
}
