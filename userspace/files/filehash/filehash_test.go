package filehash

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

func want(p []byte) Sums {
	a, b, c := sha256.Sum256(p), sha1.Sum(p), md5.Sum(p)
	return Sums{SHA256: a[:], SHA1: b[:], MD5: c[:]}
}

func check(t *testing.T, what string, got, want Sums) {
	t.Helper()
	if !bytes.Equal(got.SHA256, want.SHA256) || !bytes.Equal(got.SHA1, want.SHA1) || !bytes.Equal(got.MD5, want.MD5) {
		t.Fatalf("%s:\n got  sha256 %x sha1 %x md5 %x\n want sha256 %x sha1 %x md5 %x",
			what, got.SHA256, got.SHA1, got.MD5, want.SHA256, want.SHA1, want.MD5)
	}
}

// TestKnownAnswers: RFC 1321 and FIPS 180 examples, by value.
func TestKnownAnswers(t *testing.T) {
	for _, c := range []struct{ in, sha256, sha1, md5 string }{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "d41d8cd98f00b204e9800998ecf8427e"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "a9993e364706816aba3e25717850c26c9cd0d89d", "900150983cd24fb0d6963f7d28e17f72"},
		{"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
			"f371bc4a311f2b009eef952dd83ca80e2b60026c8e935592d0f9c308453c813e",
			"50abf5706a150990a08b2c5ea40fa0e585554732", "57edf4a22be3c955ac49da2e2107b67a"},
	} {
		s := New(true, true)
		s.Write([]byte(c.in))
		got := s.Sum()
		w := want([]byte(c.in))
		check(t, c.in, got, w)
		if hexs(got.SHA256) != c.sha256 {
			t.Errorf("sha256(%q) = %x", c.in, got.SHA256)
		}
		if hexs(got.SHA1) != c.sha1 || hexs(got.MD5) != c.md5 {
			t.Errorf("%q: sha1 %x md5 %x", c.in, got.SHA1, got.MD5)
		}
	}
}

// TestSplits: every length around the block edges, written in pieces of
// every shape, equals the standard library's one-shot digests.
func TestSplits(t *testing.T) {
	if !haveFused {
		t.Log("no SHA extensions here: the standard library path is tested")
	}
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 4096+130)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	for n := 0; n <= 300; n++ {
		p := data[:n]
		w := want(p)
		for _, step := range []int{1, 3, 63, 64, 65, 127, 1448} {
			s := New(true, true)
			for off := 0; off < n; off += step {
				s.Write(p[off:min(off+step, n)])
			}
			check(t, "len "+itoa(n)+" step "+itoa(step), s.Sum(), w)
		}
	}
	big := make([]byte, 3*maxRun+100)
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	s := New(true, true)
	s.Write(big[:7])
	s.Write(big[7:])
	check(t, "one write over several runs", s.Sum(), want(big))
	for i := 0; i < 200; i++ {
		n := r.IntN(len(data))
		p := data[:n]
		s := New(true, true)
		for off := 0; off < n; {
			k := r.IntN(300)
			s.Write(p[off:min(off+k, n)])
			off += k
		}
		check(t, "random split of "+itoa(n), s.Sum(), want(p))
	}
}

// TestSumTwice: Sum does not disturb the stream.
func TestSumTwice(t *testing.T) {
	s := New(true, true)
	s.Write(bytes.Repeat([]byte("x"), 100))
	s.Sum()
	s.Write(bytes.Repeat([]byte("y"), 100))
	p := append(bytes.Repeat([]byte("x"), 100), bytes.Repeat([]byte("y"), 100)...)
	check(t, "after a Sum", s.Sum(), want(p))
}

// TestSubsets: SHA-256 alone, or with one of the others.
func TestSubsets(t *testing.T) {
	p := bytes.Repeat([]byte("edgesensor"), 1000)
	w := want(p)
	for _, c := range []struct{ sha1, md5 bool }{{false, false}, {true, false}, {false, true}} {
		s := New(c.sha1, c.md5)
		if s.Fused() {
			t.Fatalf("fused without all three")
		}
		s.Write(p)
		got := s.Sum()
		exp := Sums{SHA256: w.SHA256}
		if c.sha1 {
			exp.SHA1 = w.SHA1
		}
		if c.md5 {
			exp.MD5 = w.MD5
		}
		check(t, "subset", got, exp)
	}
}

func TestFusedOnThisMachine(t *testing.T) {
	t.Logf("fused loop available: %v", haveFused)
	if haveFused != New(true, true).Fused() {
		t.Fatal("New does not use the fused loop where it can")
	}
}

func hexs(b []byte) string {
	const d = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, v := range b {
		out[2*i], out[2*i+1] = d[v>>4], d[v&15]
	}
	return string(out)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// FuzzFused: any bytes, cut anywhere, give the standard digests.
func FuzzFused(f *testing.F) {
	f.Add([]byte("abc"), uint16(1))
	f.Add(bytes.Repeat([]byte{0xff}, 200), uint16(63))
	f.Add(bytes.Repeat([]byte("0123456789"), 30), uint16(65))
	f.Fuzz(func(t *testing.T, p []byte, step uint16) {
		k := int(step)%200 + 1
		s := New(true, true)
		for off := 0; off < len(p); off += k {
			s.Write(p[off:min(off+k, len(p))])
		}
		check(t, "fuzz", s.Sum(), want(p))
	})
}
