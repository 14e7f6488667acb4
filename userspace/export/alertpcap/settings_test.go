// Tests of the settings (checks, defaults, preflight) and of which alerts
// want a capture.

package alertpcap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/setting"
)

func TestSettings(t *testing.T) {
	def := DefaultSettings()
	var p setting.Problems
	def.Validate("capture_on_alert", &p)
	if p.Err() != nil {
		t.Fatalf("defaults: %v", p.Err())
	}
	if def.Enabled || !def.OnAction || def.MinScore != 7 || def.Dir != "/var/lib/edgesensor/pcap" ||
		def.FlowPackets != 64 || def.FlowBytes != 256<<10 || def.Memory != 64<<20 || def.Quota != 1<<30 ||
		def.Snaplen != 65535 || time.Duration(def.FlowIdle) != 5*time.Minute {
		t.Fatalf("defaults %+v", def)
	}
	for _, c := range []struct {
		name string
		mod  func(*Settings)
		want string // key and part of the fix
	}{
		{"relative dir", func(s *Settings) { s.Dir = "pcap" }, "capture_on_alert.dir: \"pcap\" must be an absolute"},
		{"score high", func(s *Settings) { s.MinScore = 11 }, "capture_on_alert.min_score: 11 is out of range; use 0 to 10"},
		{"score low", func(s *Settings) { s.MinScore = -1 }, "capture_on_alert.min_score"},
		{"packets", func(s *Settings) { s.FlowPackets = -3 }, "capture_on_alert.flow_packets: -3 is out of range"},
		{"snaplen", func(s *Settings) { s.Snaplen = 10 }, "capture_on_alert.snaplen: 10 is out of range; use 64 to 262144"},
		{"flow bytes", func(s *Settings) { s.FlowBytes = 100 }, "capture_on_alert.flow_bytes: 100B is too small"},
		{"idle", func(s *Settings) { s.FlowIdle = setting.Duration(time.Millisecond) }, "capture_on_alert.flow_idle: 1ms is out of range"},
		{"quota", func(s *Settings) { s.Quota = 1000 }, "capture_on_alert.quota: 1000B is too small"},
		{"memory", func(s *Settings) { s.Memory = 100 << 10 }, "capture_on_alert.memory: 100KiB holds less than one flow"},
		{"quota vs flow", func(s *Settings) { s.Quota = 1 << 20; s.FlowBytes = 2 << 20 }, "capture_on_alert.quota: 1MiB is less than one flow's file"},
	} {
		s := DefaultSettings()
		c.mod(&s)
		var p setting.Problems
		s.Validate("capture_on_alert", &p)
		if err := p.Err(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if _, err := New(s, zeroLog()); err == nil {
			t.Errorf("%s: New accepted it", c.name)
		}
	}
	// Zeros are defaults.
	var p2 setting.Problems
	zero := Settings{Enabled: true}
	zero.Validate("capture_on_alert", &p2)
	if p2.Err() != nil {
		t.Errorf("zero settings: %v", p2.Err())
	}

	// Preflight: a directory under a file cannot be made; an off table
	// is not checked.
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := DefaultSettings()
	s.Dir = filepath.Join(file, "pcap")
	var pf setting.Problems
	s.Preflight("capture_on_alert", &pf)
	if pf.Len() != 0 {
		t.Errorf("disabled table preflighted: %v", pf.Err())
	}
	s.Enabled = true
	s.Preflight("capture_on_alert", &pf)
	if err := pf.Err(); err == nil || !strings.HasPrefix(err.Error(), "capture_on_alert.dir: ") {
		t.Errorf("preflight: %v", err)
	}
	s.Dir = filepath.Join(t.TempDir(), "a", "b")
	var ok setting.Problems
	s.Preflight("capture_on_alert", &ok)
	if ok.Err() != nil {
		t.Errorf("preflight of a makeable dir: %v", ok.Err())
	}
	if _, err := New(s, zeroLog()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(s.Dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("dir made: %v %v", fi, err)
	}
}

func TestWants(t *testing.T) {
	s := DefaultSettings()
	if s.Wants(10, true) {
		t.Error("a disabled keeper wants captures")
	}
	s.Enabled = true
	for _, c := range []struct {
		score  int
		action bool
		on     bool
		want   bool
	}{
		{7, false, true, true}, {6, false, true, false}, {10, false, false, true},
		{-1, false, true, false}, {0, true, true, true}, {0, true, false, false}, {8, true, false, true},
	} {
		s.OnAction = c.on
		if got := s.Wants(c.score, c.action); got != c.want {
			t.Errorf("Wants(%d, %v) with on_action %v = %v", c.score, c.action, c.on, got)
		}
	}
}
