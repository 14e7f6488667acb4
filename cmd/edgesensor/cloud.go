package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/filetype"
	"github.com/edgesensor/edgesensor/userspace/output"
	"github.com/edgesensor/edgesensor/userspace/privacy"
	"github.com/edgesensor/edgesensor/userspace/uplink"
)

// cloudQueue is how many events wait for anonymisation; past it they are
// dropped and counted: the packet path never waits on the cloud.
const cloudQueue = 16384

// cloudLink takes events off the output, anonymises them under the
// privacy policy and hands the records to the uplink. A nil *cloudLink
// is the fully on-premises sensor: it does nothing.
type cloudLink struct {
	pol    *privacy.Policy
	client *uplink.Client
	out    *output.NDJSON
	log    zerolog.Logger
	audit  io.Closer

	inMu     sync.RWMutex // closed and in: no tap sends after close
	closed   bool
	in       chan []byte
	dropped  atomic.Uint64 // events the queue could not take
	failed   atomic.Uint64 // events the policy could not read
	records  atomic.Uint64 // records handed to the uplink
	pending  atomic.Int64  // lines taken and not yet through record
	verdicts atomic.Uint64 // follow-up events written

	scores scoreMemo

	// Samples wait in the uplink's samples directory; sweepSamples
	// bounds them by uplink.spool_max (new ones refused while over) and
	// uplink.spool_max_age.
	samplesMax     int64
	samplesMaxAge  time.Duration
	samplesFull    atomic.Bool
	samplesRefused atomic.Uint64
	samplesExpired atomic.Uint64

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// startCloud starts the uplink when the config shares anything; nil
// otherwise (no connection is ever made).
func startCloud(cfg *config.Config, out *output.NDJSON, log zerolog.Logger) (*cloudLink, error) {
	if !cfg.UplinkEnabled() {
		return nil, nil
	}
	pol, err := policyFor(cfg, false)
	if err != nil {
		return nil, err
	}
	c := &cloudLink{pol: pol, out: out, log: log, in: make(chan []byte, cloudQueue), scores: newScoreMemo(1 << 16),
		samplesMax: int64(cfg.Uplink.SpoolMax), samplesMaxAge: time.Duration(cfg.Uplink.SpoolMaxAge)}
	var audit io.Writer
	if p := cfg.Uplink.AuditLog; p != "" {
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			return nil, fmt.Errorf("uplink.audit_log: %w", err)
		}
		lj := &lumberjack.Logger{Filename: p, MaxSize: 100, MaxBackups: 10}
		audit, c.audit = lj, lj
	}
	sensorID := cfg.Uplink.SensorID
	if sensorID == "" {
		h, _ := os.Hostname()
		sum := sha256.Sum256([]byte(pol.KeyID() + "/" + h))
		sensorID = hex.EncodeToString(sum[:8])
	}
	client, err := uplink.New(uplink.Options{
		URL: cfg.Uplink.URL, CAFile: cfg.Uplink.CAFile, CertFile: cfg.Uplink.CertFile, KeyFile: cfg.Uplink.KeyFile,
		ServerName: cfg.Uplink.ServerName, SensorID: sensorID, KeyID: pol.KeyID(),
		SpoolDir: cfg.Uplink.SpoolDir, SpoolMaxBytes: int64(cfg.Uplink.SpoolMax), SpoolMaxAge: time.Duration(cfg.Uplink.SpoolMaxAge),
		BatchSize: cfg.Uplink.Batch, Audit: audit, Modes: pol.Modes(), OnVerdict: c.onVerdict, Log: log,
	})
	if err != nil {
		if c.audit != nil {
			c.audit.Close()
		}
		return nil, err
	}
	c.client = client
	c.sweepSamples(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.done.Add(2)
	go func() {
		defer c.done.Done()
		if err := client.Run(ctx); err != nil {
			log.Error().Err(err).Msg("uplink stopped")
		}
	}()
	go func() {
		defer c.done.Done()
		c.anonymise()
	}()
	log.Info().Str("url", cfg.Uplink.URL).Str("key_id", pol.KeyID()).Interface("modes", pol.Modes()).Msg("cloud uplink on")
	return c, nil
}

// tap takes a copy of an event line without ever blocking.
func (c *cloudLink) tap(line []byte) {
	c.inMu.RLock()
	defer c.inMu.RUnlock()
	if c.closed {
		return
	}
	c.pending.Add(1)
	select {
	case c.in <- append([]byte(nil), line...):
	default:
		c.pending.Add(-1)
		c.dropped.Add(1)
	}
}

// anonymise turns event lines into records, off the analysis goroutines.
func (c *cloudLink) anonymise() {
	for line := range c.in {
		c.record(line)
		c.pending.Add(-1)
	}
}

// record anonymises one event line and enqueues the record.
func (c *cloudLink) record(line []byte) {
	rec, ok, err := c.pol.Record(line)
	if err != nil {
		c.failed.Add(1)
		return
	}
	if !ok {
		return
	}
	r := uplink.Record{ID: rec.ID, Category: rec.Category, Dataset: rec.Dataset, Body: rec.Body, SHA256: rec.SHA256}
	if rec.SHA256 != "" {
		c.scores.put(rec.SHA256, rec.Score)
		if s := filepath.Join(c.client.SampleDir(), rec.SHA256); c.pol.Mode(rec.Category) == config.ShareFull {
			if _, err := os.Stat(s); err == nil {
				r.Sample, r.SampleLimit = s, c.pol.UploadLimit(rec.Category)
			}
		}
	}
	if c.client.Enqueue(r) {
		c.records.Add(1)
	}
}

// sample is the file pipeline's hand-off: where a whole file of this
// category goes for upload, or "" when its mode is not full or it is too
// large to upload.
func (c *cloudLink) sample(cat filetype.Category, size int64, sum string) string {
	pc := privacyCategory(cat)
	if c.pol.Mode(pc) != config.ShareFull || size > c.pol.UploadLimit(pc) {
		return ""
	}
	if c.samplesFull.Load() {
		c.samplesRefused.Add(1)
		return ""
	}
	return filepath.Join(c.client.SampleDir(), sum)
}

// sweepSamples deletes samples older than uplink.spool_max_age (their
// records are gone from the spool too) and refuses new ones while the
// directory holds more than uplink.spool_max. A sample whose event never
// became a record (a full queue) is removed this way too.
func (c *cloudLink) sweepSamples(now time.Time) {
	ents, err := os.ReadDir(c.client.SampleDir())
	if err != nil {
		return
	}
	var total int64
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		if c.samplesMaxAge > 0 && now.Sub(info.ModTime()) > c.samplesMaxAge {
			if os.Remove(filepath.Join(c.client.SampleDir(), e.Name())) == nil {
				c.samplesExpired.Add(1)
			}
			continue
		}
		total += info.Size()
	}
	c.samplesFull.Store(total > c.samplesMax)
}

// privacyCategory is the [privacy] category of a file category.
func privacyCategory(cat filetype.Category) string {
	if cat == filetype.Executable {
		return privacy.Executables
	}
	return privacy.Documents
}

// onVerdict writes the cloud's verdict as a follow-up event: the file's
// event carried the local score; this one carries the score the cloud
// raised or confirmed, for the SIEM to correlate by SHA-256.
func (c *cloudLink) onVerdict(v uplink.Verdict) {
	local, seen := c.scores.get(v.SHA256)
	final := v.Score
	if seen && local > final {
		final = local
	}
	kind := "event"
	if final >= 7 {
		kind = "alert"
	}
	ev := map[string]any{
		"@timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"event":      map[string]any{"kind": kind, "dataset": "edgesensor.verdict", "risk_score": final},
		"observer":   map[string]any{"product": "edgesensor", "type": "sensor"},
		"file":       map[string]any{"hash": map[string]any{"sha256": v.SHA256}},
		"edgesensor": map[string]any{"verdict": map[string]any{
			"source": "cloud", "via": v.Source, "cloud_score": v.Score, "cloud_verdict": v.Verdict, "local_score": localOrNil(local, seen),
		}},
	}
	line, err := json.Marshal(ev)
	if err != nil {
		return
	}
	c.verdicts.Add(1)
	c.out.Write(append(line, '\n'))
}

func localOrNil(v int, ok bool) any {
	if !ok || v < 0 {
		return nil
	}
	return v
}

// drain waits until every record handed over is delivered (or dropped
// and counted), or the timeout passes. replay uses it before exiting.
func (c *cloudLink) drain(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c.pending.Load() == 0 && c.client.Idle() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// close stops taking events, lets the queue empty into the spool, and
// stops the uplink; what is not delivered stays spooled for next time.
func (c *cloudLink) close() error {
	c.inMu.Lock()
	c.closed = true
	close(c.in)
	c.inMu.Unlock()
	c.cancel()
	c.done.Wait()
	err := c.client.Close()
	if c.audit != nil {
		c.audit.Close()
	}
	return err
}

// counts are the uplink's figures for --stats and the stop log line.
func (c *cloudLink) counts(m map[string]uint64) {
	if c == nil {
		return
	}
	st := c.client.Stats()
	for k, v := range map[string]uint64{
		"uplink_records": c.records.Load(), "uplink_queue_drops": c.dropped.Load(), "uplink_bad_events": c.failed.Load(),
		"uplink_delivered": st.Delivered, "uplink_duplicates": st.Duplicates, "uplink_spooled": uint64(st.SpoolRecords),
		"uplink_dropped_full": st.DroppedFull, "uplink_dropped_age": st.DroppedAge, "uplink_dropped_queue": st.DroppedQueue,
		"uplink_rejected": st.Rejected, "uplink_batches": st.Batches, "uplink_retries": st.Retries, "uplink_bytes_sent": st.BytesSent,
		"uplink_lookups": st.Lookups, "uplink_known": st.Known, "uplink_samples_uploaded": st.SamplesUploaded,
		"uplink_samples_skipped": st.SamplesSkipped, "uplink_verdicts": c.verdicts.Load(),
		"uplink_samples_refused_full": c.samplesRefused.Load(), "uplink_samples_expired": c.samplesExpired.Load(),
	} {
		m[k] = v
	}
}

// scoreMemo remembers local scores by SHA-256 for the follow-up events;
// bounded, oldest forgotten first.
type scoreMemo struct {
	mu    sync.Mutex
	max   int
	m     map[string]int
	order []string
}

func newScoreMemo(max int) scoreMemo { return scoreMemo{max: max, m: map[string]int{}} }

func (s *scoreMemo) put(k string, v int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; !ok {
		if len(s.order) >= s.max {
			delete(s.m, s.order[0])
			s.order = s.order[1:]
		}
		s.order = append(s.order, k)
	}
	s.m[k] = v
}

func (s *scoreMemo) get(k string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	return v, ok
}
