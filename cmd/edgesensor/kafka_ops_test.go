package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/daemon"
	"github.com/twmb/franz-go/pkg/kfake"
)

// check-config asks the brokers: missing topics and brokers that do not
// answer are warnings, not errors.
func TestCheckConfigKafkaWarnings(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "edgesensor.tls", "edgesensor.file"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sensor.toml")
	os.WriteFile(cfg, fmt.Appendf(nil, `[output]
events = %q
[[output.sinks]]
name = "bus"
type = "kafka"
brokers = [%q]
spool_dir = %q
[[output.sinks]]
name = "away"
type = "kafka"
brokers = [%q]
spool_dir = %q
`, filepath.Join(dir, "ev.ndjson"), c.ListenAddrs()[0], filepath.Join(dir, "s1"), dead, filepath.Join(dir, "s2")), 0o600)
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"check-config", cfg}, &stdout, &stderr); err != nil {
		t.Fatalf("check-config: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		`warning: output.sinks[0] (bus): topic "edgesensor.verdict" does not exist`,
		`warning: output.sinks[0] (bus): topic "edgesensor.action" does not exist`,
		`warning: output.sinks[1] (away): brokers [` + dead + `] not reachable`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, `"edgesensor.tls" does not exist`) {
		t.Errorf("an existing topic reported missing:\n%s", out)
	}
}

// status asks the daemon on its metrics listener (an unspecified host
// means this box) and shows each sink's state.
func TestStatusShowsSinks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != daemon.SinksPath {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode([]daemon.SinkState{
			{Name: "soc", Type: "syslog", Connected: true, Sent: 10},
			{Name: "bus", Type: "kafka", Dropped: 2, Inflight: 5, Spooled: 7, Errors: 3, LastError: "dial tcp: refused"},
		})
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	sinks, err := daemonSinks("0.0.0.0:" + port)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	writeSinks(&out, sinks)
	for _, want := range []string{"soc   syslog  connected  10", "bus   kafka   down       0     2        5       7        3       dial tcp: refused"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in\n%s", want, out.String())
		}
	}
	srv.Close()
	if _, err := daemonSinks("127.0.0.1:" + port); err == nil || !strings.Contains(err.Error(), "is edgesensor run running?") {
		t.Errorf("no daemon: %v", err)
	}
}
