package files

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"hash"
	"math/rand"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/capture"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/filehash"
)

const benchSize = 64 << 20

// benchBody is a PE-looking file of random bytes: a candidate, so all of
// it is hashed and spooled.
func benchBody() []byte {
	b := make([]byte, benchSize)
	rand.New(rand.NewSource(1)).Read(b)
	copy(b, "MZ")
	b[0x3c] = 0x80
	copy(b[0x80:], "PE\x00\x00\x64\x86")
	return b
}

func benchConn(body []byte) testutil.TCPConn {
	return testutil.TCPConn{
		Client:   netip.MustParseAddrPort("10.0.0.1:40000"),
		Server:   netip.MustParseAddrPort("10.0.0.2:80"),
		ToServer: []byte("GET /big.exe HTTP/1.1\r\nHost: bench\r\n\r\n"),
		ToClient: append([]byte("HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"), body...),
	}
}

// BenchmarkLargeFile: one 64 MiB download through the whole file path
// (reassembly, HTTP, typing, SHA-256 + SHA-1 + MD5, spool write, PE
// metadata, event), in 1448-byte segments. Compare with BenchmarkSHA256,
// BenchmarkMD5, BenchmarkThreeHashes (the standard library's three one
// after the other) and BenchmarkFusedHashes on the same bytes.
func BenchmarkLargeFile(b *testing.B) {
	c := benchConn(benchBody())
	segs := segments(c, 1448)
	p, _, _ := newPipeline(b, nil, nil)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sh := p.NewShard(0)
		feed(sh, c, segs, time.Unix(1700000000, 0))
		sh.Close()
	}
	b.StopTimer()
	if p.Stats.Files.Load() != uint64(b.N) || p.Stats.Incomplete.Load() != 0 {
		b.Fatalf("files %d incomplete %d", p.Stats.Files.Load(), p.Stats.Incomplete.Load())
	}
}

// hashSegments writes the bench body to a fresh hash in 1448-byte
// segments, as the file path does, and sums it.
func hashSegments(b *testing.B, start func() (write func([]byte), sum func())) {
	body := benchBody()
	b.SetBytes(benchSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		write, sum := start()
		for off := 0; off < len(body); off += 1448 {
			write(body[off:min(off+1448, len(body))])
		}
		sum()
	}
}

// stdHashes starts the standard library's hashes, one after the other.
func stdHashes(news ...func() hash.Hash) func() (func([]byte), func()) {
	return func() (func([]byte), func()) {
		hs := make([]hash.Hash, len(news))
		for i, n := range news {
			hs[i] = n()
		}
		return func(p []byte) {
				for _, h := range hs {
					h.Write(p)
				}
			}, func() {
				for _, h := range hs {
					h.Sum(nil)
				}
			}
	}
}

func BenchmarkSHA256(b *testing.B) { hashSegments(b, stdHashes(sha256.New)) }

// BenchmarkThreeHashes: the standard library's three, one after the other.
func BenchmarkThreeHashes(b *testing.B) { hashSegments(b, stdHashes(sha256.New, sha1.New, md5.New)) }

// BenchmarkFusedHashes: the three digests as the file path computes them
// (userspace/filehash: one fused pass where the CPU has the SHA
// extensions), on the same bytes and segments.
func BenchmarkFusedHashes(b *testing.B) {
	hashSegments(b, func() (func([]byte), func()) {
		h := filehash.New(true, true)
		return func(p []byte) { h.Write(p) }, func() { h.Sum() }
	})
}

// BenchmarkMD5: MD5 alone, the slowest of the three on x86 (no CPU
// extension for it): the floor of any pass that computes all three.
func BenchmarkMD5(b *testing.B) { hashSegments(b, stdHashes(md5.New)) }

// BenchmarkNonCandidate: a 64 MiB body that is not a candidate (random
// bytes named .mp4) costs reassembly and HTTP framing only; its rest is
// skipped once typed.
func BenchmarkNonCandidate(b *testing.B) {
	body := benchBody()
	copy(body, "\x00\x00\x00\x18ftypmp42")
	c := benchConn(body)
	segs := segments(c, 1448)
	p, _, _ := newPipeline(b, nil, nil)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sh := p.NewShard(0)
		feed(sh, c, segs, time.Unix(1700000000, 0))
		sh.Close()
	}
}

var _ = capture.ClassStream

// BenchmarkLargeFileSHA256Only: the same download with files.hashes =
// ["sha256"], against BenchmarkSHA256 alone.
func BenchmarkLargeFileSHA256Only(b *testing.B) {
	c := benchConn(benchBody())
	segs := segments(c, 1448)
	p, _, _ := newPipeline(b, func(c *config.Config) { c.Files.Hashes = []string{"sha256"} }, nil)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sh := p.NewShard(0)
		feed(sh, c, segs, time.Unix(1700000000, 0))
		sh.Close()
	}
}
