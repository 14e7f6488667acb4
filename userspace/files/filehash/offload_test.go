package filehash

import (
	"math/rand/v2"
	"sync"
	"testing"
)

// TestOffload: Sets offloaded at once, written in pieces of every size
// across chunk edges, sum to the standard library's digests; past
// maxActive a Set is refused and digested inline, also right; a Set that
// ends (Sum, Drop) gives its slot back.
func TestOffload(t *testing.T) {
	o := NewOffloader(2, 3)
	defer o.Close()
	r := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 5*Chunk+777)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	// Every Set tries before any writes: none ends (and frees its slot)
	// before the last has tried.
	sizes := []int{0, 1, Chunk - 1, Chunk, Chunk + 1, len(data)}
	sets := make([]*Set, len(sizes))
	for i := range sizes {
		s := New(true, true)
		took := s.Offload(o)
		if took != (i < 3) {
			t.Fatalf("set %d: Offload = %v with %d active of 3", i, took, o.Active())
		}
		if s.Offloaded() != took {
			t.Fatalf("set %d: Offloaded %v", i, s.Offloaded())
		}
		sets[i] = s
	}
	var wg sync.WaitGroup
	for i, s := range sets {
		n := sizes[i]
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 1))
			for off := 0; off < n; {
				k := min(n-off, 1+r.IntN(3*Chunk/2))
				s.Write(data[off : off+k])
				off += k
			}
			check(t, "offloaded", s.Sum(), want(data[:n]))
			if s.Offloaded() {
				t.Error("still offloaded after Sum")
			}
		}(uint64(i))
	}
	wg.Wait()
	if a := o.Active(); a != 0 {
		t.Fatalf("%d sets active after every Sum", a)
	}

	// Drop: the slot comes back; a chunk queued runs on a Set no one reads.
	for range 3 {
		s := New(true, true)
		if !s.Offload(o) {
			t.Fatal("no room after the others ended")
		}
		s.Write(data[:2*Chunk+5])
		s.Drop()
	}
	if a := o.Active(); a != 0 {
		t.Fatalf("%d sets active after Drop", a)
	}
}

// TestOffloadPartial: SHA-256 alone (the standard library's path), and
// a Set offloaded after writes began.
func TestOffloadPartial(t *testing.T) {
	o := NewOffloader(1, 1)
	defer o.Close()
	data := make([]byte, 3*Chunk+10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	s := New(false, false)
	s.Write(data[:100])
	if !s.Offload(o) {
		t.Fatal("refused")
	}
	s.Write(data[100:])
	got := s.Sum()
	w := want(data)
	if string(got.SHA256) != string(w.SHA256) || got.SHA1 != nil || got.MD5 != nil {
		t.Fatalf("sha256 %x sha1 %x md5 %x, want sha256 %x alone", got.SHA256, got.SHA1, got.MD5, w.SHA256)
	}
}

// TestOffloadClose: an Offloader closed under a Set it took: the Set's
// later chunks are digested inline, its sums still right.
func TestOffloadClose(t *testing.T) {
	o := NewOffloader(1, 2)
	data := make([]byte, 4*Chunk+3)
	for i := range data {
		data[i] = byte(i>>8) ^ byte(i)
	}
	s := New(true, true)
	if !s.Offload(o) {
		t.Fatal("refused")
	}
	s.Write(data[:2*Chunk+1])
	o.Close()
	s.Write(data[2*Chunk+1:])
	check(t, "after Close", s.Sum(), want(data))
	o.Close() // twice: no panic
}
