package httpx

import (
	"fmt"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

func TestPipeliningHEAD204304(t *testing.T) {
	a, c, e := testBody(5000, 1), testBody(7000, 2), testBody(300, 3)
	client := get("/a.exe") +
		msg("HEAD /b.exe HTTP/1.1", "", "Host: h.test") +
		get("/c.exe") + get("/d") + get("/e.bin?x=1#frag")
	server := ok200(a) +
		msg("HTTP/1.1 200 OK", "", "Content-Length: 123456") + // HEAD: no body despite the length
		msg("HTTP/1.1 200 OK", chunk(c, 1000), "Transfer-Encoding: chunked") +
		msg("HTTP/1.1 204 No Content", "", "Content-Length: 10") + // 204: no body
		msg("HTTP/1.1 304 Not Modified", "", "Content-Length: 99") + // 304 answers no request: unpaired
		""
	// One more request/response so 304's body-less rule is shown to keep
	// the framing: e.bin follows it.
	client += get("/f")
	server = strings.Replace(server, msg("HTTP/1.1 304 Not Modified", "", "Content-Length: 99"),
		msg("HTTP/1.1 304 Not Modified", "", "Content-Length: 99")+ok200(e), 1)
	for _, n := range []int{0, 1, 13, 1448} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := &recSink{keep: 1 << 20}
			p, _ := conn(t, Options{}, s, client, server, n)
			f := whole(t, s, "a.exe", a)
			if f.meta.URL != "http://h.test/a.exe" || f.meta.Method != "GET" || f.meta.UserAgent != "ua/1" || f.meta.Size != 5000 || f.meta.Transfer != "content-length" {
				t.Errorf("a.exe meta %+v", f.meta)
			}
			f = whole(t, s, "c.exe", c)
			if f.meta.Transfer != "chunked" || f.meta.Size != -1 {
				t.Errorf("c.exe meta %+v", f.meta)
			}
			// The 5th request (/e.bin) got the 304; the 6th (/f) the body.
			whole(t, s, "f", e)
			if len(s.files) != 3 {
				t.Errorf("%d files", len(s.files))
			}
			st := p.stats
			if st.Requests != 6 || st.Responses != 6 || st.Pipelined != 5 || st.Unpaired != 0 || st.Desyncs != 0 {
				t.Errorf("stats %+v", *st)
			}
		})
	}
}

func TestInterim100And103(t *testing.T) {
	up := testBody(2000, 9)
	client := msg("PUT /up/report.pdf HTTP/1.1", up, "Host: h.test", "Expect: 100-continue", "Content-Length: 2000") + get("/x.bin")
	down := testBody(100, 4)
	server := msg("HTTP/1.1 100 Continue", "") + ok200("") +
		msg("HTTP/1.1 103 Early Hints", "", "Link: </s.css>; rel=preload") + ok200(down)
	head := strings.Index(client, "\r\n\r\n") + 4
	for _, uploads := range []bool{false, true} {
		s := &recSink{keep: 1 << 20}
		// Pieces of 100 bytes: the first holds the head and the start of
		// the body, whose rest is handed back when uploads are off.
		p, d := conn(t, Options{Uploads: uploads}, s, client, server, 100)
		whole(t, s, "x.bin", down)
		if uploads {
			f := whole(t, s, "report.pdf", up)
			if !f.meta.Upload || f.meta.Method != "PUT" || f.meta.Status != 0 {
				t.Errorf("upload meta %+v", f.meta)
			}
		} else {
			if len(s.files) != 1 {
				t.Errorf("uploads off opened %d files", len(s.files))
			}
			if want := int64(2000 - (100 - head)); d.skipped[0] != want {
				t.Errorf("upload body skipped %d, want %d", d.skipped[0], want)
			}
		}
		st := p.stats
		if st.Interim != 2 || st.Continue != 1 || st.Responses != 2 || st.Unpaired != 0 {
			t.Errorf("stats %+v", *st)
		}
	}
}

func TestChunkedExtensionsTrailers(t *testing.T) {
	body := "hello world, chunked"
	wire := "5;name=val\r\nhello\r\n6 ; x=\"a;b\"\r\n world\r\n009\r\n, chunked\r\n0;last\r\nX-Checksum: 1\r\nY: 2\r\n\r\n"
	bare := strings.ReplaceAll(wire, "\r\n", "\n")
	for _, w := range []string{wire, bare} {
		for _, n := range []int{0, 1, 3} {
			s := &recSink{keep: 1 << 20}
			server := msg("HTTP/1.1 200 OK", w, "Transfer-Encoding: chunked") + ok200("next")
			p, _ := conn(t, Options{}, s, get("/a")+get("/b"), server, n)
			whole(t, s, "a", body)
			whole(t, s, "b", "next")
			if p.stats.Malformed != (Malformed{}) {
				t.Errorf("malformed %+v", p.stats.Malformed)
			}
		}
	}
	// Broken chunking: the body is cut corrupt and the direction desyncs.
	s := &recSink{keep: 1 << 20}
	server := msg("HTTP/1.1 200 OK", "5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n", "Transfer-Encoding: chunked")
	p, _ := conn(t, Options{}, s, get("/a"), server, 0)
	if f := file(t, s, "a"); f.cut != transfer.CutCorrupt || string(f.data) != "hello" {
		t.Errorf("cut %q data %q", f.cut, f.data)
	}
	if p.stats.Malformed.Chunk != 1 || p.stats.Desyncs != 1 {
		t.Errorf("stats %+v", *p.stats)
	}
}

func TestCloseDelimited(t *testing.T) {
	body := testBody(10000, 5)
	server := "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n" + body
	s := &recSink{keep: 1 << 20}
	conn(t, Options{}, s, "GET /c.bin HTTP/1.0\r\n\r\n", server, 700)
	if f := whole(t, s, "c.bin", body); f.meta.Transfer != "close" || f.meta.Size != -1 || f.meta.ContentType != "application/octet-stream" {
		t.Errorf("meta %+v", f.meta)
	}
	// Without End, Close (expiry) leaves it cut.
	s = &recSink{keep: 1 << 20}
	p := New(s, Options{}, nil)
	p.Data(true, []byte("GET /c.bin HTTP/1.0\r\n\r\n"))
	p.Data(false, []byte(server))
	p.Close()
	if f := file(t, s, "c.bin"); f.cut != transfer.CutEnded {
		t.Errorf("cut %q", f.cut)
	}
	// A Content-Length body cut short by the end of the connection.
	s = &recSink{keep: 1 << 20}
	conn(t, Options{}, s, get("/short"), ok200(body)[:500], 0)
	if f := file(t, s, "short"); f.cut != transfer.CutEnded {
		t.Errorf("short: cut %q", f.cut)
	}
}

func TestDeclineSkip(t *testing.T) {
	big := testBody(100000, 6)
	next := testBody(50, 7)
	server := ok200(big) + msg("HTTP/1.1 200 OK", chunk(big, 30000), "Transfer-Encoding: chunked") + ok200(next)
	s := &recSink{keep: 1 << 20, declineOn: func(m *transfer.Meta) int {
		if m.Name == "next" {
			return 0
		}
		return 1
	}}
	p := New(s, Options{}, nil)
	p.Data(true, []byte(get("/big")+get("/chunked")+get("/next")))
	head := len(ok200(big)) - len(big)
	// Header and the first 1000 body bytes: the sink declines, the rest
	// of the body (99000 bytes) is handed back.
	if skip := p.Data(false, []byte(server[:head+1000])); skip != 99000 {
		t.Fatalf("skip %d, want 99000", skip)
	}
	rest := server[head+100000:]
	// The chunked one: declined on its first write; the rest of the first
	// chunk is skipped, later chunks skipped from their start.
	head2 := len(msg("HTTP/1.1 200 OK", "", "Transfer-Encoding: chunked"))
	firstChunk := len("7530\r\n")
	if skip := p.Data(false, []byte(rest[:head2+firstChunk+10])); skip != 30000-10 {
		t.Fatalf("chunk skip %d, want 29990", skip)
	}
	rest = rest[head2+firstChunk+30000:]
	if skip := p.Data(false, []byte(rest[:2+6])); skip != 30000 { // CRLF, "7530\r\n"
		t.Fatalf("second chunk skip %d", skip)
	}
	rest = rest[2+6+30000:]
	for len(rest) > 0 {
		n := min(len(rest), 100)
		skip := p.Data(false, []byte(rest[:n]))
		rest = rest[n+int(skip):]
	}
	p.Close()
	whole(t, s, "next", next)
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
	if f := file(t, s, "big"); !f.decline || f.n != 1000 || f.cut != transfer.Whole {
		t.Errorf("big: %+v", f)
	}
	if p.stats.SkippedBytes == 0 || p.stats.BodiesDeclined != 2 {
		t.Errorf("stats %+v", *p.stats)
	}
}

func TestGapIdentity(t *testing.T) {
	body := testBody(5000, 8)
	resp := ok200(body)
	head := len(resp) - len(body)
	s := &recSink{keep: 1 << 20}
	p := New(s, Options{}, nil)
	p.Data(true, []byte(get("/g.exe")+get("/after")))
	p.Data(false, []byte(resp[:head+1000]))
	p.Gap(false, 1500)
	p.Data(false, []byte(resp[head+2500:]+ok200("after body")))
	p.Close()
	f := file(t, s, "g.exe")
	if len(f.gaps) != 1 || f.gaps[0] != 1500 || f.n != 3500 || f.cut != transfer.CutGap ||
		string(f.data) != body[:1000]+body[2500:] {
		t.Errorf("gaps %v n %d cut %q", f.gaps, f.n, f.cut)
	}
	whole(t, s, "after", "after body")
	if p.stats.Desyncs != 0 || p.stats.GapBytes != 1500 {
		t.Errorf("stats %+v", *p.stats)
	}
}

func TestGapChunkedAndResync(t *testing.T) {
	body := testBody(5000, 9)
	resp := msg("HTTP/1.1 200 OK", chunk(body, 1000), "Transfer-Encoding: chunked")
	head := len(resp) - len(chunk(body, 1000))
	s := &recSink{keep: 1 << 20}
	p := New(s, Options{}, nil)
	p.Data(true, []byte(get("/c.exe")+get("/later.exe")))
	// A gap inside the first chunk's data: the file gets it and goes on.
	p.Data(false, []byte(resp[:head+5+100]))
	p.Gap(false, 50)
	off := head + 5 + 150
	// A gap that crosses the chunk's end: the framing is lost.
	p.Data(false, []byte(resp[off:off+700]))
	p.Gap(false, 300)
	if f := file(t, s, "c.exe"); f.cut != transfer.CutGap || len(f.gaps) != 1 || f.gaps[0] != 50 || f.n != 800 || f.closed != 1 {
		t.Errorf("chunked gap: cut %q gaps %v n %d", f.cut, f.gaps, f.n)
	}
	if p.stats.Desyncs != 1 {
		t.Fatalf("desyncs %d", p.stats.Desyncs)
	}
	// Bytes that do not start a status line leave it desynced; the next
	// segment starting with one resyncs, paired with the newest request.
	p.Data(false, []byte(resp[off+1000:off+1500]))
	p.Data(false, []byte(ok200("later")))
	p.Close()
	whole(t, s, "later.exe", "later")
	if p.stats.Resyncs != 1 || p.Done() {
		t.Errorf("stats %+v", *p.stats)
	}
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
}

func TestGapEncoded(t *testing.T) {
	body := testBody(200000, 10)
	z := gz(body)
	resp := ok200(z, "Content-Encoding: gzip")
	head := len(resp) - len(z)
	s := &recSink{keep: 1 << 20}
	p := New(s, Options{}, nil)
	p.Data(true, []byte(get("/z.exe")+get("/after")))
	p.Data(false, []byte(resp[:head+1000]))
	p.Gap(false, 100)
	// The decoder cannot go on, but Content-Length keeps the framing: the
	// rest of the body is skipped and the next response parses.
	if skip := p.Data(false, []byte(resp[head+1100:head+1200])); skip != int64(len(z)-1200) {
		t.Errorf("skip %d want %d", skip, len(z)-1200)
	}
	p.Data(false, []byte(ok200("x")))
	p.Close()
	if f := file(t, s, "z.exe"); f.cut != transfer.CutGap || f.meta.ContentEncoding != "gzip" {
		t.Errorf("cut %q", f.cut)
	}
	whole(t, s, "after", "x")
	if p.stats.Desyncs != 0 {
		t.Errorf("desyncs %d", p.stats.Desyncs)
	}
}

func TestUpgradeConnectDone(t *testing.T) {
	cases := []struct {
		name, client, server string
		done                 bool
	}{
		{"101", get("/ws", "Upgrade: websocket", "Connection: Upgrade"), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello", true},
		{"connect", "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n\x16\x03\x01\x02\x00", "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03", true},
		{"connect refused", "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n", msg("HTTP/1.1 407 Proxy Authentication Required", "denied", "Content-Length: 6"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &recSink{keep: 100}
			p := New(s, Options{}, nil)
			p.Data(true, []byte(c.client))
			p.Data(false, []byte(c.server))
			if p.Done() != c.done {
				t.Errorf("done %v", p.Done())
			}
			if c.done && p.stats.Upgrades+p.stats.TunnelsOpaque != 1 {
				t.Errorf("upgrades %d, opaque tunnels %d", p.stats.Upgrades, p.stats.TunnelsOpaque)
			}
			p.Close()
			if err := s.check(); err != nil {
				t.Fatal(err)
			}
		})
	}
	// After a refused CONNECT the client may go on with requests.
	s := &recSink{keep: 100}
	p := New(s, Options{}, nil)
	p.Data(true, []byte("CONNECT a.test:443 HTTP/1.1\r\n\r\n"))
	p.Data(false, []byte(msg("HTTP/1.1 403 Forbidden", "", "Content-Length: 0")))
	p.Data(true, []byte(get("/n.exe")))
	p.Data(false, []byte(ok200("n")))
	p.Close()
	whole(t, s, "n.exe", "n")
	// Tunnel bytes sent before a refusal leave the client side desynced
	// rather than parsed as requests.
	s = &recSink{keep: 100}
	p = New(s, Options{}, nil)
	p.Data(true, []byte("CONNECT a.test:443 HTTP/1.1\r\n\r\n\x16\x03\x01"))
	p.Data(false, []byte(msg("HTTP/1.1 403 Forbidden", "", "Content-Length: 0")))
	if p.Done() || p.req.st != stDesync || p.stats.Malformed != (Malformed{}) {
		t.Errorf("refused tunnel: done %v state %v", p.Done(), p.req.st)
	}
}

func TestNotHTTP(t *testing.T) {
	cases := []struct {
		name   string
		client bool
		data   string
	}{
		{"tls", true, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"},
		{"ssh banner", false, "SSH-2.0-OpenSSH_9.2\r\n"},
		{"smtp banner", false, "220 mail.test ESMTP\r\n"},
		{"lowercase", true, "get / HTTP/1.1\r\n\r\n"},
		{"h2 preface", true, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		{"long token", true, strings.Repeat("A", 100)},
		{"binary", true, "GET\x00/ HTTP/1.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := New(&recSink{}, Options{}, nil)
			p.Data(c.client, []byte(c.data))
			if !p.Done() || p.stats.NotHTTP != 1 {
				t.Errorf("done %v stats %+v", p.Done(), *p.stats)
			}
		})
	}
	// A request line split across calls is fine.
	p := New(&recSink{}, Options{}, nil)
	p.Data(true, []byte("GE"))
	p.Data(true, []byte("T /x HTTP/1.1\r\n"))
	if p.Done() {
		t.Error("split request line taken for non-HTTP")
	}
}

func TestUploadsMultipart(t *testing.T) {
	exe, pdf := testBody(3000, 11), "%PDF-1.4 tiny\r\n--not-the-boundary\r\n"
	b := "XyZ-boundary"
	body := "--" + b + "\r\n" +
		"Content-Disposition: form-data; name=\"comment\"\r\n\r\nhello there\r\n" +
		"--" + b + "\r\n" +
		"Content-Disposition: form-data; name=\"f1\"; filename=\"C:\\\\Users\\\\me\\\\tool.exe\"\r\nContent-Type: application/octet-stream\r\n\r\n" + exe + "\r\n" +
		"--" + b + "  \r\n" +
		"Content-Disposition: form-data; name=\"f2\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf\r\nContent-Type: application/pdf\r\n\r\n" + pdf + "\r\n" +
		"--" + b + "\r\n" +
		"Content-Disposition: form-data; name=\"empty\"; filename=\"\"\r\nContent-Type: application/octet-stream\r\n\r\n\r\n" +
		"--" + b + "--\r\nepilogue"
	client := msg("POST /upload.php HTTP/1.1", body, "Host: h.test", "Content-Type: multipart/form-data; boundary=\""+b+"\"", fmt.Sprintf("Content-Length: %d", len(body)))
	chunked := msg("POST /upload.php HTTP/1.1", chunk(body, 333), "Host: h.test", "Content-Type: multipart/form-data; boundary="+b, "Transfer-Encoding: chunked")
	server := ok200("ok") + ok200("ok")
	for _, n := range []int{0, 1, 7, 64} {
		s := &recSink{keep: 1 << 20}
		p, _ := conn(t, Options{Uploads: true}, s, client+chunked, server, n)
		for _, tr := range []string{"content-length", "chunked"} {
			var got []*recFile
			for _, f := range s.files {
				if f.meta.Upload && f.meta.Transfer == tr {
					got = append(got, f)
				}
			}
			if len(got) != 2 {
				t.Fatalf("n=%d %s: %d upload files", n, tr, len(got))
			}
			if f := got[0]; f.meta.Name != "tool.exe" || string(f.data) != exe || f.cut != transfer.Whole || f.meta.ContentType != "application/octet-stream" {
				t.Errorf("part 1: %q %q %d bytes", f.meta.Name, f.cut, f.n)
			}
			if f := got[1]; f.meta.Name != "résumé.pdf" || string(f.data) != pdf || f.cut != transfer.Whole || f.meta.URL != "http://h.test/upload.php" {
				t.Errorf("part 2: %q %q %q", f.meta.Name, f.cut, f.data)
			}
		}
		if p.stats.Malformed.Multipart != 0 {
			t.Errorf("malformed %+v", p.stats.Malformed)
		}
	}
	// Without the close delimiter the last part is cut.
	s := &recSink{keep: 1 << 20}
	cut := body[:strings.Index(body, "%PDF")+5]
	conn(t, Options{Uploads: true}, s, msg("POST /u HTTP/1.1", cut, "Content-Type: multipart/form-data; boundary="+b, fmt.Sprintf("Content-Length: %d", len(cut))), ok200(""), 0)
	if f := file(t, s, "résumé.pdf"); f.cut != transfer.CutCorrupt {
		t.Errorf("unterminated part: cut %q", f.cut)
	}
	// A plain upload body is one file named after the URL.
	s = &recSink{keep: 1 << 20}
	conn(t, Options{Uploads: true}, s, msg("POST /put/a%20b.bin HTTP/1.1", exe, "Content-Length: 3000"), ok200(""), 0)
	whole(t, s, "a b.bin", exe)
}

func TestMalformedFraming(t *testing.T) {
	cases := []struct {
		name   string
		server string
		kind   func(m *Malformed) uint64
	}{
		{"two lengths", msg("HTTP/1.1 200 OK", "abc", "Content-Length: 3", "Content-Length: 4"), func(m *Malformed) uint64 { return m.ContentLength }},
		{"bad length", msg("HTTP/1.1 200 OK", "abc", "Content-Length: 3x"), func(m *Malformed) uint64 { return m.ContentLength }},
		{"huge length", msg("HTTP/1.1 200 OK", "abc", "Content-Length: 99999999999999999999"), func(m *Malformed) uint64 { return m.ContentLength }},
		{"space before colon", msg("HTTP/1.1 200 OK", "abc", "Content-Length : 3", "Content-Length: 3"), func(m *Malformed) uint64 { return m.HeaderLine }},
		{"status", "HTTP/1.1 2x0 OK\r\n\r\n", func(m *Malformed) uint64 { return m.StatusLine }},
		{"too long", msg("HTTP/1.1 200 OK", "", "X: "+strings.Repeat("y", DefaultMaxHeaderBlock)), func(m *Malformed) uint64 { return m.HeaderTooLong }},
		{"te and cl", msg("HTTP/1.1 200 OK", "0\r\n\r\n", "Content-Length: 5", "Transfer-Encoding: chunked"), func(m *Malformed) uint64 { return m.TEAndCL }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The first response is fine so the bad one is not taken for
			// another protocol.
			s := &recSink{keep: 100}
			p, _ := conn(t, Options{}, s, get("/1")+get("/2")+get("/3"), ok200("first")+c.server+ok200("third"), 0)
			if c.kind(&p.stats.Malformed) == 0 {
				t.Errorf("not counted: %+v", p.stats.Malformed)
			}
			whole(t, s, "1", "first")
		})
	}
}

// One-byte chunks are gathered per Data call: the sink (and a decoder)
// see a few calls per segment, not one per byte.
func TestTinyChunksBatched(t *testing.T) {
	body := testBody(20000, 22)
	for _, ce := range []string{"", "gzip"} {
		wire := body
		if ce != "" {
			wire = gz(body)
		}
		server := msg("HTTP/1.1 200 OK", chunk(wire, 1), "Transfer-Encoding: chunked", "Content-Encoding: "+ce)
		s := &recSink{keep: 1 << 20}
		conn(t, Options{}, s, get("/t"), server, 1448)
		f := whole(t, s, "t", body)
		segments := len(server)/1448 + 1
		if ce == "" && f.writes > segments {
			t.Errorf("%d writes for %d segments", f.writes, segments)
		}
	}
}
