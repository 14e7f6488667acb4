package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
	"github.com/edgesensor/edgesensor/userspace/export/uplink"
	"github.com/edgesensor/edgesensor/userspace/verdict/feed"
	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
)

// scriptedFeed is a cloud (or whatever sits in its place on the path)
// that answers each feed poll with the next scripted messages, then
// nothing.
type scriptedFeed struct {
	mu    sync.Mutex
	polls [][][]byte
	haves []string
}

func (s *scriptedFeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var msgs [][]byte
	if len(s.polls) > 0 {
		msgs, s.polls = s.polls[0], s.polls[1:]
	}
	s.haves = append(s.haves, r.URL.Query().Get("have"))
	s.mu.Unlock()
	if msgs == nil {
		time.Sleep(20 * time.Millisecond) // a long poll, shortened
	}
	w.Header().Set("Content-Type", cloudapi.FeedContentType)
	cloudapi.WriteFeedFrames(w, msgs)
}

func (s *scriptedFeed) done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.polls) == 0
}

// Whatever the path to the cloud does to the feed (a flipped byte, a
// message cut short, an old snapshot replayed, another key's signature),
// the sensor refuses it, counts it by reason, and keeps the last good
// feed in force; good messages after them are taken; a restart with the
// cloud unreachable has the last good feed from disk.
func TestFeedRunnerRefusesTampering(t *testing.T) {
	pki := t.TempDir()
	if err := cloudapi.GenerateCerts(pki); err != nil {
		t.Fatal(err)
	}
	priv, err := feed.LoadPrivateKey(filepath.Join(pki, cloudapi.FeedKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other")
	if err := feed.GenerateKey(other+".key", other+".pub"); err != nil {
		t.Fatal(err)
	}
	otherPriv, _ := feed.LoadPrivateKey(other + ".key")
	now := time.Now()
	sign := func(k []byte, m *feed.Message) []byte {
		m.Issued, m.Expires = now, now.Add(time.Hour)
		raw, err := feed.Sign(k, m)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	bad := strings.Repeat("ba", 32)
	worse := strings.Repeat("cd", 32)
	snap := func(v uint64, e ...feed.Entry) *feed.Message {
		return &feed.Message{Header: feed.Header{Kind: feed.KindSnapshot, Version: v}, Add: e}
	}
	delta := func(base uint64, e ...feed.Entry) *feed.Message {
		return &feed.Message{Header: feed.Header{Kind: feed.KindDelta, Base: base, Version: base + 1}, Add: e}
	}
	entry := func(sha string, level int) feed.Entry {
		return feed.Entry{Key: feed.Key{Kind: "sha256", Value: sha}, Level: level, Source: "edgecloud"}
	}
	good := sign(priv, snap(5, entry(bad, 9)))
	d6 := sign(priv, delta(5, entry(worse, 10)))
	flipped := append([]byte(nil), d6...)
	flipped[len(flipped)-5] ^= 0x01
	script := &scriptedFeed{polls: [][][]byte{
		{good},
		{flipped},
		{d6[:len(d6)-30]},
		{sign(priv, snap(4, entry(worse, 10)))},
		{sign(otherPriv, snap(9, entry(worse, 10)))},
		{d6},
	}}
	srv := httptest.NewUnstartedServer(script)
	cert, _ := tls.LoadX509KeyPair(filepath.Join(pki, cloudapi.ServerCertFile), filepath.Join(pki, cloudapi.ServerKeyFile))
	caPEM, _ := os.ReadFile(filepath.Join(pki, cloudapi.CAFile))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	defer srv.Close()

	cfg := config.Default()
	cfg.Uplink.URL = srv.URL
	cfg.Uplink.FeedKeyFile = filepath.Join(pki, cloudapi.FeedPubFile)
	cfg.Uplink.FeedDir = filepath.Join(t.TempDir(), "feed")
	r, err := newFeedRunner(&cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	r.pause = 5 * time.Millisecond
	r.maxKept = 1
	client, err := uplink.New(uplink.Options{URL: srv.URL, CAFile: filepath.Join(pki, cloudapi.CAFile),
		CertFile: filepath.Join(pki, cloudapi.ClientCertFile), KeyFile: filepath.Join(pki, cloudapi.ClientKeyFile), SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ir, _ := intel.NewReloaderFeed(nil, r.layer())
	set := ir.Current()
	level := func(sha string) int {
		if h, ok := set.Hash(sha, "", ""); ok {
			return h.Level
		}
		return -1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.poll(ctx, client)
	}()
	deadline := time.Now().Add(10 * time.Second)
	polls := func() int {
		script.mu.Lock()
		defer script.mu.Unlock()
		return len(script.haves)
	}
	for !(script.done() && r.f.Version() == 6 && polls() >= 7) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if r.f.Version() != 6 || level(bad) != 9 || level(worse) != 10 {
		t.Fatalf("after the script: version %d, levels %d %d; want 6, 9, 10", r.f.Version(), level(bad), level(worse))
	}
	want := map[string]uint64{"signature": 3, "version": 1}
	for i, name := range refusals {
		if got := r.stats.Refused[i].Load(); got != want[name] {
			t.Errorf("refused_%s = %d, want %d", name, got, want[name])
		}
	}
	if r.stats.Applied.Load() != 2 {
		t.Errorf("applied %d, want 2", r.stats.Applied.Load())
	}
	// Between the refusals the sensor kept asking from the version it
	// had (the good snapshot's), except after the old snapshot refused
	// as out of turn: then from nothing (the cloud's snapshot), as after
	// the delta once deltas are kept past the bound (set to 1 here).
	script.mu.Lock()
	haves := slices.Clone(script.haves[:7])
	script.mu.Unlock()
	if want := []string{"0", "5", "5", "5", "0", "5", "0"}; !slices.Equal(haves, want) {
		t.Errorf("polls asked from %v, want %v", haves, want)
	}

	// Restarted with the cloud gone: the kept feed is in force at once.
	srv.Close()
	r2, err := newFeedRunner(&cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ir2, _ := intel.NewReloaderFeed(nil, r2.layer())
	if h, ok := ir2.Current().Hash(worse, "", ""); r2.f.Version() != 6 || !ok || h.Level != 10 {
		t.Errorf("restored: version %d, %+v %v", r2.f.Version(), h, ok)
	}
}
