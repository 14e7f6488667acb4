package sensor

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/cilium/ebpf"

	"github.com/edgesensor/edgesensor/bpf"
)

// Counters are one interface slot's counters, summed over CPUs.
type Counters [bpf.NumCounters]uint64

// Get returns one counter.
func (c Counters) Get(i bpf.Counter) uint64 { return c[i] }

// Map returns the counters by name (from the program's BTF).
func (c *Counters) Map() (map[string]uint64, error) {
	names, err := bpf.CounterNames()
	if err != nil {
		return nil, err
	}
	m := make(map[string]uint64, len(names))
	for i, n := range names {
		m[n] = c[i]
	}
	return m, nil
}

// ReadCounters sums one slot of the per-CPU counters map. The kernel
// never resets them; neither does this.
func ReadCounters(m *ebpf.Map, slot uint32) (Counters, error) {
	var per []bpf.CounterSet
	if err := m.Lookup(slot, &per); err != nil {
		return Counters{}, fmt.Errorf("reading counters slot %d: %w", slot, err)
	}
	var sum Counters
	for _, cs := range per {
		for i, v := range cs.V {
			sum[i] += v
		}
	}
	return sum, nil
}

// clearCounters zeroes a slot on every CPU (a slot given to a new interface).
func clearCounters(m *ebpf.Map, slot uint32) error {
	zero := make([]bpf.CounterSet, ebpf.MustPossibleCPU())
	if err := m.Put(slot, zero); err != nil {
		return fmt.Errorf("clearing counters slot %d: %w", slot, err)
	}
	return nil
}

// AssignSlot gives ifindex a counter slot: its existing one, or the lowest
// slot no other interface holds (zeroed first). Slot 0 stays for
// everything without a slot. The pinned ifslots map records it; the
// program's ifslot table is what the data plane reads.
func AssignSlot(objs *bpf.Objects, ifindex int) (uint32, error) {
	if ifindex <= 0 || ifindex >= bpf.MaxIfIndex {
		return 0, nil
	}
	var cur uint32
	if err := objs.IfSlots.Lookup(uint32(ifindex), &cur); err == nil && cur != 0 {
		return cur, syncSlotTable(objs)
	}
	slots, err := readSlots(objs)
	if err != nil {
		return 0, err
	}
	used := make([]bool, bpf.MaxIfSlots)
	for _, v := range slots {
		if v > 0 && v < bpf.MaxIfSlots {
			used[v] = true
		}
	}
	for s := uint32(1); s < bpf.MaxIfSlots; s++ {
		if used[s] {
			continue
		}
		if err := clearCounters(objs.Counters, s); err != nil {
			return 0, err
		}
		if err := objs.IfSlots.Put(uint32(ifindex), s); err != nil {
			return 0, fmt.Errorf("assigning counter slot: %w", err)
		}
		return s, syncSlotTable(objs)
	}
	return 0, nil
}

// ReleaseSlot frees the slot of ifindex (after detach).
func ReleaseSlot(objs *bpf.Objects, ifindex int) error {
	if ifindex <= 0 || ifindex >= bpf.MaxIfIndex {
		return nil
	}
	if err := objs.IfSlots.Put(uint32(ifindex), uint32(0)); err != nil {
		return fmt.Errorf("releasing counter slot: %w", err)
	}
	return syncSlotTable(objs)
}

// readSlots reads the whole ifslots array (index: ifindex) in batches: one
// lookup per entry would be 16384 system calls at every attach.
func readSlots(objs *bpf.Objects) ([]uint32, error) {
	keys := make([]uint32, bpf.MaxIfIndex)
	vals := make([]uint32, bpf.MaxIfIndex)
	var cursor ebpf.MapBatchCursor
	n := 0
	for n < len(keys) {
		got, err := objs.IfSlots.BatchLookup(&cursor, keys[n:], vals[n:], nil)
		n += got
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break // the end of the map
		}
		if err != nil {
			return nil, fmt.Errorf("reading interface slots: %w", err)
		}
	}
	slots := make([]uint32, bpf.MaxIfIndex)
	for i := 0; i < n; i++ {
		if keys[i] < bpf.MaxIfIndex {
			slots[keys[i]] = vals[i]
		}
	}
	return slots, nil
}

// syncSlotTable copies the pinned ifslots map into the program's table
// (also how a newly loaded program learns the slots of a running sensor).
func syncSlotTable(objs *bpf.Objects) error {
	slots, err := readSlots(objs)
	if err != nil {
		return err
	}
	var table [bpf.MaxIfIndex]uint8
	for k, v := range slots {
		if v < bpf.MaxIfSlots {
			table[k] = uint8(v)
		}
	}
	if err := objs.IfSlotTable.Set(table); err != nil {
		return fmt.Errorf("writing interface slot table: %w", err)
	}
	return nil
}

// releasePinnedSlot frees the counter slot of ifindex in the pinned
// ifslots map (a `detach` without a running sensor).
func releasePinnedSlot(pinPath string, ifindex int) {
	if ifindex <= 0 || ifindex >= bpf.MaxIfIndex {
		return
	}
	m, err := ebpf.LoadPinnedMap(filepath.Join(pinPath, "ifslots"), nil)
	if err != nil {
		return
	}
	defer m.Close()
	_ = m.Put(uint32(ifindex), uint32(0))
}
