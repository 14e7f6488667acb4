package siem

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/edgesensor/edgesensor/userspace/export/ecs"
)

var kafkaTopics = []string{"edgesensor.tls", "edgesensor.file", "edgesensor.verdict", "edgesensor.action"}

// goldenEvents are the sensor's own events for the corpus captures.
func goldenEvents(t *testing.T) [][]byte {
	t.Helper()
	files, _ := filepath.Glob("../../../testdata/golden/*.ndjson")
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.SplitAfter(b, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				out = append(out, l)
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("%d golden events", len(out))
	}
	return out
}

func readTopics(t *testing.T, want int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.ConsumeTopics(kafkaTopics...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(out) < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func waitSent(t *testing.T, f *Fanout, n uint64) {
	t.Helper()
	for end := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st := f.Stats()[0]; st.Sent >= n {
			return
		} else if time.Now().After(end) {
			t.Fatalf("sent %d of %d: %+v %+v", st.Sent, n, st, st.Kafka)
		}
	}
}

// The sensor's events reach Kafka as they are written, keyed by
// community_id, topic by dataset, with the sensor and dataset as
// headers; the sink's filters apply as to any sink.
func TestKafkaSink(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(3, kafkaTopics...))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := SinkConfig{Name: "bus", Type: "kafka", Hostname: "edge-7", Datasets: []string{"edgesensor.tls", "edgesensor.file"}}
	cfg.Brokers, cfg.SpoolDir, cfg.Compression = c.ListenAddrs(), t.TempDir(), "zstd"
	f, err := New([]SinkConfig{cfg}, nop)
	if err != nil {
		t.Fatal(err)
	}
	lines := goldenEvents(t)
	extra := `{"@timestamp":"2026-01-01T00:00:00Z","event":{"kind":"event","dataset":"edgesensor.verdict","risk_score":3},"file":{"hash":{"sha256":"` + strings.Repeat("ab", 32) + `"}}}` + "\n"
	for _, l := range append(lines, []byte(extra)) {
		f.Write(rec(l))
	}
	waitSent(t, f, uint64(len(lines)))
	st := f.Stats()[0]
	if err := f.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if st.Filtered != 1 || st.Dropped != 0 || !st.Connected || st.Kafka.Batches == 0 || st.Kafka.Compressed == 0 {
		t.Errorf("stats %+v kafka %+v", st, st.Kafka)
	}
	recs := readTopics(t, len(lines), kgo.SeedBrokers(c.ListenAddrs()...))
	if len(recs) != len(lines) {
		t.Fatalf("read %d records, want %d", len(recs), len(lines))
	}
	byValue := map[string]*kgo.Record{}
	for _, r := range recs {
		byValue[string(r.Value)] = r
	}
	for _, l := range lines {
		v := bytes.TrimRight(l, "\n")
		r := byValue[string(v)]
		if r == nil {
			t.Fatalf("event not in Kafka: %.120s", v)
		}
		var ev struct {
			Event   struct{ Dataset string }
			Network struct {
				CommunityID string `json:"community_id"`
			}
		}
		if err := json.Unmarshal(v, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Network.CommunityID == "" || string(r.Key) != ev.Network.CommunityID {
			t.Errorf("key %q, community_id %q", r.Key, ev.Network.CommunityID)
		}
		if r.Topic != ev.Event.Dataset {
			t.Errorf("topic %q for a %s event", r.Topic, ev.Event.Dataset)
		}
		if len(r.Headers) != 2 || string(r.Headers[0].Value) != "edge-7" || string(r.Headers[1].Value) != ev.Event.Dataset {
			t.Errorf("headers %+v", r.Headers)
		}
	}
}

// TLS to the brokers (a private CA) and SCRAM-SHA-512; a wrong password
// is seen in the stats and nothing is lost: the events wait.
func TestKafkaSinkTLSSCRAM(t *testing.T) {
	pki := newPKI(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, kafkaTopics...),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pki.server}}),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "edge", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("wrong\n"), 0o600)
	cfg := SinkConfig{Name: "bus", Type: "kafka", CAFile: pki.caFile, ServerName: "siem.test"}
	cfg.Brokers, cfg.SpoolDir, cfg.Settings.TLS = c.ListenAddrs(), t.TempDir(), true
	cfg.SASL, cfg.SASLUser, cfg.SASLPasswordFile = "scram-sha-512", "edge", pw
	lines := goldenEvents(t)[:5]

	f, err := New([]SinkConfig{cfg}, nop)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		f.Write(rec(l))
	}
	time.Sleep(2 * time.Second)
	st := f.Stats()[0]
	if st.Sent != 0 || st.Connected || st.Kafka == nil || st.Kafka.LastError == "" || st.Kafka.ConnectErrors == 0 {
		t.Errorf("wrong password: %+v %+v", st, st.Kafka)
	}
	if err := f.Close(time.Second); err != nil {
		t.Log(err)
	}
	if w := cfg.Probe(2 * time.Second); len(w) == 0 || !strings.Contains(w[0], "not reachable") {
		t.Errorf("probe with a wrong password: %q", w)
	}

	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	if w := cfg.Probe(5 * time.Second); len(w) != 0 {
		t.Errorf("probe: %q", w)
	}
	f, err = New([]SinkConfig{cfg}, nop)
	if err != nil {
		t.Fatal(err)
	}
	waitSent(t, f, uint64(len(lines))) // the spool's, sent after the restart
	if err := f.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	recs := readTopics(t, len(lines), kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.DialTLSConfig(&tls.Config{RootCAs: pki.pool, ServerName: "siem.test"}),
		kgo.SASL(scram.Auth{User: "edge", Pass: "s3cret"}.AsSha512Mechanism()))
	if len(recs) != len(lines) {
		t.Errorf("read %d, want %d", len(recs), len(lines))
	}
}

// A reload opens the new sink while the old one still holds the spool:
// the new one waits for it, and the events stay in order across both.
func TestKafkaSinkReload(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := SinkConfig{Name: "bus", Type: "kafka"}
	cfg.Brokers, cfg.SpoolDir = []string{"127.0.0.1:" + strconv.Itoa(port)}, t.TempDir()
	line := func(i int) *ecs.Record {
		return rec(fmt.Appendf(nil, `{"@timestamp":"2026-01-01T00:00:00Z","event":{"kind":"event","dataset":"edgesensor.tls"},"network":{"transport":"tcp","community_id":"1:same-flow"},"n":%d}`+"\n", i))
	}
	old, err := New([]SinkConfig{cfg}, nop)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		old.Write(line(i))
	}
	next, err := New([]SinkConfig{cfg}, nop) // the reload: before old closes
	if err != nil {
		t.Fatal(err)
	}
	for i := 500; i < 1000; i++ {
		next.Write(line(i))
	}
	time.Sleep(300 * time.Millisecond)
	if err := old.Close(time.Second); err != nil {
		t.Log(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(4, kafkaTopics...))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitSent(t, next, 1000)
	if err := next.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	recs := readTopics(t, 1000, kgo.SeedBrokers(c.ListenAddrs()...))
	if len(recs) != 1000 {
		t.Fatalf("read %d", len(recs))
	}
	for i, r := range recs {
		if !bytes.HasSuffix(r.Value, fmt.Appendf(nil, `"n":%d}`, i)) {
			t.Fatalf("record %d: %s", i, r.Value)
		}
	}

	// An external consumer (librdkafka's kcat) reads the same topic.
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat not installed (make deps installs it)")
	}
	out, err := exec.Command("kcat", "-C", "-b", c.ListenAddrs()[0], "-t", "edgesensor.tls", "-o", "beginning", "-e", "-q",
		"-f", "%k %h %s\n").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "1:same-flow sensor_id=") || !strings.Contains(l, ",dataset=edgesensor.tls ") {
			t.Fatalf("kcat line %q", l)
		}
		if !strings.HasSuffix(l, fmt.Sprintf(`"n":%d}`, n)) {
			t.Fatalf("kcat line %d: %q", n, l)
		}
		n++
	}
	if n != 1000 {
		t.Errorf("kcat read %d records", n)
	}
}

// SASL PLAIN (over TLS, as the config requires) and SCRAM-SHA-256.
func TestKafkaSinkSASLMechanisms(t *testing.T) {
	pki := newPKI(t)
	for _, m := range []struct{ sasl, kfake string }{{"plain", "PLAIN"}, {"scram-sha-256", "SCRAM-SHA-256"}} {
		t.Run(m.sasl, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, kafkaTopics...),
				kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pki.server}}),
				kfake.EnableSASL(), kfake.Superuser(m.kfake, "edge", "pw-"+m.sasl))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			pw := filepath.Join(t.TempDir(), "pw")
			os.WriteFile(pw, []byte("pw-"+m.sasl+"\n"), 0o600)
			cfg := SinkConfig{Name: "bus", Type: "kafka", CAFile: pki.caFile, ServerName: "siem.test"}
			cfg.Brokers, cfg.SpoolDir, cfg.Settings.TLS = c.ListenAddrs(), t.TempDir(), true
			cfg.SASL, cfg.SASLUser, cfg.SASLPasswordFile = m.sasl, "edge", pw
			f, err := New([]SinkConfig{cfg}, nop)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range goldenEvents(t)[:3] {
				f.Write(rec(l))
			}
			waitSent(t, f, 3)
			if err := f.Close(5 * time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Shutting down while the brokers are away keeps every event: what the
// client held is written to the spool for the next start.
func TestKafkaSinkCloseDuringOutage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	cfg := SinkConfig{Name: "bus", Type: "kafka"}
	cfg.Brokers, cfg.SpoolDir = []string{dead}, dir
	f, err := New([]SinkConfig{cfg}, nop)
	if err != nil {
		t.Fatal(err)
	}
	lines := goldenEvents(t)
	for i := range 2000 {
		f.Write(rec(lines[i%len(lines)]))
	}
	time.Sleep(200 * time.Millisecond)
	if err := f.Close(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(filepath.Join(dir, "bus.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bbolt.Tx) error {
		if n := tx.Bucket([]byte("records")).Stats().KeyN; n != 2000 {
			t.Errorf("%d of 2000 events in the spool after Close", n)
		}
		return nil
	})
}
