package httpx

import (
	"fmt"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// pieceSizes are the ways a test stream is cut: whole, in segments, in
// small and in odd pieces, so that lines straddle calls everywhere.
var pieceSizes = []int{0, benchMSS, 61, 7}

// junkLines makes n header lines of about width bytes, none of them a
// field the parser reads.
func junkLines(n, width int) []string {
	l := make([]string, n)
	for i := range l {
		l[i] = fmt.Sprintf("X-Junk-%d: %s", i, strings.Repeat("v", max(width-12, 1)))
	}
	return l
}

// Real clients accept 300 header lines and blocks of 256 KiB: so does the
// parser by default, whatever the cut of the stream.
func TestHeaderBlocksAsBigAsClientsAccept(t *testing.T) {
	body := testBody(5000, 3)
	many := junkLines(300, 40)                          // 300 lines, 12 KiB
	big := junkLines(64, 4<<10)                         // 256 KiB in 64 lines
	cookie := "Cookie: " + strings.Repeat("c", 200<<10) // one 200 KiB line
	for _, n := range pieceSizes {
		s := &recSink{keep: 1 << 20}
		client := get("/many.exe", many...) + get("/big.exe", big...) + get("/cookie.exe", cookie)
		server := ok200(body, many...) + ok200(body, big...) + ok200(body, "Set-"+cookie)
		p, _ := conn(t, Options{}, s, client, server, n)
		for _, name := range []string{"many.exe", "big.exe", "cookie.exe"} {
			f := whole(t, s, name, body)
			if f.meta.Host != "h.test" || f.meta.UserAgent != "ua/1" {
				t.Errorf("n=%d %s: host %q ua %q", n, name, f.meta.Host, f.meta.UserAgent)
			}
		}
		if st := p.stats; st.Malformed != (Malformed{}) || st.Desyncs != 0 || st.Responses != 3 {
			t.Errorf("n=%d: %+v", n, *st)
		}
	}
}

// A block over MaxHeaderBlock or MaxHeaderLines cuts its message only:
// the file is incomplete (CutLimit), the framing fields are still read
// wherever they are, and the next message on the connection is whole.
func TestHeaderOverLimitCutsOneMessage(t *testing.T) {
	body := testBody(3000, 4)
	padding := junkLines(100, 1000) // 100 KiB
	cases := []struct {
		name string
		opts Options
		resp string
		want func(*Malformed) uint64
	}{
		{"bytes, length after", Options{MaxHeaderBlock: 64 << 10},
			msg("HTTP/1.1 200 OK", body, append(padding, fmt.Sprintf("Content-Length: %d", len(body)))...),
			func(m *Malformed) uint64 { return m.HeaderTooLong }},
		{"bytes, chunked after", Options{MaxHeaderBlock: 64 << 10},
			msg("HTTP/1.1 200 OK", chunk(body, 700), append(padding, "Transfer-Encoding: chunked")...),
			func(m *Malformed) uint64 { return m.HeaderTooLong }},
		{"default bytes", Options{},
			msg("HTTP/1.1 200 OK", body, append(junkLines(1100, 1000), fmt.Sprintf("Content-Length: %d", len(body)))...),
			func(m *Malformed) uint64 { return m.HeaderTooLong }},
		{"lines", Options{MaxHeaderLines: 50},
			msg("HTTP/1.1 200 OK", body, append(junkLines(60, 20), fmt.Sprintf("Content-Length: %d", len(body)))...),
			func(m *Malformed) uint64 { return m.TooManyHeaders }},
	}
	for _, c := range cases {
		for _, n := range pieceSizes {
			s := &recSink{keep: 1 << 20}
			p, _ := conn(t, c.opts, s, get("/a.exe")+get("/cut.exe")+get("/b.exe"), ok200("first")+c.resp+ok200("third"), n)
			whole(t, s, "a.exe", "first")
			whole(t, s, "b.exe", "third")
			if f := file(t, s, "cut.exe"); f.cut != transfer.CutLimit || string(f.data) != body {
				t.Errorf("%s n=%d: cut %q, %d bytes", c.name, n, f.cut, f.n)
			}
			if c.want(&p.stats.Malformed) != 1 || p.stats.Desyncs != 0 {
				t.Errorf("%s n=%d: %+v", c.name, n, *p.stats)
			}
		}
	}
	// Past the bound, a field other than framing is not read: a
	// Content-Encoding there would be missed, which is why the file
	// cannot be whole.
	s := &recSink{keep: 1 << 20}
	z := gz(body)
	resp := msg("HTTP/1.1 200 OK", z, append(padding, "Content-Encoding: gzip", fmt.Sprintf("Content-Length: %d", len(z)))...)
	conn(t, Options{MaxHeaderBlock: 64 << 10}, s, get("/z.exe")+get("/b.exe"), resp+ok200("next"), 0)
	if f := file(t, s, "z.exe"); f.cut != transfer.CutLimit || f.meta.ContentEncoding != "" {
		t.Errorf("coded past the bound: cut %q encoding %q", f.cut, f.meta.ContentEncoding)
	}
	whole(t, s, "b.exe", "next")
	// Framing that cannot be read ends in a desync, as before.
	s = &recSink{keep: 1 << 20}
	p, _ := conn(t, Options{}, s, get("/a")+get("/b.exe"), msg("HTTP/1.1 200 OK", "xx", "Content-Length: 2", "Content-Length: 3")+ok200("next"), 0)
	if p.stats.Desyncs != 1 || p.stats.Resyncs != 1 || p.stats.Malformed.ContentLength != 1 {
		t.Errorf("bad framing: %+v", *p.stats)
	}
	whole(t, s, "b.exe", "next")
}

// Lines longer than what is kept: values are clipped as before, the
// request line's version is read from its end, and the results do not
// depend on how the stream was cut.
func TestLongLines(t *testing.T) {
	long := "/dl/" + strings.Repeat("d", 10000) + "/file.exe?x=" + strings.Repeat("q", 5000)
	ua := strings.Repeat("u", 3000)
	wantURL := clipString("http://h.test" + long)
	for _, n := range pieceSizes {
		s := &recSink{keep: 1 << 20}
		client := msg("GET "+long+" HTTP/1.1", "", "Host: h.test", "User-Agent: "+ua, "X-Long: "+strings.Repeat("z", 300<<10))
		server := ok200("body", "Content-Type: application/x-"+strings.Repeat("t", 2000))
		conn(t, Options{}, s, client, server, n)
		if len(s.files) != 1 {
			t.Fatalf("n=%d: %d files", n, len(s.files))
		}
		f := s.files[0]
		if f.cut != transfer.Whole || f.meta.URL != wantURL || f.meta.UserAgent != ua[:transfer.MaxHeaderValue] ||
			f.meta.Method != "GET" || f.meta.ContentType != "application/x-"+strings.Repeat("t", transfer.MaxHeaderValue-len("application/x-")) {
			t.Errorf("n=%d: cut %q url %d bytes (want %d) ua %d method %q type %d", n, f.cut, len(f.meta.URL), len(wantURL), len(f.meta.UserAgent), f.meta.Method, len(f.meta.ContentType))
		}
	}
	// A long request line must still be one: two spaces, a version at
	// its end, no control bytes.
	bad := []string{
		"GET " + long + " HTTP/2.0",
		"GET " + long + " x HTTP/1.1",
		"GET " + long + "\x01 HTTP/1.1",
		"GET " + long + "\tHTTP/1.1",
		"GET " + long,
	}
	for i, line := range bad {
		for _, n := range pieceSizes {
			p := New(&recSink{}, Options{}, nil)
			d := &driver{p: p, streams: [2][]byte{[]byte(get("/ok") + line + "\r\n\r\n"), nil}}
			for d.rest(true) > 0 {
				d.feed(true, max(n, d.rest(true)*btoi(n == 0)))
			}
			if p.stats.Malformed.RequestLine != 1 || p.stats.Requests != 1 {
				t.Errorf("bad line %d n=%d: %+v", i, n, *p.stats)
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Padding cannot make the parser misread the framing: blanks around a
// value, however many, are no part of it, and a value with text past
// what is kept (or folded onto the next line) is malformed, whatever the
// cut of the stream.
func TestFramingPadding(t *testing.T) {
	pad := strings.Repeat(" ", 300<<10)
	tabs := strings.Repeat(" \t", 100<<10)
	body := testBody(2000, 5)
	good := []struct{ name, resp string }{
		{"blanks before length", "HTTP/1.1 200 OK\r\nContent-Length:" + pad + "2000\r\n\r\n" + body},
		{"blanks after length", "HTTP/1.1 200 OK\r\nContent-Length: 2000" + tabs + "\r\n\r\n" + body},
		{"blanks before chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding:" + tabs + "chunked" + pad + "\r\n\r\n" + chunk(body, 300)},
		{"folded chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n" + pad + ",chunked\r\nContent-Encoding: identity\r\n\r\n" + chunk(gz(body), 300)},
	}
	for _, c := range good {
		for _, n := range pieceSizes {
			s := &recSink{keep: 1 << 20}
			p, _ := conn(t, Options{}, s, get("/p.exe")+get("/next.exe"), c.resp+ok200("next"), n)
			whole(t, s, "p.exe", body)
			whole(t, s, "next.exe", "next")
			if p.stats.Desyncs != 0 || p.stats.Malformed != (Malformed{}) {
				t.Errorf("%s n=%d: %+v", c.name, n, *p.stats)
			}
		}
	}
	bad := []struct {
		name string
		resp string
		kind func(*Malformed) uint64
	}{
		{"blanks inside length", "HTTP/1.1 200 OK\r\nContent-Length: 1" + pad + "2\r\n\r\n" + body, func(m *Malformed) uint64 { return m.ContentLength }},
		{"folded length", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n 2\r\n\r\n" + body, func(m *Malformed) uint64 { return m.ContentLength }},
		{"long length list", "HTTP/1.1 200 OK\r\nContent-Length: " + strings.Repeat("5, ", 1000) + "5\r\n\r\n" + body, func(m *Malformed) uint64 { return m.ContentLength }},
		{"long coding list", "HTTP/1.1 200 OK\r\nTransfer-Encoding: " + strings.Repeat("gzip, ", 300) + "chunked\r\n\r\n" + chunk(body, 100), func(m *Malformed) uint64 { return m.TransferEncoding }},
		{"many coding fields", "HTTP/1.1 200 OK\r\n" + strings.Repeat("Transfer-Encoding: gzip\r\n", 300) + "Transfer-Encoding: chunked\r\n\r\n" + chunk(body, 100), func(m *Malformed) uint64 { return m.TransferEncoding }},
	}
	for _, c := range bad {
		for _, n := range pieceSizes {
			s := &recSink{keep: 1 << 20}
			p, _ := conn(t, Options{}, s, get("/p.exe")+get("/next.exe"), c.resp+ok200("next"), n)
			if c.kind(&p.stats.Malformed) != 1 || p.stats.Desyncs != 1 {
				t.Errorf("%s n=%d: %+v", c.name, n, *p.stats)
			}
			for _, f := range s.files {
				if f.meta.Name == "p.exe" && f.cut == transfer.Whole {
					t.Errorf("%s n=%d: misframed file whole", c.name, n)
				}
			}
			// The next response is found again.
			whole(t, s, "next.exe", "next")
		}
	}
}
