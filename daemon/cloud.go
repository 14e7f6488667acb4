package daemon

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/ndjson"
	"github.com/edgesensor/edgesensor/userspace/export/privacy"
	"github.com/edgesensor/edgesensor/userspace/export/uplink"
	"github.com/edgesensor/edgesensor/userspace/files"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

// cloudQueue is how many events wait for anonymisation; past it they are
// dropped and counted: the packet path never waits on the cloud.
const cloudQueue = 16384

// cloudLink takes events off the output, anonymises them under the
// privacy policy and hands the records to the uplink. It lives as long as
// sharing is on: a reload or a key rotation replaces the connection
// inside it (policy and client) while events wait in its queue. A nil
// *cloudLink is the fully on-premises sensor: it does nothing.
type cloudLink struct {
	out *ndjson.NDJSON
	log zerolog.Logger

	inMu   sync.RWMutex // closed and in: no tap sends after close
	closed bool
	in     chan *ecs.Record // copies: the line is only valid during the tap
	anon   sync.WaitGroup

	mu  sync.Mutex                // held while a line is recorded, and while the connection is replaced
	cur atomic.Pointer[cloudConn] // the connection in force (read lock-free by metrics and the file pipeline)

	pending  atomic.Int64  // lines taken and not yet through record
	dropped  atomic.Uint64 // events the queue could not take
	failed   atomic.Uint64 // events the policy could not read
	records  atomic.Uint64 // records handed to the uplink
	verdicts atomic.Uint64 // follow-up events written
	purged   atomic.Uint64 // spooled records dropped because the policy or key they were made under was replaced
	baseMu   sync.Mutex
	base     map[string]uint64 // figures of closed connections

	scores scoreMemo

	// Samples wait in the uplink's samples directory, bounded by
	// uplink.spool_max (counted as they are linked in, reconciled by
	// sweepSamples) and uplink.spool_max_age.
	samplesBytes   atomic.Int64
	samplesRefused atomic.Uint64
	samplesExpired atomic.Uint64

	// What the cloud tells the sensor: the feed (polled by each
	// connection), and the hash lookups of uplink.lookups, answered
	// through cache by the worker reading lookQ.
	ci            cloudIntel
	cache         *uplink.Cache
	lookQ         chan string
	lookWorker    sync.WaitGroup
	lookStop      context.CancelFunc
	lookPending   atomic.Int64  // hashes queued or being asked about
	lookSkipped   atomic.Uint64 // the intel (files or feed) already listed the hash: not asked
	lookDropped   atomic.Uint64 // the lookup queue was full
	lookFailed    atomic.Uint64 // lookups not answered: the cloud unavailable
	lookLatencies latencies     // lookups the cloud answered (cache misses)
	lookDown      atomic.Bool   // the last lookup failed: the cloud unavailable
}

// cloudIntel is what the uplink takes from the analysis: the feed to
// poll, and whether the intel already lists a hash (then it is not
// asked about).
type cloudIntel struct {
	feed   *feedRunner
	listed func(sha string) bool
}

// lookupQueue bounds the files waiting for their hash lookup.
const lookupQueue = 1024

// cloudConn is one policy with its uplink client.
type cloudConn struct {
	cfg       *config.Config
	pol       *privacy.Policy
	client    *uplink.Client
	audit     io.Closer
	cancel    context.CancelFunc
	run       sync.WaitGroup
	threshold int
	counted   atomic.Bool // its figures are in the link's base (shut)
}

// startCloud starts the uplink when the config shares anything; nil
// otherwise (no connection is ever made).
func startCloud(cfg *config.Config, out *ndjson.NDJSON, ci cloudIntel, log zerolog.Logger) (*cloudLink, error) {
	if !cfg.UplinkEnabled() {
		return nil, nil
	}
	c := &cloudLink{out: out, log: log, in: make(chan *ecs.Record, cloudQueue), scores: newScoreMemo(1 << 16), base: map[string]uint64{}, ci: ci}
	// The lookups' cache and worker run whether or not uplink.lookups is
	// on now: a reload turns it on and off (the connection in force says
	// which); the cache's sizes are set at start.
	u := cfg.Uplink
	c.cache = uplink.NewCache(u.CacheEntries, time.Duration(u.CacheTTL), time.Duration(u.CacheTTLUnknown), time.Duration(u.LookupTimeout))
	c.lookQ = make(chan string, lookupQueue)
	ctx, cancel := context.WithCancel(context.Background())
	c.lookStop = cancel
	c.lookWorker.Add(1)
	go func() {
		defer c.lookWorker.Done()
		c.lookups(ctx)
	}()
	conn, err := c.open(cfg)
	if err != nil {
		c.lookStop()
		c.lookWorker.Wait()
		return nil, err
	}
	c.cur.Store(conn)
	c.sweepSamples(time.Now())
	c.anon.Add(1)
	go func() {
		defer c.anon.Done()
		for rec := range c.in {
			c.mu.Lock()
			c.record(c.cur.Load(), rec)
			c.mu.Unlock()
			c.pending.Add(-1)
		}
	}()
	return c, nil
}

// tap takes a copy of an event without ever blocking.
func (c *cloudLink) tap(ev *ecs.Record) {
	c.inMu.RLock()
	defer c.inMu.RUnlock()
	if c.closed {
		return
	}
	// Files only: a verdict event carries its file's hash too, and asking
	// about it again would answer itself forever.
	if ev.Fields.SHA256 != "" && ev.Fields.Dataset == files.Dataset && c.lookupsOn() {
		if ev.Fields.Scored && ev.Fields.Score >= 0 {
			// The verdict event takes the higher of this and the cloud's,
			// and this event's community id.
			c.scores.put(ev.Fields.SHA256, ev.Fields.Score, ev.Fields.CommunityID)
		}
		c.lookPending.Add(1)
		select {
		case c.lookQ <- ev.Fields.SHA256:
		default:
			c.lookPending.Add(-1)
			c.lookDropped.Add(1)
		}
	}
	c.pending.Add(1)
	select {
	case c.in <- &ecs.Record{Fields: ev.Fields, Line: append([]byte(nil), ev.Line...)}:
	default:
		c.pending.Add(-1)
		c.dropped.Add(1)
	}
}

// record anonymises one event and enqueues the record.
func (c *cloudLink) record(conn *cloudConn, ev *ecs.Record) {
	if conn.counted.Load() { // closed: no connection could be started
		c.dropped.Add(1)
		return
	}
	rec, ok, err := conn.pol.Record(ev)
	if err != nil {
		c.failed.Add(1)
		return
	}
	if !ok {
		return
	}
	r := uplink.Record{ID: rec.ID, Category: rec.Category, Dataset: rec.Dataset, Body: rec.Body, SHA256: rec.SHA256}
	if rec.SHA256 != "" {
		c.scores.put(rec.SHA256, rec.Score, ev.Fields.CommunityID)
		if s := filepath.Join(conn.client.SampleDir(), rec.SHA256); conn.pol.Mode(rec.Category) == privacy.ShareFull {
			if _, err := os.Stat(s); err == nil {
				r.Sample, r.SampleLimit = s, conn.pol.UploadLimit(rec.Category)
			}
		}
	}
	if conn.client.Enqueue(r) {
		c.records.Add(1)
	}
}

// broken says whether the connection in force is a closed one (its
// replacement and the previous settings both failed to start).
func (c *cloudLink) broken() bool { return c.cur.Load().counted.Load() }

// pendingFor says whether the cloud hears of whole files of a category:
// their records, or (uplink.lookups) their hashes.
func (c *cloudLink) pendingFor(cat filetype.Category) bool {
	conn := c.cur.Load()
	return !conn.counted.Load() && (conn.cfg.Uplink.Lookups || conn.pol.Mode(privacyCategory(cat)) != privacy.ShareNone)
}

// sample is the file pipeline's hand-off: where a whole file of this
// category goes for upload, or "" when its mode is not full, it is too
// large to upload, or the samples waiting fill uplink.spool_max.
func (c *cloudLink) sample(cat filetype.Category, size int64, sum string) string {
	conn := c.cur.Load()
	pc := privacyCategory(cat)
	if conn.counted.Load() || conn.pol.Mode(pc) != privacy.ShareFull || size > conn.pol.UploadLimit(pc) {
		return ""
	}
	if c.samplesBytes.Add(size) > int64(conn.cfg.Uplink.SpoolMax) {
		c.samplesBytes.Add(-size)
		c.samplesRefused.Add(1)
		return ""
	}
	return filepath.Join(conn.client.SampleDir(), sum)
}

// sweepSamples deletes samples older than uplink.spool_max_age (their
// records are gone from the spool too) and recounts what the directory
// holds (the uplink deletes samples as it uploads or skips them). A
// sample whose event never became a record (a full queue) goes this way.
func (c *cloudLink) sweepSamples(now time.Time) {
	conn := c.cur.Load()
	dir, maxAge := conn.client.SampleDir(), time.Duration(conn.cfg.Uplink.SpoolMaxAge)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var total int64
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		if maxAge > 0 && now.Sub(info.ModTime()) > maxAge {
			if os.Remove(filepath.Join(dir, e.Name())) == nil {
				c.samplesExpired.Add(1)
			}
			continue
		}
		total += info.Size()
	}
	c.samplesBytes.Store(total)
}

// privacyCategory is the [privacy] category of a file category.
func privacyCategory(cat filetype.Category) string { return privacy.FileCategory(cat) }

// onVerdict writes the cloud's verdict as a follow-up event: the file's
// event carried the local score; this one carries the score the cloud
// raised or confirmed, for the SIEM to correlate by SHA-256, and the
// community id of the file event's flow, to find it in other tools' logs
// (none once the memo forgot the hash).
func (c *cloudLink) onVerdict(v uplink.Verdict) {
	local, cid, seen := c.scores.get(v.SHA256)
	final := v.Score
	if seen && local > final {
		final = local
	}
	threshold := config.Default().Score.Threshold
	if conn := c.cur.Load(); conn != nil {
		threshold = conn.threshold
	}
	kind := "event"
	if final >= threshold {
		kind = "alert"
	}
	var localScore *int
	if seen && local >= 0 {
		localScore = &local
	}
	ev := ecs.NewVerdictEvent(time.Now().UTC(), kind, final, v.SHA256, ecs.Verdict{
		Source: "cloud", Via: v.Source, CloudScore: v.Score, CloudVerdict: v.Verdict, LocalScore: localScore,
	})
	ev.SetCommunityID(cid)
	line, err := json.Marshal(ev)
	if err != nil {
		return
	}
	c.verdicts.Add(1)
	c.out.Write(&ecs.Record{Fields: ev.Fields(), Line: append(line, '\n')})
}

// lookups asks the cloud about the hashes of whole files (uplink.lookups)
// until ctx ends: through the cache, and not about those the intel
// already lists. A known hash's answer becomes a verdict event.
func (c *cloudLink) lookups(ctx context.Context) {
	for {
		var sha string
		select {
		case <-ctx.Done():
			return
		case sha = <-c.lookQ:
		}
		c.lookup(ctx, sha)
		c.lookPending.Add(-1)
	}
}

// lookup asks about one hash, unless the intel lists it.
func (c *cloudLink) lookup(ctx context.Context, sha string) {
	if c.ci.listed != nil && c.ci.listed(sha) {
		c.lookSkipped.Add(1)
		return
	}
	ask := c.lookupFn()
	if ask == nil {
		return
	}
	r, err := ask(ctx, sha)
	if err != nil {
		if ctx.Err() == nil {
			c.lookFailed.Add(1)
			c.lookupError(err)
		}
		return
	}
	c.lookupError(nil)
	if r.Known {
		c.onVerdict(uplink.Verdict{SHA256: sha, Score: r.Score, Verdict: r.Verdict, Source: "lookup"})
	}
}

// lookupsOn says whether the connection in force asks about hashes
// (uplink.lookups, as its config has it).
func (c *cloudLink) lookupsOn() bool {
	if c == nil {
		return false
	}
	conn := c.cur.Load()
	return conn != nil && !conn.counted.Load() && conn.cfg.Uplink.Lookups
}

// lookupFn asks about one hash through the cache, on the connection in
// force; nil without uplink.lookups or a connection.
func (c *cloudLink) lookupFn() cloudLookup {
	if !c.lookupsOn() {
		return nil
	}
	conn := c.cur.Load()
	return func(ctx context.Context, sha string) (cloudapi.LookupResult, error) {
		start := time.Now()
		r, hit, err := c.cache.Lookup(ctx, sha, conn.client.Lookup)
		if err == nil && !hit {
			c.lookLatencies.add(time.Since(start))
		}
		return r, err
	}
}

// lookupError logs the cloud becoming unavailable for lookups, and
// available again, once each.
func (c *cloudLink) lookupError(err error) {
	switch {
	case err != nil && c.lookDown.CompareAndSwap(false, true):
		c.log.Warn().Err(err).Msg("cloud unavailable for hash lookups; files are scored on local analysis and intel alone")
	case err == nil && c.lookDown.CompareAndSwap(true, false):
		c.log.Info().Msg("cloud available again for hash lookups")
	}
}

// drain waits until every record handed over is delivered (or dropped
// and counted) and every hash queued is looked up, or the timeout
// passes, or ctx ends. replay uses it before exiting.
func (c *cloudLink) drain(ctx context.Context, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if c.pending.Load() == 0 && c.lookPending.Load() == 0 && c.cur.Load().client.Idle() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// drainConn waits for one connection's spool to empty (c.mu held: no new
// records reach it).
func (c *cloudLink) drainConn(conn *cloudConn, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if conn.client.Idle() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// close stops taking events, lets the queue empty into the spool, and
// stops the uplink; what is not delivered stays spooled for next time,
// unless purge (sharing turned off: nothing may leave later either).
func (c *cloudLink) close(purge bool) error {
	c.inMu.Lock()
	c.closed = true
	close(c.in)
	c.inMu.Unlock()
	c.anon.Wait()
	c.lookStop()
	c.lookWorker.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	conn := c.cur.Load()
	err := c.shut(conn)
	if purge {
		c.purge(conn.cfg, "sharing was turned off")
	}
	return err
}

// counts are the uplink's figures for --stats and the stop log line:
// those of the connection in force plus those of the ones it replaced.
func (c *cloudLink) counts(m map[string]uint64) {
	if c == nil {
		return
	}
	c.baseMu.Lock()
	for k, v := range c.base {
		m[k] = v
	}
	if conn := c.cur.Load(); conn != nil && !conn.counted.Load() {
		clientCounts(conn.client.Stats(), m, true)
		// Handshakes whose client side is unknown make no record.
		m["uplink_unknown_side"] += conn.pol.UnknownSide()
	}
	c.baseMu.Unlock()
	for k, v := range map[string]uint64{
		"uplink_records": c.records.Load(), "uplink_queue_drops": c.dropped.Load(), "uplink_bad_events": c.failed.Load(),
		"uplink_verdicts": c.verdicts.Load(), "uplink_purged": c.purged.Load(),
		"uplink_samples_refused_full": c.samplesRefused.Load(), "uplink_samples_expired": c.samplesExpired.Load(),
	} {
		m[k] = v
	}
}

// clientCounts adds (or, without add, sets) a client's figures.
func clientCounts(st uplink.Stats, m map[string]uint64, add bool) {
	for k, v := range map[string]uint64{
		"uplink_delivered": st.Delivered, "uplink_duplicates": st.Duplicates,
		"uplink_dropped_full": st.DroppedFull, "uplink_dropped_age": st.DroppedAge, "uplink_dropped_queue": st.DroppedQueue,
		"uplink_rejected": st.Rejected, "uplink_batches": st.Batches, "uplink_retries": st.Retries, "uplink_bytes_sent": st.BytesSent,
		"uplink_lookups": st.Lookups, "uplink_known": st.Known, "uplink_samples_uploaded": st.SamplesUploaded,
		"uplink_samples_skipped": st.SamplesSkipped, "uplink_audit_errors": st.AuditErrors,
	} {
		if add {
			m[k] += v
		} else {
			m[k] = v
		}
	}
	m["uplink_spooled"] = uint64(st.SpoolRecords)
}

// scoreMemo remembers, by SHA-256, the local score of the file and the
// community id of its event's flow, for the follow-up events; bounded,
// oldest forgotten first. A file carried by several flows keeps the
// latest flow's id: the verdict is about the bytes, and the latest flow
// is the one most worth finding.
type scoreMemo struct {
	mu    sync.Mutex
	max   int
	m     map[string]memoEntry
	order []string
}

// memoEntry is what the memo keeps of one hash.
type memoEntry struct {
	score int
	cid   string // network.community_id; "" when unknown
}

func newScoreMemo(max int) scoreMemo { return scoreMemo{max: max, m: map[string]memoEntry{}} }

// put remembers k's score and, unless cid is "", its flow's community id
// (an event without one keeps the id remembered before).
func (s *scoreMemo) put(k string, score int, cid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	if !ok {
		if len(s.order) >= s.max {
			delete(s.m, s.order[0])
			s.order = s.order[1:]
		}
		s.order = append(s.order, k)
	}
	e.score = score
	if cid != "" {
		e.cid = cid
	}
	s.m[k] = e
}

func (s *scoreMemo) get(k string) (score int, cid string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	return e.score, e.cid, ok
}
