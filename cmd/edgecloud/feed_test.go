package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
	"github.com/edgesensor/edgesensor/userspace/verdict/feed"
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
	e.start()
	pub, err := feed.LoadPublicKey(e.cert(cloudapi.FeedPubFile))
	if err != nil {
		t.Fatal(err)
	}
	hc := e.rawClient(t, cloudapi.ClientCertFile, cloudapi.ClientKeyFile, 0)
	hc.Timeout = 40 * time.Second
	poll := func(query string) (cloudapi.FeedResponse, time.Duration) {
		t.Helper()
		start := time.Now()
		resp, err := hc.Get(e.url() + cloudapi.PathFeed + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET feed%s: %d %s", query, resp.StatusCode, b)
		}
		var r cloudapi.FeedResponse
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return r, time.Since(start)
	}
	var st *feed.State
	apply := func(r cloudapi.FeedResponse) {
		t.Helper()
		for _, raw := range r.Messages {
			m, err := feed.Open(pub, raw, time.Now())
			if err != nil {
				t.Fatalf("message %.80s: %v", raw, err)
			}
			if st, err = st.Apply(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	r, _ := poll("?have=0")
	apply(r)
	v1 := st.Version
	if v1 == 0 || len(st.Entries) != 1 || st.Entries[feed.Key{Kind: "sha256", Value: listed}].Level != 9 {
		t.Fatalf("snapshot: %+v", st)
	}
	at := func(v uint64) string { return "?have=" + strconv.FormatUint(v, 10) }
	// Current: an immediate empty answer, or a wait for news.
	if r, _ := poll(at(v1)); len(r.Messages) != 0 || r.Version != v1 {
		t.Fatalf("current: %+v", r)
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
	if st.Version != v1+1 || st.Entries[feed.Key{Kind: "sha256", Value: sha(malware)}].Level != 10 {
		t.Fatalf("after the upload: %+v", st)
	}
	// A clean sample changes nothing; a sensor far behind gets the snapshot.
	req, _ := http.NewRequest("PUT", e.url()+cloudapi.PathSamples+sha([]byte("harmless")), bytes.NewReader([]byte("harmless")))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r, _ := poll(at(v1 + 1)); len(r.Messages) != 0 {
		t.Errorf("a clean verdict entered the feed: %+v", r)
	}
	var fresh *feed.State
	r, _ = poll("?have=0")
	for _, raw := range r.Messages {
		m, err := feed.Open(pub, raw, time.Now())
		if err != nil || m.Kind != feed.KindSnapshot {
			t.Fatalf("%v %+v", err, m)
		}
		fresh, _ = fresh.Apply(m)
	}
	if fresh == nil || fresh.Version != v1+1 || len(fresh.Entries) != 2 {
		t.Errorf("snapshot for a new sensor: %+v", fresh)
	}
	// The sensor's uplink client fetches it over the same mTLS as its
	// records.
	c := newClient(t, e.options(t.TempDir()))
	defer c.Close()
	got, err := c.Feed(context.Background(), 0, 0)
	if err != nil || got.Version != v1+1 || len(got.Messages) != 1 {
		t.Fatalf("uplink Feed from 0: %+v, %v", got, err)
	}
	if _, err := feed.Open(pub, got.Messages[0], time.Now()); err != nil {
		t.Errorf("uplink Feed: %v", err)
	}
	start := time.Now()
	if got, err = c.Feed(context.Background(), v1+1, time.Second); err != nil || len(got.Messages) != 0 || time.Since(start) < 900*time.Millisecond {
		t.Errorf("uplink Feed, current: %+v, %v after %v", got, err, time.Since(start))
	}
	// A restarted cloud's snapshot is newer than what sensors have.
	e.stop()
	e.start()
	r, _ = poll(at(v1 + 1))
	if m, err := feed.Open(pub, r.Messages[0], time.Now()); err != nil || m.Kind != feed.KindSnapshot || m.Version <= v1+1 {
		t.Errorf("after a restart: %+v, %v", m, err)
	} else if _, err := st.Apply(m); err != nil {
		t.Errorf("after a restart, the sensor refuses the snapshot: %v", err)
	}
	// Another key's holder cannot pass for the cloud.
	dir := t.TempDir()
	if err := feed.GenerateKey(filepath.Join(dir, "k"), filepath.Join(dir, "p")); err != nil {
		t.Fatal(err)
	}
	other, _ := feed.LoadPublicKey(filepath.Join(dir, "p"))
	if _, err := feed.Open(other, r.Messages[0], time.Now()); err == nil {
		t.Error("the feed verified with another key")
	}
}
