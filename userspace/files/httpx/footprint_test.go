package httpx

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

// liveBytes is the heap and stack in use after a collection.
func liveBytes() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}

// measure builds n parsers with build and reports the memory they hold
// per parser, measured, and their mean Footprint.
func measure(t *testing.T, n int, build func() *Parser) (measured, footprint int) {
	t.Helper()
	ps := make([]*Parser, 0, n)
	before := liveBytes()
	for range n {
		ps = append(ps, build())
	}
	after := liveBytes()
	fp := 0
	for _, p := range ps {
		fp += p.Footprint()
	}
	runtime.KeepAlive(ps)
	for _, p := range ps {
		p.Close()
	}
	return int((after - before) / int64(n)), fp / n
}

// The figures a Footprint gives are the memory the parsers hold, as the
// runtime measures it: for idle connections, for connections stuck in
// unfinished header blocks, and for bodies being decoded (windows,
// tables, the coroutine's stack).
func TestFootprintMatchesMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	body := testBody(600<<10, 7)
	var bw bytes.Buffer
	w := brotli.NewWriterOptions(&bw, brotli.WriterOptions{Quality: 5, LGWin: 22})
	w.Write([]byte(body))
	w.Close()
	cases := []struct {
		name   string
		client string
		server string // fed up to the middle of its body
	}{
		{"idle", get("/i") + get("/j"), ok200("x") + ok200("y")},
		{"unfinished heads", get("/i") + "GET /x HTTP/1.1\r\nHost: h.test\r\nX-Junk: " + strings.Repeat("j", 100<<10),
			ok200("x") + "HTTP/1.1 200 OK\r\nServer: s\r\nX-Junk: " + strings.Repeat("k", 50<<10)},
		{"gzip", get("/g"), ok200(gz(body), "Content-Encoding: gzip")},
		{"deflate", get("/d"), ok200(zl(body), "Content-Encoding: deflate")},
		{"br", get("/b"), ok200(bw.String(), "Content-Encoding: br")},
		{"br small", get("/b"), ok200(br(body[:20000]), "Content-Encoding: br")},
	}
	for _, c := range cases {
		build := func() *Parser {
			p := New(nopSink{}, Options{}, nil)
			feedBytes(p, true, []byte(c.client), benchMSS)
			s := c.server
			if strings.Contains(c.name, "gzip") || strings.Contains(c.name, "br") || c.name == "deflate" {
				s = s[:len(s)/2]
			}
			feedBytes(p, false, []byte(s), benchMSS)
			return p
		}
		m, fp := measure(t, 100, build)
		t.Logf("%-16s measured %7d B per connection, Footprint %7d", c.name, m, fp)
		if float64(fp) < 0.8*float64(m) || float64(fp) > 1.5*float64(m)+2048 {
			t.Errorf("%s: Footprint %d, measured %d", c.name, fp, m)
		}
	}
	if brotliRingField == nil {
		t.Error("brotli.Reader has no ring buffer field by that name: its window is not counted")
	}
}

// A flood of header blocks that never end, line after line and in lines
// that never end, in both directions: what a parser holds stays within
// one line per direction beside the fields it keeps, whatever the size
// of the blocks.
func TestFootprintBoundedByOneLine(t *testing.T) {
	p := New(nopSink{}, Options{}, nil)
	idle := p.Footprint()
	t.Logf("new parser: %d bytes", idle)
	bound := idle + 2*lineKeepCap // one line per direction
	fields := 0
	check := func(what string) {
		t.Helper()
		fields = max(fields, p.req.hd.strBytes()+p.resp.hd.strBytes())
		if fp := p.Footprint(); fp > bound+p.req.hd.strBytes()+p.resp.hd.strBytes() {
			t.Fatalf("%s: Footprint %d, bound %d + fields %d", what, fp, bound, p.req.hd.strBytes()+p.resp.hd.strBytes())
		}
	}
	feed := func(client bool, s string, piece int) {
		for len(s) > 0 {
			n := min(piece, len(s))
			p.Data(client, []byte(s[:n]))
			s = s[n:]
			check(fmt.Sprintf("client %v", client))
		}
	}
	for _, piece := range []int{benchMSS, 100, 7} {
		p = New(nopSink{}, Options{}, nil)
		feed(true, "GET /"+strings.Repeat("u", 5000)+" HTTP/1.1\r\nHost: "+strings.Repeat("h", 3000)+"\r\n", piece)
		feed(false, "HTTP/1.1 200 OK\r\nContent-Type: "+strings.Repeat("t", 3000)+"\r\n", piece)
		for i := range 2000 {
			feed(true, fmt.Sprintf("X-%d: %s\r\n", i, strings.Repeat("v", 90)), piece)
			feed(false, fmt.Sprintf("Y-%d: %s\r\n", i, strings.Repeat("w", 90)), piece)
		}
		feed(true, "X-Endless: "+strings.Repeat("e", 2<<20), piece)
		feed(false, "Y-Endless: "+strings.Repeat("e", 2<<20), piece)
		if p.Done() || p.stats.Desyncs != 0 {
			t.Fatalf("piece %d: %+v", piece, *p.stats)
		}
	}
	t.Logf("unfinished blocks: at most %d bytes (one line per direction %d, fields kept %d)", bound+fields, bound-idle, fields)
}
