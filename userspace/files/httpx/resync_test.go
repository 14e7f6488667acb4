package httpx

import (
	"fmt"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// exchanges makes n keep-alive exchanges: requests for /f1.exe... and
// responses with bodies of varied framing, none ending in a line end (so
// the next status line does not start a line).
func exchanges(n int) (reqs, resps, bodies []string) {
	for i := 1; i <= n; i++ {
		body := testBody(3000+i*100, byte(i)) + "\x00"
		var r string
		switch i % 3 {
		case 0:
			r = msg("HTTP/1.1 200 OK", chunk(body, 1000), "Transfer-Encoding: chunked")
		default:
			r = ok200(body, "Server: t")
		}
		reqs = append(reqs, get(fmt.Sprintf("/f%d.exe", i)))
		resps, bodies = append(resps, r), append(bodies, body)
	}
	return reqs, resps, bodies
}

// A gap over the head of the 3rd of 6 responses on a keep-alive
// connection: the other five files are whole and named right, and the
// 3rd is reported with what its request said, incomplete.
func TestResponseHeadLost(t *testing.T) {
	reqs, resps, bodies := exchanges(6)
	lostAt := []struct {
		name     string
		from, to func(r string) int // the gap within the 3rd response
	}{
		{"status line", func(string) int { return 4 }, func(string) int { return 30 }},
		{"whole head", func(string) int { return 0 }, func(r string) int { return strings.Index(r, "\r\n\r\n") + 4 }},
		{"head and body start", func(string) int { return 10 }, func(r string) int { return strings.Index(r, "\r\n\r\n") + 900 }},
		{"last field", func(r string) int { return strings.Index(r, "\r\n\r\n") - 3 }, func(r string) int { return strings.Index(r, "\r\n\r\n") + 1 }},
	}
	for _, c := range lostAt {
		for _, interleaved := range []bool{false, true} {
			for _, n := range pieceSizes {
				s := &recSink{keep: 1 << 20}
				p := New(s, Options{}, nil)
				feed := func(client bool, b string) { feedBytes(p, client, []byte(b), n) }
				if !interleaved {
					feed(true, strings.Join(reqs, ""))
				}
				for i := range 6 {
					if interleaved {
						feed(true, reqs[i])
					}
					r := resps[i]
					if i != 2 {
						feed(false, r)
						continue
					}
					from, to := c.from(r), c.to(r)
					feed(false, r[:from])
					p.Gap(false, int64(to-from))
					feed(false, r[to:])
				}
				p.End(true)
				p.End(false)
				p.Close()
				if err := s.check(); err != nil {
					t.Fatal(err)
				}
				for i := range 6 {
					name := fmt.Sprintf("f%d.exe", i+1)
					if i != 2 {
						whole(t, s, name, bodies[i])
						continue
					}
					f := file(t, s, name)
					r := resps[2]
					// The response's wire bytes: its head, read or lost,
					// and its body, passed over until the next response.
					wantWire := int64(len(r))
					if !f.meta.HeadLost || f.cut != transfer.CutGap || f.n != 0 || f.wire != wantWire ||
						f.meta.URL != "http://h.test/f3.exe" || f.meta.Method != "GET" {
						t.Errorf("%s interleaved %v n=%d: lost %v cut %q n %d wire %d (want %d) url %q",
							c.name, interleaved, n, f.meta.HeadLost, f.cut, f.n, f.wire, wantWire, f.meta.URL)
					}
				}
				if st := p.stats; st.HeadsLost != 1 || st.LostFiles != 1 || st.Resyncs != 1 || st.Desyncs != 1 {
					t.Errorf("%s interleaved %v n=%d: %+v", c.name, interleaved, n, *st)
				}
			}
		}
	}
}

// A gap over a request head: the response that answers it pairs with a
// stand-in, not with the next request, and the requests after it are
// found again.
func TestRequestHeadLost(t *testing.T) {
	reqs, resps, bodies := exchanges(4)
	post := msg("POST /form HTTP/1.1", "a=1&b=2", "Host: h.test", "Content-Length: 7")
	for _, n := range pieceSizes {
		s := &recSink{keep: 1 << 20}
		p := New(s, Options{}, nil)
		// The POST is lost from its 5th byte to the middle of its body:
		// the next request starts right after the body, mid-line.
		client := reqs[0] + post + reqs[2] + reqs[3]
		from := len(reqs[0]) + 5
		to := len(reqs[0]) + len(post) - 3
		feedBytes(p, true, []byte(client[:from]), n)
		p.Gap(true, int64(to-from))
		feedBytes(p, true, []byte(client[to:]), n)
		for _, r := range []string{resps[0], ok200("posted"), resps[2], resps[3]} {
			feedBytes(p, false, []byte(r), n)
		}
		p.Close()
		if err := s.check(); err != nil {
			t.Fatal(err)
		}
		whole(t, s, "f1.exe", bodies[0])
		whole(t, s, "f3.exe", bodies[2])
		whole(t, s, "f4.exe", bodies[3])
		// The response to the lost request: whole, but nothing says what
		// it was for.
		if len(s.files) != 4 || s.files[1].meta.URL != "" || string(s.files[1].data) != "posted" || s.files[1].cut != transfer.Whole {
			t.Errorf("n=%d: %d files, second %q %q", n, len(s.files), s.files[1].meta.URL, s.files[1].data)
		}
		if st := p.stats; st.HeadsLost != 1 || st.Resyncs != 1 || st.Requests != 3 || st.Unpaired != 0 {
			t.Errorf("n=%d: %+v", n, *st)
		}
	}
	// When the request line was read before the gap, the response pairs
	// with it.
	s := &recSink{keep: 1 << 20}
	p := New(s, Options{}, nil)
	p.Data(true, []byte(reqs[0][:25]))
	p.Gap(true, int64(len(reqs[0])-25))
	p.Data(true, []byte(reqs[1]))
	p.Data(false, []byte(resps[0]+resps[1]))
	p.Close()
	if f := file(t, s, "f1.exe"); f.meta.Host != "" || f.meta.URL != "/f1.exe" || string(f.data) != bodies[0] {
		t.Errorf("known request line: url %q host %q", f.meta.URL, f.meta.Host)
	}
	whole(t, s, "f2.exe", bodies[1])
}

// A lost request that was a HEAD: its response has a Content-Length and
// no body. The status line where the body would start gives it away.
func TestLostHEAD(t *testing.T) {
	head := msg("HEAD /h HTTP/1.1", "", "Host: h.test")
	s := &recSink{keep: 1 << 20}
	p := New(s, Options{}, nil)
	p.Data(true, []byte(get("/a.exe")))
	p.Gap(true, int64(len(head)))
	p.Data(true, []byte(get("/b.exe")))
	p.Data(false, []byte(ok200("first")))
	p.Data(false, []byte(msg("HTTP/1.1 200 OK", "", "Content-Length: 5000")))
	p.Data(false, []byte(ok200("second")))
	p.Close()
	whole(t, s, "a.exe", "first")
	whole(t, s, "b.exe", "second")
	if p.stats.HeadGuessed != 1 || len(s.files) != 2 {
		t.Errorf("%d files, %+v", len(s.files), *p.stats)
	}
}

// A gap that runs from a body into the next response's head: the body
// gets its part of it, and the next response is reported head-lost.
func TestGapAcrossBodyEnd(t *testing.T) {
	reqs, resps, bodies := exchanges(3)
	server := resps[0] + resps[1] + resps[2]
	from := len(resps[0]) - 100
	to := len(resps[0]) + 20
	for _, n := range pieceSizes {
		s := &recSink{keep: 1 << 20}
		p := New(s, Options{}, nil)
		feedBytes(p, true, []byte(strings.Join(reqs, "")), n)
		feedBytes(p, false, []byte(server[:from]), n)
		p.Gap(false, int64(to-from))
		feedBytes(p, false, []byte(server[to:]), n)
		p.End(false)
		p.Close()
		if err := s.check(); err != nil {
			t.Fatal(err)
		}
		f1 := file(t, s, "f1.exe")
		if f1.cut != transfer.CutGap || len(f1.gaps) != 1 || f1.gaps[0] != 100 || string(f1.data) != bodies[0][:len(bodies[0])-100] {
			t.Errorf("n=%d: first: cut %q gaps %v", n, f1.cut, f1.gaps)
		}
		f2 := file(t, s, "f2.exe")
		if !f2.meta.HeadLost || f2.cut != transfer.CutGap || f2.wire != int64(len(resps[1])) {
			t.Errorf("n=%d: second: lost %v cut %q wire %d want %d", n, f2.meta.HeadLost, f2.cut, f2.wire, len(resps[1]))
		}
		whole(t, s, "f3.exe", bodies[2])
	}
}

// Bytes after a hole that look like a status line but whose block does
// not read as HTTP are passed over, and the real response after them is
// found; one that never comes leaves the lost file cut at the end (gap)
// or, without an end, cut as a desync.
func TestFalseStartsAndNoResync(t *testing.T) {
	fake := "notes: HTTP/1.1 200 OK\r\nthis line has no colon\r\nHTTP/1.0 404 x\r\n\x01bad: v\r\nHTTP/1.1 2"
	for _, n := range pieceSizes {
		s := &recSink{keep: 1 << 20}
		p := New(s, Options{}, nil)
		feedBytes(p, true, []byte(get("/a.exe")+get("/b.exe")), n)
		p.Gap(false, 50)
		feedBytes(p, false, []byte(fake), n)
		feedBytes(p, false, []byte(ok200("real")), n)
		p.Close()
		whole(t, s, "b.exe", "real")
		a := file(t, s, "a.exe")
		if !a.meta.HeadLost || a.cut != transfer.CutGap || a.wire != int64(50+len(fake)) {
			t.Errorf("n=%d: lost file cut %q wire %d want %d", n, a.cut, a.wire, 50+len(fake))
		}
		if p.stats.FalseStarts < 3 || p.stats.Resyncs != 1 {
			t.Errorf("n=%d: %+v", n, *p.stats)
		}
	}
	for _, end := range []bool{true, false} {
		s := &recSink{keep: 1 << 20}
		p := New(s, Options{}, nil)
		p.Data(true, []byte(get("/a.exe")))
		p.Gap(false, 10)
		p.Data(false, []byte("rest of a body"))
		if end {
			p.End(false)
		}
		p.Close()
		a := file(t, s, "a.exe")
		want := transfer.CutDesync
		if end {
			want = transfer.CutGap
		}
		if a.cut != want || a.wire != 24 {
			t.Errorf("end %v: cut %q wire %d", end, a.cut, a.wire)
		}
		if err := s.check(); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing is opened for a lost response to HEAD, nor when the status
	// line was read and says there is no body.
	s := &recSink{}
	p := New(s, Options{}, nil)
	p.Data(true, []byte(msg("HEAD /h HTTP/1.1", "")+get("/n")))
	p.Gap(false, 40)
	p.Close()
	s2 := &recSink{}
	p2 := New(s2, Options{}, nil)
	p2.Data(true, []byte(msg("HEAD /h HTTP/1.1", "")+get("/n")))
	p2.Data(false, []byte(msg("HTTP/1.1 200 OK", "", "Content-Length: 99")+"HTTP/1.1 304 Not Modified\r\nETag: x"))
	p2.Gap(false, 5)
	p2.Close()
	if len(s.files)+len(s2.files) != 0 || p.stats.HeadsLost != 1 || p2.stats.HeadsLost != 1 || p2.stats.Responses != 1 {
		t.Errorf("%d+%d files, %+v %+v", len(s.files), len(s2.files), *p.stats, *p2.stats)
	}
}
