package sensor

import (
	"time"

	"golang.org/x/sys/unix"
)

// monoToWallOffset returns wall-clock minus CLOCK_MONOTONIC in ns: the
// data plane stamps events with bpf_ktime_get_ns(), which is monotonic.
// Taken as the smallest of a few samples, to stay close to the real value.
func monoToWallOffset() int64 {
	best := int64(0)
	bestSpan := int64(1 << 62)
	for i := 0; i < 5; i++ {
		w1 := time.Now().UnixNano()
		mono := monoNow()
		if mono == 0 {
			return 0
		}
		w2 := time.Now().UnixNano()
		if span := w2 - w1; span < bestSpan {
			bestSpan = span
			best = w1 + span/2 - int64(mono)
		}
	}
	return best
}

// monoNow is CLOCK_MONOTONIC in ns, bpf_ktime_get_ns()'s clock; 0 when
// it cannot be read.
func monoNow() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return uint64(ts.Nano())
}
