package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgesensor/edgesensor/internal/testutil"
)

// Replay with a kafka sink: the same events the command writes reach the
// brokers (one per event, keyed by its community_id, on its dataset's
// topic), through the same pipeline and sinks as live traffic.
func TestPrivilegedReplayToKafka(t *testing.T) {
	testutil.RequireBPF(t)
	topics := []string{"es.tls", "es.file", "es.verdict", "es.action"}
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(3, topics...))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := t.TempDir()
	brokers, _ := json.Marshal(c.ListenAddrs())
	cfg := filepath.Join(dir, "sensor.toml")
	os.WriteFile(cfg, fmt.Appendf(nil, `[output]
events = %q
[[output.sinks]]
name = "bus"
type = "kafka"
brokers = %s
topic = "es.{type}"
compression = "zstd"
spool_dir = %q
`, filepath.Join(dir, "events.ndjson"), brokers, filepath.Join(dir, "spool")), 0o600)

	var stdout, stderr syncBuffer
	corpus, _ := filepath.Glob("../../testdata/corpus/*.pcap")
	if err := run(context.Background(), append([]string{"replay", "-c", cfg}, corpus...), &stdout, &stderr); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr.String())
	}
	local, err := os.ReadFile(filepath.Join(dir, "events.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // line → community_id
	for _, l := range strings.Split(strings.TrimSpace(string(local)), "\n") {
		var ev struct {
			Network struct {
				CommunityID string `json:"community_id"`
			}
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		want[l] = ev.Network.CommunityID
	}
	if len(want) < 10 {
		t.Fatalf("%d events written", len(want))
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topics...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, total := 0, len(want)
	for got < total && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			got++
			id, ok := want[string(r.Value)]
			switch {
			case !ok:
				t.Errorf("record not among the events written (or twice): %.100s", r.Value)
			case string(r.Key) != id || id == "":
				t.Errorf("key %q, community_id %q", r.Key, id)
			}
			delete(want, string(r.Value))
		})
	}
	if len(want) != 0 {
		t.Errorf("%d events not in Kafka\n%s", len(want), stderr.String())
		for l := range want {
			t.Logf("missing: %.200s", l)
		}
	}
}
