package bpf

import (
	"fmt"
	"sync"
	"time"

	"github.com/cilium/ebpf"
)

// FlowCounter tells how many flows the kernel's flow table holds. With
// the kernel's own per-map element count (bpf_map_sum_elem_count, Linux
// 6.6 and later) that costs one BPF_PROG_TEST_RUN whatever the table's
// size; on older kernels it walks the table, which takes seconds at
// millions of flows, so a walked count serves for WalkEvery.
type FlowCounter struct {
	flows *ebpf.Map
	objs  *flowcountObjects // nil: the program did not load (err says why); walk
	err   error

	mu     sync.Mutex
	walked time.Time
	last   int
}

// WalkEvery is how long a count made by walking the table is reused.
const WalkEvery = 30 * time.Second

// NewFlowCounter counts the entries of flows (the live map, or the pinned
// one opened by another process). It does not take ownership of flows.
func NewFlowCounter(flows *ebpf.Map) *FlowCounter {
	c := &FlowCounter{flows: flows}
	spec, err := loadFlowcount()
	if err != nil {
		c.err = err
		return c
	}
	// The map handed in replaces the one count.c declares, which must
	// look the same: it takes the live table's shape, so a change to
	// maps.h cannot make the two drift apart.
	ms := spec.Maps["flows"]
	if info, err := flows.Info(); err == nil {
		ms.Type, ms.Flags = info.Type, info.Flags
	}
	ms.KeySize, ms.ValueSize, ms.MaxEntries = flows.KeySize(), flows.ValueSize(), flows.MaxEntries()
	var objs flowcountObjects
	if err := spec.LoadAndAssign(&objs, &ebpf.CollectionOptions{
		MapReplacements: map[string]*ebpf.Map{"flows": flows},
	}); err != nil {
		c.err = fmt.Errorf("loading the flow counting program: %w", err)
		return c
	}
	c.objs = &objs
	return c
}

// Err says why the kernel's element count is not used (nil when it is).
func (c *FlowCounter) Err() error { return c.err }

// Kernel says whether the count comes from the kernel's element count
// (false: from a walk of the table).
func (c *FlowCounter) Kernel() bool { return c.objs != nil }

// Count returns the number of flows in the table.
func (c *FlowCounter) Count() (int, error) {
	if c.objs == nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.walked.IsZero() || time.Since(c.walked) >= WalkEvery {
			n, err := walk(c.flows)
			if err != nil {
				return 0, err
			}
			c.last, c.walked = n, time.Now()
		}
		return c.last, nil
	}
	if _, err := c.objs.CountFlows.Run(&ebpf.RunOptions{}); err != nil {
		return 0, fmt.Errorf("counting flows: %w", err)
	}
	var n int64
	if err := c.objs.FlowCount.Get(&n); err != nil {
		return 0, fmt.Errorf("reading the flow count: %w", err)
	}
	return int(n), nil
}

// Close releases the counting program (not the map).
func (c *FlowCounter) Close() error {
	if c.objs == nil {
		return nil
	}
	return c.objs.Close()
}

// walk counts the keys of a hash map one by one.
func walk(m *ebpf.Map) (int, error) {
	n := 0
	var k, v []byte
	it := m.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	if err := it.Err(); err != nil {
		return n, fmt.Errorf("walking the flow table: %w", err)
	}
	return n, nil
}
