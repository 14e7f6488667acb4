// Package files turns the data plane's stream class into edgesensor.file
// events: it reassembles each TCP direction, hands the bytes to the
// protocol's parser (HTTP, SMTP, IMAP; mail through the MIME extractor),
// types every file from its first bytes, hashes and spools the candidates
// (executables, documents, archives), reads their metadata, writes one
// event per candidate and deletes the spooled bytes unless a retention
// rule keeps them. It steers the data plane as it learns: SKIP the body of
// a non-candidate of known length, CAPTURE past the flow budget for a
// candidate, IGNORE a flow that can carry nothing more of interest.
package files

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/ndjson"
	"github.com/edgesensor/edgesensor/userspace/files/analyzers"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/files/httpx"
	"github.com/edgesensor/edgesensor/userspace/files/imap"
	"github.com/edgesensor/edgesensor/userspace/files/mime"
	"github.com/edgesensor/edgesensor/userspace/files/smtp"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
	"github.com/edgesensor/edgesensor/userspace/packet/reassembly"
	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
	"github.com/edgesensor/edgesensor/userspace/verdict/yara"
)

// Dataset is event.dataset of file events.
const Dataset = "edgesensor.file"

// minKernelSkip: a non-candidate body shorter than this is dropped in
// userspace; a map write per small body would cost more than it saves.
const minKernelSkip = 32 << 10

// Config tunes the pipeline. New fills zero values from the defaults of
// the tables they come from (DefaultSettings, capture's).
type Config struct {
	Ports      map[uint16]datapath.App // watched port -> protocol
	Categories map[filetype.Category]Category
	SpoolDir   string
	SpoolLimit int64
	Uploads    bool
	Idle       time.Duration
	Lifetime   time.Duration
	MaxFlows   int // over all shards
	Shards     int
	// StreamBudget is the data plane's per-flow byte budget
	// (capture.stream_budget): a candidate that needs more is given a
	// CAPTURE verdict with a larger one.
	StreamBudget     int64
	ReassemblyBuffer int
	ReassemblyMemory int64 // over all shards
	MaxDecompressed  int64
	MaxRatio         int
	// ImageScanLimit: pictures up to this size are read whole for a
	// payload after them (polyglots, sink.go watchPicture); < 0 off.
	ImageScanLimit int64
	// RangeFiles, RangePieces, RangeHeld and RangeIdle bound the joining
	// of HTTP ranges (rangejoin.go); RangeFiles < 0 turns it off (only
	// ranges in order on one connection are joined, by the parser).
	RangeFiles  int
	RangePieces int
	RangeHeld   int64
	RangeIdle   time.Duration
	// Verdicts steers the data plane; nil when there is none to steer.
	Verdicts datapath.Verdicts
	// Checksums decides which segments a host drops for a checksum (nil:
	// none are checked); Policy resolves overlapping segments.
	Checksums *datapath.Checksums
	Policy    reassembly.Policy
	// AckGrace: reassembly.Config.AckGrace.
	AckGrace time.Duration
	// Intel returns the current threat intelligence (nil: none);
	// Threshold is score.threshold; Static bounds the analyzers.
	Intel     func() *intel.Set
	Threshold int
	Static    analyzers.Limits
	YARA      *yara.Rules // nil: none
	// NoSHA1 and NoMD5 leave those digests out (files.hashes): SHA-256
	// is always computed.
	NoSHA1, NoMD5 bool
	// RetainMinScore keeps (RetainDir) only files scoring at least this.
	RetainMinScore int
	// Samples is the cloud's side of whole files (nil: no cloud).
	Samples Samples
	// CommunityIDSeed seeds network.community_id
	// (output.community_id_seed).
	CommunityIDSeed uint16
	// Geo, when set, answers destination.geo and destination.as of the
	// server's address ([enrich]). Called from the shards' goroutines at
	// once: it must be safe for that, and cheap (geo.Cache).
	Geo ecs.GeoLookup
	// Capture, when set, is asked about each event before it is written
	// ([capture_on_alert]): an alerting event's flow packets go to a
	// pcapng file, whose path the event carries. Called from the shards'
	// goroutines at once.
	Capture ecs.CaptureFunc
}

// Samples is what the file pipeline asks of the cloud uplink.
type Samples interface {
	// Wanted says whether whole files of a category go to the cloud for
	// a verdict (their events carry edgesensor.score.cloud -1).
	Wanted(cat filetype.Category) bool
	// Path is asked for every whole spooled file before its spool goes:
	// a path it returns receives a copy (a hard link where it can), which
	// from then on belongs to the uplink; "" for none.
	Path(cat filetype.Category, size int64, sha256 string) string
}

// Category is what the config says of one file category.
type Category struct {
	MaxSize   int64
	RetainDir string        // "" keeps no file
	RetainFor time.Duration // retained files older than this are deleted; 0 never
}

// intel is the current intelligence, or nil.
func (p *Pipeline) intel() *intel.Set {
	if p.cfg.Intel == nil {
		return nil
	}
	return p.cfg.Intel()
}

// Stats count what the pipeline did. The atomic ones are live; Detail
// sums the per-shard counters of the stages and is exact once the
// pipeline is closed.
type Stats struct {
	Flows        atomic.Uint64 // file flows followed
	FlowsEvicted atomic.Uint64 // ended early: the flow table was full
	// FlowsEvictedHalfOpen were flows that never carried data, evicted
	// first (a SYN flood).
	FlowsEvictedHalfOpen atomic.Uint64
	FlowsExpired         atomic.Uint64 // ended by files.flow_idle
	FlowsLifetime        atomic.Uint64 // ended by files.flow_lifetime
	FlowsIgnored         atomic.Uint64 // nothing more of interest (STARTTLS, upgrade, not the protocol)
	Files                atomic.Uint64 // edgesensor.file events written
	// HeadsLost are transfers reported although a gap took their head
	// (edgesensor.file.head_lost).
	HeadsLost atomic.Uint64
	// FlowsEvictedMemory ended early to keep within
	// files.reassembly_memory (parsers' buffers counted in).
	FlowsEvictedMemory atomic.Uint64
	// MemoryPeak is the most the shards held against
	// files.reassembly_memory (the sum of each shard's peak).
	MemoryPeak     atomic.Uint64
	Incomplete     atomic.Uint64 // of which incomplete
	Oversize       atomic.Uint64 // of which over the category's max_size
	NonCandidates  atomic.Uint64 // files seen and not reported (not a selected category)
	SpoolFull      atomic.Uint64 // candidates hashed but not spooled: spool_limit
	SpoolErrors    atomic.Uint64 // spool files that could not be written
	Retained       atomic.Uint64 // files kept by a retention rule
	RetainErrors   atomic.Uint64 // files a retention rule could not keep
	RetainExpired  atomic.Uint64 // retained files the janitor deleted (files.retain_for)
	Samples        atomic.Uint64 // whole files handed to the uplink
	SampleErrors   atomic.Uint64 // files that could not be handed over
	YARAErrors     atomic.Uint64 // YARA scans that failed or timed out
	ScoreWaits     atomic.Uint64 // times a worker waited for a free scorer
	VerdictSkip    atomic.Uint64 // SKIP verdicts written
	VerdictCapture atomic.Uint64 // CAPTURE verdicts written
	VerdictIgnore  atomic.Uint64 // IGNORE verdicts written
	VerdictErrors  atomic.Uint64 // verdict writes that failed
	// Pictures read whole for a payload after them (polyglots):
	// ImagesScanned of ImageBytes, ImagesNotScanned (over
	// files.image_scan_limit or cut), Polyglots found carrying one.
	ImagesScanned    atomic.Uint64
	ImageBytes       atomic.Uint64
	ImagesNotScanned atomic.Uint64
	Polyglots        atomic.Uint64
	// HTTP ranges joined across orders and connections (rangejoin.go).
	RangePieces        atomic.Uint64 // pieces handed to the joiner
	RangeFilesJoined   atomic.Uint64 // files joined whole from their pieces
	RangeIncomplete    atomic.Uint64 // files whose pieces never covered them (not_final)
	RangeDeclined      atomic.Uint64 // joined files not wanted (not a candidate, oversize)
	RangeConflicts     atomic.Uint64 // files cut: overlapping pieces disagreed, or a piece's connection saw a conflict
	RangeOverrun       atomic.Uint64 // files cut "conflict": a piece's body ran past its range (chunked, until close)
	RangeUnverified    atomic.Uint64 // files cut: an overlap could not be read back to compare (limit)
	RangeEvicted       atomic.Uint64 // files ended early: files.range_files was full
	RangeTooManyPieces atomic.Uint64 // files cut: files.range_pieces
	RangeHeldFull      atomic.Uint64 // files cut: files.range_held or files.spool_limit
	RangeLate          atomic.Uint64 // pieces dropped: their file had ended
	RangeTooLarge      atomic.Uint64 // pieces not joined: their file is larger than any max_size
	// Static analyses taken from the cache of results by content
	// (analysiscache.go), and results the cache let go for room.
	AnalysisCached  atomic.Uint64
	AnalysisEvicted atomic.Uint64
}

// Pipeline implements datapath.Pipeline for the stream class.
type Pipeline struct {
	cfg   Config
	out   *ndjson.NDJSON
	Stats Stats

	spoolUsed atomic.Int64
	// imageSpool: the part of spoolUsed pictures read for polyglots hold;
	// at most half of SpoolLimit, so they never crowd candidates out.
	imageSpool atomic.Int64
	spoolDir   string // this pipeline's own directory under cfg.SpoolDir

	// ports is cfg.Ports, replaceable while running (a reloaded config).
	ports atomic.Pointer[map[uint16]datapath.App]
	// holds is enforcement's hold on downloads (SetHolds), or nil.
	holds atomic.Pointer[Holds]

	mu     sync.Mutex
	shards []*shard

	// ranges joins HTTP ranges (nil: off); openShards counts the shards
	// not closed: the last to close ends the files still waiting.
	ranges     *rangeJoiner
	openShards int

	// Closed candidates wait here for a scorer: analysis (metadata,
	// static analyzers, YARA, intel) runs off the packet path.
	scoreQ  chan *file
	scorers sync.WaitGroup
	// analysisCache keeps static analysis results by content.
	analysisCache *analysisCache
	closeOnce     sync.Once
}

// scoreQueue is how many closed candidates may wait for a scorer before
// a worker waits (counted in Stats.ScoreWaits).
const scoreQueue = 256

// SetPorts replaces the watched ports: flows that start from now on use
// the new table, flows already followed keep their application.
func (p *Pipeline) SetPorts(m map[uint16]datapath.App) { p.ports.Store(&m) }

// app is the application of a server port.
func (p *Pipeline) app(port uint16) datapath.App { return (*p.ports.Load())[port] }

// analyse hands a closed candidate to the scorers; a piece of a file
// fetched in ranges, held back on its connection (sink.go Close), ends
// in its file instead.
func (p *Pipeline) analyse(f *file) {
	if f.piece != nil {
		p.ranges.closePiece(f.s, f.piece)
		return
	}
	f.s.pending.Add(1)
	select {
	case p.scoreQ <- f:
	default:
		p.Stats.ScoreWaits.Add(1)
		p.scoreQ <- f
	}
}

func (p *Pipeline) scorer() {
	defer p.scorers.Done()
	for f := range p.scoreQ {
		f.finish()
		f.s.pending.Done()
	}
}

// Memory is what the shards held at their last Tick (about once a
// second), against ReassemblyMemory.
func (p *Pipeline) Memory() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for _, s := range p.shards {
		n += s.held.Load()
	}
	return n
}

// orDefault sets *v to d when it is unset (zero or negative).
func orDefault[T ~int | ~int64](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// New makes a pipeline writing to out. It creates the spool directory.
func New(cfg Config, out *ndjson.NDJSON) (*Pipeline, error) {
	ds := DefaultSettings()
	def := ds.Config()
	if cfg.Ports == nil {
		dp := datapath.DefaultPorts()
		cfg.Ports = dp.Apps()
	}
	if cfg.Categories == nil {
		cfg.Categories = def.Categories
	}
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = def.SpoolDir
	}
	orDefault(&cfg.SpoolLimit, def.SpoolLimit)
	orDefault(&cfg.Idle, def.Idle)
	orDefault(&cfg.Lifetime, def.Lifetime)
	orDefault(&cfg.MaxFlows, def.MaxFlows)
	orDefault(&cfg.Shards, 1)
	orDefault(&cfg.StreamBudget, int64(datapath.DefaultStreamBudget))
	orDefault(&cfg.ReassemblyBuffer, def.ReassemblyBuffer)
	orDefault(&cfg.ReassemblyMemory, def.ReassemblyMemory)
	orDefault(&cfg.MaxDecompressed, def.MaxDecompressed)
	orDefault(&cfg.MaxRatio, def.MaxRatio)
	// Zero is the default here; < 0 is off (Settings.Config).
	if cfg.ImageScanLimit == 0 {
		cfg.ImageScanLimit = def.ImageScanLimit
	}
	if cfg.RangeFiles == 0 {
		cfg.RangeFiles = def.RangeFiles
	}
	orDefault(&cfg.RangePieces, def.RangePieces)
	orDefault(&cfg.RangeHeld, def.RangeHeld)
	orDefault(&cfg.RangeIdle, def.RangeIdle)
	if err := os.MkdirAll(cfg.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("files.spool_dir: creating %s: %w", cfg.SpoolDir, err)
	}
	removeStaleSpools(cfg.SpoolDir)
	own, err := os.MkdirTemp(cfg.SpoolDir, fmt.Sprintf("run-%d-", os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("files.spool_dir: %w", err)
	}
	for cat, c := range cfg.Categories {
		if c.RetainDir == "" {
			continue
		}
		if err := os.MkdirAll(c.RetainDir, 0o700); err != nil {
			return nil, fmt.Errorf("files.retain.%s: creating %s: %w", cat, c.RetainDir, err)
		}
	}
	p := &Pipeline{cfg: cfg, out: out, spoolDir: own, scoreQ: make(chan *file, scoreQueue)}
	p.SetPorts(cfg.Ports)
	p.analysisCache = newAnalysisCache(analysisCacheBytes, &p.Stats)
	if cfg.RangeFiles > 0 {
		p.ranges = newRangeJoiner(p)
	}
	for i := 0; i < max(cfg.Shards, 1); i++ {
		p.scorers.Add(1)
		go p.scorer()
	}
	return p, nil
}

// Close stops the scorers and removes the pipeline's spool directory; call
// it once every shard is closed. Safe to call twice.
func (p *Pipeline) Close() error {
	var err error
	p.closeOnce.Do(func() {
		if p.ranges != nil {
			// Files still waiting for pieces (shards not closed first).
			p.ranges.closeAll(time.Time{})
		}
		close(p.scoreQ)
		p.scorers.Wait()
		err = os.RemoveAll(p.spoolDir)
	})
	return err
}

// removeStaleSpools deletes what a sensor that died left in the spool:
// directories run-PID-* of processes that no longer exist. (Their bytes
// would otherwise sit outside files.spool_limit for ever.)
func removeStaleSpools(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "run-")
		if !ok || !e.IsDir() {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// NewShard implements datapath.Pipeline.
func (p *Pipeline) NewShard(id int) datapath.Shard {
	n := max(p.cfg.Shards, 1)
	s := &shard{
		p:     p,
		id:    id,
		flows: map[flowKey]*flow{},
		max:   max(p.cfg.MaxFlows/n, 16),
	}
	s.reasmCfg = reassembly.Config{MaxBuffered: p.cfg.ReassemblyBuffer, Policy: p.cfg.Policy, AckGrace: p.cfg.AckGrace}
	s.budget = &reassembly.Budget{Max: max(p.cfg.ReassemblyMemory/int64(n), int64(p.cfg.ReassemblyBuffer))}
	s.sink = &sink{s: s}
	s.mime = mime.New(s.sink, mime.Options{}, &s.stats.MIME)
	p.mu.Lock()
	p.shards = append(p.shards, s)
	p.openShards++
	p.mu.Unlock()
	return s
}

// lastShardClosed counts s closed; true when it was the last open one.
func (p *Pipeline) lastShardClosed(s *shard) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	p.openShards--
	return p.openShards == 0
}

// Detail is the sum of the stages' counters over all shards.
type Detail struct {
	Reassembly reassembly.Stats
	TCP        reassembly.ConnStats
	HTTP       httpx.Stats
	SMTP       smtp.Stats
	IMAP       imap.Stats
	MIME       mime.Stats
}

// Detail sums the per-shard counters. Exact once the dispatcher is closed;
// while it runs, a shard may be mid-update (the figures are for logs).
func (p *Pipeline) Detail() Detail {
	p.mu.Lock()
	defer p.mu.Unlock()
	var d Detail
	for _, s := range p.shards {
		addStats(&d.Reassembly, &s.stats.Reassembly)
		addStats(&d.TCP, &s.stats.TCP)
		addStats(&d.HTTP, &s.stats.HTTP)
		addStats(&d.SMTP, &s.stats.SMTP)
		addStats(&d.IMAP, &s.stats.IMAP)
		addStats(&d.MIME, &s.stats.MIME)
	}
	return d
}

// parserFor makes the parser of a flow's protocol.
func (s *shard) parserFor(app datapath.App) transfer.Parser {
	c := &s.p.cfg
	switch app {
	case datapath.AppHTTP:
		return httpx.New(s.sink, httpx.Options{
			Uploads:    c.Uploads,
			MaxDecoded: c.MaxDecompressed,
			MaxRatio:   c.MaxRatio,
			Pieces:     s.p.ranges != nil,
		}, &s.stats.HTTP)
	case datapath.AppSMTP:
		return smtp.New(s.mime, smtp.Options{}, &s.stats.SMTP)
	case datapath.AppIMAP:
		return imap.New(s.mime, imap.Options{}, &s.stats.IMAP)
	}
	return nil
}
