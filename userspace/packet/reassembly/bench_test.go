package reassembly

import "testing"

type countSink struct{ n, gaps int64 }

func (c *countSink) Data(p []byte) int64 { c.n += int64(len(p)); return 0 }
func (c *countSink) Gap(n int64)         { c.gaps += n }

const mss = 1448

// bench sends b.N segments of mss bytes in groups of 10, in the order
// (and with the repeats) order gives for a group.
func bench(b *testing.B, order []int) {
	payload := make([]byte, mss)
	var s Stream
	var c countSink
	isn := uint32(0xFFFF0000) // wraps during the run
	s.Segment(isn, true, false, nil, &c)
	b.SetBytes(mss)
	b.ReportAllocs()
	b.ResetTimer()
	var sent int64
	for n := 0; n < b.N; n += 10 {
		for _, i := range order {
			s.Segment(isn+1+uint32(sent)+uint32(i*mss), false, false, payload, &c)
		}
		sent += 10 * mss
	}
	b.StopTimer()
	if c.gaps != 0 || c.n != sent || s.Buffered() != 0 {
		b.Fatalf("%d bytes, %d gap bytes, %d held; want %d", c.n, c.gaps, s.Buffered(), sent)
	}
}

// BenchmarkInOrder: the fast path, straight from the caller's slice.
func BenchmarkInOrder(b *testing.B) { bench(b, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) }

// BenchmarkReorder10: one segment in ten comes after its successor (held,
// copied, delivered when the hole fills).
func BenchmarkReorder10(b *testing.B) { bench(b, []int{0, 1, 2, 3, 5, 4, 6, 7, 8, 9}) }

// BenchmarkDuplicates: in each ten, a held segment arrives twice (compared
// with the held copy) and a delivered one is retransmitted.
func BenchmarkDuplicates(b *testing.B) { bench(b, []int{0, 1, 2, 3, 5, 5, 4, 4, 6, 7, 8, 9}) }
