package intel

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

const bundle = `{
  "type": "bundle",
  "id": "bundle--1",
  "objects": [
    {"type": "identity", "id": "identity--1", "name": "x"},
    {"type": "indicator", "id": "indicator--hash", "pattern_type": "stix",
     "pattern": "[file:hashes.'SHA-256' = '` + "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB" + `'] OR [file:hashes.MD5 = 'efefefefefefefefefefefefefefefef']",
     "confidence": 64},
    {"type": "indicator", "id": "indicator--net",
     "pattern": "[ipv4-addr:value = '198.51.100.0/24' OR ipv6-addr:value = '2001:db8::/32']",
     "x_threat_level": 3, "confidence": 100},
    {"type": "indicator", "id": "indicator--dom",
     "pattern": "[domain-name:value = 'evil.example'] OR [url:value = 'http://Bad.Test:8080/x?y=1'] OR [url:value = 'https://192.0.2.7/a']"},
    {"type": "indicator", "id": "indicator--revoked", "revoked": true,
     "pattern": "[domain-name:value = 'revoked.example']"},
    {"type": "indicator", "id": "indicator--expired", "valid_until": "2001-01-01T00:00:00Z",
     "pattern": "[domain-name:value = 'expired.example']"},
    {"type": "indicator", "id": "indicator--future", "valid_until": "2999-01-01T00:00:00.000Z",
     "pattern": "[domain-name:value = 'current.example']"},
    {"type": "indicator", "id": "indicator--and",
     "pattern": "[domain-name:value = 'and.example' AND domain-name:value = 'x.example']"},
    {"type": "indicator", "id": "indicator--matches",
     "pattern": "[domain-name:value MATCHES '^a']"},
    {"type": "indicator", "id": "indicator--within",
     "pattern": "[domain-name:value = 'w.example'] WITHIN 5 SECONDS"},
    {"type": "indicator", "id": "indicator--mixed",
     "pattern": "[file:name = 'x.exe'] OR [domain-name:value = 'mixed.example']"},
    {"type": "indicator", "id": "indicator--sigma", "pattern_type": "sigma", "pattern": "title: x"},
    {"type": "indicator", "id": "indicator--badtype", "pattern": 7}
  ]
}`

func TestSTIXBundle(t *testing.T) {
	p := write(t, t.TempDir(), "feed.json", bundle)
	s, errs := Load([]Source{{Path: p}})
	if err := fatal(errs); err != nil {
		t.Fatal(err)
	}
	// and, matches, within, file:name term, sigma, bad type
	les := lineErrors(errs)
	if len(les) != 6 {
		t.Fatalf("%d errors: %v", len(les), errs)
	}
	if les[0].Line != 20 || !strings.Contains(les[0].Error(), "indicator--and") || !strings.Contains(les[0].Error(), "AND") {
		t.Errorf("first error %v", les[0])
	}
	if h, ok := s.Hash(sha256A, "", ""); !ok || h.Level != 6 || h.Source != "feed.json" {
		t.Errorf("sha256 with confidence 64: %+v %v", h, ok)
	}
	if h, ok := s.Hash("", "", strings.ToUpper(md5A)); !ok || h.Level != 6 {
		t.Errorf("ORed md5: %+v %v", h, ok)
	}
	if h, ok := s.IP(netip.MustParseAddr("198.51.100.9")); !ok || h.Level != 3 || h.Value != "198.51.100.0/24" {
		t.Errorf("x_threat_level wins over confidence: %+v %v", h, ok)
	}
	if _, ok := s.IP(netip.MustParseAddr("2001:db8::1")); !ok {
		t.Error("ipv6 term in the same brackets")
	}
	if h, ok := s.IP(netip.MustParseAddr("192.0.2.7")); !ok || h.Level != 10 {
		t.Errorf("url with an IP host: %+v %v", h, ok)
	}
	for name, want := range map[string]bool{
		"a.evil.example": true, "bad.test": true, "current.example": true, "mixed.example": true,
		"revoked.example": false, "expired.example": false, "and.example": false, "w.example": false,
	} {
		if _, ok := s.Domain(name); ok != want {
			t.Errorf("%s: matched %v, want %v", name, ok, want)
		}
	}
	if st := s.Stats()[0]; st.Skipped != 2 || st.Bad != 6 {
		t.Errorf("stats %+v", st)
	}
}

func TestSTIXBrokenJSONIsFileError(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"trunc.json":  bundle[:len(bundle)/2],
		"notbun.json": `{"type":"indicator","pattern":"[domain-name:value = 'x.example']"}`,
		"array.json":  `[]`,
	} {
		_, errs := Load([]Source{{Path: write(t, dir, name, body)}})
		if err := fatal(errs); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, errs)
		}
	}
}

func TestParsePattern(t *testing.T) {
	ok := map[string][]comparison{
		`[file:hashes.'SHA-256' = 'aa']`:            {{"file:hashes.sha-256", "aa"}},
		`[a:b='x\'y' OR c:d = 'z'] OR [e:f = '\\']`: {{"a:b", "x'y"}, {"c:d", "z"}, {"e:f", `\`}},
		"  [url:value = 'http://x/']  ":             {{"url:value", "http://x/"}},
	}
	for in, want := range ok {
		got, err := parsePattern(in)
		if err != nil || len(got) != len(want) {
			t.Errorf("%s: %v %v", in, got, err)
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: term %d %v want %v", in, i, got[i], want[i])
			}
		}
	}
	for _, in := range []string{"", "[", "[a:b = 'x'", "[a:b = 'x'] OR", "[a:b != 'x']", "[a:b > 5]",
		"[a:b = 'x'] AND [c:d = 'y']", "[a:b = 'x'] FOLLOWEDBY [c:d = 'y']", "([a:b = 'x'])", "[a:b = h'00']", "[= 'x']"} {
		if got, err := parsePattern(in); err == nil {
			t.Errorf("%q accepted: %v", in, got)
		}
	}
}

// An IP indicator's valid_until is the entry's expiry: listed with it,
// and no longer matched once it passes (the set is not reloaded).
func TestSTIXAddressExpires(t *testing.T) {
	defer func(f func() time.Time) { now = f }(now)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now = func() time.Time { return base }
	dir := t.TempDir()
	p := write(t, dir, "feed.json", `{"type":"bundle","objects":[
	 {"type":"indicator","id":"indicator--a","pattern":"[ipv4-addr:value = '192.0.2.9']","valid_until":"2026-01-01T01:00:00Z"},
	 {"type":"indicator","id":"indicator--b","pattern":"[ipv4-addr:value = '192.0.2.0/24']"}]}`)
	s := mustLoad(t, Source{Path: p, Format: "stix"})
	var until time.Time
	s.IPEntries(func(e IPEntry) {
		if e.Prefix.Bits() == 32 {
			until = e.Until
		}
	})
	if !until.Equal(base.Add(time.Hour)) {
		t.Fatalf("expiry of 192.0.2.9: %v", until)
	}
	if h, ok := s.IP(netip.MustParseAddr("192.0.2.9")); !ok || h.Value != "192.0.2.9" {
		t.Fatalf("before expiry: %+v %v", h, ok)
	}
	now = func() time.Time { return base.Add(2 * time.Hour) }
	if h, ok := s.IP(netip.MustParseAddr("192.0.2.9")); !ok || h.Value != "192.0.2.0/24" {
		t.Errorf("after expiry the /24 should match instead: %+v %v", h, ok)
	}
	n := 0
	s.IPEntries(func(IPEntry) { n++ })
	if n != 1 {
		t.Errorf("%d entries after expiry, want 1", n)
	}
}

// An address one source lists without an expiry never lapses, whichever
// source comes first.
func TestAddressExpiryAcrossSources(t *testing.T) {
	defer func(f func() time.Time) { now = f }(now)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now = func() time.Time { return base }
	dir := t.TempDir()
	lines := write(t, dir, "c2.txt", "192.0.2.9 9\n")
	feed := write(t, dir, "feed.json", `{"type":"bundle","objects":[
	 {"type":"indicator","id":"indicator--a","pattern":"[ipv4-addr:value = '192.0.2.9']","valid_until":"2026-01-01T01:00:00Z"}]}`)
	for _, order := range [][]Source{
		{{Path: lines, Kind: IP}, {Path: feed, Format: "stix"}},
		{{Path: feed, Format: "stix"}, {Path: lines, Kind: IP}},
	} {
		now = func() time.Time { return base }
		s := mustLoad(t, order...)
		now = func() time.Time { return base.Add(2 * time.Hour) }
		if _, ok := s.IP(netip.MustParseAddr("192.0.2.9")); !ok {
			t.Errorf("%s first: the address lapsed with the feed's valid_until", order[0].Path)
		}
	}
}
