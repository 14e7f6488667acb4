package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
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

func replayCraft(t *testing.T, cfg []string, pcap string) ([]craft.Event, map[string]float64, []byte) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args := append(append([]string{"replay", "--stats"}, cfg...), pcap)
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr.String())
	}
	out := append([]byte(nil), stdout.Bytes()...)
	evs, err := craft.ReadEvents(&stdout)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	flat, err := craft.FlattenStats([]byte(lines[len(lines)-1]))
	if err != nil {
		t.Fatalf("--stats: %v\n%s", err, stderr.String())
	}
	return evs, flat, out
}

func TestPrivilegedCraftCases(t *testing.T) {
	testutil.RequireBPF(t)
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
	golden := loadCraftGolden(t)
	defer golden.save()
	var summary []string
	failed := 0
	for _, c := range craft.Select(re) {
		t.Run(c.Name, func(t *testing.T) {
			tr, err := c.WriteFiles(corpus, opt, dir)
			if err != nil {
				t.Fatal(err)
			}
			pcap := filepath.Join(dir, c.Name+".pcap")
			evs, stats, out := replayCraft(t, cfg, pcap)
			if !c.Flood {
				golden.check(t, c.Name, out)
			}
			os.Remove(pcap)
			bad := craft.Check(tr, evs, stats)
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
