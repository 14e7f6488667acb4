package intel

import (
	"net/netip"
	"strings"
	"testing"
)

func TestLinesFormatCommentsAndLevels(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "hashes.txt", "\xef\xbb\xbf# feed header\n\n"+
		strings.ToUpper(sha256A)+"   7 # trailing comment\n"+
		sha256B+"\r\n"+
		"  # indented comment\n")
	s := mustLoad(t, Source{Path: p, Kind: SHA256})
	h, ok := s.Hash(sha256A, "", "")
	if !ok || h.Level != 7 || h.Value != sha256A || h.Source != "hashes.txt" || h.Allow || h.Kind != SHA256 {
		t.Fatalf("A: %+v %v", h, ok)
	}
	if h, ok := s.Hash(strings.ToUpper(sha256B), "", ""); !ok || h.Level != 10 {
		t.Fatalf("B without level scores 10: %+v %v", h, ok)
	}
	if _, ok := s.Hash(strings.Repeat("00", 32), "", ""); ok {
		t.Fatal("unlisted hash matched")
	}
	if got := s.Counts()["sha256"]; got != 2 {
		t.Fatalf("count %d", got)
	}
}

func TestSourceLevelAndName(t *testing.T) {
	p := write(t, t.TempDir(), "x.txt", md5A+"\n")
	s := mustLoad(t, Source{Path: p, Kind: MD5, Level: 4, Name: "vendor"})
	if h, ok := s.Hash("", "", md5A); !ok || h.Level != 4 || h.Source != "vendor" || h.Kind != MD5 {
		t.Fatalf("%+v %v", h, ok)
	}
}

func TestBadLinesCountedWithLineNumbers(t *testing.T) {
	p := write(t, t.TempDir(), "ips.txt", "10.0.0.1\nnot-an-ip\n# c\n10.0.0.0/8 11\n192.0.2.0/24 3 extra\n2001:db8::/32\n")
	s, errs := Load([]Source{{Path: p, Kind: IP}})
	les := lineErrors(errs)
	if len(errs) != 3 || len(les) != 3 {
		t.Fatalf("errors: %v", errs)
	}
	for i, want := range []int{2, 4, 5} {
		if les[i].Line != want || les[i].Path != p {
			t.Errorf("error %d at %s:%d, want line %d", i, les[i].Path, les[i].Line, want)
		}
	}
	if !strings.Contains(errs[0].Error(), "ips.txt:2:") {
		t.Errorf("message %q does not name file:line", errs[0])
	}
	if st := s.Stats()[0]; st.Entries != 2 || st.Bad != 3 {
		t.Fatalf("stats %+v", st)
	}
	if _, ok := s.IP(netip.MustParseAddr("10.0.0.1")); !ok {
		t.Fatal("good line around bad ones not loaded")
	}
	if fatal(errs) != nil {
		t.Fatalf("bad lines must not be fatal: %v", fatal(errs))
	}
}

func TestManyBadLinesSummarised(t *testing.T) {
	var b strings.Builder
	b.WriteString(sha1A + "\n")
	for i := 0; i < 250; i++ {
		b.WriteString("zz\n")
	}
	s, errs := Load([]Source{{Path: write(t, t.TempDir(), "h", b.String()), Kind: SHA1}})
	les := lineErrors(errs)
	if len(les) != maxLineErrors+1 || les[maxLineErrors].Line != 0 || !strings.Contains(les[maxLineErrors].Error(), "250 bad") {
		t.Fatalf("%d errors, last %v", len(les), les[len(les)-1])
	}
	if _, ok := s.Hash("", sha1A, ""); !ok {
		t.Fatal("sha1 not loaded")
	}
}

func TestFileLevelErrors(t *testing.T) {
	dir := t.TempDir()
	allBad := write(t, dir, "wrongkind.txt", sha256A+"\n"+sha256B+"\n")
	cases := map[string]Source{
		"no such file":     {Path: dir + "/missing.txt", Kind: SHA256},
		"needs a kind":     {Path: allBad},
		"no valid entries": {Path: allBad, Kind: MD5},
		"unknown format":   {Path: allBad, Kind: SHA256, Format: "xml"},
		"level 11 out of":  {Path: allBad, Kind: SHA256, Level: 11},
	}
	for want, src := range cases {
		_, errs := Load([]Source{src})
		err := fatal(errs)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), src.Path) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}

func TestSplitLine(t *testing.T) {
	for in, want := range map[string]string{
		"a#b":   "a#b", // '#' inside a value is not a comment
		"a #b":  "a",
		"a\t#b": "a",
		"#x":    "",
		"   ":   "",
		"a 0":   "a",
	} {
		v, _, err := splitLine([]byte(in))
		if err != nil || string(v) != want {
			t.Errorf("%q: %q %v", in, v, err)
		}
	}
}

func TestParseKind(t *testing.T) {
	for i, n := range kindNames[1:] {
		k, err := ParseKind(strings.ToUpper(n))
		if err != nil || k != Kind(i+1) || k.String() != n {
			t.Errorf("%s: %v %v", n, k, err)
		}
	}
	if _, err := ParseKind("sha512"); err == nil {
		t.Error("sha512 accepted")
	}
}
