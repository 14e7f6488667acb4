package alertpcap

import (
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// BenchmarkObserve is the cost Observe adds to every emitted packet:
//
//	one-flow:   a long flow past its limits (the ring reuses buffers)
//	flows-1k:   1,024 flows in turn, each past its limits
//	new-flows:  a new flow every packet, the memory bound evicting
func BenchmarkObserve(b *testing.B) {
	const frame = 600
	events := func(n int) []*datapath.Event {
		evs := make([]*datapath.Event, n)
		for i := range evs {
			evs[i] = pktEvent(flowPkt(i, 1, frame-54), t0, "eth0", 2)
		}
		return evs
	}
	run := func(b *testing.B, evs []*datapath.Event) {
		k := newKeeper(b, testSettings(b.TempDir()))
		for range 2 * DefaultFlowPackets { // past the limits
			for _, ev := range evs {
				k.Observe(ev)
			}
		}
		b.ReportAllocs()
		b.SetBytes(frame)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ev := evs[i%len(evs)]
			ev.Time = t0.Add(time.Duration(i))
			k.Observe(ev)
		}
	}
	b.Run("one-flow", func(b *testing.B) { run(b, events(1)) })
	b.Run("flows-1k", func(b *testing.B) { run(b, events(1024)) })
	b.Run("new-flows", func(b *testing.B) {
		s := testSettings(b.TempDir())
		s.Memory = 8 << 20
		k := newKeeper(b, s)
		ev := events(1)[0]
		b.ReportAllocs()
		b.SetBytes(frame)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ev.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(i>>24)+1024)
			k.Observe(ev)
		}
		b.StopTimer()
		if st := k.Stats(); st.BytesKept > uint64(s.Memory) {
			b.Fatalf("%d bytes kept", st.BytesKept)
		}
	})
	// parallel: GOMAXPROCS goroutines, as dispatcher workers, over
	// 1,024 flows; "shared" lets every goroutine touch every flow,
	// "by-worker" gives each the flows the dispatcher would (by hash).
	for _, byWorker := range []bool{false, true} {
		name := map[bool]string{false: "parallel-shared", true: "parallel-by-worker"}[byWorker]
		b.Run(name, func(b *testing.B) {
			evs := events(1024)
			workers := runtime.GOMAXPROCS(0)
			mine := make([][]*datapath.Event, workers)
			for i, ev := range evs {
				w := i % workers
				if byWorker {
					w = int(ev.FlowHash() % uint64(workers)) // as the dispatcher
				}
				mine[w] = append(mine[w], ev)
			}
			k := newKeeper(b, testSettings(b.TempDir()))
			var next atomic.Int64
			b.ReportAllocs()
			b.SetBytes(frame)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				own := mine[int(next.Add(1)-1)%workers]
				for i := 0; pb.Next(); i++ {
					k.Observe(own[i%len(own)])
				}
			})
		})
	}
}
