package filehash

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"testing"
)

// The benchmarks write 1448-byte pieces (one TCP segment each) of 8 MiB,
// as the file path does.
const benchSize = 8 << 20

func benchData() []byte {
	p := make([]byte, benchSize)
	for i := range p {
		p[i] = byte(i*7 + i>>9)
	}
	return p
}

func writeSegments(b *testing.B, w func([]byte)) {
	p := benchData()
	b.SetBytes(benchSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for off := 0; off < len(p); off += 1448 {
			w(p[off:min(off+1448, len(p))])
		}
	}
}

// BenchmarkFused: the three digests in one pass.
func BenchmarkFused(b *testing.B) {
	if !haveFused {
		b.Skip("no SHA extensions")
	}
	s := New(true, true)
	writeSegments(b, func(p []byte) { s.Write(p) })
	s.Sum()
}

// BenchmarkSeparate: the standard library's three hashes one after the
// other, the baseline the fused loop replaces.
func BenchmarkSeparate(b *testing.B) {
	h1, h2, h3 := sha256.New(), sha1.New(), md5.New()
	writeSegments(b, func(p []byte) { h1.Write(p); h2.Write(p); h3.Write(p) })
}

// The single hashes: SHA-256 alone is the floor the issue names; MD5
// alone is the true floor of any three-digest pass on x86.
func BenchmarkSHA256Only(b *testing.B) {
	h := sha256.New()
	writeSegments(b, func(p []byte) { h.Write(p) })
}

func BenchmarkSHA1Only(b *testing.B) {
	h := sha1.New()
	writeSegments(b, func(p []byte) { h.Write(p) })
}

func BenchmarkMD5Only(b *testing.B) {
	h := md5.New()
	writeSegments(b, func(p []byte) { h.Write(p) })
}
