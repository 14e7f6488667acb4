package httpx

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand"
	"strconv"
	"sync"
	"testing"
)

const (
	benchBody = 100 << 20 // bytes of body per iteration
	benchMSS  = 1448      // what one TCP segment carries
)

// feedPieces hands stream to the parser in pieces of benchMSS.
func feedPieces(p *Parser, stream []byte) {
	for len(stream) > 0 {
		n := min(benchMSS, len(stream))
		p.Data(false, stream[:n])
		stream = stream[n:]
	}
}

func BenchmarkIdentity(b *testing.B) {
	piece := make([]byte, benchMSS)
	req := []byte(get("/big.bin"))
	head := []byte(msg("HTTP/1.1 200 OK", "", fmt.Sprintf("Content-Length: %d", benchBody)))
	b.SetBytes(benchBody)
	b.ReportAllocs()
	for b.Loop() {
		p := New(nopSink{}, Options{}, nil)
		p.Data(true, req)
		p.Data(false, head)
		for n := 0; n < benchBody; n += benchMSS {
			p.Data(false, piece[:min(benchMSS, benchBody-n)])
		}
		p.Close()
	}
}

func BenchmarkChunked(b *testing.B) {
	// 128 chunks of 8 KiB, as nginx sends them, repeated to 100 MiB.
	var cycle bytes.Buffer
	data := bytes.Repeat([]byte{'x'}, 8192)
	for range 128 {
		fmt.Fprintf(&cycle, "%x\r\n%s\r\n", len(data), data)
	}
	repeats := benchBody / (128 * 8192)
	req := []byte(get("/big.bin"))
	head := []byte(msg("HTTP/1.1 200 OK", "", "Transfer-Encoding: chunked"))
	b.SetBytes(benchBody)
	b.ReportAllocs()
	for b.Loop() {
		p := New(nopSink{}, Options{}, nil)
		p.Data(true, req)
		p.Data(false, head)
		for range repeats {
			feedPieces(p, cycle.Bytes())
		}
		p.Data(false, []byte("0\r\n\r\n"))
		p.Close()
	}
}

// gzipBench is text-like data (random words and numbers) that gzip
// shrinks about 3 times, built once.
var gzipBench = sync.OnceValues(func() (plain, z []byte) {
	words := []string{"the ", "file ", "sensor ", "packet ", "0x1f ", "GET ", "kernel ", "\n", "data ", "zip "}
	rng := rand.New(rand.NewSource(1))
	var pb bytes.Buffer
	pb.Grow(33 << 20)
	for pb.Len() < 32<<20 {
		pb.WriteString(words[rng.Intn(len(words))])
		if rng.Intn(8) == 0 {
			pb.WriteString(strconv.FormatInt(rng.Int63(), 10) + " ")
		}
	}
	var zb bytes.Buffer
	w := gzip.NewWriter(&zb)
	w.Write(pb.Bytes())
	w.Close()
	return pb.Bytes(), zb.Bytes()
})

func BenchmarkGzip(b *testing.B) {
	plain, z := gzipBench()
	req := []byte(get("/big.txt"))
	head := []byte(msg("HTTP/1.1 200 OK", "", "Content-Encoding: gzip", fmt.Sprintf("Content-Length: %d", len(z))))
	b.Run("parser", func(b *testing.B) {
		b.SetBytes(int64(len(plain))) // decoded bytes
		b.ReportAllocs()
		for b.Loop() {
			p := New(nopSink{}, Options{}, nil)
			p.Data(true, req)
			p.Data(false, head)
			feedPieces(p, z)
			if p.resp.st != stHead || p.stats.Decoded != 1 || p.stats.Corrupt != 0 {
				b.Fatal("body not decoded")
			}
			p.Close()
		}
	})
	// The standard library alone, reading the whole stream: the cost of
	// feeding it segment by segment is the difference.
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		b.ReportAllocs()
		buf := make([]byte, decodeBuf)
		for b.Loop() {
			r, _ := gzip.NewReader(bytes.NewReader(z))
			for {
				if _, err := r.Read(buf); err != nil {
					break
				}
			}
		}
	})
}
