package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
