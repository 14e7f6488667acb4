package enforce

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/setting"
	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
)

func loadSet(t *testing.T, files map[string]string, kinds map[string]string, allow map[string]bool) *intel.Set {
	t.Helper()
	dir := t.TempDir()
	var srcs []intel.Source
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		k, err := intel.ParseKind(kinds[name])
		if err != nil && kinds[name] != "" {
			t.Fatal(err)
		}
		format := ""
		if kinds[name] == "" {
			format = "stix"
		}
		srcs = append(srcs, intel.Source{Path: p, Kind: k, Name: name, Allow: allow[name], Format: format})
	}
	set, errs := intel.Load(srcs)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	return set
}

func TestBuild(t *testing.T) {
	set := loadSet(t, map[string]string{
		"c2":    "198.51.100.7 9\n203.0.113.0/24 8\n192.0.2.1 3\n2001:db8::/32 10\n",
		"ours":  "198.51.100.0/25\n",
		"names": "evil.example 9\n",
		"feed":  `{"type":"bundle","objects":[{"type":"indicator","id":"indicator--1","pattern":"[ipv4-addr:value = '192.0.2.77']","valid_until":"2999-01-01T00:00:00Z","x_threat_level":9}]}`,
	}, map[string]string{"c2": "ip", "ours": "ip", "names": "domain"}, map[string]bool{"ours": true})
	s := DefaultSettings()
	s.Allow = []string{"10.0.0.0/8", "fd00::1"}
	tb := Build(set, &s)
	got := map[string]Entry{}
	for _, e := range tb.Entries {
		got[e.Prefix.String()] = e
	}
	if len(tb.Entries) != 4 || tb.Below != 1 {
		t.Fatalf("entries %v, below %d; want 4 and 1 (192.0.2.1 is level 3)", got, tb.Below)
	}
	if e := got["203.0.113.0/24"]; e.Level != 8 || tb.Lists[e.List] != "c2" {
		t.Errorf("203.0.113.0/24: %+v (lists %v)", e, tb.Lists)
	}
	if e := got["192.0.2.77/32"]; e.Until.Year() != 2999 || tb.Lists[e.List] != "feed" {
		t.Errorf("STIX entry lost its valid_until or list: %+v", e)
	}
	allow := map[netip.Prefix]bool{}
	for _, p := range tb.Allow {
		allow[p] = true
	}
	for _, p := range []string{"10.0.0.0/8", "fd00::1/128", "198.51.100.0/25"} {
		if !allow[netip.MustParsePrefix(p)] {
			t.Errorf("allowlist lacks %s: %v", p, tb.Allow)
		}
	}
	s.Threshold = 9
	if tb := Build(set, &s); len(tb.Entries) != 3 {
		t.Errorf("threshold 9: %d entries, want 3", len(tb.Entries))
	}
	if tb := Build(nil, &s); len(tb.Entries) != 0 || len(tb.Allow) != 2 || len(tb.Lists) == 0 {
		t.Errorf("no intel: %+v", tb)
	}
}

func TestBuildManyLists(t *testing.T) {
	files, kinds := map[string]string{}, map[string]string{}
	for i := 0; i < MaxLists+5; i++ {
		n := "list" + string(rune('A'+i/26)) + string(rune('a'+i%26))
		files[n], kinds[n] = "192.0.2.1 9\n", "ip"
	}
	s := DefaultSettings()
	tb := Build(loadSet(t, files, kinds, nil), &s)
	if len(tb.Lists) != MaxLists || tb.Lists[MaxLists-1] != "other" {
		t.Fatalf("%d lists, last %q; want %d ending in other", len(tb.Lists), tb.Lists[len(tb.Lists)-1], MaxLists)
	}
	if id := tb.ListID("not-there"); int(id) != MaxLists-1 {
		t.Errorf("unknown source went to list %d", id)
	}
}

func bit(bits []uint64, top uint32) bool { return bits[top>>6]>>(top&63)&1 == 1 }

func TestPrefilter(t *testing.T) {
	es := []Entry{
		{Prefix: netip.MustParsePrefix("198.51.100.7/32")},
		{Prefix: netip.MustParsePrefix("203.0.112.0/22")},
		{Prefix: netip.MustParsePrefix("100.0.0.0/8")},
		{Prefix: netip.MustParsePrefix("2001:db8:bad::/48")},
	}
	v4 := Prefilter(es, false, false)
	for top, want := range map[uint32]bool{
		198<<16 | 51<<8 | 100: true, 198<<16 | 51<<8 | 101: false,
		203<<16 | 0<<8 | 111: false, 203<<16 | 0<<8 | 112: true, 203<<16 | 0<<8 | 115: true, 203<<16 | 0<<8 | 116: false,
		100 << 16: true, 100<<16 | 255<<8 | 255: true, 101 << 16: false, 99<<16 | 255<<8 | 255: false,
	} {
		if bit(v4, top) != want {
			t.Errorf("v4 bit %06x = %v, want %v", top, !want, want)
		}
	}
	if n := count(v4); n != 1+4+65536 {
		t.Errorf("%d v4 bits set, want %d", n, 1+4+65536)
	}
	v6 := Prefilter(es, true, false)
	if !bit(v6, 0x20010d) || count(v6) != 1 {
		t.Errorf("v6: top 24 bits of 2001:db8:bad:: not the only one set (%d set)", count(v6))
	}
	p4 := Prefilter(es, false, true)
	if bit(p4, 198<<16|51<<8|100) || !bit(p4, 203<<16|0<<8|112) {
		t.Errorf("prefix-only prefilter holds an address or lacks a prefix")
	}
}

func count(b []uint64) int {
	n := 0
	for _, w := range b {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}

func TestHandshake(t *testing.T) {
	set := loadSet(t, map[string]string{
		"names": "evil.example 9\nmeh.example 5\n",
		"ja3":   "e7d705a3286e19ea42f587b344ee6865 8\n",
		"good":  "good.evil.example\n",
	}, map[string]string{"names": "domain", "ja3": "ja3", "good": "domain"}, map[string]bool{"good": true})
	for _, c := range []struct {
		sni, ja3 string
		block    bool
		reason   Reason
	}{
		{"a.evil.example", "", true, ReasonSNI},
		{"meh.example", "", false, ReasonNone},
		{"x.example", "E7D705A3286E19EA42F587B344EE6865", true, ReasonJA3},
		{"good.evil.example", "", false, ReasonNone},                                 // allowlisted child of a blocked name
		{"good.evil.example", "e7d705a3286e19ea42f587b344ee6865", false, ReasonNone}, // an allow hit wins
		{"", "", false, ReasonNone},
	} {
		h, r, ok := Handshake(set, 7, c.sni, c.ja3, "")
		if ok != c.block || r != c.reason {
			t.Errorf("sni %q ja3 %q: block %v reason %v (%+v), want %v %v", c.sni, c.ja3, ok, r, h, c.block, c.reason)
		}
	}
	if _, _, ok := Handshake(nil, 7, "evil.example", "", ""); ok {
		t.Error("nil intel blocked")
	}
}

func TestSettingsValidate(t *testing.T) {
	for _, c := range []struct {
		mutate func(*Settings)
		key    string
	}{
		{func(s *Settings) { s.Mode = "drop" }, "enforcement.mode"},
		{func(s *Settings) { s.Threshold = 0 }, "enforcement.threshold"},
		{func(s *Settings) { s.MaxAge = setting.Duration(time.Second) }, "enforcement.max_age"},
		{func(s *Settings) { s.Allow = []string{"10.0.0.0/8", "not-an-ip"} }, "enforcement.allow[1]"},
		{func(s *Settings) { s.MaxBlockedFlows = 0 }, "enforcement.max_blocked_flows"},
		{func(s *Settings) { s.FlowBlockFor = 0 }, "enforcement.flow_block_for"},
	} {
		mutate, key := c.mutate, c.key
		s := DefaultSettings()
		mutate(&s)
		var p setting.Problems
		s.Validate("enforcement", &p)
		if err := p.Err(); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("want a problem naming %s, got %v", key, err)
		}
	}
	s := DefaultSettings()
	s.Mode, s.Allow = "Monitor", []string{"::ffff:192.0.2.0/120", "2001:db8::1"}
	var p setting.Problems
	s.Validate("enforcement", &p)
	if err := p.Err(); err != nil || s.ModeValue() != Monitor {
		t.Fatalf("valid settings refused: %v", err)
	}
	if got := s.AllowPrefixes(); got[0] != netip.MustParsePrefix("192.0.2.0/24") || got[1] != netip.MustParsePrefix("2001:db8::1/128") {
		t.Errorf("allow prefixes %v", got)
	}
}

// With the cloud's feed: its blocks load as the files' do, a prefix both
// list loads once (the file's entry), and a feed allow entry reaches the
// data plane's allowlist only where no local block covers it or lies
// inside it (there it would beat the local block).
func TestBuildWithFeed(t *testing.T) {
	dir := t.TempDir()
	local := filepath.Join(dir, "local")
	os.WriteFile(local, []byte("10.0.5.5 9\n172.16.0.0/16 8\n198.51.100.9 7\n"), 0o644)
	layer := intel.NewLayer()
	b, _ := intel.NewBatch([]string{"cloud"})
	for _, e := range []struct {
		v     string
		level int
		allow bool
	}{
		{"10.0.0.0/16", 0, true},      // holds the local block 10.0.5.5: left out
		{"172.16.3.4", 0, true},       // inside the local /16: left out
		{"192.0.2.0/24", 0, true},     // overlaps nothing local: in
		{"198.51.100.9", 10, false},   // listed locally too: the file's entry
		{"203.0.113.0/24", 9, false},  // the feed's alone
		{"203.0.113.128/25", 0, true}, // a feed allow inside a feed block: in
	} {
		if err := b.Add(intel.IP, []byte(e.v), e.level, e.allow, 0, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	layer.Replace(b)
	r, err := intel.NewReloaderFeed([]intel.Source{{Path: local, Kind: intel.IP, Name: "local"}}, layer)
	if err != nil {
		t.Fatal(err)
	}
	s := DefaultSettings()
	tb := Build(r.Current(), &s)
	entries := map[string]string{}
	for _, e := range tb.Entries {
		entries[e.Prefix.String()] = tb.Lists[e.List]
	}
	want := map[string]string{"10.0.5.5/32": "local", "172.16.0.0/16": "local", "198.51.100.9/32": "local", "203.0.113.0/24": "feed:cloud"}
	if len(entries) != len(want) {
		t.Errorf("entries %v, want %v", entries, want)
	}
	for p, l := range want {
		if entries[p] != l {
			t.Errorf("%s: list %q, want %q", p, entries[p], l)
		}
	}
	allow := map[string]bool{}
	for _, p := range tb.Allow {
		allow[p.String()] = true
	}
	if !allow["192.0.2.0/24"] || !allow["203.0.113.128/25"] || allow["10.0.0.0/16"] || allow["172.16.3.4/32"] || tb.FeedAllowLeftOut != 2 {
		t.Errorf("allowlist %v, left out %d", tb.Allow, tb.FeedAllowLeftOut)
	}
}
