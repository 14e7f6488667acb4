package handshake

import (
	"errors"
	"net/netip"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/edgesensor/edgesensor/internal/lru"
	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/handshake/fingerprint"
	"github.com/edgesensor/edgesensor/userspace/handshake/quic"
	"github.com/edgesensor/edgesensor/userspace/handshake/tlswire"
	"github.com/edgesensor/edgesensor/userspace/packet/reassembly"
)

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
	// sealed: the data plane marked a packet of the direction past its
	// plaintext handshake (datapath.StateSealed), having followed every
	// byte before it; a hole is then no loss of the handshake, even when
	// the packet that showed the first encrypted record is in it.
	sealed bool
}

// Data implements reassembly.Consumer.
func (dir *direction) Data(p []byte) int64 {
	f, s, d := dir.f, dir.s, dir.d
	dir.rd.Write(p, func(m tlswire.Message) { s.message(f, d, m, false) })
	return 0
}

// Gap implements reassembly.Consumer: the records cannot be followed past
// a hole. Past the direction's first encrypted record nothing is read,
// and a hole there costs the analysis nothing.
func (dir *direction) Gap(int64) {
	if dir.sealed {
		dir.rd.Encrypted = true
	}
	if dir.rd.Encrypted {
		return
	}
	dir.gap = true
	if dir.rd.Err == nil {
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
	// chSeq: the earliest client payload sequence number seen before the
	// hello was read, the name of the data plane's hello gate.
	chSeq       uint32
	chSeqSet    bool
	conflict    bool
	reset       bool // the receiver model saw the connection end
	tunnel      *ecs.Tunnel
	dirs        [2]*direction // TCP: client→server, server→client
	conn        *reassembly.Conn
	bytes       int // payload bytes the data plane emitted for it
	budgetPkts  int // the budget the data plane has for it
	budgetBytes int
	verdict     bool // a verdict was written for it
	qc          *quic.Conn

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
	held     atomic.Int64 // mem as of the last Tick, for readers on other goroutines
	scratch  fingerprint.Scratch
	hello    Hello   // what OnClientHello is handed: one per shard, no allocation a hello
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
