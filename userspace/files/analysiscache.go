package files

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/edgesensor/edgesensor/internal/lru"
	"github.com/edgesensor/edgesensor/userspace/files/analyzers"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/files/formats"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// The static analysis of a whole file is a function of its bytes, its
// type, its name and the analyzers' limits. The same file is often
// fetched many times (an update every host pulls, a campaign's
// attachment sent to a whole company), and analysing it (an archive walk
// that inflates every member, the entropy of every section) costs far
// more than hashing it: so results are kept by SHA-256 and the rest of
// what the analyzers read, and a file seen again is walked once.
//
// Only whole files are kept: their SHA-256 is of every byte the
// analyzers could read. YARA and intel are not kept: rules and lists
// change while the sensor runs, and each is asked again for every file.
// Memory is bounded by analysisCacheBytes over keys and reasons; the
// least recently used results go first.
const (
	analysisCacheBytes = 4 << 20
	// A result larger than this (a name or texts of hostile length) is
	// not kept, so a few cannot push out the many.
	analysisEntryMax = 16 << 10
)

type analysisKey struct {
	sum  [32]byte
	size int64 // the spooled bytes analysed (spool_limit may cut a file short of its hash)
	typ  filetype.Type
	name string
	lim  analyzers.Limits
}

type analysisEntry struct {
	links   lru.Links[analysisEntry]
	key     analysisKey
	reasons []score.Reason
	bytes   int
}

func (e *analysisEntry) Links() *lru.Links[analysisEntry] { return &e.links }

// analysisCache is shared by the pipeline's scorers.
type analysisCache struct {
	mu      sync.Mutex
	m       map[analysisKey]*analysisEntry
	pending map[analysisKey]*pendingAnalysis
	l       lru.List[analysisEntry, *analysisEntry]
	bytes   int
	max     int

	hits, evicted *atomic.Uint64 // Stats.AnalysisCached, AnalysisEvicted
}

func newAnalysisCache(max int, st *Stats) *analysisCache {
	return &analysisCache{m: map[analysisKey]*analysisEntry{}, pending: map[analysisKey]*pendingAnalysis{}, max: max,
		hits: &st.AnalysisCached, evicted: &st.AnalysisEvicted}
}

// do returns the reasons kept for k, or runs analyse and keeps what it
// finds. A file fetched by many hosts at once reaches several scorers
// together: one analyses it, the others wait for its result. The caller
// may append to what it gets (intel and YARA reasons): it is a copy.
func (c *analysisCache) do(k analysisKey, analyse func() []score.Reason) []score.Reason {
	c.mu.Lock()
	if e := c.m[k]; e != nil {
		c.l.Touch(e)
		c.mu.Unlock()
		c.hits.Add(1)
		return slices.Clone(e.reasons)
	}
	if w := c.pending[k]; w != nil {
		c.mu.Unlock()
		<-w.done
		if w.ok {
			c.hits.Add(1)
			return slices.Clone(w.reasons)
		}
		return analyse()
	}
	w := &pendingAnalysis{done: make(chan struct{})}
	c.pending[k] = w
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, k)
		if w.ok {
			c.put(k, w.reasons)
		}
		c.mu.Unlock()
		close(w.done)
	}()
	r := analyse()
	w.reasons, w.ok = slices.Clone(r), true
	return r
}

// pendingAnalysis is an analysis under way; ok once it ended (a panic
// leaves it false, and who waited analyses for itself).
type pendingAnalysis struct {
	done    chan struct{}
	reasons []score.Reason
	ok      bool
}

// put keeps reasons for k (not copied: the caller hands them over).
// Called with c.mu held.
func (c *analysisCache) put(k analysisKey, reasons []score.Reason) {
	n := entryBytes(k, reasons)
	if n > analysisEntryMax || n > c.max || c.m[k] != nil {
		return
	}
	for c.bytes+n > c.max {
		old := c.l.Oldest()
		c.l.Remove(old)
		delete(c.m, old.key)
		c.bytes -= old.bytes
		c.evicted.Add(1)
	}
	e := &analysisEntry{key: k, reasons: reasons, bytes: n}
	c.m[k] = e
	c.l.Push(e)
	c.bytes += n
}

// entryBytes is what an entry holds: its struct, the key's name, the
// reasons and their strings, and the map's share.
func entryBytes(k analysisKey, reasons []score.Reason) int {
	n := 256 + len(k.name) + len(k.typ.MIME) + len(k.typ.Kind) + len(k.typ.Reason)
	for _, r := range reasons {
		n += 48 + len(r.Rule) + len(r.Text)
	}
	return n
}

// analyseDoc runs the static analyzers over f's parsed spool, or takes
// their result for the same bytes, name and type from the cache.
func (f *file) analyseDoc(doc *formats.Doc, name string) []score.Reason {
	p := f.s.p
	if doc == nil || !f.complete || len(f.sum256) != 32 {
		return analyzers.AnalyzeDoc(doc, f.typ, name, p.cfg.Static)
	}
	k := analysisKey{size: f.spoolBytes, typ: f.typ, name: name, lim: p.cfg.Static}
	copy(k.sum[:], f.sum256)
	return p.analysisCache.do(k, func() []score.Reason { return analyzers.AnalyzeDoc(doc, f.typ, name, p.cfg.Static) })
}
