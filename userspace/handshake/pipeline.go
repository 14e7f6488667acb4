// Package handshake turns the data plane's handshake class into one
// edgesensor.tls event per TLS or QUIC handshake: it reassembles each
// direction, reads the hellos and the TLS 1.2 certificate, fingerprints the
// client (JA3, JA4) and the server (JA3S), and writes the event once the
// handshake is over or has timed out. A partial handshake still gives an
// event, saying what was missing.
package handshake

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/segmentio/encoding/json"

	"github.com/edgesensor/edgesensor/internal/lru"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/ndjson"
	"github.com/edgesensor/edgesensor/userspace/handshake/fingerprint"
	"github.com/edgesensor/edgesensor/userspace/handshake/quic"
	"github.com/edgesensor/edgesensor/userspace/handshake/tlswire"
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

// flowKey identifies a flow whichever way its packets travel.
type flowKey struct {
	a, b  netip.AddrPort
	proto uint8
	zone  uint32
}

func keyOf(x, y netip.AddrPort, proto uint8, zone uint32) flowKey {
	if c := x.Addr().Compare(y.Addr()); c > 0 || c == 0 && x.Port() > y.Port() {
		x, y = y, x
	}
	return flowKey{x, y, proto, zone}
}

// direction is one direction of a TCP handshake: the consumer of its
// reassembled bytes, which it reads as TLS records.
type direction struct {
	s       *shard
	f       *flow
	d       int
	rd      tlswire.Reader
	started bool // the stream's first byte is known to start a record
	// early holds the direction's segments that came before the one that
	// starts it (reordering), copied; earlyBytes their payload.
	early      []reassembly.Seg
	earlyBytes int
	gap        bool
}

// Data implements reassembly.Consumer.
func (dir *direction) Data(p []byte) int64 {
	f, s, d := dir.f, dir.s, dir.d
	dir.rd.Write(p, func(m tlswire.Message) { s.message(f, d, m, false) })
	return 0
}

// Gap implements reassembly.Consumer: the records cannot be followed past
// a hole.
func (dir *direction) Gap(int64) {
	dir.gap = true
	if dir.rd.Err == nil && !dir.rd.Encrypted {
		dir.rd.Err = errGap
	}
}

// Conflict implements reassembly.Conflicter.
func (dir *direction) Conflict(int64) { dir.f.conflict = true }

var errGap = errors.New("bytes missing")

// Bounds of a direction before its start is known.
const (
	maxEarly      = 16
	maxEarlyBytes = 64 << 10
)

// startsHandshake: a handshake record holding the hello of direction d
// (ClientHello from the client, ServerHello from the server), or the
// server's refusal. Until the stream starts so, a reordered later segment
// may be all that arrived.
func startsHandshake(b []byte, d int) bool {
	want := byte(tlswire.MsgClientHello)
	if d == 1 {
		want = tlswire.MsgServerHello
	}
	if len(b) >= 6 && b[0] == tlswire.RecordHandshake && b[1] == 3 && b[5] == want {
		return true
	}
	// A server that refuses the ClientHello answers with a plaintext
	// alert record (two bytes of body) instead of a ServerHello.
	return d == 1 && len(b) >= 7 && b[0] == tlswire.RecordAlert && b[1] == 3 && b[3] == 0 && b[4] == 2
}

// flow is one handshake being followed.
type flow struct {
	key            flowKey
	activity       lru.Links[flow] // on the shard's activity list while it lives
	mem            int             // bytes held, as last accounted
	quic           bool
	client, server netip.AddrPort
	iface          string
	vlan           [2]uint16
	first, last    time.Time
	packets        int
	lost, gaps     bool
	conflict       bool
	reset          bool // the receiver model saw the connection end
	tunnel         *ecs.Tunnel
	dirs           [2]*direction // TCP: client→server, server→client
	conn           *reassembly.Conn
	bytes          int // payload bytes the data plane emitted for it
	budgetPkts     int // the budget the data plane has for it
	budgetBytes    int
	verdict        bool // a verdict was written for it
	qc             *quic.Conn

	chRaw, shRaw []byte
	ch           tlswire.ClientHello
	sh           tlswire.ServerHello
	haveCH       bool
	haveSH       bool
	hrr          bool
	ja3, ja3Str  string
	ja4, ja4r    string
	ja3s, ja3sS  string
	leaf         *tlswire.Leaf // shared with the shard's certificate cache: read only
	chainLen     int
	quicMsgs     [2]int // QUIC: messages of each direction already taken
	errs         []string
	moreErrs     int // errors beyond maxErrs
}

// fail records a parse error (the first few; the rest are counted).
func (f *flow) fail(st *Stats, what string) {
	st.Errors.Add(1)
	if len(f.errs) < maxErrs {
		f.errs = append(f.errs, what)
	} else {
		f.moreErrs++
	}
}

// Sizes of the structures a flow allocates, for footprint: a flood of
// handshakes that never finish is mostly these.
const (
	flowSize = int(unsafe.Sizeof(flow{}))
	dirSize  = int(unsafe.Sizeof(direction{}))
	connSize = int(unsafe.Sizeof(reassembly.Conn{}))
	segSize  = int(unsafe.Sizeof(reassembly.Seg{}))
	// tunnelSize is an encapsulation's description: its struct, the
	// outer endpoints and a few layer names.
	tunnelSize = 384
	// mapEntry is a flow's share of the shard's map (key, pointer,
	// control byte, load factor).
	mapEntry = 96
)

// footprint is the memory a flow holds, in bytes: its structures, the
// bytes they buffer, the parsed hellos and the strings made of them.
func (f *flow) footprint() int {
	n := flowSize + mapEntry + cap(f.chRaw) + cap(f.shRaw) + f.ch.Footprint() + f.sh.Footprint() +
		len(f.ja3) + len(f.ja3Str) + len(f.ja4) + len(f.ja4r) + len(f.ja3s) + len(f.ja3sS) + 16*cap(f.errs)
	if f.tunnel != nil {
		n += tunnelSize
	}
	if f.conn != nil {
		n += connSize + int(f.conn.Memory())
	}
	for _, d := range f.dirs {
		if d != nil {
			n += dirSize + d.rd.Footprint() + d.earlyBytes + segSize*cap(d.early)
		}
	}
	if f.qc != nil {
		n += f.qc.Footprint()
	}
	return n
}

type shard struct {
	p        *Pipeline
	flows    map[flowKey]*flow
	activity lru.List[flow, *flow] // least recently active first
	max      int
	mem      int // bytes the flows hold
	peak     int // the most they held
	maxBytes int
	scratch  fingerprint.Scratch
	free     []*flow // finished flows kept for their buffers
	certs    certCache
	line     []byte // the event being written
	rec      ecs.Record
	reasmCfg reassembly.Config
	stats    reassembly.Stats
	tcpStats reassembly.ConnStats
	// recent are flows written lately: their late packets (emitted
	// before the data plane took the verdict in) start nothing.
	recent recentSet
}

// Links implements lru.Elem.
func (f *flow) Links() *lru.Links[flow] { return &f.activity }

// account updates the shard's byte count for f and writes the least
// recently active handshakes early while the shard holds too much.
func (s *shard) account(f *flow) {
	n := f.footprint()
	s.mem += n - f.mem
	f.mem = n
	if s.mem > s.peak {
		s.p.Stats.MemoryPeak.Add(uint64(s.mem - s.peak))
		s.peak = s.mem
	}
	for s.mem > s.maxBytes && s.activity.Oldest() != nil && s.activity.Oldest() != f {
		s.p.Stats.EvictedMemory.Add(1)
		s.finish(s.activity.Oldest(), "evicted")
	}
}

// maxFree bounds the flows a shard keeps for reuse.
const maxFree = 256

// newFlow takes a flow from the free list or makes one.
func (s *shard) newFlow() *flow {
	if n := len(s.free); n > 0 {
		f := s.free[n-1]
		s.free = s.free[:n-1]
		return f
	}
	return &flow{}
}

// recycle empties a finished flow, keeping its buffers, for the next.
func (s *shard) recycle(f *flow) {
	if len(s.free) >= maxFree {
		return
	}
	if f.mem > recycleMax {
		return // a big one: let its buffers go
	}
	dirs, chRaw, shRaw, errs, conn := f.dirs, f.chRaw[:0], f.shRaw[:0], f.errs[:0], f.conn
	for _, d := range dirs {
		if d != nil {
			d.rd.Reset()
			*d = direction{rd: d.rd, early: d.early[:0]}
		}
	}
	if conn != nil {
		conn.Reset()
	}
	*f = flow{dirs: dirs, chRaw: chRaw, shRaw: shRaw, errs: errs, conn: conn}
	s.free = append(s.free, f)
}

// Handle implements datapath.Shard.
func (s *shard) Handle(ev *datapath.Event) {
	switch ev.Class {
	case datapath.ClassTLS:
		s.tcp(ev)
	case datapath.ClassQUIC:
		s.quic(ev)
	}
}

// flowOf finds or starts the flow of ev. A new handshake on a flow still
// held (the data plane restarted tracking) writes the old one first. A
// packet of a handshake written lately starts nothing (nil), unless the
// data plane says a handshake starts with it.
func (s *shard) flowOf(ev *datapath.Event, quicFlow bool) *flow {
	k := keyOf(ev.Src, ev.Dst, ev.Proto, ev.Zone)
	f := s.flows[k]
	if f != nil && ev.Flags&datapath.FlagFlowNew != 0 && f.packets > 0 {
		s.finish(f, "restarted")
		f = nil
	}
	if f == nil {
		if ev.Flags&(datapath.FlagFlowNew|datapath.FlagLost) == 0 && s.recent.has(k) {
			s.p.Stats.Late.Add(1)
			return nil
		}
		if len(s.flows) >= s.max {
			s.p.Stats.Evicted.Add(1)
			s.finish(s.activity.Oldest(), "evicted")
		}
		f = s.newFlow()
		f.key, f.quic, f.client, f.server, f.iface, f.vlan, f.first = k, quicFlow, ev.Client(), ev.Server(), ev.Interface, ev.VLAN, ev.Time
		f.budgetPkts, f.budgetBytes = s.p.cfg.BudgetPackets, s.p.cfg.BudgetBytes
		if quicFlow {
			f.budgetPkts = s.p.cfg.BudgetQUIC
		}
		if ev.L3Off != 14 && ev.L3Off != 0 {
			f.tunnel = ecs.TunnelOf(ev.Frame)
			if f.tunnel != nil && f.tunnel.Outer != nil && !ev.FromClient() {
				o := f.tunnel.Outer
				o.Source, o.Destination = o.Destination, o.Source
			}
		}
		s.flows[k] = f
		s.activity.Push(f)
	}
	s.activity.Touch(f)
	f.packets++
	f.bytes += ev.PayloadLen
	f.last = ev.Time
	if ev.Flags&datapath.FlagLost != 0 || ev.Lost > 0 {
		f.lost = true
	}
	if !ev.Complete() {
		f.gaps = true
	}
	return f
}

// id names the flow for the data plane.
func (f *flow) id() datapath.Flow {
	return datapath.Flow{Client: f.client, Server: f.server, Zone: f.key.zone}
}

// dir returns direction d of a TCP flow, made on first use.
func (s *shard) dir(f *flow, d int) *direction {
	if f.conn == nil {
		f.conn = new(reassembly.Conn)
		f.conn.Init(&s.reasmCfg, &s.stats, &s.tcpStats, nil)
	}
	if f.dirs[d] == nil {
		f.dirs[d] = &direction{}
	}
	x := f.dirs[d]
	x.s, x.f, x.d = s, f, d
	return x
}

func (f *flow) consumers() [2]reassembly.Consumer {
	var c [2]reassembly.Consumer
	for i, d := range f.dirs {
		if d != nil {
			c[i] = d
		}
	}
	return c
}

// startsRecord: b, a segment's payload, can start direction d's stream:
// the client's with its ClientHello record (after a warning alert or a
// change_cipher_spec record in the same segment, which some stacks take),
// the server's with its ServerHello record or the alert that refuses the
// ClientHello; a segment too short to tell counts if what it holds fits.
// A later segment of the direction (a client's key exchange, a lone
// change_cipher_spec) is not taken for its start.
func startsRecord(b []byte, d int) bool {
	want := byte(tlswire.MsgClientHello)
	if d == 1 {
		want = tlswire.MsgServerHello
	}
	for skipped := 0; ; skipped++ {
		if len(b) == 0 || b[0] < tlswire.RecordChangeCipherSpec || b[0] > tlswire.RecordHandshake {
			return false
		}
		if len(b) >= 2 && b[1] != 3 {
			return false
		}
		if len(b) < 6 {
			return skipped == 0 || d == 0
		}
		n := int(b[3])<<8 | int(b[4])
		switch b[0] {
		case tlswire.RecordHandshake:
			return b[5] == want
		case tlswire.RecordAlert:
			if d == 1 && skipped == 0 && n == 2 {
				return true // the server's refusal
			}
		}
		if d == 1 || skipped > 0 || len(b) < 5+n {
			return false
		}
		b = b[5+n:] // what follows the client's alert or CCS
		if len(b) == 0 {
			return false
		}
	}
}

// tcp handles one TLS-class packet.
func (s *shard) tcp(ev *datapath.Event) {
	f := s.flowOf(ev, false)
	if f == nil {
		return
	}
	d := 1
	if ev.FromClient() {
		d = 0
	}
	dir := s.dir(f, d)
	s.dir(f, 1-d)
	win, urg, ws, ok := ev.TCPHeader()
	seg := reassembly.Seg{Seq: ev.Seq, Ack: ev.Ack, Flags: ev.TCPFlags, Window: win, NoWindow: !ok, Urgent: urg,
		WScale: ws, Payload: ev.Payload, Bad: s.p.cfg.Checksums.Bad(ev), Time: ev.UnixNano()}
	if seg.Bad {
		s.tcpStats.BadChecksum++
	} else {
		s.segment(f, dir, &seg)
	}
	if ev.Flags&datapath.FlagHSDone != 0 {
		s.finish(f, endReason(ev.State))
		return
	}
	if f.reset {
		s.finish(f, "closed")
		return
	}
	if end, notTLS := f.over(); end != "" {
		s.endInKernel(f, notTLS)
		s.finish(f, end)
		return
	}
	s.raise(f)
	s.account(f)
}

// segment takes one trusted segment of direction dir. Until a segment
// starts the direction's stream (its first bytes are a record header),
// those before it wait: the data plane follows a flow from the packet
// that looked like a hello, and reordering may bring a later segment of a
// direction first.
func (s *shard) segment(f *flow, dir *direction, g *reassembly.Seg) {
	syn := g.Flags&reassembly.FlagSYN != 0
	if !dir.started && !syn {
		if len(g.Payload) == 0 {
			// Window, ACK and RST matter; a FIN cannot start the stream.
			c := *g
			c.Flags &^= reassembly.FlagFIN
			s.feed(f, dir.d, &c)
			return
		}
		seq := g.Seq
		if !startsRecord(g.Payload, dir.d) {
			if len(dir.early) < maxEarly && dir.earlyBytes+len(g.Payload) <= maxEarlyBytes {
				c := *g
				c.Payload = append([]byte(nil), g.Payload...)
				dir.early = append(dir.early, c)
				dir.earlyBytes += len(g.Payload)
				return
			}
			// Too much before any start: take the earliest held as it.
			if len(dir.early) > 0 {
				seq = dir.early[0].Seq
			}
		}
		dir.started = true
		f.conn.S[dir.d].Start(seq)
		for i := range dir.early {
			s.feed(f, dir.d, &dir.early[i])
		}
		clear(dir.early)
		dir.early, dir.earlyBytes = dir.early[:0], 0
	}
	if syn {
		dir.started = true
	}
	s.feed(f, dir.d, g)
}

// feed gives a segment to the receiver model.
func (s *shard) feed(f *flow, d int, g *reassembly.Seg) {
	switch f.conn.Segment(d == 0, g, f.consumers()) {
	case reassembly.Reset:
		f.reset = true
	case reassembly.NewConnection:
		// A new connection on the tuple: the data plane starts a new
		// handshake on its hello (FlagFlowNew); this one is over.
		f.reset = true
	}
}

// over says whether the analysis has read the handshake to its end:
// encrypted records both ways (end "finished"), or a client direction
// that is no TLS from its start (notTLS).
func (f *flow) over() (end string, notTLS bool) {
	c, sv := f.dirs[0], f.dirs[1]
	if c == nil || sv == nil {
		return "", false
	}
	if c.started && c.rd.Err == tlswire.ErrNotTLS && !f.haveCH && c.rd.Records == 0 {
		return "not_tls", true
	}
	if c.rd.Encrypted && sv.rd.Encrypted {
		return "finished", false
	}
	return "", false
}

// endInKernel tells the data plane the handshake is over.
func (s *shard) endInKernel(f *flow, notTLS bool) {
	v := s.p.cfg.Verdicts
	if v == nil {
		return
	}
	f.verdict = true
	s.p.Stats.Ended.Add(1)
	if v.EndHandshake(f.id(), f.key.proto, notTLS) != nil {
		s.p.Stats.Errors.Add(1)
	}
}

// raise gives a hello still coming the budget it needs: once the flow
// has spent half of its budget without the hellos it follows being whole,
// the budget doubles, up to maxBudgetRaise times the configured one.
func (s *shard) raise(f *flow) {
	v := s.p.cfg.Verdicts
	if v == nil || f.quic {
		return
	}
	// The plaintext handshake is still coming in a direction: its hello,
	// or (TLS 1.2) the server's certificate and the rest of its flight.
	c, sv := f.dirs[0], f.dirs[1]
	coming := c != nil && c.started && !c.rd.Encrypted && c.rd.Err == nil ||
		sv != nil && sv.started && !sv.rd.Encrypted && sv.rd.Err == nil
	if !coming || f.packets*2 < f.budgetPkts && f.bytes*2 < f.budgetBytes {
		return
	}
	pk, by := min(f.budgetPkts*2, s.p.cfg.BudgetPackets*maxBudgetRaise), min(f.budgetBytes*2, s.p.cfg.BudgetBytes*maxBudgetRaise)
	if pk == f.budgetPkts && by == f.budgetBytes {
		return
	}
	f.budgetPkts, f.budgetBytes, f.verdict = pk, by, true
	s.p.Stats.Extended.Add(1)
	if v.ExtendHandshake(f.id(), f.key.proto, uint32(pk), uint32(by)) != nil {
		s.p.Stats.Errors.Add(1)
	}
}

// endReason maps the data plane's final TLS state (enum tls_state).
func endReason(state uint8) string {
	switch state {
	case 2, 7:
		return "finished"
	case 3:
		return "budget"
	case 4:
		return "not_tls"
	case 5:
		return "closed"
	case 6:
		return "idle"
	case 8:
		return "not_tls"
	}
	return "ended"
}

// recentFlows is how many written handshakes a shard remembers (recentSet).
const recentFlows = 4096

// recentSet remembers the last n keys added, in a ring.
type recentSet struct {
	ring []flowKey
	pos  int
	in   map[flowKey]int // key -> times in the ring
}

func (r *recentSet) init(n int) {
	r.ring = make([]flowKey, 0, n)
	r.in = make(map[flowKey]int, n)
}

func (r *recentSet) add(k flowKey) {
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, k)
	} else {
		old := r.ring[r.pos]
		if r.in[old]--; r.in[old] <= 0 {
			delete(r.in, old)
		}
		r.ring[r.pos] = k
		r.pos = (r.pos + 1) % len(r.ring)
	}
	r.in[k]++
}

func (r *recentSet) has(k flowKey) bool { return r.in[k] > 0 }

// quic handles one QUIC Initial datagram.
func (s *shard) quic(ev *datapath.Event) {
	// The data plane keeps sending a connection's Initials (the client's
	// ACKs, retransmissions) after the hellos are in and its event is
	// written: only a datagram it marks as a new flow, or one whose flow
	// lost events, starts a handshake.
	if s.flows[keyOf(ev.Src, ev.Dst, ev.Proto, ev.Zone)] == nil && ev.Flags&(datapath.FlagFlowNew|datapath.FlagLost) == 0 {
		s.p.Stats.LateDatagrams.Add(1)
		return
	}
	f := s.flowOf(ev, true)
	if f == nil {
		return
	}
	if f.qc == nil {
		f.qc = quic.NewConn()
	}
	switch f.qc.Datagram(ev.Payload) {
	case quic.FromClient:
		// The keys prove who the client is, whatever was guessed.
		f.client, f.server = ev.Src, ev.Dst
	case quic.FromServer:
		f.client, f.server = ev.Dst, ev.Src
	}
	// New complete messages only: the ClientHello (and a second one after
	// a retry, which changes nothing), the ServerHello or
	// HelloRetryRequest and then the real ServerHello.
	for d := range 2 {
		i := 0
		f.qc.Hellos(d, func(m tlswire.Message) {
			if i >= f.quicMsgs[d] {
				s.message(f, d, m, true)
				f.quicMsgs[d]++
			}
			i++
		})
	}
	switch {
	case f.haveCH && f.haveSH && !f.sh.HelloRetry:
		// Both hellos are in: the data plane need not send the rest of
		// the connection's Initials (ACKs, retransmissions).
		s.endInKernel(f, false)
		s.finish(f, "finished")
	case f.qc.Closed:
		s.finish(f, "closed")
	default:
		s.raiseQUIC(f)
		s.account(f)
	}
}

// raiseQUIC gives a QUIC handshake whose hellos are not in yet more
// Initials once half its budget is spent (datagrams that did not decrypt,
// a ClientHello in many CRYPTO frames), up to maxBudgetRaise times the
// configured budget.
func (s *shard) raiseQUIC(f *flow) {
	v := s.p.cfg.Verdicts
	if v == nil || s.p.cfg.BudgetQUIC <= 0 || f.haveCH && f.haveSH || f.packets*2 < f.budgetPkts {
		return
	}
	pk := min(f.budgetPkts*2, s.p.cfg.BudgetQUIC*maxBudgetRaise)
	if pk <= f.budgetPkts {
		return
	}
	f.budgetPkts, f.verdict = pk, true
	s.p.Stats.Extended.Add(1)
	if v.ExtendHandshake(f.id(), f.key.proto, uint32(pk), 0) != nil {
		s.p.Stats.Errors.Add(1)
	}
}

// message takes one handshake message of direction d.
func (s *shard) message(f *flow, d int, m tlswire.Message, quicFlow bool) {
	switch {
	case d == 0 && m.Type == tlswire.MsgClientHello && !f.haveCH:
		f.chRaw = append(f.chRaw[:0], m.Body...)
		if err := tlswire.ParseClientHello(f.chRaw, &f.ch); err != nil {
			f.fail(&s.p.Stats, "client_hello: "+err.Error())
			return
		}
		f.haveCH = true
		j := fingerprint.ClientJA3(&f.ch, &s.scratch)
		f.ja3, f.ja3Str = j.Fingerprint(), string(j.String)
		j4 := fingerprint.ClientJA4(&f.ch, quicFlow, &s.scratch)
		f.ja4, f.ja4r = j4.Fingerprint(), string(j4.Raw)
	case d == 1 && m.Type == tlswire.MsgServerHello:
		var sh tlswire.ServerHello
		if err := tlswire.ParseServerHello(m.Body, &sh); err != nil {
			f.fail(&s.p.Stats, "server_hello: "+err.Error())
			return
		}
		if sh.HelloRetry {
			f.hrr = true
		}
		if sh.Version() == 0x0304 && !quicFlow {
			// Past TLS 1.3's middlebox ChangeCipherSpec, a retry's real
			// ServerHello and the second ClientHello are still plaintext.
			for _, dir := range f.dirs {
				if dir != nil {
					dir.rd.TLS13 = true
				}
			}
		}
		// The last ServerHello is the one that counts (after a retry).
		f.shRaw = append(f.shRaw[:0], m.Body...)
		tlswire.ParseServerHello(f.shRaw, &f.sh)
		f.haveSH = true
		j := fingerprint.ServerJA3S(&f.sh, &s.scratch)
		f.ja3s, f.ja3sS = j.Fingerprint(), string(j.String)
	case d == 1 && m.Type == tlswire.MsgCertificate && f.leaf == nil:
		leaf, n, ok := s.certs.leaf(m.Body, &s.p.Stats)
		if !ok {
			f.fail(&s.p.Stats, "certificate: malformed")
			return
		}
		f.leaf, f.chainLen = leaf, n
	}
}

// Tick implements datapath.Shard: handshakes gone quiet are written. It
// walks the activity list from the least recent and stops at the first
// handshake quiet for less than the shortest wait.
func (s *shard) Tick(now time.Time) {
	for f := range s.activity.All() {
		idle := now.Sub(f.last)
		if idle < min(s.p.cfg.QUICQuiet, s.p.cfg.Idle) {
			break
		}
		switch {
		case f.quic && f.haveCH && idle >= s.p.cfg.QUICQuiet:
			if f.haveSH {
				s.finish(f, "finished")
			} else {
				s.finish(f, "server_silent")
			}
		case idle >= s.p.cfg.Idle:
			s.finish(f, "timeout")
		}
	}
	s.p.out.Flush()
}

// Close implements datapath.Shard.
func (s *shard) Close() {
	for s.activity.Oldest() != nil {
		s.finish(s.activity.Oldest(), "shutdown")
	}
}

// finish writes the event of a flow and forgets it.
func (s *shard) finish(f *flow, end string) {
	delete(s.flows, f.key)
	s.activity.Remove(f)
	s.mem -= f.mem
	s.recent.add(f.key)
	if f.conn != nil {
		// What the model still holds (holes) is read as far as it goes.
		f.conn.Settle(f.consumers())
		for d, dir := range f.dirs {
			if dir != nil && dir.started {
				f.conn.S[d].Flush(dir)
			}
		}
	}
	if f.verdict && end != "finished" && end != "not_tls" && s.p.cfg.Verdicts != nil {
		s.p.cfg.Verdicts.ForgetHandshake(f.id(), f.key.proto)
	}
	ev := f.event(end)
	defer s.recycle(f)
	if s.p.cfg.Score != nil {
		s.p.cfg.Score(ev)
	}
	line, err := s.encode(ev)
	if err != nil {
		s.p.Stats.Errors.Add(1)
		return
	}
	s.rec = ecs.Record{Fields: ev.Fields(), Line: line}
	s.p.out.Write(&s.rec)
	s.p.Stats.Events.Add(1)
}

// encode writes ev as one NDJSON line into the shard's buffer: a
// reflection-free encoder, 5x faster than encoding/json, with EscapeHTML
// and invalid UTF-8 replaced so the bytes are the same as encoding/json's.
// The line is valid until the next call.
func (s *shard) encode(ev *Event) ([]byte, error) {
	line, err := json.Append(s.line[:0], ev, json.EscapeHTML)
	if err != nil {
		return nil, err
	}
	s.line = append(line, '\n')
	return s.line, nil
}

// event builds the edgesensor.tls event of a flow.
func (f *flow) event(end string) *Event {
	transport, proto := "tcp", "tls"
	if f.quic {
		transport, proto = "udp", "quic"
	}
	start, stop := f.first, f.last
	ev := &Event{Base: ecs.Base{
		Timestamp: f.first,
		Event: ecs.Event{Kind: "event", Category: []string{"network"}, Type: []string{"connection", "protocol"},
			Dataset: Dataset, Start: &start, End: &stop, Duration: int64(f.last.Sub(f.first))},
		Observer:    ecs.ObserverOf(f.iface),
		Source:      ecs.EndpointOf(f.client),
		Destination: ecs.EndpointOf(f.server),
		Network:     ecs.NetworkOf(transport, proto, f.client.Addr(), f.vlan),
	}}
	ev.TLS.VersionProtocol = "tls"
	if f.tunnel != nil {
		ev.Network.VLANOf(f.tunnel)
		ev.Edgesensor.Tunnel = f.tunnel
	}
	d := &ev.Edgesensor.TLS
	d.End, d.Packets, d.LostEvents, d.HelloRetry = end, f.packets, f.lost, f.hrr
	errs := f.errs
	for i, dir := range f.dirs {
		if dir == nil {
			continue
		}
		if dir.gap {
			f.gaps = true
		}
		for _, a := range dir.rd.Alerts {
			d.Alerts = append(d.Alerts, tlswire.AlertName(a.Description))
		}
		if dir.rd.Err != nil && dir.rd.Err != errGap {
			errs = append(errs, [2]string{"client", "server"}[i]+" records: "+dir.rd.Err.Error())
		}
	}
	if f.qc != nil {
		f.gaps = f.gaps || f.qc.Gaps()
		if f.qc.BadFrames > 0 {
			errs = append(errs, fmt.Sprintf("%d Initial packets with malformed frames", f.qc.BadFrames))
		}
	}
	if f.moreErrs > 0 {
		errs = append(errs, fmt.Sprintf("%d more", f.moreErrs))
	}
	d.Error = joinErrs(errs)
	d.Gaps = f.gaps
	d.Conflict = f.conflict
	if f.haveCH {
		ev.TLS.Client = f.clientECS()
		d.Client = f.clientDetails()
	} else {
		d.Missing = append(d.Missing, MissingClientHello)
	}
	resumed := false
	if f.haveSH {
		sh := &f.sh
		ev.TLS.Version = tlswire.VersionName(sh.Version())
		ev.TLS.Cipher = tlswire.CipherName(sh.Cipher)
		ev.TLS.NextProtocol = string(sh.ALPN)
		// TLS 1.2 resumption: the server echoes the session ID the client
		// offered (with a ticket too) and sends no certificate.
		resumed = sh.PSKAccepted ||
			sh.Version() <= 0x0303 && len(sh.SessionID) > 0 && f.haveCH && bytes.Equal(sh.SessionID, f.ch.SessionID) &&
				f.leaf == nil
		ev.TLS.Resumed = resumed
		ev.TLS.Server = &TLSServer{JA3S: f.ja3s}
		d.Server = f.serverDetails()
		if sh.HelloRetry {
			// A HelloRetryRequest and no ServerHello after it.
			d.Missing = append(d.Missing, MissingServerHello)
		}
	} else {
		d.Missing = append(d.Missing, MissingServerHello)
	}
	if f.leaf != nil {
		f.leafECS(ev.TLS.Server, d.Server)
	} else if f.haveSH && f.sh.Version() <= 0x0303 && !resumed && !f.quic {
		d.Missing = append(d.Missing, MissingCertificate)
	}
	// TCP: the data plane saw application data both ways. QUIC: all that
	// follows the hellos is encrypted, so it cannot be told.
	ev.TLS.Established = end == "finished" && f.haveSH && !f.quic
	d.Complete = len(d.Missing) == 0
	if f.qc != nil {
		d.QUIC = &QUICDetails{Version: quicVersionName(f.qc.Version), ClientDCID: hex.EncodeToString(f.qc.ClientDCID),
			Packets: f.qc.Packets, Decrypted: f.qc.Decrypted, Undecryptable: f.qc.Undecryptable, Closed: f.qc.Closed}
	}
	return ev
}

func joinErrs(errs []string) string {
	var b bytes.Buffer
	for i, e := range errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e)
	}
	return b.String()
}

func (f *flow) clientECS() *TLSClient {
	ch := &f.ch
	c := &TLSClient{JA3: f.ja3, JA4: f.ja4, JA4r: f.ja4r, SupportedCiphers: []string{}}
	if ch.ServerName != nil {
		c.ServerName = string(ch.ServerName)
	}
	for _, v := range ch.Ciphers {
		if !tlswire.IsGREASE(v) {
			c.SupportedCiphers = append(c.SupportedCiphers, tlswire.CipherName(v))
		}
	}
	return c
}

func names(vals []uint16, name func(uint16) string) []string {
	var out []string
	for _, v := range vals {
		if !tlswire.IsGREASE(v) {
			out = append(out, name(v))
		}
	}
	return out
}

func (f *flow) clientDetails() *ClientDetails {
	ch := &f.ch
	c := &ClientDetails{
		LegacyVersion:       tlswire.VersionName(ch.LegacyVersion),
		SupportedVersions:   names(ch.SupportedVersions, tlswire.VersionName),
		Extensions:          append([]uint16{}, ch.Extensions...),
		SupportedGroups:     names(ch.SupportedGroups, tlswire.GroupName),
		SignatureAlgorithms: names(ch.SignatureAlgs, tlswire.SignatureName),
		KeyShareGroups:      names(ch.KeyShareGroups, tlswire.GroupName),
		PSKOffered:          ch.PSKOffered,
		SessionTicket:       ch.TicketOffered,
		SessionID:           ch.SessionIDLen > 0,
		EarlyData:           ch.EarlyData,
		ECHOffered:          ch.ECH,
		JA3String:           f.ja3Str,
	}
	for _, p := range ch.ALPN {
		c.ALPN = append(c.ALPN, string(p))
	}
	if ch.ECH && ch.ServerName != nil {
		c.OuterServerName = string(ch.ServerName)
	}
	return c
}

func (f *flow) serverDetails() *ServerDetails {
	sh := &f.sh
	s := &ServerDetails{
		LegacyVersion: tlswire.VersionName(sh.LegacyVersion),
		Extensions:    append([]uint16{}, sh.Extensions...),
		JA3SString:    f.ja3sS,
	}
	if sh.SelectedVersion != 0 {
		s.SelectedVersion = tlswire.VersionName(sh.SelectedVersion)
	}
	if sh.KeyShareGroup != 0 {
		s.KeyShareGroup = tlswire.GroupName(sh.KeyShareGroup)
	}
	return s
}

func (f *flow) leafECS(srv *TLSServer, det *ServerDetails) {
	l := f.leaf
	if srv == nil {
		return
	}
	srv.Hash = &CertHash{SHA1: l.SHA1, SHA256: l.SHA256}
	if det != nil {
		det.ChainLength = f.chainLen
		det.CertError = l.Error
	}
	if l.Error != "" {
		return
	}
	nb, na := l.NotBefore, l.NotAfter
	srv.Subject, srv.Issuer, srv.NotBefore, srv.NotAfter = l.Subject, l.Issuer, &nb, &na
	x := &X509{
		AlternativeNames:   l.SANs,
		Issuer:             X509Name{DistinguishedName: l.Issuer},
		Subject:            X509Name{DistinguishedName: l.Subject},
		NotBefore:          l.NotBefore,
		NotAfter:           l.NotAfter,
		SerialNumber:       l.Serial,
		SignatureAlgorithm: l.SignatureAlgorithm,
		PublicKeyAlgorithm: l.PublicKeyAlgorithm,
		PublicKeySize:      l.PublicKeySize,
		VersionNumber:      strconv.Itoa(l.Version),
	}
	if l.IssuerCN != "" {
		x.Issuer.CommonName = []string{l.IssuerCN}
	}
	if l.SubjectCN != "" {
		x.Subject.CommonName = []string{l.SubjectCN}
	}
	srv.X509 = x
	if det != nil {
		self := l.SelfSigned
		det.SelfSigned = &self
	}
}
