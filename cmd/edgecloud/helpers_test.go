package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
	"github.com/edgesensor/edgesensor/userspace/export/uplink"
)

// env is one reference cloud (restartable on the same address and data
// directory) plus the test PKI.
type env struct {
	t      testing.TB
	certs  string
	data   string
	recLog string
	addr   string
	cfg    config

	srv    *server
	cancel context.CancelFunc
	done   chan error
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, certs: t.TempDir(), data: t.TempDir()}
	if err := cloudapi.GenerateCerts(e.certs); err != nil {
		t.Fatal(err)
	}
	e.recLog = filepath.Join(e.data, "records.ndjson")
	e.cfg = config{
		CertFile:  e.cert(cloudapi.ServerCertFile),
		KeyFile:   e.cert(cloudapi.ServerKeyFile),
		ClientCA:  e.cert(cloudapi.CAFile),
		DataDir:   filepath.Join(e.data, "cloud"),
		RecordLog: e.recLog,
		Log:       zerolog.Nop(),
	}
	// Reserve a loopback port so the client can be configured (and fail)
	// before the cloud is up.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	ln.Close()
	t.Cleanup(e.stop)
	return e
}

func (e *env) cert(name string) string { return filepath.Join(e.certs, name) }

func (e *env) url() string { return "https://" + e.addr }

// start runs the cloud in-process on e.addr.
func (e *env) start() {
	e.t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly after a stop
		if ln, err = net.Listen("tcp", e.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := newServer(e.cfg)
	if err != nil {
		ln.Close()
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.srv, e.cancel, e.done = s, cancel, make(chan error, 1)
	go func() { e.done <- errors.Join(s.run(ctx, ln), s.close()) }()
}

func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	if err := <-e.done; err != nil {
		e.t.Errorf("cloud: %v", err)
	}
	e.cancel = nil
}

// options returns client options trusting the test CA with the good client
// certificate and a fast flush.
func (e *env) options(spool string) uplink.Options {
	return uplink.Options{
		URL:           e.url(),
		CAFile:        e.cert(cloudapi.CAFile),
		CertFile:      e.cert(cloudapi.ClientCertFile),
		KeyFile:       e.cert(cloudapi.ClientKeyFile),
		SensorID:      "sensor-1",
		KeyID:         "key-2024",
		SpoolDir:      spool,
		FlushInterval: 20 * time.Millisecond,
		Timeout:       5 * time.Second,
	}
}

// runClient starts Run and stops it (and closes the client) at cleanup or
// when the returned function is called.
func runClient(t testing.TB, c *uplink.Client) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newClient(t testing.TB, o uplink.Options) *uplink.Client {
	t.Helper()
	c, err := uplink.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// body is a ~600-byte anonymised ECS-like record.
func body(i int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"@timestamp":"2024-05-01T12:00:00.%06dZ","event":{"kind":"event","category":["network"],"dataset":"edgesensor.tls"},`+
		`"source":{"ip":"anon:5f1c9a2e","port":%d},"destination":{"ip":"anon:77ab01f3","port":443},`+
		`"tls":{"version":"1.3","client":{"ja3":"e7d705a3286e19ea42f587b344ee6865","ja4":"t13d1516h2_8daaf6152771_02713d6af862","server_name":"anon:9c0d1e2f3a4b5c6d"},`+
		`"server":{"ja3s":"f4febc55ea12b31ae17cfb7e614afda8","certificate":{"issuer":"CN=anon:1a2b3c4d","not_after":"2025-01-01T00:00:00Z"}}},`+
		`"network":{"transport":"tcp","protocol":"tls","bytes":%d},"edgesensor":{"seq":%d,"pad":"%s"}}`,
		i%1000000, 1024+i%60000, 1000+i, i, strings.Repeat("x", 40)))
}

func record(prefix string, i int) uplink.Record {
	return uplink.Record{ID: fmt.Sprintf("%s-%06d", prefix, i), Category: "tls", Dataset: "edgesensor.tls", Body: body(i)}
}

// readLog returns the record log's ids in order.
func readLog(t testing.TB, path string) []logLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []logLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("record log line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// assertExactlyOnce checks the log holds exactly want, in order.
func assertExactlyOnce(t testing.TB, log []logLine, want []string) {
	t.Helper()
	seen := map[string]int{}
	for _, l := range log {
		seen[l.ID]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("record %s logged %d times", id, n)
		}
	}
	if len(log) != len(want) {
		t.Fatalf("record log has %d records, want %d", len(log), len(want))
	}
	for i := range want {
		if log[i].ID != want[i] {
			t.Fatalf("record log[%d] = %s, want %s", i, log[i].ID, want[i])
		}
	}
}

// rawClient is a plain HTTPS client with the given client certificate
// (none if cert == "").
func (e *env) rawClient(t testing.TB, cert, key string, maxVersion uint16) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(e.cert(cloudapi.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	conf := &tls.Config{RootCAs: pool, MaxVersion: maxVersion}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(e.cert(cert), e.cert(key))
		if err != nil {
			t.Fatal(err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	tr := &http.Transport{TLSClientConfig: conf}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}
