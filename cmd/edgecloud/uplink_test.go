package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
	"github.com/edgesensor/edgesensor/userspace/export/uplink"
)

// syncBuffer is an audit writer the test can read while Run writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func TestDeliveryExactlyOnceInOrder(t *testing.T) {
	e := newEnv(t)
	e.start()
	var audit syncBuffer
	o := e.options(t.TempDir())
	o.Audit = &audit
	o.Modes = map[string]string{"tls": "hashed", "metadata": "full"}
	c := newClient(t, o)
	stop := runClient(t, c)

	const n = 5000
	var want []string
	for i := 0; i < n; i++ {
		r := record("d", i)
		if i%5 == 0 {
			r.Category, r.Dataset = "metadata", "edgesensor.file"
		}
		if !c.Enqueue(r) {
			t.Fatalf("Enqueue %d dropped", i)
		}
		want = append(want, r.ID)
	}
	// Acknowledged records leave the spool with the writer's next commit.
	waitFor(t, "delivery", 30*time.Second, func() bool { st := c.Stats(); return st.Delivered == n && st.SpoolRecords == 0 })
	st := c.Stats()
	stop()

	assertExactlyOnce(t, readLog(t, e.recLog), want)
	if st.SpoolRecords != 0 || st.SpoolBytes != 0 || st.Duplicates != 0 || st.DroppedQueue+st.DroppedFull+st.DroppedAge+st.Rejected != 0 {
		t.Errorf("stats after delivery: %+v", st)
	}
	if cs := e.srv.stats(); cs.Records != n || cs.Duplicates != 0 {
		t.Errorf("cloud stats: %+v", cs)
	}
	l := readLog(t, e.recLog)[7]
	if l.SensorID != "sensor-1" || l.KeyID != "key-2024" || l.Category != "tls" || !bytes.Equal(l.Record, body(7)) {
		t.Errorf("record log line: %+v", l)
	}

	// Audit: one line per batch; counts add up to what was delivered.
	var lines, records, meta, compressed int
	ids := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(audit.Bytes()))
	for sc.Scan() {
		var a struct {
			Time            time.Time         `json:"time"`
			BatchID         string            `json:"batch_id"`
			Records         int               `json:"records"`
			Categories      map[string]int    `json:"categories"`
			Modes           map[string]string `json:"modes"`
			BytesRaw        int               `json:"bytes_raw"`
			BytesCompressed int               `json:"bytes_compressed"`
			Duplicates      int               `json:"duplicates"`
		}
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		lines++
		if a.Time.IsZero() || a.BatchID == "" || ids[a.BatchID] {
			t.Errorf("audit line time/batch id: %s", sc.Text())
		}
		ids[a.BatchID] = true
		if a.Records > 500 || a.Categories["tls"]+a.Categories["metadata"] != a.Records {
			t.Errorf("audit categories do not add up: %s", sc.Text())
		}
		// A batch names the modes of the categories it carries.
		if (a.Categories["tls"] > 0 && a.Modes["tls"] != "hashed") || (a.Categories["metadata"] > 0 && a.Modes["metadata"] != "full") ||
			len(a.Modes) != len(a.Categories) {
			t.Errorf("audit modes: %s", sc.Text())
		}
		if a.BytesCompressed <= 0 || a.BytesCompressed >= a.BytesRaw || a.Duplicates != 0 {
			t.Errorf("audit bytes/duplicates: %s", sc.Text())
		}
		records += a.Records
		meta += a.Categories["metadata"]
		compressed += a.BytesCompressed
	}
	if uint64(lines) != st.Batches || records != n || meta != n/5 || uint64(compressed) != st.BytesSent {
		t.Errorf("audit: %d lines, %d records (%d metadata), %d bytes; stats %+v", lines, records, meta, compressed, st)
	}
}

func TestOutageRestartExactlyOnce(t *testing.T) {
	e := newEnv(t)
	spool := t.TempDir()
	o := e.options(spool)
	o.BatchSize = 100

	// Cloud down: records spool, delivery fails and retries.
	c := newClient(t, o)
	stop := runClient(t, c)
	var want []string
	for i := 0; i < 1000; i++ {
		r := record("o", i)
		c.Enqueue(r)
		want = append(want, r.ID)
	}
	waitFor(t, "spooling and a failed attempt", 10*time.Second, func() bool {
		st := c.Stats()
		return st.SpoolRecords == 1000 && st.Retries > 0 && strings.Contains(st.LastError, "connection refused")
	})
	stop() // sensor restart

	c = newClient(t, o)
	if st := c.Stats(); st.SpoolRecords != 1000 {
		t.Fatalf("after reopen the spool holds %d records, want 1000", st.SpoolRecords)
	}
	e.start()
	stop = runClient(t, c)
	for i := 1000; i < 2000; i++ {
		r := record("o", i)
		c.Enqueue(r)
		want = append(want, r.ID)
	}
	// Cloud restart mid-way, same data directory.
	waitFor(t, "some delivery", 30*time.Second, func() bool { return c.Stats().Delivered >= 300 })
	e.stop()
	time.Sleep(50 * time.Millisecond)
	e.start()
	waitFor(t, "full delivery", 45*time.Second, func() bool { st := c.Stats(); return st.SpoolRecords == 0 && st.Delivered >= 2000 })
	stop()
	assertExactlyOnce(t, readLog(t, e.recLog), want)

	// Replay everything from a fresh spool (as after losing the spool's
	// deletes in a crash) to a restarted cloud: all duplicates, nothing
	// logged twice.
	e.stop()
	e.start()
	c = newClient(t, e.options(t.TempDir()))
	stop = runClient(t, c)
	for i := 0; i < 2000; i++ {
		c.Enqueue(record("o", i))
	}
	waitFor(t, "replay", 30*time.Second, func() bool { return c.Stats().Delivered == 2000 })
	if st := c.Stats(); st.Duplicates != 2000 {
		t.Errorf("replay: %d duplicates, want 2000", st.Duplicates)
	}
	stop()
	assertExactlyOnce(t, readLog(t, e.recLog), want)
	if cs := e.srv.stats(); cs.Records != 0 || cs.Duplicates != 2000 {
		t.Errorf("cloud after restart: %+v", cs)
	}
}

func TestSpoolBoundDropsOldest(t *testing.T) {
	e := newEnv(t)
	o := e.options(t.TempDir())
	size := int64(len(body(0))) + 100 // a record as spooled, roughly
	o.SpoolMaxBytes = 40 * size
	c := newClient(t, o)
	const n = 200
	for i := 0; i < n; i++ {
		c.Enqueue(record("b", i))
	}
	waitFor(t, "spooling", 10*time.Second, func() bool {
		st := c.Stats()
		return uint64(st.SpoolRecords)+st.DroppedFull == n
	})
	st := c.Stats()
	if st.DroppedFull == 0 || st.SpoolBytes > o.SpoolMaxBytes || st.SpoolRecords < 30 {
		t.Fatalf("bound not enforced as expected: %+v (max %d)", st, o.SpoolMaxBytes)
	}
	e.start()
	stop := runClient(t, c)
	waitFor(t, "delivery", 20*time.Second, func() bool { return c.Stats().SpoolRecords == 0 })
	stop()
	var want []string
	for i := int(st.DroppedFull); i < n; i++ {
		want = append(want, fmt.Sprintf("b-%06d", i))
	}
	assertExactlyOnce(t, readLog(t, e.recLog), want)
}

// refused checks that a client with o never gets a record to the cloud and
// reports an error containing msg.
func refused(t *testing.T, e *env, o uplink.Options, msg string) {
	t.Helper()
	c := newClient(t, o)
	stop := runClient(t, c)
	for i := 0; i < 10; i++ {
		c.Enqueue(record("x", i))
	}
	waitFor(t, "the TLS error", 10*time.Second, func() bool { return strings.Contains(c.Stats().LastError, msg) })
	st := c.Stats()
	stop()
	t.Logf("LastError: %s", st.LastError)
	if st.Delivered != 0 || st.SpoolRecords != 10 {
		t.Errorf("client stats: %+v", st)
	}
	if cs := e.srv.stats(); cs.Connections != 0 || cs.Requests != 0 || cs.Records != 0 {
		t.Errorf("cloud saw something: %+v", cs)
	}
	if l := readLog(t, e.recLog); len(l) != 0 {
		t.Errorf("record log has %d lines", len(l))
	}
}

func TestWrongServerCertificate(t *testing.T) {
	e := newEnv(t)
	e.cfg.CertFile, e.cfg.KeyFile = e.cert(cloudapi.OtherServerFile), e.cert(cloudapi.OtherServerKey)
	e.start()
	refused(t, e, e.options(t.TempDir()), "server certificate not signed by uplink.ca_file")
}

func TestClientCertificateRefused(t *testing.T) {
	e := newEnv(t)
	e.start()
	o := e.options(t.TempDir())
	o.CertFile, o.KeyFile = e.cert(cloudapi.OtherClientFile), e.cert(cloudapi.OtherClientKey)
	refused(t, e, o, "the cloud refused our client certificate")
	if cs := e.srv.stats(); cs.HandshakeErrors == 0 {
		t.Errorf("cloud counted no handshake error: %+v", cs)
	}
}

func TestNoClientCertificateRefused(t *testing.T) {
	e := newEnv(t)
	e.start()
	hc := e.rawClient(t, "", "", 0)
	_, err := hc.Post(e.url()+cloudapi.PathEvents, "application/json",
		strings.NewReader(`{"records":[{"id":"a","category":"tls","record":{}}]}`))
	if err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("want certificate required, got %v", err)
	}
	if cs := e.srv.stats(); cs.Connections != 0 || cs.Requests != 0 || cs.Records != 0 {
		t.Errorf("cloud saw something: %+v", cs)
	}
}

func TestTLS12Refused(t *testing.T) {
	e := newEnv(t)
	e.start()
	hc := e.rawClient(t, cloudapi.ClientCertFile, cloudapi.ClientKeyFile, 0x0303) // TLS 1.2
	_, err := hc.Get(e.url() + cloudapi.PathHealth)
	if err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("TLS 1.2 client: want protocol version error, got %v", err)
	}
	if cs := e.srv.stats(); cs.Connections != 0 || cs.Requests != 0 {
		t.Errorf("cloud served a TLS 1.2 client: %+v", cs)
	}
	// The same client with TLS 1.3 gets through: the refusal was the version.
	hc = e.rawClient(t, cloudapi.ClientCertFile, cloudapi.ClientKeyFile, 0)
	resp, err := hc.Get(e.url() + cloudapi.PathHealth)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS.Version != 0x0304 {
		t.Errorf("TLS 1.3 client: status %d version %x", resp.StatusCode, resp.TLS.Version)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestHashFirst(t *testing.T) {
	e := newEnv(t)
	knownContent := []byte("a file the cloud has seen before\n")
	verdicts := filepath.Join(e.data, "verdicts.txt")
	if err := os.WriteFile(verdicts, []byte("# known\n"+sha(knownContent)+" 8\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.cfg.VerdictsFile = verdicts
	e.start()

	got := make(chan uplink.Verdict, 10)
	o := e.options(t.TempDir())
	o.VerdictInterval = 50 * time.Millisecond
	o.OnVerdict = func(v uplink.Verdict) { got <- v }
	c := newClient(t, o)

	eicarContent := []byte(eicar + "\n")
	bigContent := bytes.Repeat([]byte("B"), 2000)
	write := func(name string, data []byte) string {
		p := filepath.Join(c.SampleDir(), name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	files := map[string]string{
		"known": write("known", knownContent),
		"eicar": write("eicar", eicarContent),
		"big":   write("big", bigContent),
	}
	recs := []uplink.Record{
		{ID: "f-known", Category: "executables", Dataset: "edgesensor.file", Body: body(1), SHA256: sha(knownContent), Sample: files["known"], SampleLimit: 1 << 20},
		{ID: "f-eicar", Category: "executables", Dataset: "edgesensor.file", Body: body(2), SHA256: strings.ToUpper(sha(eicarContent)), Sample: files["eicar"], SampleLimit: 1 << 20},
		{ID: "f-big", Category: "documents", Dataset: "edgesensor.file", Body: body(3), SHA256: sha(bigContent), Sample: files["big"], SampleLimit: 1000},
	}
	for _, r := range recs {
		c.Enqueue(r)
	}
	runClient(t, c)

	want := map[string]uplink.Verdict{
		sha(knownContent): {SHA256: sha(knownContent), Score: 8, Verdict: "malicious", Source: "lookup"},
		sha(eicarContent): {SHA256: sha(eicarContent), Score: 10, Verdict: "malicious", Source: "poll"},
	}
	timeout := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case v := <-got:
			if w, ok := want[v.SHA256]; !ok || w != v {
				t.Fatalf("unexpected verdict %+v", v)
			}
			delete(want, v.SHA256)
		case <-timeout:
			t.Fatalf("verdicts not received: %v", want)
		}
	}
	waitFor(t, "delivery", 10*time.Second, func() bool { return c.Stats().Delivered == 3 })
	st := c.Stats()
	if st.Lookups != 1 || st.Known != 1 || st.SamplesUploaded != 1 || st.SamplesSkipped != 2 || st.Verdicts != 2 {
		t.Errorf("stats: %+v", st)
	}
	for name, p := range files {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("sample %s not deleted: %v", name, err)
		}
	}
	stored, err := os.ReadFile(filepath.Join(e.cfg.DataDir, "samples", sha(eicarContent)))
	if err != nil || !bytes.Equal(stored, eicarContent) {
		t.Errorf("cloud did not store the EICAR sample: %v", err)
	}
	for _, h := range []string{sha(knownContent), sha(bigContent)} {
		if _, err := os.Stat(filepath.Join(e.cfg.DataDir, "samples", h)); !os.IsNotExist(err) {
			t.Errorf("cloud has sample %s that should not have been uploaded", h)
		}
	}
	if cs := e.srv.stats(); cs.Samples != 1 || cs.Lookups != 1 || cs.Records != 3 {
		t.Errorf("cloud stats: %+v", cs)
	}
	if l := readLog(t, e.recLog); len(l) != 3 || l[1].SHA256 != sha(eicarContent) {
		t.Errorf("record log: %+v", l)
	}
}

func TestPermanentRejectionDoesNotBlock(t *testing.T) {
	e := newEnv(t)
	e.start()
	c := newClient(t, e.options(t.TempDir()))
	runClient(t, c)
	c.Enqueue(uplink.Record{ID: "", Category: "tls", Dataset: "edgesensor.tls", Body: body(0)}) // the cloud needs an id
	waitFor(t, "rejection", 10*time.Second, func() bool { return c.Stats().Rejected == 1 })
	if st := c.Stats(); !strings.Contains(st.LastError, "400") || !strings.Contains(st.LastError, "id missing") || st.Retries != 0 {
		t.Errorf("stats after rejection: %+v", st)
	}
	if c.Enqueue(uplink.Record{ID: "bad-json", Category: "tls", Body: json.RawMessage(`{"a":`)}) {
		t.Error("a body that is not JSON was accepted")
	}
	c.Enqueue(record("p", 1))
	waitFor(t, "delivery after rejection", 10*time.Second, func() bool { return c.Stats().Delivered == 1 })
	assertExactlyOnce(t, readLog(t, e.recLog), []string{"p-000001"})
}
