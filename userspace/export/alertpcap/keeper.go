// Package alertpcap keeps the recent packets of every flow the data plane
// emits (TLS and QUIC handshakes, candidate file streams) and, when an
// event about a flow is an alert, writes that flow's packets to a pcapng
// file on the box: the evidence an analyst opens in Wireshark next to
// the alert. The files never leave the box (nothing here uploads).
//
// The daemon wires it in two places:
//
//   - every emitted packet goes to Keeper.Observe, from the dispatcher's
//     workers (any number of goroutines);
//   - an exporter that writes an event whose score passes
//     Settings.Wants calls Keeper.Capture with the event's flow
//     (NewFlowKey from its client, server and transport), time,
//     community id and id; the path returned can go into the event.
//
// and calls Sweep periodically to drop idle flows, and Stats for metrics.
//
// Memory is bounded three ways: per flow (flow_packets, flow_bytes: the
// first half of each kept as it came, the rest a ring of the latest),
// across flows (memory: least recently active flows evicted), and on
// disk (quota: the oldest files deleted). Every loss is counted.
package alertpcap

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/setting"
)

// Bookkeeping charged against Settings.Memory besides the frames, so that
// a flood of tiny flows is bounded as well as a few big ones: a kept
// packet's record and its slot (pktOverhead), a flow's record and its map
// entry (flowOverhead). Both round the real sizes up.
const (
	pktOverhead  = 64
	flowOverhead = 512
)

// maxShards is the most shards (each a mutex, a map and an LRU list).
// Dispatcher workers hash flows as the shards do, so with up to this many
// workers (a power of two) no two workers meet on a shard.
const maxShards = 16

// Errors of Capture.
var (
	// ErrNoFlow: no packet of the flow is kept (never seen, evicted,
	// swept, or every packet over the limits).
	ErrNoFlow = errors.New("no packets of the flow are kept")
	// ErrDisabled: Capture on a nil Keeper (the feature is off).
	ErrDisabled = errors.New("capture on alert is disabled")
)

// Keeper keeps the flows' packets and writes them on demand. Its methods
// are safe for concurrent use; a nil *Keeper observes nothing, captures
// nothing (ErrDisabled) and reports zero stats, so the daemon can hold
// one whether or not the feature is on.
type Keeper struct {
	set Settings // with defaults
	log zerolog.Logger

	shards []shard
	mask   uint64
	budget int64 // memory per shard

	headPkts, headBytes int // the first packets of a flow, never overwritten
	flowPkts, flowBytes int

	files fileStore
}

// shard is a share of the flows, by FlowKey.hash. Counters live here,
// under the shard's lock, rather than in shared atomics every packet would
// contend on.
type shard struct {
	mu    sync.Mutex
	flows map[FlowKey]*flow
	lru   flow  // sentinel of the list by last activity: lru.next is the least recent
	mem   int64 // charged bytes of the shard's flows

	observed, notKept, evicted, expired uint64

	_ [64]byte // keep neighbouring shards' locks off one cache line
}

// packet is one kept frame.
type packet struct {
	data []byte // the frame up to the snaplen; its cap is charged
	ts   int64  // Unix ns
	orig uint32 // length on the wire
	ifc  uint8  // index in flow.ifaces
}

// iface is an ingress interface a flow's packets came in on.
type iface struct {
	index uint32
	name  string
}

// flow is one flow's kept packets: head, the first ones as they came,
// then ring, the latest ones, circular from rstart.
type flow struct {
	key        FlowKey
	prev, next *flow

	head     []packet
	headDone bool // a packet went past the head: no more join it
	ring     []packet
	rstart   int
	rcount   int
	bytes    int // sum of the caps of the kept frames
	ifaces   []iface
	ifbuf    [1]iface // ifaces' first array: most flows come in on one

	last int64  // Unix ns of the latest packet
	seen uint64 // packets observed

	// The latest capture: the file and seen when it was written, so a
	// second alert with nothing new returns the same file.
	capSeen uint64
	capPath string
}

// New makes the keeper: it validates s, creates the directory (0700) and
// scans the pcapng files already there into the quota, so a restart keeps
// the bound. It removes temporary files a crash left behind. New does not
// look at s.Enabled: the daemon makes no Keeper (a nil one) when it is
// off.
func New(s Settings, log zerolog.Logger) (*Keeper, error) {
	var p setting.Problems
	s.Validate("capture_on_alert", &p)
	if err := p.Err(); err != nil {
		return nil, err
	}
	s = s.withDefaults()
	k := &Keeper{
		set:       s,
		log:       log,
		flowPkts:  s.FlowPackets,
		flowBytes: int(min(uint64(s.FlowBytes), 1<<40)),
	}
	k.headPkts, k.headBytes = k.flowPkts/2, k.flowBytes/2

	// As many shards as fit one full flow each, a power of two.
	n := min(uint64(s.Memory)/s.flowCharge(), maxShards)
	n = 1 << (bits.Len64(n) - 1)
	k.shards = make([]shard, n)
	k.mask = n - 1
	k.budget = int64(min(uint64(s.Memory)/n, 1<<62))
	for i := range k.shards {
		sh := &k.shards[i]
		sh.flows = make(map[FlowKey]*flow)
		sh.lru.prev, sh.lru.next = &sh.lru, &sh.lru
	}

	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating capture directory: %w", err)
	}
	if err := k.files.open(s.Dir, int64(min(uint64(s.Quota), 1<<62)), log); err != nil {
		return nil, err
	}
	return k, nil
}

// Settings returns the effective settings (defaults filled in).
func (k *Keeper) Settings() Settings { return k.set }

// Observe keeps a copy of ev's frame (up to the snaplen) in its flow.
// Fragments (datapath.ClassFrag) are left out: they are handed on
// reassembled, with ports. Observe takes one shard lock and, in the
// steady state of a long flow, allocates nothing: an overwritten packet's
// buffer holds the new one.
func (k *Keeper) Observe(ev *datapath.Event) {
	if k == nil || ev.Class == datapath.ClassFrag || len(ev.Frame) == 0 ||
		ev.Proto != datapath.ProtoTCP && ev.Proto != datapath.ProtoUDP {
		return
	}
	key := EventKey(ev)
	ts := ev.UnixNano()
	if ts == 0 {
		ts = time.Now().UnixNano()
	}
	sh := &k.shards[key.hash()&k.mask]
	sh.mu.Lock()
	sh.observed++
	f := sh.flows[key]
	if f == nil {
		f = &flow{key: key}
		sh.flows[key] = f
		sh.mem += flowOverhead
	} else {
		f.unlink()
	}
	sh.lru.insertBefore(f) // most recent at the back
	f.last = ts
	f.seen++
	sh.notKept += uint64(k.add(sh, f, ev, ts))
	for sh.mem > k.budget && sh.lru.next != f {
		k.drop(sh, sh.lru.next)
		sh.evicted++
	}
	sh.mu.Unlock()
}

// add keeps ev's frame in f; it returns how many packets the flow's
// limits cost: older ones overwritten, or this one not kept.
func (k *Keeper) add(sh *shard, f *flow, ev *datapath.Event, ts int64) int {
	n := min(len(ev.Frame), k.set.Snaplen)
	ifc := f.ifaceOf(ev)
	if !f.headDone {
		if len(f.head) < k.headPkts && f.bytes+n <= k.headBytes {
			buf := make([]byte, n)
			copy(buf, ev.Frame)
			f.head = append(f.head, packet{data: buf, ts: ts, orig: uint32(ev.FrameLen), ifc: ifc})
			f.bytes += n
			sh.mem += int64(n) + pktOverhead
			return 0
		}
		f.headDone = true
	}
	tailCap := k.flowPkts - len(f.head)
	lost := 0
	var spare []byte
	for f.rcount > 0 && (f.rcount >= tailCap || f.bytes+n > k.flowBytes) {
		spare = f.dropOldest(sh)
		lost++
	}
	if tailCap <= 0 || f.bytes+n > k.flowBytes {
		return lost + 1
	}
	var buf []byte
	if c := cap(spare); c >= n && c <= 2*n && f.bytes+c <= k.flowBytes {
		buf = spare[:n]
	} else {
		buf = make([]byte, n)
	}
	copy(buf, ev.Frame)
	if f.rcount == len(f.ring) { // no free slot: grow, in order
		if f.rstart != 0 { // a fresh array: the old one keeps no buffer alive
			r := make([]packet, len(f.ring), min(2*len(f.ring), tailCap))
			copy(r, f.ring[f.rstart:])
			copy(r[len(f.ring)-f.rstart:], f.ring[:f.rstart])
			f.ring, f.rstart = r, 0
		}
		f.ring = append(f.ring, packet{})
	}
	f.ring[(f.rstart+f.rcount)%len(f.ring)] = packet{data: buf, ts: ts, orig: uint32(ev.FrameLen), ifc: ifc}
	f.rcount++
	f.bytes += cap(buf)
	sh.mem += int64(cap(buf)) + pktOverhead
	return lost
}

// dropOldest removes the oldest packet of f's ring and returns its
// buffer, no longer charged, for reuse.
func (f *flow) dropOldest(sh *shard) []byte {
	p := &f.ring[f.rstart]
	buf := p.data
	*p = packet{}
	f.rstart = (f.rstart + 1) % len(f.ring)
	f.rcount--
	if f.rcount == 0 {
		f.rstart = 0
	}
	f.bytes -= cap(buf)
	sh.mem -= int64(cap(buf)) + pktOverhead
	return buf
}

// ifaceOf returns the index in f.ifaces of ev's ingress interface, adding
// it when new; past 256 interfaces (never seen in practice) the last one
// stands for the rest.
func (f *flow) ifaceOf(ev *datapath.Event) uint8 {
	for i := range f.ifaces {
		if f.ifaces[i].index == ev.Ifindex && f.ifaces[i].name == ev.Interface {
			return uint8(i)
		}
	}
	if f.ifaces == nil {
		f.ifaces = f.ifbuf[:0]
	}
	if len(f.ifaces) == 256 {
		return 255
	}
	f.ifaces = append(f.ifaces, iface{index: ev.Ifindex, name: ev.Interface})
	return uint8(len(f.ifaces) - 1)
}

// charge is what f costs against the memory bound.
func (f *flow) charge() int64 {
	return int64(f.bytes) + int64(len(f.head)+f.rcount)*pktOverhead + flowOverhead
}

// packets calls fn for each kept packet in arrival order.
func (f *flow) packets(fn func(*packet)) {
	for i := range f.head {
		fn(&f.head[i])
	}
	for i := 0; i < f.rcount; i++ {
		fn(&f.ring[(f.rstart+i)%len(f.ring)])
	}
}

// count is the number of kept packets.
func (f *flow) count() int { return len(f.head) + f.rcount }

// drop forgets f.
func (k *Keeper) drop(sh *shard, f *flow) {
	sh.mem -= f.charge()
	f.unlink()
	delete(sh.flows, f.key)
}

// insertBefore links f before l (at the back of the list l heads).
func (l *flow) insertBefore(f *flow) {
	f.prev, f.next = l.prev, l
	l.prev.next = f
	l.prev = f
}

// unlink takes f out of its list.
func (f *flow) unlink() {
	f.prev.next, f.next.prev = f.next, f.prev
	f.prev, f.next = nil, nil
}

// Sweep drops the flows no packet was seen of for flow_idle before now
// (wall time when live, capture time in replay: the clock of the events'
// Time).
func (k *Keeper) Sweep(now time.Time) {
	if k == nil {
		return
	}
	cut := now.Add(-time.Duration(k.set.FlowIdle)).UnixNano()
	for i := range k.shards {
		sh := &k.shards[i]
		sh.mu.Lock()
		// The list is in order of activity, so the idle flows lead it;
		// events of one shard come nearly in time order.
		for f := sh.lru.next; f != &sh.lru && f.last < cut; f = sh.lru.next {
			k.drop(sh, f)
			sh.expired++
		}
		sh.mu.Unlock()
	}
}

// Stats are the keeper's counters, cumulative but for the gauges
// (FlowsKept, BytesKept, FilesOnDisk, BytesOnDisk).
type Stats struct {
	FlowsKept       uint64 // flows with state now
	BytesKept       uint64 // memory charged now: frames and bookkeeping (bound: memory)
	PacketsObserved uint64 // packets Observe took
	// PacketsNotKept are the packets a flow's limits (flow_packets,
	// flow_bytes) cost: not kept, or overwritten in the flow's ring.
	PacketsNotKept uint64
	FlowsEvicted   uint64 // flows dropped to stay under memory
	FlowsExpired   uint64 // flows dropped idle by Sweep
	FilesWritten   uint64 // pcapng files written
	FilesEvicted   uint64 // files deleted to stay under quota
	FilesOnDisk    uint64 // files now accounted in the directory
	BytesOnDisk    uint64 // their size (bound: quota)
	WriteErrors    uint64 // captures that failed to write (or to make room)
}

// Stats returns the counters now.
func (k *Keeper) Stats() Stats {
	var st Stats
	if k == nil {
		return st
	}
	for i := range k.shards {
		sh := &k.shards[i]
		sh.mu.Lock()
		st.FlowsKept += uint64(len(sh.flows))
		st.BytesKept += uint64(sh.mem)
		st.PacketsObserved += sh.observed
		st.PacketsNotKept += sh.notKept
		st.FlowsEvicted += sh.evicted
		st.FlowsExpired += sh.expired
		sh.mu.Unlock()
	}
	k.files.stats(&st)
	return st
}
