package pdffile

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// refKeywords is the keyword count done the simple way: the whole
// buffer at once, every /ObjStm position collected first, then up to 16
// streams inflated (the static analyzer's scan before the chunked one).
// The chunked scan must count exactly as it does.
func refKeywords(b []byte) Keywords {
	var k Keywords
	scan := func(b []byte) (objStm []int) {
		for i := 0; i < len(b); i++ {
			if b[i] != '/' {
				continue
			}
			j := i + 1
			for j < len(b) && j-i < 128 && !nameDelim(b[j]) {
				j++
			}
			raw := b[i+1 : j]
			i = j - 1
			name, escaped := decodeName(raw)
			if k.count(name, raw, escaped) {
				objStm = append(objStm, j)
			}
		}
		return objStm
	}
	streams := 0
	for _, i := range scan(b) {
		if streams >= 16 {
			break
		}
		at := bytes.Index(b[i:min(len(b), i+4096)], []byte("stream"))
		if at < 0 {
			continue
		}
		s := i + at + len("stream")
		for s < len(b) && (b[s] == '\r' || b[s] == '\n') {
			s++
		}
		zr, err := zlib.NewReader(bytes.NewReader(b[s:]))
		if err != nil {
			continue
		}
		in, _ := io.ReadAll(io.LimitReader(zr, 4<<20))
		streams++
		scan(in)
	}
	return k
}

func deflate(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// hostilePDF mixes keyword names, escaped ones, long names, and object
// streams (deflated, some holding more names) at random places.
func hostilePDF(seed uint64, size int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	names := []string{"/JavaScript", "/JS", "/OpenAction", "/AA", "/Launch", "/EmbeddedFile", "/URI", "/XFA",
		"/AcroForm", "/J#61vaScript", "/Obj#53tm", "/Type", "/" + strings.Repeat("L", 200), "/JS#", "/%", "//"}
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n")
	for b.Len() < size {
		switch r.IntN(10) {
		case 0:
			inner := fmt.Sprintf("1 0 %s %s << /URI (x) >>", names[r.IntN(len(names))], names[r.IntN(len(names))])
			fmt.Fprintf(&b, "%d 0 obj << /Type /ObjStm /N 1 >>\r\nstream\r\n", r.IntN(100))
			b.Write(deflate([]byte(inner)))
			b.WriteString("\nendstream endobj\n")
		case 1:
			b.WriteString("/ObjStm stream\n") // no stream after it: skipped
		default:
			b.WriteString(names[r.IntN(len(names))])
			if r.IntN(3) == 0 {
				b.WriteByte(' ')
			}
		}
		if r.IntN(50) == 0 {
			b.Write(bytes.Repeat([]byte{'x'}, r.IntN(3000)))
		}
	}
	return b.Bytes()
}

// The chunked scan, whatever its chunk size, counts as the whole-buffer
// scan does.
func TestKeywordsChunked(t *testing.T) {
	for seed := range uint64(8) {
		b := hostilePDF(seed, 20<<10)
		want := refKeywords(b)
		if want.ObjStm == 0 || want.JavaScript == 0 || want.ObfuscatedCount == 0 {
			t.Fatalf("seed %d: the input exercises little: %+v", seed, want)
		}
		for _, chunk := range []int{1, 2, 7, 127, 128, 129, 1000, 4096, 1 << 20} {
			head := b[:min(len(b), chunk+maxName)]
			if got := scanKeywords(bytes.NewReader(b), int64(len(b)), head, chunk); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d chunk %d:\n got %+v\nwant %+v", seed, chunk, got, want)
			}
		}
	}
}

// A name that runs past the end of a read must be read whole: cut at
// the read's end, "/JSxxx" would count as /JS. Every cut point of names
// up to the scan's limit, across every chunk end.
func TestKeywordsAcrossReads(t *testing.T) {
	const chunk = 300
	for k := 0; k <= maxName; k++ {
		name := "/JS" + strings.Repeat("x", k)
		for at := chunk - len(name); at <= chunk; at++ {
			b := append(bytes.Repeat([]byte{' '}, at), name...)
			b = append(b, " /Launch"...)
			want := refKeywords(b)
			if got := scanKeywords(bytes.NewReader(b), int64(len(b)), nil, chunk); !reflect.DeepEqual(got, want) {
				t.Fatalf("%q at %d:\n got %+v\nwant %+v", name, at, got, want)
			}
		}
	}
}

// Parse's own chunks: a 3 MiB file with names across the 1 MiB reads.
func TestKeywordsParse(t *testing.T) {
	b := hostilePDF(42, 3<<20)
	for _, n := range []int{scanChunk, 2 * scanChunk} {
		copy(b[n-3:], "/JavaScript")
		copy(b[n-60:], "/"+strings.Repeat("J", 100))
	}
	f := Parse(bytes.NewReader(b), int64(len(b)), 64<<20)
	if want := refKeywords(b); !reflect.DeepEqual(f.Keywords, want) {
		t.Errorf("got %+v\nwant %+v", f.Keywords, want)
	}
	// maxRead stops the count: the names past it are not seen.
	if f := Parse(bytes.NewReader(b), int64(len(b)), 1<<20); !reflect.DeepEqual(f.Keywords, refKeywords(b[:1<<20])) {
		t.Errorf("maxRead 1 MiB: %+v", f.Keywords)
	}
}

// Hostile counts: a million escaped names keep five; twenty object
// streams that inflate to 20 MiB each are inflated sixteen times, to
// 4 MiB each.
func TestKeywordsBounded(t *testing.T) {
	many := bytes.Repeat([]byte("/J#53 "), 1<<20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f := Parse(bytes.NewReader(many), int64(len(many)), 64<<20)
	runtime.ReadMemStats(&after)
	k := f.Keywords
	if k.JS != 1<<20 || k.ObfuscatedCount != 1<<20 || len(k.Obfuscated) != MaxObfuscated {
		t.Errorf("escaped names: JS %d, obfuscated %d kept of %d", k.JS, len(k.Obfuscated), k.ObfuscatedCount)
	}
	if a := after.TotalAlloc - before.TotalAlloc; a > 16<<20 {
		t.Errorf("escaped names: %d bytes allocated", a)
	}
	bomb := deflate(bytes.Repeat([]byte("/JS "), 5<<20))
	var b bytes.Buffer
	b.WriteString("%PDF-1.5\n")
	for range 20 {
		b.WriteString("1 0 obj << /Type /ObjStm >> stream\n")
		b.Write(bomb)
		b.WriteString("\nendstream\n")
	}
	f = Parse(bytes.NewReader(b.Bytes()), int64(b.Len()), 64<<20)
	if want := 16 * (4 << 20) / 4; f.Keywords.JS != want || f.Keywords.ObjStm != 20 {
		t.Errorf("object stream bombs: JS %d (want %d), ObjStm %d", f.Keywords.JS, want, f.Keywords.ObjStm)
	}
}

func BenchmarkKeywords(b *testing.B) {
	body := hostilePDF(7, 8<<20)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	r := bytes.NewReader(body)
	for b.Loop() {
		Parse(r, int64(len(body)), 64<<20)
	}
}
