package sensor

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/lru"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
)

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
