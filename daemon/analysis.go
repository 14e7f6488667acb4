package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/geo"
	"github.com/edgesensor/edgesensor/userspace/export/ndjson"
	"github.com/edgesensor/edgesensor/userspace/files"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/handshake"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
)

// analysis is the pipeline behind the dispatcher: handshakes become
// edgesensor.tls events, stream flows edgesensor.file events.
type analysis struct {
	out   *ndjson.NDJSON
	taps  *taps
	intel atomic.Pointer[intel.Reloader] // nil without intel sources or feed
	feed  *feedRunner                    // nil without a feed
	// feedStop ends the feed's expiry sweep.
	feedStop context.CancelFunc
	// onHello is enforcement's ClientHello hook, once it runs.
	onHello atomic.Pointer[func(*handshake.Hello)]
	// onHeld is enforcement's hook for packets the hello gate held.
	onHeld     atomic.Pointer[func(*datapath.Event, *handshake.Hello)]
	enf        atomic.Pointer[enforcer] // nil unless enforcement runs
	cloudMu    sync.Mutex
	cloudBase  map[string]uint64 // figures of uplinks closed (off by reload, or at the end)
	oldSinks   sync.WaitGroup    // sinks replaced by a reload, closing
	handshakes *handshake.Pipeline
	files      *files.Pipeline
	checks     *datapath.Checksums
	router     datapath.Pipeline
	// closeEvents closes the events file (output.events) after the last
	// write.
	closeEvents func() error
	// cidSeed is output.community_id_seed, for the events the daemon
	// builds itself (edgesensor.action).
	cidSeed uint16
	// geo holds the [enrich] databases (nil without any); the pipelines
	// ask them through geoCache. geoStop ends the watcher that reloads a
	// changed file.
	geo      *geo.DB
	geoCache *geo.Cache
	geoStop  context.CancelFunc
	// capture writes alerting flows' packets ([capture_on_alert]; nil
	// when off).
	capture *capturer
}

// start is what run and replay set up once the data plane is loaded: the
// events output, the analysis steering dp, the SIEM sinks and the uplink.
// On an error nothing it opened stays open. Whatever it refuses for a
// reason of the config, the config's Preflight refuses first
// (TestCheckConfigRefusesWhatStartRefuses).
func start(cfg *config.Config, dp dataPlane, stdout io.Writer, log zerolog.Logger) (*analysis, error) {
	out, closeOut, err := openEvents(cfg, stdout)
	if err != nil {
		return nil, err
	}
	fr, err := newFeedRunner(cfg, log)
	if err != nil {
		closeOut()
		return nil, fmt.Errorf("uplink.feed_key_file: %w", err)
	}
	gdb, err := openGeo(cfg, log)
	if err != nil {
		closeOut()
		return nil, err
	}
	pc, err := openCapture(cfg, log)
	if err != nil {
		gdb.Close()
		closeOut()
		return nil, err
	}
	an, err := newAnalysis(cfg, dp, out, fr, gdb, pc)
	if err != nil {
		gdb.Close()
		closeOut()
		return nil, err
	}

	an.closeEvents = closeOut
	if fr != nil {
		ctx, cancel := context.WithCancel(context.Background())
		an.feedStop = cancel
		go fr.sweep(ctx)
	}
	if gdb != nil {
		ctx, cancel := context.WithCancel(context.Background())
		an.geoStop = cancel
		go gdb.Run(ctx)
	}
	if err := an.startOutputs(cfg, stdout, log); err != nil {
		an.stopFeed()
		an.stopGeo()
		an.files.Close()
		closeOut()
		return nil, err
	}
	return an, nil
}

// openGeo opens the [enrich] databases; nil, and nothing asked of the
// events, when none is configured. The paths are not live: a reload
// that changes them says they need a restart; a changed file is
// reloaded by the DB's own watcher.
func openGeo(cfg *config.Config, log zerolog.Logger) (*geo.DB, error) {
	if !cfg.Enrich.Enabled() {
		return nil, nil
	}
	return geo.Open(cfg.Enrich, log)
}

// stopGeo ends the [enrich] databases' watcher and unmaps them, once
// the events are all written. Their figures stay readable; a second call
// does nothing.
func (a *analysis) stopGeo() error {
	if a.geoStop != nil {
		a.geoStop()
	}
	return a.geo.Close()
}

func newAnalysis(cfg *config.Config, dp dataPlane, w io.Writer, fr *feedRunner, gdb *geo.DB, pc *capturer) (*analysis, error) {
	out := ndjson.NewNDJSON(w)
	t := &taps{}
	out.SetTap(t.write)
	ir, err := loadIntel(cfg, fr.layer())
	if err != nil {
		return nil, err
	}
	a := &analysis{out: out, taps: t, feed: fr, closeEvents: func() error { return nil }, cidSeed: cfg.Output.Seed(), capture: pc}
	var capture ecs.CaptureFunc
	if pc != nil {
		capture = pc.capture
	}
	a.intel.Store(ir)
	// The server side of each event is looked up through a cache: most
	// events go to servers seen lately (geo.Cache).
	var lookup ecs.GeoLookup
	if gdb != nil {
		a.geo, a.geoCache = gdb, geo.NewCache(gdb, geo.DefaultCacheEntries)
		lookup = a.geoCache.Lookup
	}
	current := func() *intel.Set {
		if r := a.intel.Load(); r != nil {
			return r.Current()
		}
		return nil
	}
	// Interfaces, so that no data plane (TryStart) is nil ones.
	var (
		sv datapath.Verdicts
		hv datapath.HandshakeVerdicts
	)
	checks := datapath.NewChecksums(cfg.Reassembly.Checksums)
	if dp != nil {
		sv, hv = dp.Verdicts(), dp.HSVerdicts()
		checks.OnStrict = func(_ string, ifindex uint32) { dp.ChecksumMode(ifindex, true) }
		checks.OnOff = func(_ string, ifindex uint32) { dp.ChecksumMode(ifindex, false) }
	}
	// Only a sensor loaded with enforcement can take it on (off to on
	// takes a restart); without, hellos cost nothing more.
	var onHello func(*handshake.Hello)
	var onHeld func(*datapath.Event, *handshake.Hello)
	if cfg.Enforce.ModeValue() != enforce.Off {
		onHello, onHeld = a.clientHello, a.heldByHello
	}
	hs := handshake.New(handshake.Config{
		Idle:          time.Duration(cfg.Capture.HandshakeIdle),
		MaxFlows:      cfg.Capture.MaxFlows,
		MaxBytes:      int(cfg.Reassembly.HandshakeMemory),
		Shards:        cfg.WorkerCount(),
		Score:         handshake.Scorer(current, cfg.Score.Threshold),
		OnClientHello: onHello,
		OnHeld:        onHeld,
		Checksums:     checks,
		Policy:        cfg.Reassembly.OverlapPolicy(),
		AckGrace:      time.Duration(cfg.Reassembly.AckGrace),
		Verdicts:      hv,
		BudgetPackets: cfg.Capture.HandshakePackets,
		BudgetBytes:   int(cfg.Capture.HandshakeBytes),
		BudgetQUIC:    cfg.Capture.QUICInitials,
		// The seed is not live: a reload that changes it says it needs a
		// restart, like every [output] key but the sinks.
		CommunityIDSeed: cfg.Output.Seed(),
		Geo:             lookup,
		Capture:         capture,
	}, out)
	fc := filesConfig(cfg, sv)
	fc.Checksums = checks
	fc.Intel = current
	fc.Samples = cloudSamples{t}
	fc.Geo = lookup
	fc.Capture = capture
	rules, err := cfg.Score.CompileYARA()
	if err != nil {
		return nil, fmt.Errorf("score.yara_rules: %w", err)
	}
	fc.YARA = rules
	fp, err := files.New(fc, out)
	if err != nil {
		return nil, err
	}
	a.handshakes, a.files, a.checks = hs, fp, checks
	a.router = datapath.Router{
		datapath.ClassTLS:    hs,
		datapath.ClassQUIC:   hs,
		datapath.ClassStream: fp,
	}
	if pc != nil {
		a.router = capturePipeline{inner: a.router, k: pc.k}
	}
	return a, nil
}

// clientHello hands a ClientHello to enforcement, when it runs.
func (a *analysis) clientHello(h *handshake.Hello) {
	if fn := a.onHello.Load(); fn != nil {
		(*fn)(h)
	}
}

// heldByHello hands a packet the hello gate held to enforcement, when it
// runs (without, the gate is down and the sender's retransmission
// passes).
func (a *analysis) heldByHello(ev *datapath.Event, judged *handshake.Hello) {
	if fn := a.onHeld.Load(); fn != nil {
		(*fn)(ev, judged)
	}
}

// TryStart does what Run and Replay do before the data plane runs (the
// events output, the analysis with its intelligence and YARA rules, the
// SIEM sinks, the uplink), then undoes it: the start-up's own refusals,
// which the config's Preflight must foresee (check-config's tests).
func TryStart(cfg *config.Config, stdout io.Writer, log zerolog.Logger) error {
	an, err := start(cfg, nil, stdout, log)
	if err != nil {
		return err
	}
	an.closeOutputs(context.Background(), 0, log)
	an.files.Close()
	return an.closeEvents()
}

// cloudSamples answers the file pipeline's questions about samples with
// the uplink running now (none: no samples).
type cloudSamples struct{ t *taps }

func (c cloudSamples) Wanted(cat filetype.Category) bool {
	l := c.t.cloud.Load()
	return l != nil && l.pendingFor(cat)
}

func (c cloudSamples) Path(cat filetype.Category, size int64, sum string) string {
	if l := c.t.cloud.Load(); l != nil {
		return l.sample(cat, size, sum)
	}
	return ""
}

// filesConfig is the file pipeline's config: its [files] table, and what
// it takes from the other tables.
func filesConfig(cfg *config.Config, v datapath.Verdicts) files.Config {
	fc := cfg.Files.Config()
	fc.Ports = cfg.PortApps()
	fc.Shards = cfg.WorkerCount()
	fc.StreamBudget = int64(cfg.Capture.StreamBudget)
	fc.Policy = cfg.Reassembly.OverlapPolicy()
	fc.AckGrace = time.Duration(cfg.Reassembly.AckGrace)
	fc.Threshold = cfg.Score.Threshold
	fc.Verdicts = v
	fc.CommunityIDSeed = cfg.Output.Seed()
	return fc
}

// retireCloud takes a closed uplink off the taps and keeps its figures,
// in one step under cloudMu so counts never sees them twice or not at all.
func (a *analysis) retireCloud(c *cloudLink) {
	m := map[string]uint64{}
	c.counts(m)
	a.cloudMu.Lock()
	defer a.cloudMu.Unlock()
	if a.cloudBase == nil {
		a.cloudBase = map[string]uint64{}
	}
	for k, v := range m {
		if k == "uplink_spooled" {
			a.cloudBase[k] = v
		} else {
			a.cloudBase[k] += v
		}
	}
	a.taps.cloud.CompareAndSwap(c, nil)
}

// startOutputs opens the SIEM sinks and the cloud uplink the config asks
// for. Until then events go to the primary output only.
func (a *analysis) startOutputs(cfg *config.Config, stdout io.Writer, log zerolog.Logger) error {
	sinks, err := openSinks(cfg, stdout, log)
	if err != nil {
		return err
	}
	cloud, err := startCloud(cfg, a.out, a.cloudIntel(), log)
	if err != nil {
		if sinks != nil {
			sinks.Close(time.Second)
		}
		return err
	}
	a.taps.sinks.Store(sinks)
	a.taps.cloud.Store(cloud)
	return nil
}

// closeOutputs drains and closes the sinks and the uplink; drain bounds
// how long the uplink may take to deliver what it holds (0: leave it in
// the spool for the next start).
func (a *analysis) closeOutputs(ctx context.Context, drain time.Duration, log zerolog.Logger) error {
	var errs []error
	if c := a.taps.cloud.Load(); c != nil {
		if drain > 0 && !c.drain(ctx, drain) {
			log.Warn().Dur("waited", drain).Msg("uplink: not everything delivered; the rest stays spooled for the next start")
		}
		if err := c.close(false); err != nil {
			errs = append(errs, fmt.Errorf("uplink: %w", err))
		}
		a.retireCloud(c)
	}
	if s := a.taps.sinks.Load(); s != nil {
		if err := s.Close(5 * time.Second); err != nil {
			errs = append(errs, fmt.Errorf("output.sinks: %w", err))
		}
		// Left in place, closed, so the final counts still read it.
	}
	a.oldSinks.Wait() // sinks a reload replaced, still sending their queues
	a.stopFeed()
	if err := a.stopGeo(); err != nil {
		errs = append(errs, fmt.Errorf("enrich: %w", err))
	}
	return errors.Join(errs...)
}

// counts are the analysis figures `replay --stats` adds and `run` logs
// when it stops.
func (a *analysis) Counts() map[string]uint64 {
	m := map[string]uint64{
		"tls_events":         a.handshakes.Stats.Events.Load(),
		"tls_evicted":        a.handshakes.Stats.Evicted.Load(),
		"tls_evicted_memory": a.handshakes.Stats.EvictedMemory.Load(),
		"tls_memory_peak":    a.handshakes.Stats.MemoryPeak.Load(),
		"file_memory_peak":   a.files.Stats.MemoryPeak.Load(),
		"tls_parse_errors":   a.handshakes.Stats.Errors.Load(),
		"tls_cert_cached":    a.handshakes.Stats.CertHits.Load(),
		"tls_cert_parsed":    a.handshakes.Stats.CertMisses.Load(),
		"event_lines_output": a.out.Lines(),
	}
	up := map[string]uint64{}
	a.cloudMu.Lock()
	cur := a.taps.cloud.Load()
	cur.counts(up)
	for k, v := range a.cloudBase {
		if k != "uplink_spooled" {
			up[k] += v
		} else if cur == nil {
			up[k] = v
		}
	}
	a.cloudMu.Unlock()
	maps.Copy(m, up)
	for _, st := range a.taps.sinkStats() {
		m["sink_"+st.Name+"_sent"] = st.Sent
		m["sink_"+st.Name+"_dropped"] = st.Dropped
	}
	fs := &a.files.Stats
	for k, v := range map[string]*atomic.Uint64{
		"file_events":                  &fs.Files,
		"file_heads_lost":              &fs.HeadsLost,
		"file_flows_evicted_half_open": &fs.FlowsEvictedHalfOpen,
		"file_flows_evicted_memory":    &fs.FlowsEvictedMemory,
		"file_incomplete":              &fs.Incomplete,
		"file_oversize":                &fs.Oversize,
		"file_non_candidates":          &fs.NonCandidates,
		"file_spool_full":              &fs.SpoolFull,
		"file_spool_errors":            &fs.SpoolErrors,
		"file_retained":                &fs.Retained,
		"file_retain_errors":           &fs.RetainErrors,
		"file_yara_errors":             &fs.YARAErrors,
		"file_score_waits":             &fs.ScoreWaits,
		"file_flows":                   &fs.Flows,
		"file_flows_evicted":           &fs.FlowsEvicted,
		"file_flows_expired":           &fs.FlowsExpired,
		"file_flows_lifetime":          &fs.FlowsLifetime,
		"file_flows_ignored":           &fs.FlowsIgnored,
		"file_verdict_skip":            &fs.VerdictSkip,
		"file_verdict_capture":         &fs.VerdictCapture,
		"file_verdict_ignore":          &fs.VerdictIgnore,
		"file_verdict_errors":          &fs.VerdictErrors,
		"file_images_scanned":          &fs.ImagesScanned,
		"file_image_bytes":             &fs.ImageBytes,
		"file_images_not_scanned":      &fs.ImagesNotScanned,
		"file_polyglots":               &fs.Polyglots,
		"file_analyses_cached":         &fs.AnalysisCached,
		"file_analyses_evicted":        &fs.AnalysisEvicted,
		"file_range_pieces":            &fs.RangePieces,
		"file_range_files_joined":      &fs.RangeFilesJoined,
		"file_range_incomplete":        &fs.RangeIncomplete,
		"file_range_declined":          &fs.RangeDeclined,
		"file_range_conflicts":         &fs.RangeConflicts,
		"file_range_unverified":        &fs.RangeUnverified,
		"file_range_evicted":           &fs.RangeEvicted,
		"file_range_too_many_pieces":   &fs.RangeTooManyPieces,
		"file_range_held_full":         &fs.RangeHeldFull,
		"file_range_late":              &fs.RangeLate,
		"file_range_too_large":         &fs.RangeTooLarge,
		"file_range_overrun":           &fs.RangeOverrun,
	} {
		m[k] = v.Load()
	}
	a.checks.Counts(m)
	for k, v := range map[string]uint64{
		"tls_budget_raised": a.handshakes.Stats.Extended.Load(),
		"tls_ended":         a.handshakes.Stats.Ended.Load(),
		"tls_late_packets":  a.handshakes.Stats.Late.Load(),
	} {
		m[k] = v
	}
	hr, ht := a.handshakes.Detail()
	files.Flatten("tls_reassembly", &hr, m)
	files.Flatten("tls_tcp", &ht, m)
	d := a.files.Detail()
	files.Flatten("reassembly", &d.Reassembly, m)
	files.Flatten("tcp", &d.TCP, m)
	files.Flatten("http", &d.HTTP, m)
	files.Flatten("smtp", &d.SMTP, m)
	files.Flatten("imap", &d.IMAP, m)
	files.Flatten("mime", &d.MIME, m)
	return m
}

// loadIntel reads the [[intel.sources]] files, whose sets consult the
// feed's layer (nil: none) after them; nil when there are neither.
func loadIntel(cfg *config.Config, feed *intel.Layer) (*intel.Reloader, error) {
	return cfg.Intel.Load("intel", feed)
}

// cloudIntel is what the uplink takes from the analysis.
func (a *analysis) cloudIntel() cloudIntel {
	return cloudIntel{feed: a.feed, listed: func(sha string) bool {
		r := a.intel.Load()
		if r == nil {
			return false
		}
		_, ok := r.Current().Hash(sha, "", "")
		return ok
	}}
}

// stopFeed ends the feed's expiry sweep (the feed stays in force for the
// final counts).
func (a *analysis) stopFeed() {
	if a.feedStop != nil {
		a.feedStop()
	}
}
