package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
)

type scoredEvent struct {
	Event struct {
		Dataset   string `json:"dataset"`
		RiskScore *int   `json:"risk_score"`
	} `json:"event"`
	File struct {
		Name string `json:"name"`
	} `json:"file"`
	TLS struct {
		Client struct {
			JA3 string `json:"ja3"`
		} `json:"client"`
	} `json:"tls"`
	Edgesensor struct {
		Score *eventScore `json:"score"`
	} `json:"edgesensor"`
}

func (e scoredEvent) has(rule string) bool { return e.Edgesensor.Score.has(rule) }

func replayScored(t *testing.T, cfg string) []scoredEvent {
	t.Helper()
	pcaps, _ := filepath.Glob("../../testdata/corpus/*.pcap")
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), append([]string{"replay", "-c", cfg}, pcaps...), &stdout, &stderr); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr.String())
	}
	var evs []scoredEvent
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var e scoredEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if e.Event.RiskScore == nil || e.Edgesensor.Score == nil {
			t.Fatalf("event without a score: %s", line)
		}
		evs = append(evs, e)
	}
	return evs
}

// The corpus scores as the product promises: EICAR 10, the plain sample
// executables below the threshold; intel lists raise and allowlists
// lower scores.
func TestPrivilegedReplayScores(t *testing.T) {
	testutil.RequireBPF(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sensor.toml")
	spool := "[files]\nspool_dir = \"" + filepath.Join(dir, "spool") + "\"\n"
	if err := os.WriteFile(cfg, []byte(spool), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, e := range replayScored(t, cfg) {
		s := *e.Event.RiskScore
		switch e.File.Name {
		case "eicar.com":
			if s != 10 || e.Edgesensor.Score.Verdict != "malicious" || !e.has("eicar") {
				t.Errorf("eicar.com: %d %+v", s, e.Edgesensor.Score)
			}
		case "sample.exe", "setup.bin", "tool_linux":
			if s >= 7 {
				t.Errorf("%s: plain sample executable scored %d: %+v", e.File.Name, s, e.Edgesensor.Score)
			}
		case "invoice.pdf.exe":
			if s < 7 || !e.has("name.double_extension") {
				t.Errorf("invoice.pdf.exe: %d %+v", s, e.Edgesensor.Score)
			}
		}
	}

	// Intel: setup.bin's hash and the corpus's JA3 on blocklists, EICAR's
	// hash on an allowlist.
	tr := testutil.ReadTruth(t, "../../testdata/corpus/http_keepalive.truth.json")
	var setup, eicar string
	for _, f := range tr.Files {
		switch f.Name {
		case "setup.bin":
			setup = f.SHA256
		case "eicar.com":
			eicar = f.SHA256
		}
	}
	tls := testutil.ReadTruth(t, "../../testdata/corpus/tls_curl13.truth.json").TLS[0]
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	block := write("block.txt", "# bad\n"+setup+" 9\n")
	allow := write("allow.txt", eicar+"\n")
	ja3 := write("ja3.csv", "ja3,level\n"+tls.JA3+",8\n")
	intelCfg := spool + "[[intel.sources]]\npath = \"" + block + "\"\nkind = \"sha256\"\n" +
		"[[intel.sources]]\npath = \"" + allow + "\"\nkind = \"sha256\"\nallow = true\n" +
		"[[intel.sources]]\npath = \"" + ja3 + "\"\nkind = \"ja3\"\nformat = \"csv\"\ncolumn = \"ja3\"\n"
	if err := os.WriteFile(cfg, []byte(intelCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, e := range replayScored(t, cfg) {
		s := *e.Event.RiskScore
		switch {
		case e.File.Name == "setup.bin":
			seen++
			if s != 9 || !e.has("intel.hash") {
				t.Errorf("setup.bin on a blocklist at level 9: %d %+v", s, e.Edgesensor.Score)
			}
		case e.File.Name == "eicar.com":
			seen++
			if s != 0 || e.Edgesensor.Score.Verdict != "allowed" {
				t.Errorf("allowlisted eicar.com: %d %+v", s, e.Edgesensor.Score)
			}
		case e.TLS.Client.JA3 == tls.JA3:
			seen++
			if s < 8 || !e.has("intel.ja3") {
				t.Errorf("blocklisted JA3: %d %+v", s, e.Edgesensor.Score)
			}
		}
	}
	if seen < 3 {
		t.Errorf("%d of the 3 intel cases seen", seen)
	}
}
