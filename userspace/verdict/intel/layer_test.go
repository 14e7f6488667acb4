package intel

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// batch builds a Batch from "kind value level" triples ("allow" for an
// allow entry), all from one source.
func batch(t testing.TB, entries ...string) *Batch {
	t.Helper()
	b, err := NewBatch([]string{"cloud"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+2 < len(entries); i += 3 {
		k, err := ParseKind(entries[i])
		if err != nil {
			t.Fatal(err)
		}
		level, allow := 0, entries[i+2] == "allow"
		if !allow {
			fmt.Sscan(entries[i+2], &level)
		}
		if err := b.Add(k, []byte(entries[i+1]), level, allow, 0, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// The feed completes the local files: a local allow wins, a local block
// stays over a feed allow, between blocks the higher level; the feed
// alone answers for what the files do not list.
func TestLayerMergesWithLocal(t *testing.T) {
	dir := t.TempDir()
	l := NewLayer()
	l.Replace(batch(t,
		"sha256", sha256A, "10", // locally allowed
		"sha256", sha256B, "allow", // locally blocked at 4
		"ip", "192.0.2.0/24", "9", // locally blocked at 5
		"domain", "feed.example", "7", // the feed alone
		"ja3", ja3A, "3", // locally blocked at 8
	))
	r, err := NewReloaderFeed([]Source{
		{Path: write(t, dir, "allow.txt", sha256A+"\n"), Kind: SHA256, Allow: true},
		{Path: write(t, dir, "block.txt", sha256B+" 4\n"), Kind: SHA256},
		{Path: write(t, dir, "ips.txt", "192.0.2.0/24 5\n"), Kind: IP},
		{Path: write(t, dir, "ja3.txt", ja3A+" 8\n"), Kind: JA3},
	}, l)
	if err != nil {
		t.Fatal(err)
	}
	s := r.Current()
	check := func(name string, h Hit, ok bool, want string) {
		t.Helper()
		got := "none"
		if ok {
			got = fmt.Sprintf("%d allow=%v %s", h.Level, h.Allow, h.Source)
		}
		if got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	h, ok := s.Hash(sha256A, "", "")
	check("local allow over a feed block", h, ok, "0 allow=true allow.txt")
	h, ok = s.Hash(sha256B, "", "")
	check("local block over a feed allow", h, ok, "4 allow=false block.txt")
	h, ok = s.IP(netip.MustParseAddr("192.0.2.9"))
	check("the higher of two blocks", h, ok, "9 allow=false feed:cloud")
	h, ok = s.Domain("a.feed.example")
	check("the feed alone", h, ok, "7 allow=false feed:cloud")
	h, ok = s.JA3(ja3A)
	check("a local block higher than the feed's", h, ok, "8 allow=false ja3.txt")
	var feedIPs int
	s.IPEntries(func(e IPEntry) {
		if e.Feed {
			feedIPs++
		}
	})
	if feedIPs != 1 {
		t.Errorf("%d feed IP entries listed, want 1", feedIPs)
	}
	// A reload of the files keeps the feed.
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	h, ok = r.Current().Domain("feed.example")
	check("after a reload", h, ok, "7 allow=false feed:cloud")
}

// A delta is in force whole or not at all for any reader: each delta
// moves the listing from one digest of a file to another (removes one,
// adds the other), so a lookup of both that ever finds neither saw half
// of one.
func TestLayerDeltaAtomic(t *testing.T) {
	l := NewLayer()
	l.Replace(batch(t, "sha256", sha256A, "9"))
	r, _ := NewReloaderFeed(nil, l)
	s := r.Current()
	var stop atomic.Bool
	var torn, seen atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, ok := s.Hash(sha256A, "", md5A); !ok {
					torn.Add(1)
				}
				seen.Add(1)
			}
		}()
	}
	const n = 2000
	for i := range n {
		from, to, v := SHA256, MD5, md5A
		if i%2 == 1 {
			from, to, v = MD5, SHA256, sha256A
		}
		b, _ := NewBatch([]string{"cloud"})
		old := map[Kind]string{SHA256: sha256A, MD5: md5A}[from]
		if err := b.Remove(from, []byte(old)); err != nil {
			t.Fatal(err)
		}
		if err := b.Add(to, []byte(v), 9, false, 0, time.Time{}); err != nil {
			t.Fatal(err)
		}
		l.Apply(b)
	}
	stop.Store(true)
	wg.Wait()
	if torn.Load() > 0 {
		t.Fatalf("%d of %d lookups saw half a delta", torn.Load(), seen.Load())
	}
	if l.Gen() != n+1 {
		t.Errorf("gen %d", l.Gen())
	}
}

// Removals take values off; a removal and an addition of the same value
// in one delta leave the addition.
func TestLayerRemove(t *testing.T) {
	l := NewLayer()
	l.Replace(batch(t, "sha256", sha256A, "9", "ip", "203.0.113.0/24", "8", "domain", "x.example", "7"))
	b := batch(t, "domain", "x.example", "5")
	for _, kv := range [][2]string{{"sha256", sha256A}, {"ip", "203.0.113.77/24"}, {"domain", "x.example"}} {
		k, _ := ParseKind(kv[0])
		if err := b.Remove(k, []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	ipGen := l.IPGen()
	l.Apply(b)
	if l.IPGen() == ipGen {
		t.Error("a delta removing a prefix left IPGen as it was")
	}
	ipGen = l.IPGen()
	l.Apply(batch(t, "sha256", sha256B, "9"))
	if l.IPGen() != ipGen {
		t.Error("a delta of hashes alone changed IPGen (the data plane's lists would be rebuilt for nothing)")
	}
	if c := l.Counts(); c["sha256"] != 1 || c["ip"] != 0 || c["domain"] != 1 {
		t.Errorf("counts %v", c)
	}
	r, _ := NewReloaderFeed(nil, l)
	if h, ok := r.Current().Domain("x.example"); !ok || h.Level != 5 {
		t.Errorf("domain %v %v", h, ok)
	}
	if _, ok := r.Current().IP(netip.MustParseAddr("203.0.113.1")); ok {
		t.Error("the removed prefix still matches")
	}
}

// Handshakes counts only the entries that could block a handshake at the
// threshold (the hello gate is up for them alone), and follows the feed's
// deltas: a replaced entry leaves its old level, a removed one its count.
func TestHandshakesAtThreshold(t *testing.T) {
	dir := t.TempDir()
	l := NewLayer()
	r, err := NewReloaderFeed([]Source{
		{Path: write(t, dir, "allow.txt", "good.example\n"), Kind: Domain, Allow: true},
		{Path: write(t, dir, "ja3.txt", ja3A+" 3\n"), Kind: JA3},
		{Path: write(t, dir, "ja3allow.txt", ja3A+"\n"), Kind: JA3, Allow: true},
		{Path: write(t, dir, "hashes.txt", sha256A+" 10\n"), Kind: SHA256},
	}, l)
	if err != nil {
		t.Fatal(err)
	}
	want := func(step string, threshold int, ok bool) {
		t.Helper()
		if got := r.Current().Handshakes(threshold); got != ok {
			t.Errorf("%s: Handshakes(%d) = %v, want %v", step, threshold, got, ok)
		}
	}
	// The JA3 is allowed too (allow wins); the allowlisted domain and
	// the file hash can block no handshake.
	want("allowlists and hashes alone", 0, false)

	feed := func(entries ...string) {
		t.Helper()
		b := batch(t, entries...)
		l.Apply(b)
	}
	feed("domain", "bad.example", "8")
	want("a feed domain at 8", 7, true)
	want("a feed domain at 8", 9, false)
	feed("domain", "bad.example", "2") // replaces the entry
	want("the domain lowered to 2", 7, false)
	want("the domain lowered to 2", 2, true)
	feed("ja4", ja4A, "9")
	want("a feed JA4 at 9", 7, true)
	b, err := NewBatch([]string{"cloud"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Remove(JA4, []byte(ja4A)); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove(Domain, []byte("bad.example")); err != nil {
		t.Fatal(err)
	}
	l.Apply(b)
	want("both removed", 0, false)
	feed("domain", "bad.example", "allow")
	want("a feed allow", 0, false)
	// An entry that lapses is counted off too.
	b, err = NewBatch([]string{"cloud"})
	if err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour)
	if err := b.Add(Domain, []byte("brief.example"), 9, false, 0, until); err != nil {
		t.Fatal(err)
	}
	l.Apply(b)
	want("an entry with an expiry", 7, true)
	if n := l.Expire(until); n != 1 {
		t.Fatalf("%d entries expired, want 1", n)
	}
	want("the entry lapsed", 0, false)
}
