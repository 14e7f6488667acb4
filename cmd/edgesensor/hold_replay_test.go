package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
)

// TestPrivilegedReplayHoldsDownloads replays real HTTP captures through
// the same program and enforcement as live. Held packets are analysed
// as any: in monitor mode the file events are those of a sensor without
// enforcement and EICAR is reported would_block; in block mode EICAR's
// completing packet is held and its flow blocked, while the other
// capture's download is judged, released and reported whole.
func TestPrivilegedReplayHoldsDownloads(t *testing.T) {
	testutil.RequireBPF(t)
	dir := t.TempDir()
	pcaps := []string{"../../testdata/corpus/http_keepalive.pcap", "../../testdata/corpus/http_exe.pcap"}
	cfg := func(mode string) string {
		p := filepath.Join(dir, mode+".toml")
		body := fmt.Sprintf("[files]\nspool_dir = %q\n[metrics]\nlisten = \"\"\n\n[enforcement]\nmode = %q\n", filepath.Join(dir, "spool"), mode)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	type file struct{ name, sha string }
	run := func(mode string) (files []file, actions []map[string]any, stderr string) {
		evs, _, stderr := replayWith(t, cfg(mode), "0s", pcaps...)
		for _, ev := range evs {
			switch get(ev, "event.dataset") {
			case "edgesensor.file":
				sha, _ := get(ev, "file.hash.sha256").(string)
				files = append(files, file{fmt.Sprint(get(ev, "file.name")), sha})
			case "edgesensor.action":
				actions = append(actions, ev)
			}
		}
		slices.SortFunc(files, func(a, b file) int {
			if a.name < b.name {
				return -1
			}
			if a.name > b.name {
				return 1
			}
			return 0
		})
		return files, actions, stderr
	}
	const eicar = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
	const sample = "87ea847dd2a0375065953a73aa1da0eaa808ba44f9d0946b3c160eb84845ce9b"
	off, offActs, _ := run("off")
	if len(offActs) != 0 || !slices.Contains(off, file{"eicar.com", eicar}) || !slices.Contains(off, file{"sample.exe", sample}) || len(off) < 4 {
		t.Fatalf("enforcement off: files %v, actions %v", off, offActs)
	}
	mon, monActs, stderr := run("monitor")
	if !slices.Equal(mon, off) {
		t.Errorf("monitor: files %v, want those without enforcement %v", mon, off)
	}
	would := map[string]bool{}
	for _, a := range monActs {
		if get(a, "event.action") != "would_block" || get(a, "rule.category") != "file" || get(a, "edgesensor.action.hold") != nil {
			t.Errorf("monitor: action %v", a)
		}
		would[fmt.Sprint(get(a, "edgesensor.action.matched"))] = true
	}
	if !would[eicar] || len(monActs) != 2 { // EICAR, and the archive holding it
		t.Errorf("monitor: %d actions %v\n%s", len(monActs), would, stderr)
	}
	blk, blkActs, stderr := run("block")
	// The capture goes on after the hold (its client had EICAR): the
	// packets the blocked flow still carries are dropped, so what the
	// analysis makes of them may be cut; what it reports whole is as
	// without enforcement.
	for _, f := range blk {
		if f.sha != "" && !slices.Contains(off, f) {
			t.Errorf("block: file %v not as without enforcement", f)
		}
	}
	if !slices.Contains(blk, file{"eicar.com", eicar}) || !slices.Contains(blk, file{"sample.exe", sample}) {
		t.Errorf("block: files %v\n%s", blk, stderr)
	}
	held := 0
	for _, a := range blkActs {
		if get(a, "edgesensor.action.hold") == "held" {
			held++
			if get(a, "event.action") != "blocked" || get(a, "edgesensor.action.matched") != eicar || get(a, "rule.name") == "" {
				t.Errorf("block: action %v", a)
			}
		}
	}
	if held != 1 {
		t.Errorf("block: %d held-download actions, want 1: %v\n%s", held, blkActs, stderr)
	}
}
