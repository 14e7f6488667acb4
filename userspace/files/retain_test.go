package files

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

// Quarantine: with retain_min_score 7 only the malicious executable
// (eicar.com, 10) is kept; setup.bin (0) and tool_linux (6) go.
func TestRetentionMinScoreQuarantinesOnlyMalicious(t *testing.T) {
	keep := t.TempDir()
	p, buf, spool := newPipeline(t, func(c *testConfig) {
		c.Files.Retain.Executable = keep
		c.Files.RetainMinScore = 7
	}, nil)
	sh := p.NewShard(0)
	c := testutil.TCPConns(t, corpus+"http_keepalive.pcap")[0]
	feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
	sh.Close()
	ents, _ := os.ReadDir(keep)
	if len(ents) != 1 || ents[0].Name() != "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f" {
		t.Errorf("retained %v, want only eicar.com", ents)
	}
	for _, e := range parse(t, buf.Bytes()) {
		if (e.Edgesensor.File.Retained != "") != (e.File.Name == "eicar.com") {
			t.Errorf("%s: retained %q", e.File.Name, e.Edgesensor.File.Retained)
		}
	}
	spoolEmpty(t, spool)
}

// The uplink's hand-off: every whole file it asks for gets a copy with
// exactly the file's bytes; the spool still empties.
func TestSampleHandOff(t *testing.T) {
	dir := t.TempDir()
	asked := map[string]int64{}
	p, buf, spool := newPipeline(t, nil, nil)
	p.cfg.Samples = sampleFunc(func(cat filetype.Category, size int64, sum string) string {
		if cat != filetype.Executable {
			return ""
		}
		asked[sum] = size
		return filepath.Join(dir, sum)
	})
	sh := p.NewShard(0)
	c := testutil.TCPConns(t, corpus+"http_keepalive.pcap")[0]
	feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
	sh.Close()
	p.Close()
	if len(asked) != 3 || p.Stats.Samples.Load() != 3 {
		t.Fatalf("asked for %d samples, %d handed over; want the 3 executables", len(asked), p.Stats.Samples.Load())
	}
	for sum, size := range asked {
		b, err := os.ReadFile(filepath.Join(dir, sum))
		if err != nil {
			t.Fatal(err)
		}
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != sum || int64(len(b)) != size {
			t.Errorf("sample %s: %d bytes hashing to %x", sum, len(b), got)
		}
	}
	if len(parse(t, buf.Bytes())) != 6 {
		t.Error("events missing")
	}
	spoolEmpty(t, spool)
}

func TestSweepDeletesOnlyOldRetainedFiles(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	old := "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
	fresh := "041ee7bb4e042351f1ac458ac19ec56b22eba644b5d2ade17e2cf752107b600f"
	for _, n := range []string{old, fresh, "operator-notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ago := now.Add(-48 * time.Hour)
	for _, n := range []string{old, "operator-notes.txt"} {
		os.Chtimes(filepath.Join(dir, n), ago, ago)
	}
	n, err := Sweep(dir, 24*time.Hour, now)
	if err != nil || n != 1 {
		t.Fatalf("swept %d, %v", n, err)
	}
	for name, want := range map[string]bool{old: false, fresh: true, "operator-notes.txt": true} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("%s: exists=%v, want %v", name, err == nil, want)
		}
	}
	if n, err := Sweep(dir, 0, now); n != 0 || err != nil {
		t.Errorf("retain_for 0 swept %d, %v", n, err)
	}
	if n, err := Sweep(filepath.Join(dir, "nope"), time.Hour, now); n != 0 || err != nil {
		t.Errorf("missing dir: %d, %v", n, err)
	}
}

// sampleFunc is a Samples that wants nothing pending and hands out paths
// with f.
type sampleFunc func(cat filetype.Category, size int64, sum string) string

func (f sampleFunc) Wanted(filetype.Category) bool { return false }
func (f sampleFunc) Path(cat filetype.Category, size int64, sum string) string {
	return f(cat, size, sum)
}
