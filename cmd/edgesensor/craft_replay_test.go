package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/craft"
	"github.com/edgesensor/edgesensor/internal/testutil"
)

// The adversarial captures of internal/craft, each replayed through the
// real XDP program and the analysis, against its truth computed from the
// unmodified traffic (issue 13's hostile cases: receiver-model evasions,
// split handshakes, fragments, tunnels, floods). Run as root:
//
//	go test -run Craft ./cmd/edgesensor
//	CRAFT_CASES='^tls_' go test -run Craft -v ./cmd/edgesensor
//	CRAFT_FLOODS=full ... (the flood cases at issue 13's sizes; default small)

// craftEvent is the part of an event the truth is checked against.
type craftEvent struct {
	Event struct {
		Dataset string `json:"dataset"`
	} `json:"event"`
	Source      endpoint `json:"source"`
	Destination endpoint `json:"destination"`
	Network     struct {
		VLAN *struct {
			ID string `json:"id"`
		} `json:"vlan"`
	} `json:"network"`
	TLS struct {
		Client struct {
			ServerName string `json:"server_name"`
			JA3        string `json:"ja3"`
			JA4        string `json:"ja4"`
		} `json:"client"`
		Server *struct {
			JA3S string `json:"ja3s"`
		} `json:"server"`
	} `json:"tls"`
	File struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
		Hash *struct {
			SHA256 string `json:"sha256"`
		} `json:"hash"`
	} `json:"file"`
	Edgesensor struct {
		File struct {
			Complete bool   `json:"complete"`
			Cut      string `json:"cut"`
			Conflict bool   `json:"conflict"`
		} `json:"file"`
		Tunnel *struct {
			Type string          `json:"type"`
			ID   json.RawMessage `json:"id"`
		} `json:"tunnel"`
	} `json:"edgesensor"`
}

func replayCraft(t *testing.T, cfg []string, pcap string) ([]craftEvent, map[string]float64) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args := append(append([]string{"replay", "--stats"}, cfg...), pcap)
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr.String())
	}
	var evs []craftEvent
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		var e craftEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("event is not JSON: %v", err)
		}
		evs = append(evs, e)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	var st map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &st); err != nil {
		t.Fatalf("--stats: %v\n%s", err, stderr.String())
	}
	flat := map[string]float64{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			switch v := v.(type) {
			case map[string]any:
				walk(prefix+k+".", v)
			case float64:
				flat[prefix+k] = v
			}
		}
	}
	walk("", st)
	return evs, flat
}

// craftCounters are the sensor's names today for a truth counter; a
// counter is also met by any statistic whose name ends in the truth's
// name.
var craftCounters = map[string][]string{
	"tcp_out_of_window":     {"analysis.tcp_out_of_window", "analysis.tls_tcp_out_of_window"},
	"tcp_csum_bad":          {"analysis.checksum_dropped", "counters.csum_bad"},
	"ip_csum_bad":           {"analysis.checksum_dropped", "counters.csum_bad"},
	"csum_offload_detected": {"analysis.checksum_partial"},
	"tcp_urgent":            {"analysis.reassembly_urgent_bytes"},
	"frag_overlap":          {"fragments.overlaps"},
	"frag_tiny":             {"fragments.tiny"},
}

// craftVerdict lists where the sensor's report differs from the truth.
func craftVerdict(tr craft.Truth, evs []craftEvent, stats map[string]float64) []string {
	var bad []string
	var files, tlss []craftEvent
	for _, e := range evs {
		switch e.Event.Dataset {
		case "edgesensor.file":
			files = append(files, e)
		case "edgesensor.tls":
			tlss = append(tlss, e)
		}
	}
	for _, w := range tr.TLS {
		var got *craftEvent
		for i, e := range tlss {
			if e.Source.Port == w.ClientPort && e.Destination.Port == w.ServerPort {
				got = &tlss[i]
			}
		}
		if got == nil {
			bad = append(bad, fmt.Sprintf("no tls event %d->%d", w.ClientPort, w.ServerPort))
			continue
		}
		g := [4]string{got.TLS.Client.ServerName, got.TLS.Client.JA3, got.TLS.Client.JA4, ""}
		if got.TLS.Server != nil {
			g[3] = got.TLS.Server.JA3S
		}
		if want := [4]string{w.SNI, w.JA3, w.JA4, w.JA3S}; g != want {
			var diff []string
			for i, n := range []string{"sni", "ja3", "ja4", "ja3s"} {
				if g[i] != want[i] {
					diff = append(diff, fmt.Sprintf("%s %q want %q", n, g[i], want[i]))
				}
			}
			bad = append(bad, "tls "+strings.Join(diff, ", "))
		}
	}
	whole := func(e craftEvent) bool { return e.Edgesensor.File.Complete && e.File.Hash != nil }
	known := map[string]bool{}
	for _, w := range tr.Files {
		known[w.SHA256] = true
	}
	for _, w := range tr.Files {
		n, want := 0, 0
		for _, x := range tr.Files {
			if x == w {
				want++
			}
		}
		for _, e := range files {
			if whole(e) && e.File.Hash.SHA256 == w.SHA256 && e.File.Name == w.Name && (w.Size == 0 || e.File.Size == w.Size) {
				n++
			}
		}
		if n < want {
			bad = append(bad, fmt.Sprintf("%s whole %d times, want %d", w.Name, n, want))
		}
	}
	for _, e := range files {
		if whole(e) && !known[e.File.Hash.SHA256] {
			bad = append(bad, fmt.Sprintf("wrong file %s (%.12s) reported whole", e.File.Name, e.File.Hash.SHA256))
		}
	}
	for _, w := range tr.NotFiles {
		for _, e := range files {
			if e.File.Name == w.Name || e.File.Hash != nil && e.File.Hash.SHA256 == w.SHA256 {
				bad = append(bad, fmt.Sprintf("not_file %s reported", w.Name))
			}
		}
	}
	for _, w := range tr.Incomplete {
		ok := false
		for _, e := range files {
			ok = ok || !e.Edgesensor.File.Complete && e.File.Hash == nil && e.Edgesensor.File.Cut == w.Cut &&
				(w.Name == "" || e.File.Name == w.Name)
		}
		if !ok {
			bad = append(bad, fmt.Sprintf("no incomplete %q with cut %s", w.Name, w.Cut))
		}
	}
	for _, name := range tr.Conflict {
		ok := false
		for _, e := range files {
			if e.File.Name != name {
				continue
			}
			if e.File.Hash != nil {
				bad = append(bad, fmt.Sprintf("conflicting %s reported with a hash (complete %v)", name, e.Edgesensor.File.Complete))
			}
			ok = ok || e.Edgesensor.File.Conflict && e.File.Hash == nil
		}
		if !ok {
			bad = append(bad, fmt.Sprintf("no conflict event for %s", name))
		}
	}
	if tu := tr.Tunnel; tu != nil {
		for _, e := range append(append([]craftEvent(nil), tlss...), files...) {
			var miss []string
			if len(tu.VLANs) > 0 && (e.Network.VLAN == nil || e.Network.VLAN.ID != strconv.Itoa(int(tu.VLANs[0]))) {
				miss = append(miss, "network.vlan.id")
			}
			if tu.Type != "" && (e.Edgesensor.Tunnel == nil || e.Edgesensor.Tunnel.Type != tu.Type) {
				miss = append(miss, "edgesensor.tunnel.type "+tu.Type)
			}
			if tu.ID != 0 && (e.Edgesensor.Tunnel == nil || strings.Trim(string(e.Edgesensor.Tunnel.ID), `"`) != strconv.Itoa(int(tu.ID))) {
				miss = append(miss, fmt.Sprintf("edgesensor.tunnel.id %d", tu.ID))
			}
			if len(miss) > 0 {
				bad = append(bad, "event without "+strings.Join(miss, ", "))
				break
			}
		}
	}
	for name := range tr.Counters {
		met := false
		for k, v := range stats {
			if v > 0 && (strings.HasSuffix(k, name) || contains(craftCounters[name], k)) {
				met = true
			}
		}
		if !met {
			bad = append(bad, "counter "+name+" not counted")
		}
	}
	return bad
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestPrivilegedCraftCases(t *testing.T) {
	testutil.RequireRoot(t)
	corpus, err := craft.LoadCorpus("../../testdata/corpus")
	if err != nil {
		t.Fatal(err)
	}
	re, err := regexp.Compile(os.Getenv("CRAFT_CASES"))
	if err != nil {
		t.Fatal(err)
	}
	opt := craft.Options{Seed: 1, Flood: craft.SmallFloods()}
	if os.Getenv("CRAFT_FLOODS") == "full" {
		opt.Flood = craft.FullFloods()
	}
	dir := t.TempDir()
	cfg := spoolConfig(t, "")
	var summary []string
	failed := 0
	for _, c := range craft.Select(re) {
		t.Run(c.Name, func(t *testing.T) {
			tr, err := c.WriteFiles(corpus, opt, dir)
			if err != nil {
				t.Fatal(err)
			}
			pcap := filepath.Join(dir, c.Name+".pcap")
			evs, stats := replayCraft(t, cfg, pcap)
			os.Remove(pcap)
			bad := craftVerdict(tr, evs, stats)
			sort.Strings(bad)
			if len(bad) > 0 {
				failed++
				summary = append(summary, fmt.Sprintf("FAIL %-34s %s", c.Name, strings.Join(bad, "; ")))
				t.Errorf("%s", strings.Join(bad, "\n"))
				return
			}
			summary = append(summary, fmt.Sprintf("PASS %s", c.Name))
		})
	}
	t.Logf("%d of %d cases fail\n%s", failed, len(summary), strings.Join(summary, "\n"))
}
