package analyzers

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

// entropyOneLane is the plain count the four-lane one replaced.
func entropyOneLane(p []byte) float64 {
	var hist [256]int64
	for _, c := range p {
		hist[c]++
	}
	return entropy(hist[:], int64(len(p)))
}

// TestEntropyLanes: the four-lane count gives the plain count's entropy
// for every length modulo 4, across buffer refills, at offsets.
func TestEntropyLanes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	p := make([]byte, 200<<10)
	for i := range p {
		if i%7 == 0 {
			p[i] = byte(r.IntN(256))
		}
	}
	for _, n := range []int{0, 1, 2, 3, 4, 5, 63, 64<<10 - 1, 64 << 10, 64<<10 + 3, 150<<10 + 1} {
		for _, off := range []int{0, 1, 3} {
			got := entropyAt(bytes.NewReader(p), int64(off), int64(n))
			want := entropyOneLane(p[off : off+n])
			if math.Abs(got-want) > 1e-12 {
				t.Fatalf("n %d off %d: got %v want %v", n, off, got, want)
			}
		}
	}
}

func benchEntropy(b *testing.B, f func(p []byte) float64) {
	p := make([]byte, 1<<20) // a section of padding with some code
	for i := 0; i < len(p)/4; i++ {
		p[i] = byte(i * 31 >> 3)
	}
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		f(p)
	}
}

// BenchmarkEntropyOneLane is the baseline: one histogram.
func BenchmarkEntropyOneLane(b *testing.B) { benchEntropy(b, entropyOneLane) }

// BenchmarkEntropy is the count sections are scored with.
func BenchmarkEntropy(b *testing.B) {
	benchEntropy(b, func(p []byte) float64 { return entropyAt(bytes.NewReader(p), 0, int64(len(p))) })
}
