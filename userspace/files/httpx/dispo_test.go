package httpx

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
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
		// Unescaped Windows paths, as servers send them: the backslashes
		// are separators, not escapes, and the directories (naming the
		// user) go.
		{`attachment; filename="C:\Users\alice\Downloads\x.exe"`, "x.exe"},
		{`attachment; filename="\\fileserver\Users\bob\setup.exe"`, "setup.exe"},
		{`attachment; filename="C:\Users\carol\\Desktop\a \"b\".exe"`, `a "b".exe`},
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

func TestFormDataFilename(t *testing.T) {
	cases := []struct{ in, want string }{
		// Internet Explorer and older Edge: the whole path, as is.
		{`form-data; name="f"; filename="C:\Users\alice\Documents\report.exe"`, "report.exe"},
		{`form-data; name="f"; filename="\\srv\profiles$\bob\x.zip"`, "x.zip"},
		// Browsers: '"' as %22, CR and LF as %0D, %0A; backslash literal.
		{`form-data; name="f"; filename="say %22hi%22.exe"`, `say "hi".exe`},
		{`form-data; name="f"; filename="a\b%0a.exe"`, "b\n.exe"},
		// Older clients escaping '"' and '\'.
		{`form-data; name="f"; filename="C:\\Users\\me\\tool.exe"`, "tool.exe"},
		{`form-data; name="f"; filename="say \"hi\".txt"`, `say "hi".txt`},
		{`form-data; name="f"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`, "résumé.pdf"},
		{`form-data; name="f"`, ""},
	}
	for _, c := range cases {
		if got := formDataFilename(c.in); got != c.want {
			t.Errorf("%s: %q, want %q", c.in, got, c.want)
		}
	}
	// Through the parser: an upload as Internet Explorer sends it, and a
	// download whose Content-Disposition carries the server-side path.
	exe := testBody(2000, 3)
	b := "----IEboundary"
	body := "--" + b + "\r\n" +
		"Content-Disposition: form-data; name=\"upfile\"; filename=\"C:\\Users\\alice.smith\\Desktop\\invoice.exe\"\r\n" +
		"Content-Type: application/x-msdownload\r\n\r\n" + exe + "\r\n--" + b + "--\r\n"
	s := &recSink{keep: 1 << 20}
	conn(t, Options{Uploads: true}, s, msg("POST /up HTTP/1.1", body, "Host: h.test", "Content-Type: multipart/form-data; boundary="+b,
		fmt.Sprintf("Content-Length: %d", len(body))), ok200("ok"), 0)
	whole(t, s, "invoice.exe", exe)
	s = &recSink{keep: 10}
	conn(t, Options{}, s, get("/dl?id=3"), ok200("x", `Content-Disposition: attachment; filename="C:\Users\alice.smith\Downloads\x.exe"`), 0)
	whole(t, s, "x.exe", "x")
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
	// Without Host the origin-form target stays alone, for the caller to
	// put the server's address in front.
	if got := buildURL("", "/a/b.exe"); got != "/a/b.exe" {
		t.Errorf("buildURL without host = %q", got)
	}
	if n := urlName("/" + strings.Repeat("é", 2000)); len(n) > transfer.MaxHeaderValue || !utf8.ValidString(n) {
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
	// A 206 from byte 0 opens a file that waits for the rest (here in
	// vain: not final); one from the middle opens nothing; one of the
	// whole file is whole.
	s := &recSink{keep: 10}
	first := msg("HTTP/1.1 206 Partial Content", "abc", "Content-Range: bytes 0-2/10", "Content-Length: 3")
	middle := msg("HTTP/1.1 206 Partial Content", "abc", "Content-Range: bytes 5-7/10", "Content-Length: 3")
	full := msg("HTTP/1.1 206 Partial Content", "abc", "Content-Range: bytes 0-2/3", "Content-Length: 3")
	p, _ := conn(t, Options{}, s, get("/m", "Range: bytes=5-7")+get("/p", "Range: bytes=0-2")+get("/f"), middle+first+full, 0)
	whole(t, s, "f", "abc")
	if f := file(t, s, "p"); f.cut != transfer.CutNotFinal || f.meta.Size != 10 {
		t.Errorf("first range alone: cut %q size %d", f.cut, f.meta.Size)
	}
	if len(s.files) != 2 || p.stats.Partial != 1 {
		t.Errorf("%d files, partial %d", len(s.files), p.stats.Partial)
	}
}

// A file fetched as ranges in order on one connection is one file, whole
// at its last range; ranges out of order, of another URL or of another
// size join nothing.
func TestRangesJoined(t *testing.T) {
	body := testBody(1000, 3)
	rng := func(target string, a, b, total int) (string, string) {
		return get(target, "Range: bytes="+strconv.Itoa(a)+"-"+strconv.Itoa(b)),
			msg("HTTP/1.1 206 Partial Content", body[a:b+1], "Content-Range: bytes "+strconv.Itoa(a)+"-"+strconv.Itoa(b)+"/"+strconv.Itoa(total),
				"Content-Length: "+strconv.Itoa(b-a+1))
	}
	var req, resp string
	for _, r := range [][2]int{{0, 299}, {300, 599}, {600, 999}} {
		q, s := rng("/dl/setup.exe", r[0], r[1], 1000)
		req, resp = req+q, resp+s
	}
	for _, n := range []int{0, 1, 7} {
		s := &recSink{keep: 1 << 20}
		p, _ := conn(t, Options{}, s, req, resp, n)
		f := whole(t, s, "setup.exe", body)
		if len(s.files) != 1 || f.meta.Size != 1000 || p.stats.RangesJoined != 2 || p.stats.Partial != 0 {
			t.Errorf("feed %d: %d files, size %d, joined %d, partial %d", n, len(s.files), f.meta.Size, p.stats.RangesJoined, p.stats.Partial)
		}
	}

	// Out of order: the third range does not follow the first.
	q1, s1 := rng("/dl/setup.exe", 0, 299, 1000)
	q3, s3 := rng("/dl/setup.exe", 600, 999, 1000)
	s := &recSink{keep: 1 << 20}
	p, _ := conn(t, Options{}, s, q1+q3, s1+s3, 0)
	if len(s.files) != 1 || s.files[0].cut != transfer.CutNotFinal || p.stats.Partial != 1 {
		t.Errorf("out of order: %d files, partial %d", len(s.files), p.stats.Partial)
	}
	// Another URL, and the same URL with another size.
	q2, s2 := rng("/dl/other.exe", 300, 599, 1000)
	q2b, s2b := rng("/dl/setup.exe", 300, 599, 2000)
	s = &recSink{keep: 1 << 20}
	p, _ = conn(t, Options{}, s, q1+q2+q2b, s1+s2+strings.Replace(s2b, "/1000", "/2000", 1), 0)
	if len(s.files) != 1 || s.files[0].cut != transfer.CutNotFinal || p.stats.RangesJoined != 0 || p.stats.Partial != 2 {
		t.Errorf("other URL or size: %d files, joined %d, partial %d", len(s.files), p.stats.RangesJoined, p.stats.Partial)
	}
	// A gap in a range: the joined file is incomplete.
	s = &recSink{keep: 1 << 20}
	p = New(s, Options{}, nil)
	q2, s2 = rng("/dl/setup.exe", 300, 599, 1000)
	p.Data(true, []byte(q1+q2+q3))
	p.Data(false, []byte(s1[:len(s1)-100]))
	p.Gap(false, 100)
	p.Data(false, []byte(s2+s3))
	p.Close()
	if len(s.files) != 1 || s.files[0].cut != transfer.CutGap {
		t.Errorf("gap: %+v", s.files)
	}
	// Another ETag: another version of the file, not joined.
	s = &recSink{keep: 1 << 20}
	p, _ = conn(t, Options{}, s, q1+q2, strings.Replace(s1, "\r\n\r\n", "\r\nETag: \"v1\"\r\n\r\n", 1)+
		strings.Replace(s2, "\r\n\r\n", "\r\nETag: \"v2\"\r\n\r\n", 1), 0)
	if len(s.files) != 1 || s.files[0].cut != transfer.CutNotFinal || p.stats.RangesJoined != 0 {
		t.Errorf("other ETag: %+v, joined %d", s.files, p.stats.RangesJoined)
	}
	// A gap in the heads desyncs the direction: requests and responses
	// may pair wrongly after it (here /b's range with the last request,
	// for /a), so the waiting file is cut there and nothing joins it.
	qb, sb := rng("/dl/b.exe", 300, 599, 1000)
	s = &recSink{keep: 1 << 20}
	p = New(s, Options{}, nil)
	p.Data(true, []byte(q1+q2+qb+q1))
	p.Data(false, []byte(s1))
	p.Data(false, []byte(s2[:10]))
	p.Gap(false, int64(len(s2)-10))
	p.Data(false, []byte(sb))
	p.Close()
	// (The lost head of /a's second range gets a file of its own, Meta.HeadLost.)
	if len(s.files) != 2 || s.files[0].cut != transfer.CutGap || !s.files[1].meta.HeadLost || p.stats.RangesJoined != 0 {
		t.Errorf("desync: %+v, joined %d", s.files, p.stats.RangesJoined)
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
		if len(n) > transfer.MaxHeaderValue || strings.ContainsAny(n, `/\`) || n == "." || n == ".." {
			t.Fatalf("%q -> %q", v, n)
		}
		if fn := formDataFilename(v); len(fn) > transfer.MaxHeaderValue || strings.ContainsAny(fn, `/\`) || fn == "." || fn == ".." {
			t.Fatalf("form-data %q -> %q", v, fn)
		}
		if utf8.ValidString(v) && !strings.Contains(v, "%") && !utf8.ValidString(n) {
			t.Fatalf("valid input gave invalid name: %q -> %q", v, n)
		}
	})
}
