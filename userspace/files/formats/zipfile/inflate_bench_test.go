package zipfile

import (
	"archive/zip"
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// benchZip is a zip holding one 4 MiB deflated entry shaped like an
// executable: runs of code-like bytes with repeats, zeros and a random
// (packed) tail.
func benchZip() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	p := make([]byte, 4<<20)
	for i := 0; i < len(p); {
		switch n := 64 + r.IntN(4096); r.IntN(4) {
		case 0: // zeros
			i += n
		case 1: // repeats of an earlier run
			if i > 8192 {
				i += copy(p[i:], p[i-8192:i-8192+n])
				continue
			}
			fallthrough
		default: // a small alphabet, as code and strings are
			for j := 0; j < n && i < len(p); j, i = j+1, i+1 {
				p[i] = byte(r.IntN(48))
			}
		}
	}
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	f, _ := w.Create("tools/sample.exe")
	f.Write(p)
	w.Close()
	return buf.Bytes()
}

func benchInflate(b *testing.B, std bool) {
	z := benchZip()
	b.SetBytes(4 << 20)
	b.ReportAllocs()
	for b.Loop() {
		zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
		if err != nil {
			b.Fatal(err)
		}
		if !std {
			zr.RegisterDecompressor(zip.Deflate, inflate)
		}
		rc, err := zr.File[0].Open()
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, rc); err != nil || n != 4<<20 {
			b.Fatal(n, err)
		}
		rc.Close()
	}
}

// BenchmarkInflateStd is the standard library's decoder, the baseline.
func BenchmarkInflateStd(b *testing.B) { benchInflate(b, true) }

// BenchmarkInflate is the decoder the entries are read with.
func BenchmarkInflate(b *testing.B) { benchInflate(b, false) }

// TestInflateSameAsStd: the entries read the same through both decoders,
// whole and cut short.
func TestInflateSameAsStd(t *testing.T) {
	z := benchZip()
	for _, cut := range []int{len(z), len(z) / 2} {
		var outs [2][]byte
		var errs [2]error
		for i, std := range []bool{true, false} {
			zz := append([]byte(nil), z...)
			if cut < len(z) {
				copy(zz[cut:cut+4096], make([]byte, 4096)) // a hole in the entry's data
			}
			zr, err := zip.NewReader(bytes.NewReader(zz), int64(len(zz)))
			if err != nil {
				t.Fatal(err)
			}
			if !std {
				zr.RegisterDecompressor(zip.Deflate, inflate)
			}
			rc, err := zr.File[0].Open()
			if err != nil {
				t.Fatal(err)
			}
			outs[i], errs[i] = io.ReadAll(rc)
			rc.Close()
		}
		if !bytes.Equal(outs[0], outs[1]) || (errs[0] == nil) != (errs[1] == nil) {
			t.Fatalf("cut %d: std %d bytes (%v), ours %d bytes (%v)", cut, len(outs[0]), errs[0], len(outs[1]), errs[1])
		}
		t.Logf("cut %d: %d bytes, %v", cut, len(outs[1]), errs[1])
	}
}
