package ipfrag

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

type span struct {
	off, end int
	more     bool
	data     []byte // nil: the datagram's own bytes
}

// randomDatagram returns a datagram of either family and the functions
// that make its fragments.
func randomDatagram(r *rand.Rand) (whole []byte, total int, mk func(s span) []byte) {
	size := 8 + r.IntN(200)
	switch r.IntN(10) {
	case 0:
		size = 60000 + r.IntN(5000)
	case 1, 2, 3:
		size = 1000 + r.IntN(8000)
	}
	if r.IntN(2) == 0 {
		d := v4{src: a4, dst: b4, id: uint16(r.Uint32()), proto: uint8(r.IntN(256)), opt: 4 * r.IntN(3), payload: payloadBytes(min(size, 65515-12), byte(r.Uint32()))}
		return d.whole(), len(d.payload), func(s span) []byte {
			if s.data != nil {
				return d.fragBytes(s.off, s.data, s.more)
			}
			return d.frag(s.off, s.end, s.more)
		}
	}
	d := v6{src: a6, dst: b6, id: r.Uint32(), nh: 17, part: payloadBytes(min(size, 65535-64), byte(r.Uint32()))}
	if r.IntN(2) == 0 {
		d.unfrag, d.types = [][]byte{ext(1 + r.IntN(3))}, []uint8{0}
		if r.IntN(2) == 0 {
			d.unfrag, d.types = append(d.unfrag, ext(1)), append(d.types, 60)
		}
	}
	return d.whole(), len(d.part), func(s span) []byte {
		if s.data != nil {
			return d.fragBytes(s.off, s.data, s.more)
		}
		return d.frag(s.off, s.end, s.more)
	}
}

// randomCut cuts [0, total) into at least two fragments, every one but
// the last a multiple of 8 bytes.
func randomCut(r *rand.Rand, total int) []span {
	var out []span
	maxChunk := max(8, total/(2+r.IntN(40)))
	for off := 0; off < total; {
		n := 8 * (1 + r.IntN(max(1, maxChunk/8)))
		if off == 0 && n >= total {
			n = max(8, (total-1)/8*8)
		}
		end := min(off+n, total)
		out = append(out, span{off: off, end: end, more: end < total})
		off = end
	}
	return out
}

// Random datagrams cut into random valid fragment sets, shuffled, with
// duplicates (the same or other bytes) among them: the result is the
// datagram, byte for byte. With a partial overlap injected: nothing.
func TestPropertyRandomFragmentSets(t *testing.T) {
	rnd := rand.New(rand.NewPCG(11, 12))
	re := New(Config{})
	for iter := range 1500 {
		whole, total, mk := randomDatagram(rnd)
		if total < 9 {
			continue
		}
		spans := randomCut(rnd, total)
		rnd.Shuffle(len(spans), func(i, j int) { spans[i], spans[j] = spans[j], spans[i] })
		overlap := iter%5 == 4
		seq := append([]span(nil), spans...)
		if overlap {
			f := spans[0]
			// A fragment over one edge of the first one to arrive, within
			// the datagram's length.
			var inj span
			switch {
			case f.end+8 <= total:
				inj = span{off: f.end - 8, end: f.end + 8, more: f.end+8 < total}
			case !f.more && f.off == 8:
				continue // [0, end) with M 0 would be a whole packet
			case !f.more:
				inj = span{off: f.off - 8, end: f.end}
			case f.off >= 8:
				inj = span{off: f.off - 8, end: f.off + 8, more: true}
			default:
				inj = span{off: f.end - 8, end: total}
			}
			inj.data = payloadBytes(inj.end-inj.off, 0x77)
			seq = append([]span{f, inj}, spans[1:]...)
		} else {
			// Duplicates: a piece of an earlier fragment, placed after it
			// and before the fragment that completes the datagram.
			for range rnd.IntN(6) {
				last := len(seq) - 1
				i := rnd.IntN(len(seq))
				if i >= last {
					continue
				}
				f := seq[i]
				a := f.off + 8*rnd.IntN((f.end-f.off)/8+1)
				b := a + 8*(1+rnd.IntN(max(1, (f.end-a)/8)))
				if b > f.end || !f.more && b > f.end-8 {
					b = f.end
				}
				if a >= b {
					continue
				}
				dup := span{off: a, end: b, more: b < total}
				if rnd.IntN(2) == 0 {
					dup.data = payloadBytes(b-a, 0x55)
				}
				at := i + 1 + rnd.IntN(last-i)
				seq = append(seq[:at], append([]span{dup}, seq[at:]...)...)
			}
		}
		var got [][]byte
		before := *re.Stats()
		for _, s := range seq {
			if out, ok := re.Add(t0, 0, mk(s)); ok {
				got = append(got, bytes.Clone(out))
			}
			checkBounds(t, re)
		}
		st := re.Stats()
		if overlap {
			if len(got) != 0 || st.Overlaps != before.Overlaps+1 {
				t.Fatalf("iter %d: overlap injected, %d datagrams, overlaps %d; %+v in %d; stats %+v", iter, len(got), st.Overlaps-before.Overlaps, seq[:2], total, *st)
			}
		} else if len(got) != 1 || !bytes.Equal(got[0], whole) || st.Overlaps != before.Overlaps {
			t.Fatalf("iter %d: %d datagrams (%d bytes of %d), %d fragments, stats %+v", iter, len(got), lenOf(got), len(whole), len(seq), *st)
		}
		re.Expire(t0.Add(DefaultTimeout)) // the leftovers of overlap runs
		if re.Pending() != 0 {
			t.Fatalf("iter %d: %d pending after Expire", iter, re.Pending())
		}
	}
	t.Logf("stats %+v", *re.Stats())
}

func lenOf(b [][]byte) int {
	if len(b) == 0 {
		return 0
	}
	return len(b[0])
}
