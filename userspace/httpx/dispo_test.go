package httpx

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/edgesensor/edgesensor/userspace/extract"
)

func TestDispositionFilename(t *testing.T) {
	cases := []struct{ in, want string }{
		{`attachment; filename="report.pdf"`, "report.pdf"},
		{`attachment; filename=report.pdf`, "report.pdf"},
		{`attachment; filename*=UTF-8''na%C3%AFve.exe`, "naïve.exe"},
		{`attachment; filename="fallback.exe"; filename*=UTF-8''na%C3%AFve.exe`, "naïve.exe"},
		{`attachment; filename*=utf-8'en'%E2%82%AC%20rates.xlsx; filename="EUR rates.xlsx"`, "€ rates.xlsx"},
		{`attachment; filename*=iso-8859-1'en'%A3%20rates.doc`, "£ rates.doc"},
		{`attachment; filename*=x-unknown''abc.bin; filename="plain.bin"`, "plain.bin"},
		{`attachment; filename*=x-unknown''abc.bin`, "abc.bin"},
		{`attachment; filename*="UTF-8''quoted%20ext.exe"`, "quoted ext.exe"},
		{`attachment; filename="a \"quoted\" \\name.exe"`, `name.exe`}, // the backslash is a path separator once unescaped
		{`attachment; filename="say \"hi\".txt"`, `say "hi".txt`},
		{`attachment; filename="../../etc/passwd"`, "passwd"},
		{`attachment; filename="..\\..\\windows\\evil.dll"`, "evil.dll"},
		{`attachment; filename*=UTF-8''..%2F..%2Fx.sh`, "x.sh"},
		{`attachment; filename="C:\\Users\\x\\payload.exe"`, "payload.exe"},
		{`attachment; filename=".."`, ""},
		{`attachment; filename=my file name.exe; size=3`, "my file name.exe"},
		{`ATTACHMENT; FILENAME = "upper.EXE"`, "upper.EXE"},
		{`filename="no-type.bin"`, "no-type.bin"},
		{`inline`, ""},
		{`attachment; name="field"`, ""},
		{`attachment; filename="unterminated.exe`, "unterminated.exe"},
		{`form-data; name="f"; filename=""`, ""},
		{``, ""},
	}
	for _, c := range cases {
		if got := dispositionFilename(c.in); got != c.want {
			t.Errorf("%s: %q, want %q", c.in, got, c.want)
		}
	}
	// Through the parser: the header wins over the URL.
	s := &recSink{keep: 10}
	conn(t, Options{}, s, get("/dl?id=3"), ok200("x", `Content-Disposition: attachment; filename*=UTF-8''na%C3%AFve.exe`), 0)
	whole(t, s, "naïve.exe", "x")
}

func TestURLName(t *testing.T) {
	cases := []struct{ target, name, url string }{
		{"/a/b/c.exe", "c.exe", "http://h/a/b/c.exe"},
		{"/a/b/c.exe?x=/y.exe#f", "c.exe", "http://h/a/b/c.exe?x=/y.exe#f"},
		{"/dir/", "", "http://h/dir/"},
		{"/%E2%82%AC%20x.pdf", "€ x.pdf", "http://h/%E2%82%AC%20x.pdf"},
		{"/a%2F..%2Fb.exe", "b.exe", "http://h/a%2F..%2Fb.exe"},
		{"/a%5Cb%5Cc.dll", "c.dll", "http://h/a%5Cb%5Cc.dll"},
		{"/bad%zz.bin", "bad%zz.bin", "http://h/bad%zz.bin"},
		{"http://other.test/p/q.zip?z", "q.zip", "http://other.test/p/q.zip?z"},
		{"http://other.test", "", "http://other.test"},
		{"*", "", ""},
	}
	for _, c := range cases {
		if got := urlName(c.target); got != c.name {
			t.Errorf("urlName(%q) = %q, want %q", c.target, got, c.name)
		}
		if got := buildURL("h", c.target); got != c.url {
			t.Errorf("buildURL(%q) = %q, want %q", c.target, got, c.url)
		}
	}
	if n := urlName("/" + strings.Repeat("é", 2000)); len(n) > extract.MaxHeaderValue || !utf8.ValidString(n) {
		t.Errorf("long name: %d bytes, valid %v", len(n), utf8.ValidString(n))
	}
}

func TestMediaTypeAndRange(t *testing.T) {
	if got := mediaType(" Application/PDF ; charset=x"); got != "application/pdf" {
		t.Errorf("mediaType %q", got)
	}
	for v, want := range map[string]bool{"bytes 0-99/100": true, "bytes 0-98/100": false, "bytes 1-99/100": false, "bytes 0-99/*": false, "items 0-99/100": false} {
		if wholeRange(v) != want {
			t.Errorf("wholeRange(%q) != %v", v, want)
		}
	}
	// A 206 of part of a file opens nothing; one of the whole file does.
	s := &recSink{keep: 10}
	partial := msg("HTTP/1.1 206 Partial Content", "abc", "Content-Range: bytes 0-2/10", "Content-Length: 3")
	full := msg("HTTP/1.1 206 Partial Content", "abc", "Content-Range: bytes 0-2/3", "Content-Length: 3")
	p, _ := conn(t, Options{}, s, get("/p")+get("/f"), partial+full, 0)
	whole(t, s, "f", "abc")
	if len(s.files) != 1 || p.stats.Partial != 1 {
		t.Errorf("%d files, partial %d", len(s.files), p.stats.Partial)
	}
}

func FuzzContentDisposition(f *testing.F) {
	for _, s := range []string{
		`attachment; filename="report.pdf"`,
		`attachment; filename*=UTF-8''na%C3%AFve.exe; filename="x"`,
		`attachment; filename="a\"b\\c"`,
		`attachment; filename*=iso-8859-1'en'%A3%20rates.doc`,
		`form-data; name="f"; filename="../../x"`,
		`;;;=;="`, `filename*='`, `filename*=''%`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		n := dispositionFilename(v)
		if len(n) > extract.MaxHeaderValue || strings.ContainsAny(n, `/\`) || n == "." || n == ".." {
			t.Fatalf("%q -> %q", v, n)
		}
		if utf8.ValidString(v) && !strings.Contains(v, "%") && !utf8.ValidString(n) {
			t.Fatalf("valid input gave invalid name: %q -> %q", v, n)
		}
	})
}
