package httpx

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// step is bytes one side sends, in capture order.
type step struct {
	client bool
	data   string
}

func cs(d string) step { return step{true, d} }
func ss(d string) step { return step{false, d} }

// exchange feeds steps in order, each in pieces of n bytes (0: whole),
// honouring skips, then ends both sides and closes.
func exchange(t *testing.T, n int, steps ...step) (*Parser, *recSink) {
	t.Helper()
	s := &recSink{keep: 64}
	p := New(s, Options{}, nil)
	for _, st := range steps {
		b := []byte(st.data)
		for len(b) > 0 && !p.Done() {
			k := len(b)
			if n > 0 {
				k = min(n, k)
			}
			skip := p.Data(st.client, b[:k])
			b = b[min(int64(len(b)), int64(k)+skip):]
		}
	}
	p.End(true)
	p.End(false)
	p.Close()
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
	if p.bug != "" {
		t.Fatal(p.bug)
	}
	return p, s
}

// peBody is a harmless stand-in for a PE download: an MZ header and
// bytes the test can hash.
func peBody(n int) string { return "MZ\x90\x00\x03\x00\x00\x00" + testBody(n, 9) }

func sha(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// wholeSum checks the file named name came whole with the SHA-256 of want.
func wholeSum(t *testing.T, s *recSink, name, want string) *recFile {
	t.Helper()
	f := file(t, s, name)
	if f.cut != transfer.Whole || f.sum() != sha(want) || f.n != int64(len(want)) {
		t.Errorf("%s: cut %q, %d bytes (want %d), sha256 match %v", name, f.cut, f.n, len(want), f.sum() == sha(want))
	}
	return f
}

const connect = "CONNECT inner.test:80 HTTP/1.1\r\nHost: inner.test:80\r\n\r\n"

var established = msg("HTTP/1.1 200 Connection established", "")

func innerGet(target string) string {
	return msg("GET "+target+" HTTP/1.1", "", "Host: inner.test", "User-Agent: ua/2")
}

func TestTunnelHTTP(t *testing.T) {
	pe := peBody(20000)
	for _, n := range []int{0, 1, 7, 1000} {
		p, s := exchange(t, n,
			cs(connect), ss(established),
			cs(innerGet("/dl/setup.exe")), ss(ok200(pe, "Content-Type: application/octet-stream")),
			cs(innerGet("/two.bin")), ss(msg("HTTP/1.1 200 OK", chunk("second", 2), "Transfer-Encoding: chunked")))
		f := wholeSum(t, s, "setup.exe", pe)
		if f.meta.URL != "http://inner.test/dl/setup.exe" || f.meta.Host != "inner.test" || f.meta.Tunnel != "inner.test:80" ||
			f.meta.Method != "GET" || f.meta.UserAgent != "ua/2" || f.meta.Status != 200 {
			t.Errorf("n=%d: meta %+v", n, f.meta)
		}
		whole(t, s, "two.bin", "second")
		st := p.stats
		if st.Tunnels != 1 || st.TunnelsHTTP != 1 || st.TunnelsOpaque != 0 || st.Upgrades != 0 || st.NotHTTP != 0 || st.Desyncs != 0 {
			t.Errorf("n=%d: stats %+v", n, *st)
		}
	}
}

func TestTunnelOpaque(t *testing.T) {
	hello := string(testutil.ClientHello(300))
	cases := []struct {
		name  string
		steps []step
	}{
		{"tls", []step{cs(connect), ss(established), cs(hello), ss(string(testutil.ServerHello(80)))}},
		{"tls early", []step{cs(connect + hello), ss(established)}},
		{"ssh", []step{cs(connect), ss(established), cs("SSH-2.0-OpenSSH_9.6\r\n")}},
		// The server speaks first, and so does the client's protocol: no
		// HTTP client would send EHLO.
		{"smtp server first", []step{cs(connect), ss(established + "220 mx.test ESMTP\r\n"), cs("EHLO me\r\n")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, s := exchange(t, 0, c.steps...)
			if !p.Done() || p.stats.TunnelsOpaque != 1 || p.stats.NotHTTP != 0 || p.stats.Tunnels != 1 || len(s.files) != 0 {
				t.Errorf("done %v stats %+v files %d", p.Done(), *p.stats, len(s.files))
			}
		})
	}
}

func TestTunnelAfter407(t *testing.T) {
	pe := peBody(5000)
	denied := msg("HTTP/1.1 407 Proxy Authentication Required", "denied", "Proxy-Authenticate: Basic realm=\"p\"", "Content-Length: 6")
	retry := "CONNECT inner.test:80 HTTP/1.1\r\nHost: inner.test:80\r\nProxy-Authorization: Basic dTpw\r\n\r\n"
	for _, n := range []int{0, 3} {
		p, s := exchange(t, n, cs(connect), ss(denied), cs(retry), ss(established), cs(innerGet("/x.exe")), ss(ok200(pe)))
		f := wholeSum(t, s, "x.exe", pe)
		if f.meta.Tunnel != "inner.test:80" || f.meta.URL != "http://inner.test/x.exe" {
			t.Errorf("meta %+v", f.meta)
		}
		// The 407's body is a file of the proxy connection, no tunnel's.
		if d := file(t, s, ""); d.meta.Tunnel != "" || d.meta.Status != 407 {
			t.Errorf("407 body meta %+v", d.meta)
		}
		if p.stats.Tunnels != 1 || p.stats.Desyncs != 0 {
			t.Errorf("stats %+v", *p.stats)
		}
	}
}

func TestTunnelEarlyBytes(t *testing.T) {
	pe := peBody(3000)
	// A client that does not wait for the answer: its request is kept
	// and read in the tunnel.
	for _, n := range []int{0, 1, 50} {
		p, s := exchange(t, n, cs(connect+innerGet("/early.exe")), ss(established+ok200(pe)))
		if f := wholeSum(t, s, "early.exe", pe); f.meta.Tunnel != "inner.test:80" {
			t.Errorf("meta %+v", f.meta)
		}
		if p.stats.TunnelsHTTP != 1 {
			t.Errorf("stats %+v", *p.stats)
		}
	}
	// The client half-closes after its request, before the answer.
	s := &recSink{}
	p := New(s, Options{}, nil)
	p.Data(true, []byte(connect+innerGet("/hc.exe")))
	p.End(true)
	p.Data(false, []byte(established+ok200(pe)))
	p.End(false)
	p.Close()
	wholeSum(t, s, "hc.exe", pe)

	// Over the bound, or with a gap among them, the tunnel's start is
	// unknown: the parser stops and says so.
	big := msg("GET /big.exe HTTP/1.1", "", "Host: inner.test", "Cookie: "+strings.Repeat("c", maxTunnelHold))
	p, s = exchange(t, 0, cs(connect+big), ss(established+ok200(pe)))
	if !p.Done() || p.stats.TunnelsUnfollowed != 1 || len(s.files) != 0 {
		t.Errorf("over the bound: done %v stats %+v", p.Done(), *p.stats)
	}
	s = &recSink{}
	p = New(s, Options{}, nil)
	p.Data(true, []byte(connect+"GET /g"))
	p.Gap(true, 10)
	p.Data(true, []byte("HTTP/1.1\r\n\r\n"))
	p.Data(false, []byte(established+ok200(pe)))
	if !p.Done() || p.stats.TunnelsUnfollowed != 1 || len(s.files) != 0 {
		t.Errorf("gap: done %v stats %+v", p.Done(), *p.stats)
	}
	p.Close()
}

func TestTunnelServerFirst(t *testing.T) {
	pe := peBody(4000)
	// The server sends its answer before the client asks: the client
	// reads it as the answer to its request, and so does the parser.
	for _, n := range []int{0, 5} {
		p, s := exchange(t, n, cs(connect), ss(established+ok200(pe)), cs(innerGet("/first.exe")))
		if f := wholeSum(t, s, "first.exe", pe); f.meta.URL != "http://inner.test/first.exe" {
			t.Errorf("meta %+v", f.meta)
		}
		if p.stats.TunnelServerFirst != 1 || p.stats.Unpaired != 0 {
			t.Errorf("stats %+v", *p.stats)
		}
	}
	// Past the bound the held bytes are read at once: the file is still
	// reported whole, paired with no request.
	big := peBody(3 * maxTunnelHold)
	p, s := exchange(t, 1000, cs(connect), ss(established+ok200(big)), cs(innerGet("/late.exe")))
	if len(s.files) != 1 || s.files[0].sum() != sha(big) || s.files[0].cut != transfer.Whole || p.stats.TunnelHoldOver != 1 {
		t.Errorf("files %d stats %+v", len(s.files), *p.stats)
	}
	// The connection closes before the client speaks: what the server
	// sent is still read.
	p, s = exchange(t, 0, cs(connect), ss(established+ok200(pe)))
	if len(s.files) != 1 || s.files[0].sum() != sha(pe) {
		t.Errorf("close: files %d stats %+v", len(s.files), *p.stats)
	}
}

func TestTunnelNested(t *testing.T) {
	pe := peBody(100)
	var steps []step
	for range maxTunnels {
		steps = append(steps, cs(connect), ss(established))
	}
	steps = append(steps, cs(innerGet("/deep.exe")), ss(ok200(pe)))
	p, s := exchange(t, 0, steps...)
	wholeSum(t, s, "deep.exe", pe)
	if p.stats.Tunnels != maxTunnels {
		t.Errorf("stats %+v", *p.stats)
	}
	steps = append(steps[:2*maxTunnels:2*maxTunnels], cs(connect), ss(established), cs(innerGet("/deeper.exe")), ss(ok200(pe)))
	p, s = exchange(t, 0, steps...)
	if !p.Done() || p.stats.TunnelsUnfollowed != 1 || len(s.files) != 0 {
		t.Errorf("too deep: done %v stats %+v files %d", p.Done(), *p.stats, len(s.files))
	}
}

func TestTunnelNoHost(t *testing.T) {
	// HTTP/1.0 without Host inside a tunnel: the server is the CONNECT
	// target, not the proxy the caller sees.
	_, s := exchange(t, 0, cs(connect), ss(established), cs("GET /old.exe HTTP/1.0\r\n\r\n"), ss(msg("HTTP/1.0 200 OK", "abc")))
	if f := whole(t, s, "old.exe", "abc"); f.meta.URL != "http://inner.test:80/old.exe" || f.meta.Host != "inner.test:80" {
		t.Errorf("meta %+v", f.meta)
	}
}

func TestAbsoluteForm(t *testing.T) {
	cases := []struct {
		target, host, url, authority, name string
	}{
		{"http://evil.test/dl/a.exe", "evil.test", "http://evil.test/dl/a.exe", "evil.test", "a.exe"},
		// A Host that disagrees is ignored (RFC 9112 §3.2.2).
		{"http://evil.test:8080/p/b.exe?x=1", "stale.test", "http://evil.test:8080/p/b.exe?x=1", "evil.test:8080", "b.exe"},
		{"http://proxy.test:3128/c%2e.exe", "other.test:3128", "http://proxy.test:3128/c%2e.exe", "proxy.test:3128", "c..exe"},
		{"HTTP://up.test", "", "HTTP://up.test", "up.test", ""},
		{"http://up.test?q=/d.exe", "x", "http://up.test?q=/d.exe", "up.test", ""},
		// Credentials name no resource and stay out of events.
		{"http://user:pw@cred.test/e.exe", "cred.test", "http://cred.test/e.exe", "cred.test", "e.exe"},
		{"http://a@b@cred.test:81/f", "", "http://cred.test:81/f", "cred.test:81", "f"},
	}
	for _, c := range cases {
		hdr := []string{"User-Agent: ua/1"}
		if c.host != "" {
			hdr = append(hdr, "Host: "+c.host)
		}
		_, s := exchange(t, 0, cs(msg("GET "+c.target+" HTTP/1.1", "", hdr...)), ss(ok200("body")))
		if len(s.files) != 1 {
			t.Fatalf("%s: %d files", c.target, len(s.files))
		}
		m := s.files[0].meta
		if m.URL != c.url || m.Host != c.authority || m.Name != c.name {
			t.Errorf("%s: url %q host %q name %q", c.target, m.URL, m.Host, m.Name)
		}
	}
	// Ranges of one file fetched through a proxy: the key is the file's
	// URL, whatever each request's Host says, and without userinfo (it
	// names no resource, and is not the file's URL).
	target := "http://evil.test:8080/r.bin"
	p, s := exchange(t, 0,
		cs(msg("GET "+target+" HTTP/1.1", "", "Host: one.test", "Range: bytes=0-3")+msg("GET http://u:pw@evil.test:8080/r.bin HTTP/1.1", "", "Host: two.test", "Range: bytes=4-9")),
		ss(msg("HTTP/1.1 206 Partial", "MZ\x90\x00", "Content-Range: bytes 0-3/10", "Content-Length: 4")+
			msg("HTTP/1.1 206 Partial", "abcdef", "Content-Range: bytes 4-9/10", "Content-Length: 6")))
	if len(s.files) != 1 || p.stats.RangesJoined != 1 || s.files[0].cut != transfer.Whole || string(s.files[0].data) != "MZ\x90\x00abcdef" {
		t.Fatalf("ranges not joined: %d files, joined %d", len(s.files), p.stats.RangesJoined)
	}
	for _, f := range s.files {
		if f.meta.URL != target || f.meta.Host != "evil.test:8080" {
			t.Errorf("range meta %+v", f.meta)
		}
	}
}

// Bytes held for a tunnel count in the footprint, and go when it opens.
func TestTunnelFootprint(t *testing.T) {
	p := New(&recSink{}, Options{}, nil)
	p.Data(true, []byte(connect))
	base := p.Footprint()
	early := msg("GET /f HTTP/1.1", "", "Host: inner.test", "X: "+strings.Repeat("x", 3000))
	p.Data(true, []byte(early))
	if d := p.Footprint() - base; d < len(early) || d > 2*maxTunnelHold {
		t.Errorf("held %d bytes, footprint grew %d", len(early), d)
	}
	p.Data(false, []byte(established))
	if p.req.held != nil || p.resp.held != nil || p.fifo.len() != 1 {
		t.Errorf("after the answer: held %d/%d, queued %d", len(p.req.held), len(p.resp.held), p.fifo.len())
	}
	p.Close()
}
