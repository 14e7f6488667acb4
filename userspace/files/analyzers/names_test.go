package analyzers

import (
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// Every test of the package sees analyzer panics: safe() re-panics, so a
// test cannot pass on a panic swallowed as "no finding".
func init() { testPanics = true }

// rules returns the rule ids of rs, for compact expectations.
func rules(rs []score.Reason) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Rule)
	}
	return strings.Join(s, ",")
}

// ruleSet returns the rule ids of rs as a set.
func ruleSet(rs []score.Reason) map[string]bool {
	have := map[string]bool{}
	for _, r := range rs {
		have[r.Rule] = true
	}
	return have
}

// checkRules fails for each rule of want that rs lacks and each rule of
// not that rs has.
func checkRules(t *testing.T, label string, rs []score.Reason, want, not []string) {
	t.Helper()
	have := ruleSet(rs)
	for _, w := range want {
		if !have[w] {
			t.Errorf("%s: no %s in %+v", label, w, rs)
		}
	}
	for _, w := range not {
		if have[w] {
			t.Errorf("%s: %s in %+v", label, w, rs)
		}
	}
}

func TestCheckName(t *testing.T) {
	pe := filetype.Type{Kind: filetype.KindPE, Category: filetype.Executable}
	tests := []struct {
		name string
		t    filetype.Type
		want string
	}{
		{"invoice.pdf", filetype.Type{Kind: filetype.KindPDF}, ""},
		{"setup.exe", pe, ""},
		{"archive.tar.gz", filetype.Type{Kind: filetype.KindGzip}, ""},
		{"invoice.pdf.exe", pe, "name.double_extension"},
		{`C:\Users\x\Invoice.PDF.Exe`, pe, "name.double_extension"},
		{"photo.jpg.scr", pe, "name.double_extension"},
		{"invoice.pdf.exe. . ", pe, "name.double_extension"},
		{"version.1.2.exe", pe, ""},
		{"invoice\u202Efdp.exe", pe, "name.bidi_control"},
		{"a\u2067b.txt", filetype.Type{}, "name.bidi_control"},
		{"photo.jpg", filetype.Type{Kind: filetype.KindPE, Mismatch: true}, "name.extension_mismatch"},
		{"doc.pdf          .exe", pe, "name.whitespace_padding,name.double_extension"},
		{"doc\u3000\u3000\u3000\u3000\u3000.exe", pe, "name.whitespace_padding"},
		{"doc    .exe", pe, ""},
		{"", filetype.Type{}, ""},
		{".exe", pe, ""},
	}
	for _, tc := range tests {
		if got := rules(checkName(tc.name, tc.t)); got != tc.want {
			t.Errorf("checkName(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestAnalyzeOrderAndEICAR(t *testing.T) {
	const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`
	ty := filetype.Detect([]byte(eicar), "eicar.com", "", int64(len(eicar)))
	if ty.Kind != filetype.KindEICAR {
		t.Fatalf("fixture typed %q", ty.Kind)
	}
	rs := Analyze(strings.NewReader(eicar), int64(len(eicar)), ty, "readme.txt.com", Limits{})
	if len(rs) == 0 || rs[0].Rule != "eicar" || rs[0].Weight != 10 {
		t.Fatalf("got %+v", rs)
	}
	for i := 1; i < len(rs); i++ {
		if rs[i].Weight > rs[i-1].Weight {
			t.Errorf("not strongest first: %+v", rs)
		}
	}
}

func FuzzNames(f *testing.F) {
	for _, s := range []string{"invoice.pdf.exe", "a\u202Eb.exe", "doc.pdf      .exe", "\xff\xfe.exe", "..", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		checkName(name, filetype.Type{Mismatch: len(name)%2 == 0})
	})
}
