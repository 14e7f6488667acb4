package daemon

import (
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/ecs"
)

// Latencies land in their buckets, cumulatively; events of replay (not
// live) and without an end are not observed.
func TestVerdictLatency(t *testing.T) {
	var c eventCounts
	file := func(ago time.Duration) *ecs.Fields {
		return &ecs.Fields{Dataset: "edgesensor.file", End: time.Now().Add(-ago)}
	}
	c.observe(file(3 * time.Millisecond)) // replay: not observed
	c.live.Store(true)
	for _, d := range []time.Duration{500 * time.Microsecond, 3 * time.Millisecond, 40 * time.Millisecond, 2 * time.Minute} {
		c.observe(file(d))
	}
	c.observe(&ecs.Fields{Dataset: "edgesensor.file"}) // no end
	c.observe(&ecs.Fields{Dataset: "edgesensor.tls", End: time.Now()})
	v := c.latency[1].Value()
	if v.Count != 4 || v.Buckets[0.001] != 1 || v.Buckets[0.005] != 2 || v.Buckets[0.05] != 3 || v.Buckets[60] != 3 {
		t.Errorf("file latencies: %+v", v)
	}
	if v.Sum < 120 || v.Sum > 121 {
		t.Errorf("sum %v s", v.Sum)
	}
	if n := c.latency[0].Value().Count; n != 1 {
		t.Errorf("tls latencies: %d", n)
	}
}
