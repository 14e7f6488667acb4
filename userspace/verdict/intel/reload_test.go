package intel

import (
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// touch rewrites a file and moves its mtime on, so Changed sees it even on
// filesystems with coarse timestamps.
func touch(t *testing.T, p, content string, at time.Time) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, at, at); err != nil {
		t.Fatal(err)
	}
}

func TestReloaderSwapsAndKeepsOldOnBrokenFile(t *testing.T) {
	dir := t.TempDir()
	ips := write(t, dir, "ips.txt", "192.0.2.1\n")
	feed := write(t, dir, "feed.json", `{"type":"bundle","objects":[]}`)
	r, err := NewReloader([]Source{{Path: ips, Kind: IP}, {Path: feed}})
	if err != nil {
		t.Fatal(err)
	}
	a1, a2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	if _, ok := r.Current().IP(a1); !ok || r.Changed() {
		t.Fatal("initial load")
	}
	base := time.Now().Add(-time.Hour)

	touch(t, ips, "192.0.2.2\n", base.Add(time.Minute))
	if !r.Changed() {
		t.Fatal("change not seen")
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Current().IP(a1); ok {
		t.Fatal("old entry still present")
	}
	if _, ok := r.Current().IP(a2); !ok || r.Changed() {
		t.Fatal("new entry missing")
	}

	// A half-written STIX file must not replace a good set.
	good := r.Current()
	touch(t, feed, `{"type":"bundle","objects":[{"type":"indic`, base.Add(2*time.Minute))
	if !r.Changed() {
		t.Fatal("broken change not seen")
	}
	if err := r.Reload(); err == nil {
		t.Fatal("broken file reloaded without error")
	}
	if r.Current() != good {
		t.Fatal("set swapped despite a broken file")
	}
	if r.Changed() {
		t.Fatal("a failed reload should not be retried until the file changes again")
	}

	// A deleted file is a change and an error; the old set stays.
	os.Remove(ips)
	if !r.Changed() || r.Reload() == nil || r.Current() != good {
		t.Fatal("deleted file")
	}

	// Bad lines alone are warnings, not a failed reload.
	touch(t, ips, "192.0.2.3\nnope\n", base.Add(3*time.Minute))
	touch(t, feed, `{"type":"bundle","objects":[]}`, base.Add(3*time.Minute))
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Current().IP(netip.MustParseAddr("192.0.2.3")); !ok || len(r.Warnings()) != 1 {
		t.Fatalf("warnings %v", r.Warnings())
	}
}

func TestNewReloaderMissingFile(t *testing.T) {
	dir := t.TempDir()
	ok := write(t, dir, "ok.txt", "evil.example\n")
	r, err := NewReloader([]Source{{Path: ok, Kind: Domain}, {Path: dir + "/missing", Kind: Domain}})
	if err == nil || r == nil {
		t.Fatalf("%v %v", r, err)
	}
	if _, hit := r.Current().Domain("evil.example"); !hit {
		t.Fatal("the loadable file should be served")
	}
	write(t, dir, "missing", "other.example\n")
	if !r.Changed() || r.Reload() != nil {
		t.Fatal("appearing file")
	}
	if _, hit := r.Current().Domain("x.other.example"); !hit {
		t.Fatal("not reloaded")
	}
}

// Readers keep querying while reloads swap sets; run with -race.
func TestConcurrentReadersDuringReload(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "h.txt", sha256A+"\n")
	r, err := NewReloader([]Source{{Path: p, Kind: SHA256}})
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var misses atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				s := r.Current()
				if _, ok := s.Hash(sha256A, "", ""); !ok {
					misses.Add(1)
				}
				s.Domain("a.b.c")
				s.IP(netip.MustParseAddr("10.0.0.1"))
				_ = s.Counts()
			}
		}()
	}
	for i := 0; i < 30; i++ {
		content := sha256A + "\n"
		if i%2 == 0 {
			content += sha256B + "\n"
		}
		touch(t, p, content, time.Now().Add(time.Duration(i)*time.Second))
		if err := r.Reload(); err != nil {
			t.Error(err)
		}
		r.Changed()
	}
	stop.Store(true)
	wg.Wait()
	if misses.Load() != 0 {
		t.Fatalf("%d lookups saw a set without the always-present hash", misses.Load())
	}
}
