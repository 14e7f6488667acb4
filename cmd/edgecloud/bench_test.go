package main

import (
	"testing"
	"time"
)

// BenchmarkUplinkLoopback measures records/s delivered end to end: Enqueue,
// spool (bbolt), batch, gzip, mTLS POST to the in-process reference cloud
// (dedup in bbolt, record log fsync'd), acknowledgement, spool delete.
func BenchmarkUplinkLoopback(b *testing.B) {
	e := newEnv(b)
	e.start()
	c := newClient(b, e.options(b.TempDir()))
	stop := runClient(b, c)
	b.SetBytes(int64(len(body(0))))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		r := record("bench", i)
		// Enqueue never blocks; pace it to what the spool absorbs rather
		// than measuring drops.
		for !c.Enqueue(r) {
			time.Sleep(100 * time.Microsecond)
		}
	}
	waitFor(b, "delivery", 10*time.Minute, func() bool { return c.Stats().Delivered >= uint64(b.N) })
	elapsed := time.Since(start)
	b.StopTimer()
	st := c.Stats()
	stop()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(st.BytesSent)/float64(b.N), "wire-B/record")
	if st.Delivered != uint64(b.N) {
		b.Fatalf("delivered %d of %d", st.Delivered, b.N)
	}
}
