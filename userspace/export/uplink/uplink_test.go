package uplink

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
)

func rec(i int) spooled {
	return spooled{ID: fmt.Sprintf("r%d", i), Category: "tls", Body: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
}

func TestSpoolEncodeRoundTrip(t *testing.T) {
	in := spooled{ID: "id", Category: "executables", Dataset: "edgesensor.file", SHA256: "ab", Sample: "/x/y",
		SampleLimit: 1 << 20, Time: -5, Body: json.RawMessage(`{"a":"é"}`)}
	var out spooled
	if err := out.decode(in.encode()); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(in) != fmt.Sprint(out) {
		t.Fatalf("round trip: %+v → %+v", in, out)
	}
	enc := in.encode()
	for _, bad := range [][]byte{nil, {9}, enc[:len(enc)-1], append(bytes.Clone(enc), 0)} {
		if err := out.decode(bad); err == nil {
			t.Errorf("decode accepted corrupt %q", bad)
		}
	}
}

func TestSpoolOrderPersistenceAndBounds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	sp, err := openSpool(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var recs []spooled
	for i := 0; i < 10; i++ {
		r := rec(i)
		r.Time = now.UnixNano()
		recs = append(recs, r)
	}
	if _, err := sp.append(recs[:4], nil, now); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.append(recs[4:], nil, now); err != nil {
		t.Fatal(err)
	}
	got, err := sp.read(0, 100)
	if err != nil || len(got) != 10 {
		t.Fatalf("read: %d, %v", len(got), err)
	}
	for i, e := range got {
		if e.rec.ID != recs[i].ID {
			t.Fatalf("order: [%d] = %s", i, e.rec.ID)
		}
	}
	// Deleting via append's acked list and via remove; a second delete of
	// the same records must not count twice.
	if _, err := sp.append(nil, [][]entry{got[:3]}, now); err != nil {
		t.Fatal(err)
	}
	if err := sp.remove(got[:4]); err != nil {
		t.Fatal(err)
	}
	n, b := sp.stats()
	var want int64
	for _, e := range got[4:] {
		want += e.size
	}
	if n != 6 || b != want {
		t.Fatalf("after delete: %d records %d bytes, want 6 %d", n, b, want)
	}
	sp.close()

	// Reopen with a byte bound of three records: the oldest go, and the
	// accounting survives the restart.
	sp, err = openSpool(path, 3*got[0].size+2, time.Hour) // r10 is 2 bytes longer
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	if n, b := sp.stats(); n != 6 || b != want {
		t.Fatalf("after reopen: %d records %d bytes", n, b)
	}
	r := rec(10)
	r.Time = now.UnixNano()
	ev, err := sp.append([]spooled{r}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.full) != 4 || ev.full[0].ID != "r4" || len(ev.age) != 0 {
		t.Fatalf("evicted %+v", ev)
	}
	left, _ := sp.read(0, 100)
	if len(left) != 3 || left[0].rec.ID != "r8" || left[2].rec.ID != "r10" {
		t.Fatalf("after eviction: %+v", left)
	}
	// read from a sequence skips what is in flight.
	if from, _ := sp.read(left[1].seq, 100); len(from) != 2 || from[0].rec.ID != "r9" {
		t.Fatalf("read from: %+v", from)
	}
	// Age.
	ev, err = sp.expire(now.Add(2 * time.Hour))
	if err != nil || len(ev.age) != 3 {
		t.Fatalf("expire: %+v %v", ev, err)
	}
	if n, b := sp.stats(); n != 0 || b != 0 {
		t.Fatalf("after expire: %d %d", n, b)
	}
}

func TestBackoffFullJitter(t *testing.T) {
	var max1, max20 time.Duration
	for i := 0; i < 2000; i++ {
		d1, d20 := backoff(1), backoff(20)
		if d1 < 0 || d1 > backoffBase || d20 < 0 || d20 > backoffCap {
			t.Fatalf("backoff out of range: %v %v", d1, d20)
		}
		max1, max20 = max(max1, d1), max(max20, d20)
	}
	if max1 < backoffBase/2 || max20 < backoffCap/2 {
		t.Fatalf("no jitter spread: %v %v", max1, max20)
	}
	if backoff(4) > 4*time.Second {
		t.Fatal("attempt 4 over base·2³")
	}
}

func TestBatchIDStable(t *testing.T) {
	a := []entry{{seq: 1, rec: rec(1)}, {seq: 2, rec: rec(2)}}
	b := []entry{{seq: 7, rec: rec(1)}, {seq: 9, rec: rec(2)}} // re-read after a restart
	if batchID(a) != batchID(b) {
		t.Fatal("batch id depends on more than the record ids")
	}
	if batchID(a) == batchID([]entry{a[1], a[0]}) || batchID(a) == batchID(a[:1]) {
		t.Fatal("different batches, same id")
	}
}

type pki struct{ dir string }

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	if err := cloudapi.GenerateCerts(dir); err != nil {
		t.Fatal(err)
	}
	return pki{dir}
}

func (p pki) f(name string) string { return filepath.Join(p.dir, name) }

func (p pki) options(t *testing.T, url string) Options {
	return Options{URL: url, CAFile: p.f(cloudapi.CAFile), CertFile: p.f(cloudapi.ClientCertFile),
		KeyFile: p.f(cloudapi.ClientKeyFile), SpoolDir: t.TempDir(), FlushInterval: 10 * time.Millisecond}
}

func TestNewErrorsNameTheOption(t *testing.T) {
	p := newPKI(t)
	ok := p.options(t, "https://127.0.0.1:1")
	for _, tc := range []struct {
		mod  func(*Options)
		want string
	}{
		{func(o *Options) { o.CAFile = "/nonexistent/ca.pem" }, "uplink.ca_file"},
		{func(o *Options) { o.CAFile = p.f(cloudapi.ClientKeyFile) }, "uplink.ca_file"},
		{func(o *Options) { o.CertFile = "/nonexistent/c.pem" }, "uplink.cert_file"},
		{func(o *Options) { o.KeyFile = "/nonexistent/k.pem" }, "uplink.key_file"},
		{func(o *Options) { o.KeyFile = p.f(cloudapi.OtherClientKey) }, "uplink.key_file"},
		{func(o *Options) { o.URL = "http://127.0.0.1:1" }, "uplink.url"},
		{func(o *Options) { o.SpoolDir = "" }, "uplink.spool_dir"},
	} {
		o := ok
		tc.mod(&o)
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want error naming %s, got %v", tc.want, err)
		}
	}
	conf, err := clientTLS(ok)
	if err != nil {
		t.Fatal(err)
	}
	if conf.MinVersion != tls.VersionTLS13 || conf.MaxVersion != tls.VersionTLS13 || conf.RootCAs == nil || conf.InsecureSkipVerify {
		t.Fatalf("TLS config: %+v", conf)
	}
}

// With the spool writer stalled, the bounded queue fills and Enqueue drops
// instead of blocking; what was queued is spooled once the writer resumes.
func TestEnqueueDropsWhenQueueFull(t *testing.T) {
	p := newPKI(t)
	o := p.options(t, "https://127.0.0.1:1")
	o.QueueSize = 4
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c.spool.wmu.Lock() // stall the writer inside append
	var accepted int
	var dropped []string
	for i := 0; i < 20; i++ {
		sample := filepath.Join(c.SampleDir(), fmt.Sprint(i))
		os.WriteFile(sample, []byte("x"), 0o600)
		start := time.Now()
		if c.Enqueue(Record{ID: fmt.Sprint(i), Category: "tls", Body: json.RawMessage(`{}`), Sample: sample}) {
			accepted++
		} else {
			dropped = append(dropped, sample)
		}
		if time.Since(start) > 100*time.Millisecond {
			t.Fatal("Enqueue blocked")
		}
	}
	c.spool.wmu.Unlock()
	// The writer may have taken a group off the queue before it stalled.
	if accepted > 10 || len(dropped) < 10 || c.Stats().DroppedQueue != uint64(len(dropped)) {
		t.Fatalf("accepted %d dropped %d stats %+v", accepted, len(dropped), c.Stats())
	}
	for _, s := range dropped {
		if _, err := os.Stat(s); !os.IsNotExist(err) {
			t.Errorf("sample of a dropped record kept: %s", s)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st := c.Stats(); st.SpoolRecords != int64(accepted) {
		t.Fatalf("spooled %d, accepted %d", st.SpoolRecords, accepted)
	}
}

// fakeCloud answers /v1/events with the given status codes in turn, then 200.
func fakeCloud(t *testing.T, p pki, codes ...int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		zr, err := gzip.NewReader(r.Body)
		if err != nil || r.Header.Get(cloudapi.HeaderIdempotencyKey) == "" {
			t.Errorf("request not gzip or without idempotency key: %v", err)
		}
		var b cloudapi.EventBatch
		if err := json.NewDecoder(zr).Decode(&b); err != nil {
			t.Errorf("decoding batch: %v", err)
		}
		if int(n) <= len(codes) {
			w.WriteHeader(codes[n-1])
			io.WriteString(w, `{"error":"scripted"}`)
			return
		}
		json.NewEncoder(w).Encode(cloudapi.EventsResponse{Accepted: len(b.Records)})
	}))
	cert, err := tls.LoadX509KeyPair(p.f(cloudapi.ServerCertFile), p.f(cloudapi.ServerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(p.f(cloudapi.CAFile))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &calls
}

func runUntil(t *testing.T, c *Client, what string, cond func(Stats) bool) Stats {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := c.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRetryableStatusesAreRetried(t *testing.T) {
	p := newPKI(t)
	srv, calls := fakeCloud(t, p, 503, 429, 408)
	c, err := New(p.options(t, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Enqueue(Record{ID: "a", Category: "tls", Body: json.RawMessage(`{"x":1}`)})
	st := runUntil(t, c, "delivery", func(s Stats) bool { return s.Delivered == 1 })
	if st.Retries != 3 || calls.Load() != 4 || st.Rejected != 0 || !strings.Contains(st.LastError, "408") {
		t.Fatalf("calls %d stats %+v", calls.Load(), st)
	}
}

func TestPermanentStatusDropsBatch(t *testing.T) {
	p := newPKI(t)
	srv, calls := fakeCloud(t, p, 403)
	c, err := New(p.options(t, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Enqueue(Record{ID: "a", Category: "tls", Body: json.RawMessage(`{"x":1}`)})
	st := runUntil(t, c, "rejection", func(s Stats) bool { return s.Rejected == 1 })
	if st.Retries != 0 || calls.Load() != 1 || st.SpoolRecords != 0 || !strings.Contains(st.LastError, "403") {
		t.Fatalf("calls %d stats %+v", calls.Load(), st)
	}
}

func TestPurgeEmptiesSpoolAndSamples(t *testing.T) {
	dir := t.TempDir()
	if n, err := Purge(dir); n != 0 || err != nil {
		t.Fatalf("purge of nothing: %d %v", n, err)
	}
	sp, err := openSpool(filepath.Join(dir, "spool.db"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var recs []spooled
	for i := 0; i < 7; i++ {
		recs = append(recs, rec(i))
	}
	if _, err := sp.append(recs, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	sp.close()
	os.MkdirAll(filepath.Join(dir, "samples"), 0o700)
	os.WriteFile(filepath.Join(dir, "samples", "abc"), []byte("x"), 0o600)
	n, err := Purge(dir)
	if n != 7 || err != nil {
		t.Fatalf("purged %d, %v", n, err)
	}
	sp, err = openSpool(filepath.Join(dir, "spool.db"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	if c, _ := sp.stats(); c != 0 {
		t.Errorf("%d records left", c)
	}
	// New records get sequences past the old ones (a delivery cursor
	// stays valid).
	if _, err := sp.append([]spooled{rec(9)}, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, _ := sp.read(0, 10)
	if len(got) != 1 || got[0].seq <= 7 {
		t.Errorf("after purge: %+v", got)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "samples")); len(ents) != 0 {
		t.Errorf("%d samples left", len(ents))
	}
}
