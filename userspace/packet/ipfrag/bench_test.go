package ipfrag

import "testing"

// benchFrags reassembles the same datagram from pkts every iteration.
func benchFrags(b *testing.B, size int, pkts [][]byte) {
	r := New(Config{})
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		done := false
		for _, p := range pkts {
			_, done = r.Add(t0, 0, p)
		}
		if !done {
			b.Fatal("not reassembled")
		}
	}
}

func cutEvery(n, step int, mk func(off, end int, more bool) []byte) [][]byte {
	var ps [][]byte
	for off := 0; off < n; off += step {
		end := min(off+step, n)
		ps = append(ps, mk(off, end, end < n))
	}
	return ps
}

// BenchmarkIPv4x3: a 1500-byte datagram in 3 fragments.
func BenchmarkIPv4x3(b *testing.B) {
	d := sample4(1480)
	benchFrags(b, 1500, cutEvery(1480, 496, d.frag))
}

// BenchmarkIPv4x3Reverse: the same, last fragment first.
func BenchmarkIPv4x3Reverse(b *testing.B) {
	d := sample4(1480)
	benchFrags(b, 1500, reversed(cutEvery(1480, 496, d.frag)))
}

// BenchmarkIPv4x45: a 65535-byte datagram in 45 fragments of 1480.
func BenchmarkIPv4x45(b *testing.B) {
	d := sample4(65515)
	p := cutEvery(65515, 1480, d.frag)
	if len(p) != 45 {
		b.Fatal(len(p))
	}
	benchFrags(b, 65535, p)
}

// BenchmarkIPv6x45: a 65200-byte datagram in 45 fragments of 1448.
func BenchmarkIPv6x45(b *testing.B) {
	d := sample6(45 * 1448)
	benchFrags(b, 40+45*1448, cutEvery(45*1448, 1448, d.frag))
}

// BenchmarkIPv4x45Shuffled: the 64 KiB datagram, fragments out of order.
func BenchmarkIPv4x45Shuffled(b *testing.B) {
	d := sample4(65515)
	p := cutEvery(65515, 1480, d.frag)
	for i := range p {
		j := (i * 17) % len(p)
		p[i], p[j] = p[j], p[i]
	}
	benchFrags(b, 65535, p)
}
