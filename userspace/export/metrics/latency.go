package metrics

import (
	"sync/atomic"
	"time"
)

// LatencyBuckets are the latency histograms' upper bounds, in seconds:
// from a millisecond (an event out at once) to a minute (a handshake
// written at its idle timeout, a broker back from an outage).
var LatencyBuckets = [...]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Latency is a lock-free latency distribution for a Prometheus
// histogram: counts per bucket (not cumulative; the last is +Inf), and
// the sum in nanoseconds. The zero value is ready.
type Latency struct {
	counts [len(LatencyBuckets) + 1]atomic.Uint64
	sumNs  atomic.Uint64
}

// Observe adds one latency.
func (h *Latency) Observe(d time.Duration) {
	s := d.Seconds()
	i := len(LatencyBuckets)
	for j, b := range LatencyBuckets {
		if s <= b {
			i = j
			break
		}
	}
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(max(d, 0)))
}

// Value is the distribution as Prometheus has it (cumulative).
func (h *Latency) Value() HistogramValue {
	v := HistogramValue{Buckets: make(map[float64]uint64, len(LatencyBuckets))}
	for i, b := range LatencyBuckets {
		v.Count += h.counts[i].Load()
		v.Buckets[b] = v.Count
	}
	v.Count += h.counts[len(LatencyBuckets)].Load()
	v.Sum = float64(h.sumNs.Load()) / 1e9
	return v
}
