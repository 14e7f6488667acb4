package sensor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/lru"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
)

// swapGrace is how long a replaced set of blocklist tables stays in its
// slot after the flip: a packet that read the old generation just before
// it finishes its lookups in microseconds (XDP runs to completion in
// softirq), so this is ample, and only memory waits on it.
const swapGrace = 50 * time.Millisecond

// FlowDetail is what userspace knows of a flow it blocked, for the action
// records of its packets.
type FlowDetail struct {
	Reason enforce.Reason
	Kind   string // the intel kind that matched: domain, ja3, ja4, sha256
	Value  string // the listed value
	List   string // the intel source
	Level  int
}

type blockedFlow struct {
	key    bpf.FlowKey
	client netip.Addr
	until  time.Time
	slot   uint32
	detail FlowDetail
	links  lru.Links[blockedFlow]
}

func (b *blockedFlow) Links() *lru.Links[blockedFlow] { return &b.links }

// MaxFlowsPerClient bounds the flows blocked for one client address: past
// it its oldest block goes, so hellos forged in a host's name cannot fill
// the table.
const MaxFlowsPerClient = 64

// EnforcerStats count what the enforcer did.
type EnforcerStats struct {
	Replaces     atomic.Uint64 // whole sets of lists swapped in
	InPlace      atomic.Uint64 // of them, written as changes into the spare generation's tables
	LastSwap     atomic.Int64  // ns from Replace's call to the new lists being in force, the last time
	Entries      atomic.Uint64 // blocklist entries in force after the last swap
	FlowsBlocked atomic.Uint64 // flows blocked
	FlowsEvicted atomic.Uint64 // flow blocks removed early: the table or the client's share was full
	FlowsExpired atomic.Uint64 // flow blocks lapsed
	Errors       atomic.Uint64 // kernel writes that failed, records that did not decode
}

// Enforcer writes enforcement into the data plane: the mode, whole sets
// of blocklists (swapped in at once), the allowlist, the lists'
// freshness and the blocked flows. Safe for concurrent use.
type Enforcer struct {
	objs     *bpf.Objects
	maxFlows int

	// swapMu: one Replace at a time; the prefilters and the allowlist are
	// only its.
	swapMu sync.Mutex
	bits   [4][]uint64 // the prefilters as the kernel holds them (bpf.Prefilter4, ...)
	allow  map[netip.Prefix]bool
	// slots are the two generations' tables as this side last wrote
	// them: a swap that changes few entries writes just those into the
	// spare generation's tables instead of making new ones.
	slots [2]genTables
	swaps uint32 // swaps so far (slotEntry.seen)

	mu     sync.Mutex
	maxAge time.Duration
	gen    uint32
	// names and ids: a list keeps its id (its counters, its flow
	// blocks' freshness) from swap to swap while its name stays.
	names     [bpf.EnfMaxLists]string
	ids       map[string]uint16
	flows     map[bpf.FlowKey]*blockedFlow
	age       lru.List[blockedFlow, *blockedFlow] // oldest block first
	perClient map[netip.Addr][]*blockedFlow       // a client's blocks, oldest first
	slotCount []uint16

	Stats EnforcerStats
}

// NewEnforcer takes over the enforcement state of objs, loaded with
// enforcement on: no list is in force until Replace, and lists lapse
// maxAge after the last Replace or Refresh.
func NewEnforcer(objs *bpf.Objects, maxAge time.Duration, maxFlows int) (*Enforcer, error) {
	if objs.FlowBlocks == nil || objs.FlowBlocks.MaxEntries() <= 1 {
		return nil, errors.New("enforcement: the data plane was loaded without it")
	}
	if m := int(objs.FlowBlocks.MaxEntries()); maxFlows > m {
		maxFlows = m
	}
	e := &Enforcer{
		objs: objs, maxAge: maxAge, maxFlows: maxFlows,
		allow:     map[netip.Prefix]bool{},
		ids:       map[string]uint16{},
		flows:     map[bpf.FlowKey]*blockedFlow{},
		perClient: map[netip.Addr][]*blockedFlow{},
		slotCount: make([]uint16, 1<<bpf.FBlockBits),
	}
	for i := range e.bits {
		e.bits[i] = make([]uint64, bpf.EnfPrefilterWords)
	}
	return e, nil
}

// SetMode sets what a hit does. Off stops all action at once.
func (e *Enforcer) SetMode(m enforce.Mode) error {
	v := bpf.EnfModeOff
	switch m {
	case enforce.Monitor:
		v = bpf.EnfModeMonitor
	case enforce.Block:
		v = bpf.EnfModeBlock
	}
	if err := e.objs.EnforceMode.Set(v); err != nil {
		return fmt.Errorf("setting enforcement mode: %w", err)
	}
	return nil
}

// Lists names the list ids in use ("" for a free id).
func (e *Enforcer) Lists() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.names[:]...)
}

// listIDs is a list-id assignment: names by id, ids by name.
type listIDs struct {
	names [bpf.EnfMaxLists]string
	ids   map[string]uint16
	fresh []uint16 // ids given to a new name: their counters were another list's
}

// assignIDs gives each of lists a stable id: the one it had, or a free
// one. Names no longer listed free their ids. It returns the id of each,
// by index, and the assignment to commit when the lists are swapped in
// (until then the tables in force keep their names). e.mu held.
func (e *Enforcer) assignIDs(lists []string) ([]uint16, *listIDs) {
	a := &listIDs{names: e.names, ids: map[string]uint16{}}
	keep := map[string]bool{}
	for _, n := range lists {
		keep[n] = true
	}
	for n, id := range e.ids {
		if keep[n] {
			a.ids[n] = id
		} else {
			a.names[id] = ""
		}
	}
	out := make([]uint16, len(lists))
	for i, n := range lists {
		id, ok := a.ids[n]
		if !ok {
			id = bpf.EnfMaxLists - 1 // no free id: the last one is shared
			for j, have := range a.names {
				if have == "" {
					id = uint16(j)
					break
				}
			}
			if a.names[id] == "" {
				a.names[id] = n
				a.fresh = append(a.fresh, id)
			}
			a.ids[n] = id
		}
		out[i] = id
	}
	return out, a
}

// commitIDs makes an assignment the one in force. e.mu held.
func (e *Enforcer) commitIDs(a *listIDs) {
	e.names, e.ids = a.names, a.ids
	for _, id := range a.fresh {
		e.zeroCounters(id)
	}
}

// zeroCounters clears a list id's per-CPU counters.
func (e *Enforcer) zeroCounters(id uint16) {
	zero := make([]bpf.EnfListStats, ebpf.MustPossibleCPU())
	if err := e.objs.EnfLists.Put(uint32(id), zero); err != nil {
		e.Stats.Errors.Add(1)
	}
}

// tableSet is one slot's four blocklist tables, filled.
type tableSet [4]*ebpf.Map

var tableNames = [4]string{"enf_exact4", "enf_exact6", "enf_prefix4", "enf_prefix6"}

func (ts *tableSet) close() {
	for _, m := range ts {
		if m != nil {
			m.Close()
		}
	}
}

// build makes and fills the four tables of t.
func (e *Enforcer) build(t *enforce.Tables, ids []uint16, wall time.Time) (tableSet, int, error) {
	var (
		k4 [][4]byte
		v4 []bpf.EnfEntry
		k6 [][16]byte
		v6 []bpf.EnfEntry
		p4 []bpf.EnfLPM4
		w4 []bpf.EnfEntry
		p6 []bpf.EnfLPM6
		w6 []bpf.EnfEntry
	)
	mono := monoAt(wall)
	expired := 0
	for i := range t.Entries {
		en := &t.Entries[i]
		se, ok := entryOf(en, ids, wall)
		if !ok {
			expired++
			continue
		}
		v := se.kernel(en.Prefix, mono, wall)
		a, bits := en.Prefix.Addr(), en.Prefix.Bits()
		switch {
		case a.Is4() && bits == 32:
			k4, v4 = append(k4, a.As4()), append(v4, v)
		case a.Is4():
			p4, w4 = append(p4, bpf.EnfLPM4{Prefixlen: uint32(bits), Addr: a.As4()}), append(w4, v)
		case bits == 128:
			k6, v6 = append(k6, a.As16()), append(v6, v)
		default:
			p6, w6 = append(p6, bpf.EnfLPM6{Prefixlen: uint32(bits), Addr: a.As16()}), append(w6, v)
		}
	}
	var ts tableSet
	sizes := [4]int{len(k4), len(k6), len(p4), len(p6)}
	for i, name := range tableNames {
		spec, err := e.objs.InnerSpec(name)
		if err != nil {
			ts.close()
			return ts, 0, err
		}
		// Room for entries added between swaps.
		spec.MaxEntries = uint32(sizes[i] + sizes[i]/8 + 1024)
		spec.Name = name[:min(len(name), 15)]
		m, err := ebpf.NewMap(spec)
		if err != nil {
			ts.close()
			return ts, 0, fmt.Errorf("making %s (%d entries): %w", name, sizes[i], err)
		}
		ts[i] = m
	}
	fill := func(m *ebpf.Map, keys, vals any, n int) error {
		if n == 0 {
			return nil
		}
		if _, err := m.BatchUpdate(keys, vals, nil); err != nil {
			return fmt.Errorf("filling %s: %w", m, err)
		}
		return nil
	}
	err := errors.Join(fill(ts[0], k4, v4, len(k4)), fill(ts[1], k6, v6, len(k6)))
	// LPM tries take no batches.
	for i := range p4 {
		if err == nil {
			err = ts[2].Put(&p4[i], &w4[i])
		}
	}
	for i := range p6 {
		if err == nil {
			err = ts[3].Put(&p6[i], &w6[i])
		}
	}
	if err != nil {
		ts.close()
		return ts, 0, fmt.Errorf("filling blocklists: %w", err)
	}
	return ts, expired, nil
}

// Replace swaps in a whole new set of lists: the tables are made and
// filled aside, the allowlist and the prefilter widened to cover both
// sets, then one write of enf_gen makes every packet after it see only
// the new set; the old set and the prefilter bits only it needed go once
// no packet can still be reading them.
func (e *Enforcer) Replace(t *enforce.Tables) error {
	e.swapMu.Lock()
	defer e.swapMu.Unlock()
	e.mu.Lock()
	ids, assigned := e.assignIDs(t.Lists)
	next := (e.gen + 1) & 1
	e.mu.Unlock()

	start := time.Now()
	ts, expired, inPlace, err := e.fill(next, t, ids)
	if err != nil {
		return err
	}
	// Until the flip, a failure leaves generation next's tables not what
	// this side recorded (new ones not installed, or changes written for
	// lists never put in force): forgotten, the next swap makes new ones.
	flipped := false
	defer func() {
		if !flipped {
			e.slots[next].forget()
		}
	}()

	want := [4][]uint64{
		bpf.Prefilter4:       enforce.Prefilter(t.Entries, false, false),
		bpf.Prefilter6:       enforce.Prefilter(t.Entries, true, false),
		bpf.PrefixPrefilter4: enforce.Prefilter(t.Entries, false, true),
		bpf.PrefixPrefilter6: enforce.Prefilter(t.Entries, true, true),
	}
	for f := range want {
		union := make([]uint64, len(want[f]))
		for i := range union {
			union[i] = want[f][i] | e.bits[f][i]
		}
		if err := e.writeWords(f, e.bits[f], union); err != nil {
			return err
		}
	}
	added, err := e.addAllow(t.Allow)
	if err != nil {
		// Back to the allowlist in force, so that the next try starts
		// from it.
		e.dropAllow(added, nil)
		return err
	}
	outers := [4]*ebpf.Map{e.objs.EnfExact4, e.objs.EnfExact6, e.objs.EnfPrefix4, e.objs.EnfPrefix6}
	for i, o := range outers {
		if inPlace {
			break // the slot holds these tables already
		}
		if err := o.Put(next, ts[i]); err != nil {
			e.dropAllow(added, nil)
			return fmt.Errorf("installing %s: %w", tableNames[i], err)
		}
	}
	e.mu.Lock()
	e.commitIDs(assigned)
	// Fresh before the flip: the new lists are in force from the first
	// packet that sees them.
	err = e.refreshLocked()
	if err == nil {
		err = e.objs.EnfGen.Set(e.gen + 1)
	}
	if err == nil {
		e.gen++
	}
	e.mu.Unlock()
	if err != nil {
		e.dropAllow(added, nil)
		return fmt.Errorf("switching blocklists: %w", err)
	}
	flipped = true
	e.Stats.LastSwap.Store(int64(time.Since(start)))
	if inPlace {
		e.Stats.InPlace.Add(1)
	}

	time.Sleep(swapGrace)
	// The old generation's tables become the spare: brought up to these
	// lists now, off the path to their being in force, so that the next
	// swap writes only its own changes there. When that cannot be done
	// in place they go, and the next swap makes new ones.
	if old := &e.slots[1-next]; old.content != nil {
		if len(t.Entries) > maxTracked {
			old.forget()
		} else if ok, _, err := e.update(old, t, ids); err != nil || !ok {
			old.forget()
		}
	}
	if e.slots[1-next].content == nil {
		e.slots[1-next].forget()
		for i, o := range outers {
			if err := o.Delete(1 - next); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("removing the old %s: %w", tableNames[i], err)
			}
		}
	}
	for f := range want {
		if err := e.writeWords(f, e.bits[f], want[f]); err != nil {
			return err
		}
	}
	if err := e.dropAllow(nil, t.Allow); err != nil {
		return err
	}
	e.Stats.Replaces.Add(1)
	e.Stats.Entries.Store(uint64(len(t.Entries) - expired))
	return nil
}

// writeWords writes the prefilter words of want that differ from have
// (the program's memory-mapped globals: plain stores), and records them
// in have.
func (e *Enforcer) writeWords(f int, have, want []uint64) error {
	for i := range want {
		if want[i] == have[i] {
			continue
		}
		if err := e.objs.SetPrefilterWord(f, uint32(i), want[i]); err != nil {
			return fmt.Errorf("writing the prefilter: %w", err)
		}
		have[i] = want[i]
	}
	return nil
}

// addAllow adds the prefixes not yet allowlisted and returns them.
func (e *Enforcer) addAllow(ps []netip.Prefix) ([]netip.Prefix, error) {
	var added []netip.Prefix
	for _, p := range ps {
		if e.allow[p] {
			continue
		}
		var err error
		if p.Addr().Is4() {
			err = e.objs.EnfAllow4.Put(bpf.EnfLPM4{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As4()}, uint8(1))
		} else {
			err = e.objs.EnfAllow6.Put(bpf.EnfLPM6{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As16()}, uint8(1))
		}
		if err != nil {
			return added, fmt.Errorf("allowlisting %s: %w", p, err)
		}
		e.allow[p] = true
		added = append(added, p)
	}
	return added, nil
}

// dropAllow removes from the allowlist the prefixes of drop, or, with
// drop nil, every prefix not in keep.
func (e *Enforcer) dropAllow(drop, keep []netip.Prefix) error {
	if drop == nil {
		k := make(map[netip.Prefix]bool, len(keep))
		for _, p := range keep {
			k[p] = true
		}
		for p := range e.allow {
			if !k[p] {
				drop = append(drop, p)
			}
		}
	}
	var errs []error
	for _, p := range drop {
		var err error
		if p.Addr().Is4() {
			err = e.objs.EnfAllow4.Delete(bpf.EnfLPM4{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As4()})
		} else {
			err = e.objs.EnfAllow6.Delete(bpf.EnfLPM6{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As16()})
		}
		if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, fmt.Errorf("removing %s from the allowlist: %w", p, err))
			continue
		}
		delete(e.allow, p)
	}
	return errors.Join(errs...)
}

// SetMaxAge changes how long lists stay in force unconfirmed, from the
// next Refresh.
func (e *Enforcer) SetMaxAge(d time.Duration) {
	e.mu.Lock()
	e.maxAge = d
	e.mu.Unlock()
}

// Refresh keeps the lists in force for another max_age: the daemon calls
// it while it is alive and its lists are current.
func (e *Enforcer) Refresh() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refreshLocked()
}

func (e *Enforcer) refreshLocked() error {
	until := monoNow() + uint64(e.maxAge)
	for i := 0; i < bpf.EnfMaxLists; i++ {
		v := uint64(0)
		if e.names[i] != "" {
			v = until
		}
		if err := e.objs.SetFreshUntil(i, v); err != nil {
			return fmt.Errorf("list freshness: %w", err)
		}
	}
	return nil
}

// Stale ends every list at once (the lists could not be confirmed).
func (e *Enforcer) Stale() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := 0; i < bpf.EnfMaxLists; i++ {
		if err := e.objs.SetFreshUntil(i, 0); err != nil {
			return err
		}
	}
	return nil
}

// slotOf is the fblock_slots index of a flow key.
func slotOf(k *bpf.FlowKey) uint32 {
	return bpf.FilterIndex(k.AddrA[3], k.AddrB[3], k.PortA, k.PortB)
}

// BlockFlow blocks a flow (both directions) for d: its packets are
// dropped, and TCP ones answered with a reset. list names the list whose
// entry decided it (its freshness applies). Past the table's size, or
// MaxFlowsPerClient for the client, the oldest block goes.
func (e *Enforcer) BlockFlow(fl datapath.Flow, proto uint8, list string, d time.Duration, detail FlowDetail) error {
	k, clientIsA := flowKey(fl.Client, fl.Server, proto, fl.Zone)
	e.mu.Lock()
	defer e.mu.Unlock()
	id, ok := e.ids[list]
	if !ok {
		// A source past the lists' limit (folded into "other"), or new
		// since the last swap: any list in force lends its freshness.
		if id, ok = e.ids["other"]; !ok {
			for i, n := range e.names {
				if n != "" {
					id, ok = uint16(i), true
					break
				}
			}
		}
		if !ok {
			return fmt.Errorf("blocking a flow: no list in force")
		}
	}
	v := bpf.FlowBlock{ExpiresNs: monoNow() + uint64(d), List: id, Level: uint8(detail.Level), Reason: uint8(detail.Reason)}
	if clientIsA {
		v.ClientIsA = 1
	}
	b, known := e.flows[k]
	client := fl.Client.Addr().Unmap()
	if !known {
		if mine := e.perClient[client]; len(mine) >= MaxFlowsPerClient {
			e.unblockLocked(mine[0])
			e.Stats.FlowsEvicted.Add(1)
		}
		if len(e.flows) >= e.maxFlows {
			e.unblockLocked(e.age.Oldest())
			e.Stats.FlowsEvicted.Add(1)
		}
	}
	// The entry first, then the slot that sends packets to it.
	if err := e.objs.FlowBlocks.Put(&k, &v); err != nil {
		e.Stats.Errors.Add(1)
		return fmt.Errorf("blocking a flow: %w", err)
	}
	if known {
		b.until, b.detail = time.Now().Add(d), detail
		return nil
	}
	b = &blockedFlow{key: k, client: client, until: time.Now().Add(d), slot: slotOf(&k), detail: detail}
	e.flows[k] = b
	e.age.Push(b)
	e.perClient[client] = append(e.perClient[client], b)
	e.slotCount[b.slot]++
	e.Stats.FlowsBlocked.Add(1)
	if err := e.objs.SetFBlockSlot(b.slot, uint8(min(e.slotCount[b.slot], 255))); err != nil {
		return err
	}
	return e.objs.SetFBlockTotal(uint32(len(e.flows)))
}

// unblockLocked removes one flow block: the slot first, then the entry.
func (e *Enforcer) unblockLocked(b *blockedFlow) {
	e.slotCount[b.slot]--
	if e.slotCount[b.slot] < 255 {
		if err := e.objs.SetFBlockSlot(b.slot, uint8(e.slotCount[b.slot])); err != nil {
			e.Stats.Errors.Add(1)
		}
	}
	if err := e.objs.FlowBlocks.Delete(&b.key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		e.Stats.Errors.Add(1)
	}
	e.age.Remove(b)
	delete(e.flows, b.key)
	mine := e.perClient[b.client]
	if i := slices.Index(mine, b); i >= 0 {
		mine = slices.Delete(mine, i, i+1)
	}
	if len(mine) == 0 {
		delete(e.perClient, b.client)
	} else {
		e.perClient[b.client] = mine
	}
	if err := e.objs.SetFBlockTotal(uint32(len(e.flows))); err != nil {
		e.Stats.Errors.Add(1)
	}
}

// ExpireFlows removes the flow blocks that lapsed by now (the data plane
// already ignores them).
func (e *Enforcer) ExpireFlows(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, b := range e.flows {
		if now.Before(b.until) {
			continue
		}
		e.unblockLocked(b)
		e.Stats.FlowsExpired.Add(1)
	}
}

// BlockedFlows is the number of flows blocked now.
func (e *Enforcer) BlockedFlows() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.flows)
}

// Detail returns what userspace knows of a blocked flow.
func (e *Enforcer) Detail(k bpf.FlowKey) (FlowDetail, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, ok := e.flows[k]
	if !ok {
		return FlowDetail{}, false
	}
	return b.detail, true
}

// ListStats are one list's counters, summed over CPUs.
type ListStats struct {
	Packets, Bytes           uint64 // dropped
	WouldPackets, WouldBytes uint64 // monitor mode
}

// ListStats reads the per-list counters by list name (ids beyond the
// current lists are reported under their id).
func (e *Enforcer) ListStats() (map[string]ListStats, error) {
	lists := e.Lists()
	out := map[string]ListStats{}
	var per []bpf.EnfListStats
	for i := 0; i < bpf.EnfMaxLists; i++ {
		if err := e.objs.EnfLists.Lookup(uint32(i), &per); err != nil {
			return nil, fmt.Errorf("reading list counters: %w", err)
		}
		var s ListStats
		for _, c := range per {
			s.Packets += c.Packets
			s.Bytes += c.Bytes
			s.WouldPackets += c.WouldPackets
			s.WouldBytes += c.WouldBytes
		}
		if s == (ListStats{}) {
			continue
		}
		name := lists[i]
		if name == "" {
			name = fmt.Sprintf("list%d", i)
		}
		t := out[name]
		t.Packets += s.Packets
		t.Bytes += s.Bytes
		t.WouldPackets += s.WouldPackets
		t.WouldBytes += s.WouldBytes
		out[name] = t
	}
	return out, nil
}

// Action is one record of the actions ring, with what userspace adds.
type Action struct {
	Time       time.Time
	ts         uint64 // the data plane's stamp (CLOCK_MONOTONIC), for the reader to convert
	Ifindex    uint32
	Iface      string
	Src, Dst   netip.AddrPort
	Proto      uint8
	Blocked    bool // false: monitor mode
	Reset      bool // the client got a TCP reset
	What       uint8
	Side       uint8 // the address that matched (bpf.EnfSideSrc or Dst)
	Prefix     netip.Prefix
	List       string
	Level      int
	Detail     FlowDetail // flow blocks: what decided it, when still known
	HaveDetail bool
	Family     uint8
}

// ReadActions reads the actions ring until ctx ends, calling fn for each
// record, stamped and named by dec as events are (the sensor's decoder:
// its interfaces, its clock that follows NTP steps).
func (e *Enforcer) ReadActions(ctx context.Context, dec *Decoder, fn func(*Action)) error {
	rd, err := ringbuf.NewReader(e.objs.Actions)
	if err != nil {
		return fmt.Errorf("reading the actions ring: %w", err)
	}
	go func() {
		<-ctx.Done()
		rd.Close()
	}()
	var rec ringbuf.Record
	for {
		if err := rd.ReadInto(&rec); err != nil {
			if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("reading the actions ring: %w", err)
		}
		a, err := e.decode(rec.RawSample)
		if err != nil {
			e.Stats.Errors.Add(1)
			continue
		}
		a.Time, a.Iface = dec.stamp(a.ts, a.Ifindex)
		fn(a)
	}
}

// decode reads one record of the actions ring (Time and Iface are the
// reader's to set).
func (e *Enforcer) decode(raw []byte) (*Action, error) {
	var ev bpf.EnfEvent
	if _, err := binary.Decode(raw, binary.NativeEndian, &ev); err != nil {
		return nil, fmt.Errorf("decoding an action record: %w", err)
	}
	return e.action(&ev), nil
}

// action decodes one record.
func (e *Enforcer) action(ev *bpf.EnfEvent) *Action {
	addr := func(b [16]byte) netip.Addr {
		a := netip.AddrFrom16(b)
		if ev.Family == 4 {
			a = a.Unmap()
		}
		return a
	}
	a := &Action{
		ts:      ev.TsNs,
		Ifindex: ev.Ifindex,
		Src:     netip.AddrPortFrom(addr(ev.Saddr), ev.Sport),
		Dst:     netip.AddrPortFrom(addr(ev.Daddr), ev.Dport),
		Proto:   ev.L4proto, Blocked: ev.Blocked != 0, Reset: ev.Reset != 0,
		What: ev.What, Side: ev.Side, Level: int(ev.Level), Family: ev.Family,
	}
	if lists := e.Lists(); int(ev.List) < len(lists) {
		a.List = lists[ev.List]
	}
	switch ev.What {
	case bpf.EnfWhatAddr:
		matched := a.Src.Addr()
		if ev.Side == bpf.EnfSideDst {
			matched = a.Dst.Addr()
		}
		if p, err := matched.Prefix(int(ev.Prefixlen)); err == nil {
			a.Prefix = p
		}
	case bpf.EnfWhatFlow:
		k := FlowKeyIn(a.Src, a.Dst, ev.L4proto, ev.Zone)
		a.Detail, a.HaveDetail = e.Detail(k)
		if a.HaveDetail && a.Detail.List != "" {
			a.List = a.Detail.List
		}
	}
	return a
}
