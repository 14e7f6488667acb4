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
	objs  *flowcountObjects // nil: the kernel lacks the kfunc; walk

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
		return c
	}
	// The map handed in replaces the one count.c declares; it must look
	// the same, so it takes the live table's size.
	spec.Maps["flows"].MaxEntries = flows.MaxEntries()
	var objs flowcountObjects
	if err := spec.LoadAndAssign(&objs, &ebpf.CollectionOptions{
		MapReplacements: map[string]*ebpf.Map{"flows": flows},
	}); err != nil {
		return c
	}
	c.objs = &objs
	return c
}

// Kernel says whether the count comes from the kernel's element count
// (false: from a walk of the table).
func (c *FlowCounter) Kernel() bool { return c.objs != nil }

// Count returns the number of flows in the table.
func (c *FlowCounter) Count() (int, error) {
	if c.objs == nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.walked.IsZero() || time.Since(c.walked) >= WalkEvery {
			c.last, c.walked = walk(c.flows), time.Now()
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
func walk(m *ebpf.Map) int {
	n := 0
	var k, v []byte
	it := m.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	return n
}
