package sensor

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/userspace/config"
)

// kernelCounts says whether this kernel keeps the element count of hash
// maps that bpf_map_sum_elem_count reads (Linux 6.6).
func kernelCounts(t testing.TB) bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var major, minor int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor)
	return major > 6 || major == 6 && minor >= 6
}

// fillFlows puts n distinct keys into the flow table in batches.
func fillFlows(t testing.TB, m *ebpf.Map, n int) {
	t.Helper()
	const batch = 4096
	keys := make([]bpf.FlowKey, 0, batch)
	vals := make([]bpf.Flow, batch)
	for i := 0; i < n; i += batch {
		keys = keys[:0]
		for j := i; j < min(n, i+batch); j++ {
			keys = append(keys, bpf.FlowKey{AddrA: [4]uint32{uint32(j)}, AddrB: [4]uint32{uint32(j >> 16)}, PortA: 443, Proto: 6})
		}
		if _, err := m.BatchUpdate(keys, vals[:len(keys)], nil); err != nil {
			t.Fatalf("filling the flow table: %v", err)
		}
	}
}

// walkFlows is the count the slow way, as truth.
func walkFlows(m *ebpf.Map) int {
	n := 0
	var k bpf.FlowKey
	var v bpf.Flow
	it := m.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	return n
}

func TestPrivilegedFlowCounter(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Capture.MaxFlows = 4096 })
	c := bpf.NewFlowCounter(h.objs.Flows)
	defer c.Close()
	if kernelCounts(t) && !c.Kernel() {
		t.Fatalf("this kernel keeps hash-map element counts, but the counting program did not load: %v", c.Err())
	}
	for _, n := range []int{0, 1, 1000, 4096, 10000} {
		if n > 0 {
			fillFlows(t, h.objs.Flows, n)
		}
		got, err := c.Count()
		if err != nil {
			t.Fatal(err)
		}
		// Past its size the LRU table evicts: the walk is the truth.
		if want := walkFlows(h.objs.Flows); got != want || got > 4096 {
			t.Fatalf("after %d insertions: counted %d flows, the table holds %d", n, got, want)
		}
	}
	// Deletions count too.
	var k bpf.FlowKey
	var v bpf.Flow
	it := h.objs.Flows.Iterate()
	for i := 0; i < 100 && it.Next(&k, &v); i++ {
		if err := h.objs.Flows.Delete(&k); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := c.Count(); got != walkFlows(h.objs.Flows) {
		t.Fatalf("after deletions: counted %d, the table holds %d", got, walkFlows(h.objs.Flows))
	}
}

// BenchmarkPrivilegedFlowCount counts a full flow table, by the kernel's
// element count and by walking it (the way status and every /metrics
// scrape counted before). EDGESENSOR_BENCH_FLOWS sets the table's size
// (default 131072, the default capture.max_flows; at most 16777216).
func BenchmarkPrivilegedFlowCount(b *testing.B) {
	size := 131072
	if s := os.Getenv("EDGESENSOR_BENCH_FLOWS"); s != "" {
		size, _ = strconv.Atoi(s)
	}
	h := newHarness(b, func(c *config.Config) { c.Capture.MaxFlows = size })
	t0 := time.Now()
	fillFlows(b, h.objs.Flows, size)
	b.Logf("%d flows in the table (filled in %v)", walkFlows(h.objs.Flows), time.Since(t0).Round(time.Millisecond))
	c := bpf.NewFlowCounter(h.objs.Flows)
	defer c.Close()
	b.Run("kernel", func(b *testing.B) {
		if !c.Kernel() {
			b.Skip("no bpf_map_sum_elem_count on this kernel")
		}
		for b.Loop() {
			if _, err := c.Count(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("walk", func(b *testing.B) {
		for b.Loop() {
			walkFlows(h.objs.Flows)
		}
	})
}
