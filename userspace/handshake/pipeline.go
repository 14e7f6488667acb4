// Package handshake turns the data plane's handshake class into one
// edgesensor.tls event per TLS or QUIC handshake: it reassembles each
// direction, reads the hellos and the TLS 1.2 certificate, fingerprints the
// client (JA3, JA4) and the server (JA3S), and writes the event once the
// handshake is over or has timed out. A partial handshake still gives an
// event, saying what was missing.
package handshake

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/ndjson"
	"github.com/edgesensor/edgesensor/userspace/packet/reassembly"
)

// Defaults.
const (
	// DirectionLimit bounds the bytes kept per direction: 64 KiB a flow.
	DirectionLimit = 32 << 10
	// DefaultQUICQuiet is how long a QUIC handshake waits for the server
	// once the ClientHello is complete (no QUIC server answers at all, in
	// many networks).
	DefaultQUICQuiet = 3 * time.Second
	// DefaultMaxBytes bounds the bytes all handshakes in progress hold
	// (reassembly and message buffers). A typical handshake holds 2 to
	// 8 KiB; a hostile one can hold 64 KiB and more. Past the bound the
	// least recently active handshakes are written early.
	DefaultMaxBytes = 128 << 20
	// maxErrs bounds the parse errors an event lists.
	maxErrs = 4
	// recycleMax: a finished flow holding more than this gives its
	// buffers back rather than keep them for the next.
	recycleMax = 16 << 10
)

// Config tunes the pipeline.
type Config struct {
	Idle      time.Duration // a handshake without packets for this long is written as it is
	QUICQuiet time.Duration // see DefaultQUICQuiet
	MaxFlows  int           // handshakes followed at once, over all shards
	MaxBytes  int           // bytes they may hold, over all shards (DefaultMaxBytes)
	Shards    int           // for dividing MaxFlows and MaxBytes
	// Score, when set, scores each event before it is written (sets
	// event.risk_score and edgesensor.score). Called from the shards'
	// goroutines at once: it must be safe for that.
	Score func(*Event)
	// OnClientHello, when set, is called once per flow as soon as its
	// ClientHello is read (enforcement decides on it then, not when the
	// event is written). From the shards' goroutines at once; h is only
	// valid during the call.
	OnClientHello func(h *Hello)
	// OnHeld, when set, is handed each packet the data plane held for
	// its hello's verdict (the hello gate, block mode), once the
	// analysis has read it. judged is the flow's hello as OnClientHello
	// was told it (it was judged then: the same shard read it first), or
	// one with only Flow, Proto and Seq when there was nothing to judge
	// (the client speaks no TLS; the handshake was written already: Seq
	// 0, no gate of its own); nil while the hello is still to come (a
	// server answering before the whole hello: the packet waits). From
	// the shards' goroutines at once; ev and judged are only valid
	// during the call.
	OnHeld func(ev *datapath.Event, judged *Hello)
	// Checksums decides which segments a host drops for a checksum (nil:
	// none are checked); Policy resolves overlapping segments.
	Checksums *datapath.Checksums
	Policy    reassembly.Policy
	// AckGrace: reassembly.Config.AckGrace.
	AckGrace time.Duration
	// Verdicts steers the data plane (nil: nothing to steer): a
	// handshake read whole, or a flow that is no TLS, is ended there; a
	// hello still coming in small pieces gets a larger budget, starting
	// from the data plane's own (capture.handshake_packets and _bytes).
	Verdicts      datapath.HandshakeVerdicts
	BudgetPackets int
	BudgetBytes   int
	BudgetQUIC    int // capture.quic_initials
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

// Hello is what OnClientHello is told.
type Hello struct {
	Flow          datapath.Flow
	Proto         uint8
	SNI, JA3, JA4 string
	// Seq is the sequence number of the client's first hello byte (QUIC:
	// 0): the name of the data plane's hello gate it opens.
	Seq uint32
	// Seen is when the hello's last packet was seen (the data plane's
	// stamp): enforcement's decision time is measured from it.
	Seen time.Time
}

// A hello may raise its budget to this many times the configured one.
const maxBudgetRaise = 64

// Stats count what the pipeline did.
type Stats struct {
	Events  atomic.Uint64 // edgesensor.tls events written
	Evicted atomic.Uint64 // handshakes written early because the table was full
	// Extended are budgets raised for a hello still coming; Ended,
	// handshakes the analysis ended in the data plane; Late, packets of
	// handshakes already written.
	Extended, Ended, Late atomic.Uint64
	EvictedMemory         atomic.Uint64 // handshakes written early to stay within MaxBytes
	// MemoryPeak is the most the shards held against MaxBytes (the sum
	// of each shard's peak).
	MemoryPeak    atomic.Uint64
	LateDatagrams atomic.Uint64 // QUIC Initials of handshakes already written
	Errors        atomic.Uint64 // hellos or certificates that did not parse
	// Certificates described from the cache (the same server's
	// certificate again) and anew.
	CertHits, CertMisses atomic.Uint64
}

// Pipeline implements datapath.Pipeline for the TLS and QUIC classes.
type Pipeline struct {
	cfg   Config
	out   *ndjson.NDJSON
	Stats Stats

	mu     sync.Mutex
	shards []*shard
}

// Detail sums the receiver model's counters over the shards (exact once
// they are closed).
func (p *Pipeline) Detail() (reassembly.Stats, reassembly.ConnStats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var st reassembly.Stats
	var ct reassembly.ConnStats
	for _, s := range p.shards {
		st.Add(&s.stats)
		ct.Add(&s.tcpStats)
	}
	return st, ct
}

// Memory is what the shards held at their last Tick (about once a
// second), against MaxBytes.
func (p *Pipeline) Memory() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for _, s := range p.shards {
		n += s.held.Load()
	}
	return n
}

// New makes a pipeline writing to out.
func New(cfg Config, out *ndjson.NDJSON) *Pipeline {
	if cfg.Idle <= 0 {
		cfg.Idle = 30 * time.Second
	}
	if cfg.QUICQuiet <= 0 {
		cfg.QUICQuiet = DefaultQUICQuiet
	}
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = 65536
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.BudgetPackets <= 0 {
		cfg.BudgetPackets = 512
	}
	if cfg.BudgetBytes <= 0 {
		cfg.BudgetBytes = 256 << 10
	}
	return &Pipeline{cfg: cfg, out: out}
}

// NewShard implements datapath.Pipeline.
func (p *Pipeline) NewShard(int) datapath.Shard {
	n := max(p.cfg.Shards, 1)
	s := &shard{p: p, flows: map[flowKey]*flow{}, max: max(p.cfg.MaxFlows/n, 16), maxBytes: max(p.cfg.MaxBytes/n, 1<<20)}
	s.reasmCfg = reassembly.Config{Policy: p.cfg.Policy, MaxBuffered: DirectionLimit, MaxSegments: 256, AckGrace: p.cfg.AckGrace}
	s.recent.init(recentFlows)
	p.mu.Lock()
	p.shards = append(p.shards, s)
	p.mu.Unlock()
	return s
}
