package reassembly

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// The Budget counts what holding bytes costs: a 1-byte piece costs its
// buffer's size class and its bookkeeping, and each stream's history of
// deliveries is counted too.
func TestBudget(t *testing.T) {
	piece := pieceCost(1)
	b := &Budget{Max: histCost*2 + 2*piece}
	var st Stats
	var x, y Stream
	x.Init(nil, &st, b)
	y.Init(nil, &st, b)
	kx, ky := &sink{t: t}, &sink{t: t}
	run(&x, kx, 0, []op{syn(""), seg(0, "a"), seg(2, "cde")})
	eq(t, "used", b.Used(), histCost+piece)
	eq(t, "x memory", x.Memory(), histCost+piece)
	run(&y, ky, 100, []op{syn(""), seg(0, "a"), seg(2, "c"), seg(4, "ef"), seg(7, "h")})
	eq(t, "y", ky.String(), "a[1]c[1]ef")
	eq(t, "budget gaps", st.BudgetGaps, 2)
	eq(t, "used", b.Used(), 2*histCost+2*piece)
	run(&x, kx, 0, []op{flush()})
	eq(t, "x", kx.String(), "a[1]cde")
	eq(t, "used after flush", b.Used(), histCost+piece)
	y.Init(nil, &st, b) // reuse frees what it held
	eq(t, "used after Init", b.Used(), int64(0))
	eq(t, "y buffered", y.Buffered(), 0)
}

// A flood of 1-byte out-of-order pieces is paid for at its real cost.
func TestBudgetTinyPieces(t *testing.T) {
	b := &Budget{Max: 1 << 20}
	var st Stats
	var s Stream
	s.Init(&Config{MaxSegments: 1 << 20, MaxBuffered: 1 << 20}, &st, b)
	k := &sink{t: t}
	s.Segment(0, true, false, nil, k)
	for i := 0; i < 100000; i++ {
		s.Segment(uint32(3+2*i), false, false, []byte{'x'}, k)
	}
	if b.Used() > b.Max {
		t.Fatalf("budget used %d over its %d", b.Used(), b.Max)
	}
	held := int64(s.Buffered())
	if per := b.Used() / max(held, 1); per < 64 {
		t.Errorf("%d bytes held cost %d: %d a piece, less than a buffer", held, b.Used(), per)
	}
	if st.BudgetGaps == 0 {
		t.Error("no budget gaps under a flood of tiny pieces")
	}
}

func TestReset(t *testing.T) {
	b := &Budget{}
	var s Stream
	s.Init(&Config{MaxBuffered: 10}, nil, b)
	k := &sink{t: t}
	run(&s, k, 0, []op{syn(""), seg(0, "a"), seg(5, "f"), flush()})
	s.Reset()
	eq(t, "used", b.Used(), 0)
	k = &sink{t: t}
	run(&s, k, 77, []op{syn(""), seg(0, "x"), seg(5, "f"), seg(20, "0123456789")})
	eq(t, "after reset", k.String(), "x[4]f")
	eq(t, "limit kept", s.maxBuf, 10)
}

// TestZeroValue: a Stream works without Init, counting into its own
// Stats.
func TestZeroValue(t *testing.T) {
	var s Stream
	k := &sink{t: t}
	s.Segment(10, false, false, []byte("abc"), k)
	s.Segment(16, false, false, []byte("ghi"), k)
	s.Segment(13, false, false, []byte("def"), k)
	eq(t, "out", k.String(), "abcdefghi")
	eq(t, "out of order", s.Stats().OutOfOrder, 1)
	var z Stream
	z.Flush(nil)
	z.Skip(5, nil)
	z.Acked(5, nil)
	eq(t, "buffered", z.Buffered(), 0)
}

// randomStream is n random bytes cut into segments of 1..maxSeg bytes.
func randomStream(r *rand.Rand, n, maxSeg int) (data []byte, segs [][2]int) {
	data = make([]byte, n)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	for off := 0; off < n; {
		l := min(n-off, 1+r.IntN(maxSeg))
		segs = append(segs, [2]int{off, off + l})
		off += l
	}
	return data, segs
}

// TestRandomPermutations: any order of the segments gives the input back.
func TestRandomPermutations(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		data, segs := randomStream(r, 1+r.IntN(50000), 1+r.IntN(3000))
		r.Shuffle(len(segs), func(a, b int) { segs[a], segs[b] = segs[b], segs[a] })
		isn := r.Uint32()
		var s Stream
		var st Stats
		s.Init(&Config{MaxSegments: 1 << 20}, &st, nil) // no limit gaps: up to 50000 segments held
		k := &sink{t: t, s: &s}
		s.Segment(isn, true, false, nil, k)
		for j, g := range segs {
			s.Segment(isn+1+uint32(g[0]), false, g[1] == len(data), data[g[0]:g[1]], k)
			if j%64 == 0 {
				checkHeld(t, &s) // O(held): not after every one of 50000
			}
		}
		if !bytes.Equal(k.data, data) || st.Gaps != 0 || !s.Finished() {
			t.Fatalf("iteration %d: %d bytes out of %d, %d gaps, finished %v", i, len(k.data), len(data), st.Gaps, s.Finished())
		}
		eq(t, "buffered", s.Buffered(), 0)
	}
}

// TestSequenceWrap: ISN just below 2^32, 1 MB of data reordered locally.
func TestSequenceWrap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var isn uint32 = 0xFFFFFF00
	data, segs := randomStream(r, 1<<20, 1448)
	var s Stream
	k := &sink{t: t, s: &s}
	s.Segment(isn, true, false, nil, k)
	send := func(g [2]int) { s.Segment(isn+1+uint32(g[0]), false, false, data[g[0]:g[1]], k) }
	for i := 0; i < len(segs); i += 2 {
		if i+1 == len(segs) {
			send(segs[i])
			break
		}
		if r.IntN(3) == 0 {
			send(segs[i+1])
			send(segs[i])
		} else {
			send(segs[i])
			send(segs[i+1])
		}
		s.Acked(isn+1+uint32(segs[i+1][1]), k) // the ack of the pair: never a gap
	}
	if !bytes.Equal(k.data, data) {
		t.Fatalf("got %d bytes, want %d", len(k.data), len(data))
	}
	eq(t, "gaps", s.Stats().Gaps, 0)
	eq(t, "next seq", s.NextSeq(), isn+1+uint32(len(data)))
}

// TestBeyond4GiB: a stream longer than 2^32 bytes, with a reordering and
// a loss across the 4 GiB mark. Segment i is filled with byte(i).
func TestBeyond4GiB(t *testing.T) {
	const segLen = 1 << 16
	const n = 5 << 30 / segLen
	const mark = 4 << 30 / segLen
	payload := make([]byte, segLen)
	var s Stream
	var idx int64
	k := &funcSink{data: func(p []byte) int64 {
		if i := s.next/segLen - 1; p[0] != byte(idx) || p[len(p)-1] != byte(i) {
			t.Fatalf("segment %d at %d: %d..%d", idx, s.next, p[0], p[len(p)-1])
		}
		idx++
		return 0
	}, gap: func(n int64) {
		if n != segLen || idx != mark+1 {
			t.Fatalf("gap %d at segment %d", n, idx)
		}
		idx++
	}}
	isn := uint32(12345)
	s.Segment(isn, true, false, nil, k)
	seqOf := func(i int) uint32 { return isn + 1 + uint32(int64(i)*segLen) }
	send := func(i int) {
		payload[0], payload[segLen-1] = byte(i), byte(i) // what the consumer checks
		s.Segment(seqOf(i), false, false, payload, k)
	}
	for i := 0; i < n; i++ {
		switch i {
		case mark: // sent after mark+2; mark+1 lost
		case mark + 1:
		case mark + 2:
			send(mark + 2)
			send(mark)
			s.Acked(seqOf(mark+2), k)
		default:
			send(i)
		}
	}
	eq(t, "delivered point", s.Delivered(), int64(n)*segLen)
	eq(t, "segments seen", idx, int64(n))
	eq(t, "gap bytes", s.Stats().GapBytes, segLen)
}

type funcSink struct {
	data func([]byte) int64
	gap  func(int64)
}

func (f *funcSink) Data(p []byte) int64 { return f.data(p) }
func (f *funcSink) Gap(n int64)         { f.gap(n) }

// TestInOrderNoAlloc: the in-order path neither copies nor allocates.
func TestInOrderNoAlloc(t *testing.T) {
	var s Stream
	var seen *byte
	k := &funcSink{data: func(p []byte) int64 { seen = &p[0]; return 0 }, gap: func(int64) {}}
	payload := make([]byte, 1448)
	seq := uint32(1)
	s.Segment(0, true, false, nil, k)
	allocs := testing.AllocsPerRun(1000, func() {
		s.Segment(seq, false, false, payload, k)
		seq += 1448
	})
	eq(t, "allocations", allocs, 0)
	eq(t, "delivered from the caller's slice", seen, &payload[0])
}

// TestLargeSegment: a run longer than the largest buffer is held as
// several pieces, and each counts against MaxSegments.
func TestLargeSegment(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 11))
	data := make([]byte, 300000)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	var s Stream
	k := &sink{t: t, s: &s}
	s.Init(&Config{MaxBuffered: 1 << 20, MaxSegments: 5}, nil, nil)
	s.Segment(0, true, false, nil, k)
	s.Segment(1+1000, false, false, data[1000:], k) // 299000 bytes: 5 pieces
	eq(t, "pieces", s.live(), 5)
	eq(t, "buffered", s.Buffered(), 299000)
	checkHeld(t, &s)
	s.Segment(1, false, false, data[:1000], k)
	if !bytes.Equal(k.data, data) {
		t.Fatalf("got %d bytes", len(k.data))
	}
	s.Init(&Config{MaxSegments: 4}, nil, nil) // one piece too many: a gap, then delivered
	k = &sink{t: t, s: &s}
	s.Segment(0, true, false, nil, k)
	s.Segment(1+1000, false, false, data[1000:], k)
	eq(t, "with 4 pieces", k.String(), "[1000]"+string(data[1000:]))
}

// TestReentrantConsumer: a consumer that calls back into the stream
// (which it should not) leaves it consistent.
func TestReentrantConsumer(t *testing.T) {
	var s Stream
	var got []byte
	k := &funcSink{data: func(p []byte) int64 {
		got = append(got, p...)
		if len(got) == 3 {
			s.Skip(2, nil) // instead of returning 2
		}
		return 0
	}, gap: func(int64) { t.Error("gap") }}
	s.Segment(0, true, false, nil, k)
	s.Segment(4, false, false, []byte("def"), k)
	s.Segment(7, false, false, []byte("ghi"), k)
	s.Segment(1, false, false, []byte("abc"), k)
	eq(t, "bytes", string(got), "abcfghi")
	eq(t, "delivery point", s.Delivered(), 9)
	checkHeld(t, &s)
}
