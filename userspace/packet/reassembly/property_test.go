package reassembly

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestProperty: random segmentation, retransmissions with new
// boundaries, duplicates, drops and local reordering of a random stream.
// With room to hold everything, delivered bytes and gaps rebuild the
// input exactly: every byte sent at least once is delivered at its
// offset, and the gaps are exactly the bytes never sent. Under tight
// limits, gaps may also cover bytes that came too late, but every
// delivered byte is still right and every byte never sent is a gap.
func TestProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for iter := 0; iter < 500; iter++ {
		tight := iter%2 == 1
		n := 1 + r.IntN(40000)
		data, segs := randomStream(r, n, 1+r.IntN(2000))
		sent := make([]bool, n)
		type wire struct{ lo, hi int }
		var out []wire
		pDrop, pDup := r.Float64()*0.3, r.Float64()*0.3
		for _, g := range segs {
			if r.Float64() >= pDrop {
				out = append(out, wire{g[0], g[1]})
			}
			if r.Float64() < pDup {
				out = append(out, wire{g[0], g[1]})
			}
			if r.IntN(10) == 0 { // a retransmission with other boundaries
				lo := max(0, g[0]-r.IntN(3000))
				hi := min(n, g[1]+r.IntN(3000))
				out = append(out, wire{lo, hi})
			}
		}
		// Local reordering: each segment moves up to 20 places.
		for i := range out {
			j := min(len(out)-1, i+r.IntN(20))
			out[i], out[j] = out[j], out[i]
		}
		for _, w := range out {
			for i := w.lo; i < w.hi; i++ {
				sent[i] = true
			}
		}

		cfg := Config{MaxSegments: 1 << 20, MaxBuffered: 1 << 30}
		if tight {
			cfg = Config{MaxSegments: 1 + r.IntN(20), MaxBuffered: 1 + r.IntN(20000)}
		}
		var s Stream
		var st Stats
		s.Init(&cfg, &st, nil)
		k := &sink{t: t, s: &s}
		isn := r.Uint32()
		s.Segment(isn, true, false, nil, k)
		for _, w := range out {
			s.Segment(isn+1+uint32(w.lo), false, false, data[w.lo:w.hi], k)
			checkHeld(t, &s)
		}
		s.Segment(isn+1+uint32(n), false, true, nil, k) // a bare FIN: the end is known
		s.Flush(k)

		if k.pos != int64(n) || !s.Finished() {
			t.Fatalf("iter %d: stream ends at %d of %d, finished %v", iter, k.pos, n, s.Finished())
		}
		var missing int64
		for _, sp := range k.spans {
			for i := sp.off; i < sp.off+sp.n; i++ {
				switch {
				case sp.gap && !sent[i]:
					missing++
				case sp.gap && !tight:
					t.Fatalf("iter %d: byte %d was sent, declared a gap", iter, i)
				case !sp.gap && !sent[i]:
					t.Fatalf("iter %d: byte %d never sent, delivered", iter, i)
				}
			}
		}
		var notSent int64
		for _, b := range sent {
			if !b {
				notSent++
			}
		}
		eq(t, "gap bytes never sent", missing, notSent)
		if !tight {
			eq(t, "gap bytes", k.gaps(), notSent)
		}
		// The delivered bytes are the input's, at their offsets.
		pos := 0
		for _, sp := range k.spans {
			if !sp.gap {
				if !bytes.Equal(k.data[pos:pos+int(sp.n)], data[sp.off:sp.off+sp.n]) {
					t.Fatalf("iter %d: wrong bytes at %d", iter, sp.off)
				}
				pos += int(sp.n)
			}
		}
		eq(t, "delivered stat", st.Delivered, uint64(pos))
		eq(t, "gap stat", st.GapBytes, uint64(k.gaps()))
		eq(t, "buffered after flush", s.Buffered(), 0)
	}
}
