package files

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/export/ndjson"
)

// A file event carries its flow's community id under the configured
// seed: the ids Wireshark 4.0 computes for the download's connection.
func TestEventCommunityID(t *testing.T) {
	c := testutil.TCPConns(t, corpus+"http_exe.pcap")[0]
	for seed, want := range map[uint16]string{0: "1:weknzE4IerzhpNl0MNbZrREsYII=", 7: "1:0mZ0qBhYH6lNQYA5XnrOUvDqrjE="} {
		tc := defaultTestConfig()
		tc.Files.SpoolDir = filepath.Join(t.TempDir(), "spool")
		fc := tc.pipelineConfig(nil)
		fc.CommunityIDSeed = seed
		var buf bytes.Buffer
		p, err := New(fc, ndjson.NewNDJSON(&buf))
		if err != nil {
			t.Fatal(err)
		}
		sh := p.NewShard(0)
		feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
		sh.Close()
		p.Close()
		var ev Event
		if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &ev); err != nil {
			t.Fatalf("seed %d: %v: %s", seed, err, buf.Bytes())
		}
		if ev.Network.CommunityID != want || ev.Fields().CommunityID != want {
			t.Errorf("seed %d: community id %q (fields %q), want %s", seed, ev.Network.CommunityID, ev.Fields().CommunityID, want)
		}
	}
}

// url.domain is the host a Host header names, whatever else it carries:
// never the user name of "user:pass@host".
func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"files.example.com":         "files.example.com",
		"files.example.com:8080":    "files.example.com",
		"user:pass@files.example":   "files.example",
		"user@files.example:80":     "files.example",
		"a@b@files.example":         "files.example",
		"[2001:db8::1]:80":          "2001:db8::1",
		"user:pw@[2001:db8::1]:443": "2001:db8::1",
		"2001:db8::1":               "2001:db8::1",
	} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}
