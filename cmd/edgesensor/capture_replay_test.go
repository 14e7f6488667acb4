package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
)

// Capture on alert, through the same pipeline as live traffic: the
// events that alert (a download whose hash is listed, a handshake whose
// JA3 is) carry the path of a pcapng file holding their flow's packets,
// which tshark reads back with the ClientHello and the HTTP request; the
// events that do not alert carry none.
func TestPrivilegedCaptureOnAlert(t *testing.T) {
	testutil.RequireBPF(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (make deps installs it)")
	}
	dir := t.TempDir()
	exe := testutil.ReadTruth(t, "../../testdata/corpus/http_exe.truth.json").Files[0]
	tls := testutil.ReadTruth(t, "../../testdata/corpus/tls_curl13.truth.json").TLS[0]
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	block := write("block.txt", exe.SHA256+" 9\n")
	ja3 := write("ja3.csv", "ja3,level\n"+tls.JA3+",8\n")
	pcaps := filepath.Join(dir, "pcap")
	cfg := write("sensor.toml", fmt.Sprintf(`[output]
events = %q
[[intel.sources]]
path = %q
kind = "sha256"
[[intel.sources]]
path = %q
kind = "ja3"
format = "csv"
column = "ja3"
[capture_on_alert]
enabled = true
dir = %q
min_score = 7
`, filepath.Join(dir, "events.ndjson"), block, ja3, pcaps))
	var stdout, stderr syncBuffer
	captures := []string{"../../testdata/corpus/http_exe.pcap", "../../testdata/corpus/tls_curl13.pcap", "../../testdata/corpus/tls_curl12.pcap"}
	if err := run(context.Background(), append([]string{"replay", "-c", cfg}, captures...), &stdout, &stderr); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr.String())
	}
	data, err := os.ReadFile(filepath.Join(dir, "events.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	tshark := func(path string, args ...string) string {
		cmd := exec.Command("tshark", append([]string{"-r", path}, args...)...)
		var errb strings.Builder
		cmd.Stderr = &errb
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("tshark %s: %v\n%s", path, err, errb.String())
		}
		return string(out)
	}
	alerted, quiet := 0, 0
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var ev struct {
			Event struct {
				Dataset   string
				RiskScore int `json:"risk_score"`
			}
			Network struct {
				CommunityID string `json:"community_id"`
			}
			File struct{ Name string }
			TLS  struct {
				Client struct {
					JA3 string
				}
			}
			Edgesensor struct {
				Capture *struct{ Path string }
			}
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		c := ev.Edgesensor.Capture
		if ev.Event.RiskScore < 7 {
			quiet++
			if c != nil {
				t.Errorf("an event scoring %d carries a capture: %s", ev.Event.RiskScore, c.Path)
			}
			continue
		}
		alerted++
		if c == nil {
			t.Errorf("an alerting %s event (score %d) without a capture", ev.Event.Dataset, ev.Event.RiskScore)
			continue
		}
		if filepath.Dir(c.Path) != pcaps || !strings.HasSuffix(c.Path, ".pcapng") {
			t.Errorf("capture path %s", c.Path)
		}
		// The flow's id is in the name and the comment.
		id := strings.NewReplacer("/", "_", "+", "-", ":", "").Replace(ev.Network.CommunityID)
		if !strings.Contains(filepath.Base(c.Path), id) {
			t.Errorf("%s does not name the flow %s", c.Path, ev.Network.CommunityID)
		}
		if got := tshark(c.Path, "-T", "fields", "-e", "frame.comment"); !strings.Contains(got, ev.Network.CommunityID) {
			t.Errorf("the first packet's comment does not name the event: %q", got)
		}
		switch ev.Event.Dataset {
		case "edgesensor.tls":
			if got := tshark(c.Path, "-Y", "tls.handshake.type == 1", "-T", "fields", "-e", "tls.handshake.extensions_server_name"); strings.TrimSpace(got) != tls.SNI {
				t.Errorf("the TLS capture's ClientHello names %q, want %q", got, tls.SNI)
			}
		case "edgesensor.file":
			if got := tshark(c.Path, "-Y", "http.request", "-T", "fields", "-e", "http.request.uri"); !strings.Contains(got, exe.Name) {
				t.Errorf("the file capture's request: %q", got)
			}
			if got := tshark(c.Path, "-Y", "tcp.flags.syn == 1"); strings.Count(got, "\n") < 2 {
				t.Errorf("the file capture lacks the handshake:\n%s", got)
			}
		}
	}
	if alerted != 2 || quiet == 0 {
		t.Errorf("%d events alerted (want the download and the curl 1.3 handshake), %d did not", alerted, quiet)
	}
}
