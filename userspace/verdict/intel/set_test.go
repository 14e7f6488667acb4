package intel

import (
	"net/netip"
	"strings"
	"testing"
)

func TestAllowWinsHash(t *testing.T) {
	dir := t.TempDir()
	block := write(t, dir, "block.txt", sha256A+" 9\n")
	block1 := write(t, dir, "block1.txt", sha1A+"\n")
	allow := write(t, dir, "allow.txt", strings.ToUpper(sha256A)+"\n")
	// Allow listed after block, and before: order must not matter.
	for _, srcs := range [][]Source{
		{{Path: block, Kind: SHA256}, {Path: allow, Kind: SHA256, Allow: true}},
		{{Path: allow, Kind: SHA256, Allow: true}, {Path: block, Kind: SHA256}},
	} {
		srcs = append(srcs, Source{Path: block1, Kind: SHA1})
		s := mustLoad(t, srcs...)
		h, ok := s.Hash(sha256A, "", "")
		if !ok || !h.Allow || h.Source != "allow.txt" || h.Level != 0 {
			t.Fatalf("%+v %v", h, ok)
		}
		// An allow on one digest of a file beats a block on another.
		if h, ok := s.Hash(sha256A, sha1A, ""); !ok || !h.Allow {
			t.Fatalf("mixed digests: %+v %v", h, ok)
		}
		if h, ok := s.Hash("zz", sha1A, ""); !ok || h.Allow || h.Kind != SHA1 {
			t.Fatalf("sha1 block: %+v %v", h, ok)
		}
	}
}

func TestDuplicateBlockKeepsHigherLevel(t *testing.T) {
	dir := t.TempDir()
	s := mustLoad(t,
		Source{Path: write(t, dir, "a", ja4A+" 3\n"), Kind: JA4},
		Source{Path: write(t, dir, "b", strings.ToUpper(ja4A)+" 8\n"), Kind: JA4})
	if h, ok := s.JA4(strings.ToUpper(ja4A)); !ok || h.Level != 8 || h.Source != "b" || h.Value != ja4A {
		t.Fatalf("%+v %v", h, ok)
	}
}

func TestIPLongestPrefixAndAllow(t *testing.T) {
	dir := t.TempDir()
	s := mustLoad(t,
		Source{Path: write(t, dir, "block", "10.0.0.0/8 2\n10.1.0.0/16 5\n10.1.2.3 9\n192.0.2.0/24\n2001:db8::/32 4\n2001:db8:1::/48 6\n::ffff:203.0.113.0/120 7\n"), Kind: IP},
		Source{Path: write(t, dir, "allow", "192.0.2.0/25\n10.9.9.9\n2001:db8:1:2::/64\n"), Kind: IP, Allow: true})
	cases := []struct {
		addr  string
		ok    bool
		allow bool
		value string
		level int
	}{
		{"10.200.0.1", true, false, "10.0.0.0/8", 2},
		{"10.1.200.1", true, false, "10.1.0.0/16", 5},
		{"10.1.2.3", true, false, "10.1.2.3", 9},
		{"::ffff:10.1.2.3", true, false, "10.1.2.3", 9}, // v4-mapped meets v4 entries
		{"10.9.9.9", true, true, "10.9.9.9", 0},         // allow host inside block /8
		{"192.0.2.1", true, true, "192.0.2.0/25", 0},    // allow CIDR shorter than nothing else
		{"192.0.2.200", true, false, "192.0.2.0/24", 10},
		{"2001:db8:ffff::1", true, false, "2001:db8::/32", 4},
		{"2001:db8:1:3::1", true, false, "2001:db8:1::/48", 6},
		{"2001:db8:1:2::1", true, true, "2001:db8:1:2::/64", 0},
		{"203.0.113.77", true, false, "203.0.113.0/24", 7}, // mapped CIDR stored as v4
		{"2001:db9::1", false, false, "", 0},
		{"11.0.0.1", false, false, "", 0},
	}
	for _, c := range cases {
		h, ok := s.IP(netip.MustParseAddr(c.addr))
		if ok != c.ok || h.Allow != c.allow || h.Value != c.value || h.Level != c.level {
			t.Errorf("%s: %+v %v", c.addr, h, ok)
		}
	}
	// An allow CIDR wins over a more specific block host.
	s2 := mustLoad(t,
		Source{Path: write(t, dir, "b2", "172.16.5.5\n"), Kind: IP},
		Source{Path: write(t, dir, "a2", "172.16.0.0/12\n"), Kind: IP, Allow: true})
	if h, ok := s2.IP(netip.MustParseAddr("172.16.5.5")); !ok || !h.Allow {
		t.Fatalf("allow CIDR vs block host: %+v %v", h, ok)
	}
	if _, ok := s2.IP(netip.Addr{}); ok {
		t.Fatal("invalid address matched")
	}
}

func TestDomainParentsAndAllow(t *testing.T) {
	dir := t.TempDir()
	s := mustLoad(t,
		Source{Path: write(t, dir, "block", "evil.example 6\ncdn.good.example 8\n*.wild.example\n"), Kind: Domain},
		Source{Path: write(t, dir, "allow", "ok.evil.example\ngood.example\n"), Kind: Domain, Allow: true})
	cases := []struct {
		name  string
		ok    bool
		allow bool
		value string
	}{
		{"evil.example", true, false, "evil.example"},
		{"A.B.EVIL.EXAMPLE.", true, false, "evil.example"},
		{"evil.example:443", true, false, "evil.example"},
		{"x.ok.evil.example", true, true, "ok.evil.example"}, // child allow beats parent block
		{"a.cdn.good.example", true, true, "good.example"},   // parent allow beats child block
		{"x.wild.example", true, false, "wild.example"},
		{"notevil.example", false, false, ""},
		{"example", false, false, ""},
		{"", false, false, ""},
	}
	for _, c := range cases {
		h, ok := s.Domain(c.name)
		if ok != c.ok || h.Allow != c.allow || h.Value != c.value {
			t.Errorf("%q: %+v %v", c.name, h, ok)
		}
	}
}

func TestValueValidation(t *testing.T) {
	good := map[Kind][]string{
		SHA256: {sha256A}, SHA1: {sha1A}, MD5: {md5A}, JA3: {ja3A}, JA4: {ja4A, "q13i0310h3_55b375c5d22e_cd85d2d88918"},
		IP: {"1.2.3.4", "1.2.3.4/24", "::1", "fe80::/10"}, Domain: {"a.b", "xn--bcher-kva.example", "_dmarc.x.test", "localhost"},
	}
	bad := map[Kind][]string{
		SHA256: {sha1A, sha256A[:63] + "g"}, SHA1: {md5A}, MD5: {sha1A}, JA3: {ja4A},
		JA4:    {ja3A, "x13d1516h2_8daaf6152771_02713d6af862", "t13d1516h2_8daaf615277z_02713d6af862", "t13x1516h2_8daaf6152771_02713d6af862"},
		IP:     {"1.2.3", "1.2.3.4/33", "fe80::1%eth0", "host"},
		Domain: {"a..b", ".", "-", "bad domain", "exämple.com", strings.Repeat("a", 64) + ".com"},
	}
	for k, vs := range good {
		for _, v := range vs {
			if err := newBuilder().add(k, []byte(v), entry{}); err != nil {
				t.Errorf("%s %q rejected: %v", k, v, err)
			}
		}
	}
	for k, vs := range bad {
		for _, v := range vs {
			if err := newBuilder().add(k, []byte(v), entry{}); err == nil {
				t.Errorf("%s %q accepted", k, v)
			}
		}
	}
}

func TestNilSetAndCounts(t *testing.T) {
	var s *Set
	if _, ok := s.Hash(sha256A, "", ""); ok {
		t.Fatal("nil set matched")
	}
	if _, ok := s.Domain("x.y"); ok {
		t.Fatal("nil set matched")
	}
	dir := t.TempDir()
	s = mustLoad(t,
		Source{Path: write(t, dir, "i", "1.2.3.4\n::/0\n1.2.3.4\n"), Kind: IP},
		Source{Path: write(t, dir, "j", ja3A+"\n"), Kind: JA3})
	c := s.Counts()
	if c["ip"] != 2 || c["ja3"] != 1 || c["sha256"] != 0 {
		t.Fatalf("%v", c)
	}
}
