package daemon

import (
	"sync/atomic"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/metrics"
)

// latencyBuckets are the histograms' upper bounds, in seconds: from a
// millisecond (an event out at once) to a minute (a handshake written at
// its idle timeout).
var latencyBuckets = [...]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// histogram is a lock-free latency distribution for a Prometheus
// histogram: counts per bucket (not cumulative; the last is +Inf), and
// the sum in nanoseconds.
type histogram struct {
	counts [len(latencyBuckets) + 1]atomic.Uint64
	sumNs  atomic.Uint64
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := len(latencyBuckets)
	for j, b := range latencyBuckets {
		if s <= b {
			i = j
			break
		}
	}
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(d))
}

// value is the distribution as Prometheus has it (cumulative).
func (h *histogram) value() metrics.HistogramValue {
	v := metrics.HistogramValue{Buckets: make(map[float64]uint64, len(latencyBuckets))}
	for i, b := range latencyBuckets {
		v.Count += h.counts[i].Load()
		v.Buckets[b] = v.Count
	}
	v.Count += h.counts[len(latencyBuckets)].Load()
	v.Sum = float64(h.sumNs.Load()) / 1e9
	return v
}
