package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
	"github.com/edgesensor/edgesensor/userspace/verdict/feed"
	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
)

// The cloud's feed: a snapshot of what it knows for a sensor that has
// nothing, a delta for every verdict a sample upload reaches afterwards
// (a waiting poll wakes for it), all signed with the feed key and no
// other, and the snapshot again for a sensor too far behind.
func TestFeed(t *testing.T) {
	e := newEnv(t)
	known := filepath.Join(e.data, "verdicts.txt")
	listed := sha([]byte("known bad"))
	os.WriteFile(known, []byte(listed+" 9\n"+sha([]byte("known clean"))+" 0\n"), 0o600)
	e.cfg.VerdictsFile = known
	e.cfg.FeedKeyFile = e.cert(cloudapi.FeedKeyFile)
	extra := filepath.Join(e.data, "feed-entries.txt")
	os.WriteFile(extra, []byte("# partner intel\nip 203.0.113.0/24 9 c2-tracker\ndomain evil.example 8\n"), 0o600)
	e.cfg.FeedEntries = extra
	e.start()
	pub, err := feed.LoadPublicKey(e.cert(cloudapi.FeedPubFile))
	if err != nil {
		t.Fatal(err)
	}
	hc := e.rawClient(t, cloudapi.ClientCertFile, cloudapi.ClientKeyFile, 0)
	hc.Timeout = 40 * time.Second
	poll := func(query string) ([][]byte, time.Duration) {
		t.Helper()
		start := time.Now()
		resp, err := hc.Get(e.url() + cloudapi.PathFeed + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != cloudapi.FeedContentType {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("GET feed%s: %d %s", query, resp.StatusCode, b)
		}
		var msgs [][]byte
		if err := cloudapi.ReadFeedFrames(resp.Body, func(m []byte) error { msgs = append(msgs, m); return nil }); err != nil {
			t.Fatal(err)
		}
		return msgs, time.Since(start)
	}
	st, set := newFeed(pub)
	apply := func(msgs [][]byte) {
		t.Helper()
		for _, raw := range msgs {
			if _, err := st.Accept(raw, time.Now()); err != nil {
				t.Fatalf("message %.80s: %v", raw, err)
			}
		}
	}
	level := func(set *intel.Set, sum string) int {
		if h, ok := set.Hash(sum, "", ""); ok {
			return h.Level
		}
		return -1
	}
	r, _ := poll("?have=0")
	apply(r)
	v1 := st.Version()
	if v1 == 0 || st.Layer.Len() != 3 || level(set, listed) != 9 {
		t.Fatalf("snapshot: version %d, %v", v1, st.Layer.Counts())
	}
	if h, ok := set.IP(netip.MustParseAddr("203.0.113.9")); !ok || h.Level != 9 || h.Source != "feed:c2-tracker" {
		t.Errorf("the published prefix: %+v %v", h, ok)
	}
	at := func(v uint64) string { return "?have=" + strconv.FormatUint(v, 10) }
	// Current: an immediate empty answer, or a wait for news.
	if r, _ := poll(at(v1)); len(r) != 0 {
		t.Fatalf("current: %d messages", len(r))
	}
	malware := []byte("X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")
	go func() {
		time.Sleep(300 * time.Millisecond)
		req, _ := http.NewRequest("PUT", e.url()+cloudapi.PathSamples+sha(malware), bytes.NewReader(malware))
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	r, took := poll(at(v1) + "&wait=10s")
	if took < 200*time.Millisecond || took > 5*time.Second {
		t.Errorf("the poll answered after %v, want when the upload's verdict came", took)
	}
	apply(r)
	if st.Version() != v1+1 || level(set, sha(malware)) != 10 {
		t.Fatalf("after the upload: version %d, level %d", st.Version(), level(set, sha(malware)))
	}
	// A clean sample changes nothing; a sensor far behind gets the snapshot.
	req, _ := http.NewRequest("PUT", e.url()+cloudapi.PathSamples+sha([]byte("harmless")), bytes.NewReader([]byte("harmless")))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r, _ := poll(at(v1 + 1)); len(r) != 0 {
		t.Errorf("a clean verdict entered the feed: %d messages", len(r))
	}
	fresh, _ := newFeed(pub)
	r, _ = poll("?have=0")
	for _, raw := range r {
		h, err := fresh.Accept(raw, time.Now())
		if err != nil || h.Kind != feed.KindSnapshot {
			t.Fatalf("%v %+v", err, h)
		}
	}
	if fresh.Version() != v1+1 || fresh.Layer.Len() != 4 {
		t.Errorf("snapshot for a new sensor: %d %v", fresh.Version(), fresh.Layer.Counts())
	}
	// The sensor's uplink client fetches it over the same mTLS as its
	// records.
	c := newClient(t, e.options(t.TempDir()))
	defer c.Close()
	var got [][]byte
	collect := func(m []byte) error { got = append(got, m); return nil }
	if err := c.Feed(context.Background(), 0, 0, collect); err != nil || len(got) != 1 {
		t.Fatalf("uplink Feed from 0: %d messages, %v", len(got), err)
	}
	if _, err := feed.Open(pub, got[0], time.Now()); err != nil {
		t.Errorf("uplink Feed: %v", err)
	}
	got = nil
	start := time.Now()
	if err := c.Feed(context.Background(), v1+1, time.Second, collect); err != nil || len(got) != 0 || time.Since(start) < 900*time.Millisecond {
		t.Errorf("uplink Feed, current: %d messages, %v after %v", len(got), err, time.Since(start))
	}
	// A restarted cloud's snapshot is newer than what sensors have.
	e.stop()
	e.start()
	r, _ = poll(at(v1 + 1))
	if h, err := st.Accept(r[0], time.Now()); err != nil || h.Kind != feed.KindSnapshot {
		t.Errorf("after a restart, the sensor refuses the snapshot: %+v, %v", h, err)
	}
	// Another key's holder cannot pass for the cloud.
	dir := t.TempDir()
	if err := feed.GenerateKey(filepath.Join(dir, "k"), filepath.Join(dir, "p")); err != nil {
		t.Fatal(err)
	}
	other, _ := feed.LoadPublicKey(filepath.Join(dir, "p"))
	if _, err := feed.Open(other, r[0], time.Now()); err == nil {
		t.Error("the feed verified with another key")
	}
}

// newFeed is a sensor's feed, with a Set that consults it.
func newFeed(pub ed25519.PublicKey) (*feed.Feed, *intel.Set) {
	f := &feed.Feed{Layer: intel.NewLayer(), Pub: pub}
	r, _ := intel.NewReloaderFeed(nil, f.Layer)
	return f, r.Current()
}

// Nothing the cloud sends is near its expiry: deltas older than half the
// messages' life give way to the snapshot, and the snapshot is signed
// again once as old (a quiet feed's new sensors would get an expired
// one, and a sensor one delta behind the same expired delta forever).
func TestPublisherSendsFreshMessages(t *testing.T) {
	pub, priv := testFeedKey(t)
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	p := newPublisher(priv, nil, nil)
	p.now = func() time.Time { return now }
	v0 := p.version
	if err := p.add(sha([]byte("x")), 9); err != nil {
		t.Fatal(err)
	}
	kinds := func(have uint64) (string, time.Time) {
		t.Helper()
		msgs, _, _, err := p.since(have)
		if err != nil || len(msgs) == 0 {
			t.Fatalf("since %d: %d messages, %v", have, len(msgs), err)
		}
		var ks []string
		var issued time.Time
		for _, raw := range msgs {
			m, err := feed.Open(pub, raw, now)
			if err != nil {
				t.Fatalf("since %d: %v", have, err)
			}
			ks = append(ks, m.Kind)
			issued = m.Issued
		}
		return strings.Join(ks, ","), issued
	}
	if k, _ := kinds(v0); k != "delta" {
		t.Errorf("one delta behind: %s", k)
	}
	if k, issued := kinds(0); k != "snapshot" || !issued.Equal(now) {
		t.Errorf("from nothing: %s issued %v", k, issued)
	}
	now = now.Add(feedTTL/2 + time.Minute)
	if k, issued := kinds(v0); k != "snapshot" || !issued.Equal(now) {
		t.Errorf("one delta behind, the delta old: %s issued %v, want a snapshot issued now", k, issued)
	}
	if k, issued := kinds(0); k != "snapshot" || !issued.Equal(now) {
		t.Errorf("from nothing, later: %s issued %v", k, issued)
	}
}

func testFeedKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	dir := t.TempDir()
	if err := feed.GenerateKey(filepath.Join(dir, "k"), filepath.Join(dir, "p")); err != nil {
		t.Fatal(err)
	}
	priv, _ := feed.LoadPrivateKey(filepath.Join(dir, "k"))
	pub, _ := feed.LoadPublicKey(filepath.Join(dir, "p"))
	return pub, priv
}
