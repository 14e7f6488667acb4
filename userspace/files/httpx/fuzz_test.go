package httpx

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// checkBounds reports a buffer or queue past its limit.
func (p *Parser) checkBounds() error {
	o := &p.opts
	if p.fifo.n > o.MaxPipelined || len(p.fifo.q) > o.MaxPipelined {
		return fmt.Errorf("fifo %d/%d", p.fifo.n, len(p.fifo.q))
	}
	for _, h := range []*half{&p.req, &p.resp} {
		if len(h.acc.buf) > lineKeep || cap(h.acc.buf) > 2*lineKeep {
			return fmt.Errorf("line buffer %d/%d", len(h.acc.buf), cap(h.acc.buf))
		}
		if n := h.hd.strBytes(); n > 11*transfer.MaxHeaderValue {
			return fmt.Errorf("header fields hold %d bytes", n)
		}
		b := &h.b
		if b.remain < 0 || b.wire < 0 {
			return fmt.Errorf("remain %d wire %d", b.remain, b.wire)
		}
		if b.mode == fLength && b.wire+b.remain != b.declared {
			return fmt.Errorf("wire %d + remain %d != Content-Length %d", b.wire, b.remain, b.declared)
		}
		if len(h.held) > maxTunnelHold || cap(h.held) > maxTunnelHold || h.pk.n > len(h.pk.buf) {
			return fmt.Errorf("held %d/%d, peeked %d", len(h.held), cap(h.held), h.pk.n)
		}
		if m := b.mp; m != nil && (len(m.carry) >= len(m.delim) || len(m.hdr) > o.MaxHeaderBytes) {
			return fmt.Errorf("multipart carry %d hdr %d", len(m.carry), len(m.hdr))
		}
		if d := b.dec; d != nil && d.produced > o.MaxDecoded {
			return fmt.Errorf("decoded %d", d.produced)
		}
	}
	return nil
}

// fuzzOpts keeps the limits small so the fuzzer reaches them.
func fuzzOpts(flags byte) Options {
	return Options{
		Uploads:        flags&1 != 0,
		Pieces:         flags&16 != 0,
		MaxHeaderBytes: 2048,
		MaxHeaderBlock: 4096,
		MaxDecoded:     256 << 10,
		MaxRatio:       50,
		MaxPipelined:   4,
	}
}

func FuzzParser(f *testing.F) {
	for _, name := range corpus {
		for _, c := range testutil.TCPConns(f, "../../../testdata/corpus/"+name+".pcap") {
			f.Add(c.ToServer[:min(1024, len(c.ToServer))], c.ToClient[:min(1024, len(c.ToClient))], int64(1), byte(0))
		}
	}
	body := testBody(3000, 1)
	seeds := [][2]string{
		{get("/a") + msg("HEAD /b HTTP/1.1", "") + get("/c"), ok200("abc") + msg("HTTP/1.1 200 OK", "", "Content-Length: 9") + msg("HTTP/1.1 204 No", "")},
		{get("/g"), ok200(gz(body), "Content-Encoding: gzip")},
		{get("/g"), msg("HTTP/1.1 200 OK", chunk(br(gz(body)), 100), "Content-Encoding: gzip, br", "Transfer-Encoding: chunked")},
		{get("/z"), ok200(zl(body), "Content-Encoding: deflate") + msg("HTTP/1.0 200 OK", rawDeflate(body), "Content-Encoding: deflate")},
		{get("/g"), ok200(gz(strings.Repeat("\x00", 1<<20)), "Content-Encoding: gzip")},
		{msg("PUT /u HTTP/1.1", "abcd", "Expect: 100-continue", "Content-Length: 4"), msg("HTTP/1.1 100 Continue", "") + msg("HTTP/1.1 103 Early", "") + ok200("")},
		{msg("POST /up HTTP/1.1", chunk("--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.exe\"\r\n\r\nMZ..\r\n--b--\r\n", 10), "Content-Type: multipart/form-data; boundary=b", "Transfer-Encoding: chunked"), ok200("")},
		{get("/c"), msg("HTTP/1.1 200 OK", "5;e=1\r\nhello\r\n0\r\nT: x\r\n\r\n", "Transfer-Encoding: chunked")},
		{get("/d"), ok200("x", `Content-Disposition: attachment; filename*=UTF-8''na%C3%AFve.exe; filename="a\"b"`)},
		{"CONNECT a:443 HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"},
		{get("/w", "Upgrade: websocket"), "HTTP/1.1 101 Switching\r\n\r\n"},
		// Tunnels: HTTP inside, early client bytes, a refusal then a
		// retry, a server that speaks first, TLS inside.
		{connect + innerGet("/t.exe"), established + ok200(peBody(300)) + ok200("x")},
		{connect + "GET /e.exe HTTP/1.1\r\nHost: i\r\n\r\n", msg("HTTP/1.1 407 Auth", "no", "Content-Length: 2") + established},
		{connect + connect + innerGet("/r"), msg("HTTP/1.1 407 Auth", "no", "Content-Length: 2") + established + ok200("r")},
		{connect + innerGet("/s"), established + ok200("server first") + msg("HTTP/1.1 200 OK", chunk("c", 1), "Transfer-Encoding: chunked")},
		{connect + connect + innerGet("/n"), established + established + ok200("nested")},
		{connect + "\x16\x03\x01\x00\x05hello", established + "\x16\x03\x03"},
		// 101s no Upgrade was asked for: a body until close, or interim.
		{get("/p.exe"), "HTTP/1.1 101 Switching Protocols\r\nContent-Length: 2\r\n\r\n" + peBody(200)},
		{get("/i.exe") + get("/j"), "HTTP/1.1 101 S\r\n\r\n\r\n" + ok200(peBody(100)) + "HTTP/1.1 101 S\r\n\r\nHTTP/1.1 2"},
		// Absolute-form targets, a Host that disagrees, userinfo.
		{msg("GET http://u:p@evil.test:3128/a.exe?q HTTP/1.1", "", "Host: stale.test") + msg("GET HTTP://x.test HTTP/1.1", ""), ok200("a") + ok200("b")},
		{"\x16\x03\x01\x00\x05hello", ""},
		{get("/x"), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"},
		{get("/r", "Range: bytes=0-3") + get("/r", "Range: bytes=4-9"),
			msg("HTTP/1.1 206 Partial", "MZ\x90\x00", "Content-Range: bytes 0-3/10", "Content-Length: 4") +
				msg("HTTP/1.1 206 Partial", "abcdef", "Content-Range: bytes 4-9/10", "Content-Length: 6")},
		{get("/v"), msg("HTTP/1.0 200 OK", "\x00\x00\x00\x18ftypmp42 video", "Content-Type: video/mp4")},
		// Header blocks read line by line: long lines, padding around
		// framing values, folds, blocks past MaxHeaderBlock.
		{msg("GET /"+strings.Repeat("p", 1200)+" HTTP/1.1", "", "Host: h", "X: "+strings.Repeat("y", 1500)), msg("HTTP/1.1 200 OK", "abc", "Content-Length:"+strings.Repeat(" ", 1500)+"3")},
		{get("/t"), "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n" + strings.Repeat("\t", 1100) + ",chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
		{get("/l"), msg("HTTP/1.1 200 OK", "abcd", append(strings.Split(strings.Repeat("X-J: vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\n", 90), "\n"), "Content-Length: 4")...) + ok200("next")},
		{get("/f"), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n 2\r\n\r\nab" + ok200("x")},
		// Resync: bodies that hold fake status lines, requests glued to
		// the body before them.
		{msg("POST /a HTTP/1.1", "k=v", "Content-Length: 3") + "xyzPOST /b HTTP/1.1\r\nHost: h\r\n\r\n" + get("/c"),
			"junk HTTP/1.1 200 OK\r\nno colon here\r\n" + ok200("real") + "\x00\x01HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
	}
	for i, s := range seeds {
		f.Add([]byte(s[0]), []byte(s[1]), int64(i), byte(i))
	}
	// Ranges as pieces (Options.Pieces), out of order.
	f.Add([]byte(get("/r", "Range: bytes=4-9")+get("/r", "Range: bytes=0-5")),
		[]byte(msg("HTTP/1.1 206 Partial", "abcdef", "Content-Range: bytes 4-9/10", "Content-Length: 6", `ETag: "e"`)+
			msg("HTTP/1.1 206 Partial", "MZ\x90\x00ab", "Content-Range: bytes 0-5/10", "Content-Length: 6")), int64(1), byte(16))
	f.Fuzz(func(t *testing.T, client, server []byte, seed int64, flags byte) {
		rng := rand.New(rand.NewSource(seed))
		opts := fuzzOpts(flags)
		sink := &recSink{}
		if flags&2 != 0 {
			sink.declineOn = func(*transfer.Meta) int { return rng.Intn(4) }
		}
		p := New(sink, opts, nil)
		d := &driver{p: p, streams: [2][]byte{client, server}}
		for (d.rest(true) > 0 || d.rest(false) > 0) && !p.Done() {
			c := d.rest(false) == 0 || d.rest(true) > 0 && rng.Intn(2) == 0
			i := dir(c)
			if flags&4 != 0 && rng.Intn(16) == 0 {
				// Lose some bytes.
				n := min(1+rng.Intn(64), d.rest(c))
				p.Gap(c, int64(n))
				d.off[i] += n
				continue
			}
			before := d.skipped[i]
			d.feed(c, 1+rng.Intn(600))
			if d.skipped[i] > before && !p.Done() {
				// A skip ends at a body's end or a chunk's data end.
				h := p.half(c)
				if !(h.st == stHead || h.st == stBody && h.b.mode == fChunked && h.b.chunk.st == csDataCR) {
					t.Fatalf("skip left the parser in state %d mode %d", h.st, h.b.mode)
				}
			}
			if err := p.checkBounds(); err != nil {
				t.Fatal(err)
			}
			if p.bug != "" {
				t.Fatal(p.bug)
			}
		}
		first := flags&8 != 0
		p.End(first)
		p.End(!first)
		p.Close()
		if err := sink.check(); err != nil {
			t.Fatal(err)
		}
		for _, f := range sink.files {
			var cs codings
			cs.parse(f.meta.ContentEncoding)
			if cs.n > 0 && !cs.raw && f.n > opts.MaxDecoded {
				t.Fatalf("decoded file got %d bytes, MaxDecoded %d", f.n, opts.MaxDecoded)
			}
			if r := f.meta.Range; r != nil {
				// A piece is the range's bytes (framed by Content-Length:
				// never more), never decoded.
				n := f.n
				for _, g := range f.gaps {
					n += g
				}
				long := n > r.Last-r.First+1 && f.meta.Transfer == "content-length"
				if r.First < 0 || r.Last < r.First || r.Total <= r.Last || long || f.meta.ContentEncoding != "" || !opts.Pieces {
					t.Fatalf("piece %+v: %d bytes, encoding %q", r, n, f.meta.ContentEncoding)
				}
			}
		}
		if p.bug != "" {
			t.Fatal(p.bug)
		}
		if p.coroutines != 0 {
			t.Fatalf("%d decoders not released after Close", p.coroutines)
		}
	})
}

// FuzzSplit: header blocks read in place and read across calls give the
// same files. The two streams are fed whole, then in pieces the fuzzer
// picks; when neither run lost the framing, the files must be equal.
func FuzzSplit(f *testing.F) {
	body := testBody(2000, 1)
	seeds := [][2]string{
		{get("/a.exe") + get("/b"), ok200(body, "Content-Type: application/x-dosexec") + msg("HTTP/1.1 200 OK", chunk(body, 300), "Transfer-Encoding: chunked")},
		{msg("GET /"+strings.Repeat("p", 1200)+" HTTP/1.1", "", "Host: h", "User-Agent: "+strings.Repeat("u", 1500)), msg("HTTP/1.1 200 OK", "abc", "Content-Length:"+strings.Repeat(" ", 1500)+"3")},
		{get("/t"), "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n" + strings.Repeat("\t", 1100) + ",chunked\r\nContent-Disposition: attachment;\r\n filename=x.exe\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
		{get("/l"), msg("HTTP/1.1 200 OK", "abcd", append(strings.Split(strings.Repeat("X-J: vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\n", 90), "\n"), "Content-Length: 4")...)},
		{connect + innerGet("/t.exe"), established + ok200(peBody(300))},
		{get("/p.exe") + get("/q"), "HTTP/1.1 101 S\r\n\r\n\n" + ok200(peBody(100)) + "HTTP/1.1 101 S\r\nContent-Length: 1\r\n\r\nMZ" + peBody(50)},
		{msg("GET http://u@evil.test:3128/a.exe HTTP/1.1", "", "Host: stale.test"), ok200("a")},
	}
	for i, s := range seeds {
		f.Add([]byte(s[0]), []byte(s[1]), int64(i), byte(i))
	}
	f.Fuzz(func(t *testing.T, client, server []byte, seed int64, flags byte) {
		run := func(piece func() int) (*recSink, *Parser) {
			sink := &recSink{keep: 64}
			p := New(sink, fuzzOpts(flags), nil)
			d := &driver{p: p, streams: [2][]byte{client, server}}
			for _, c := range []bool{true, false} {
				for d.rest(c) > 0 && !p.Done() {
					d.feed(c, piece())
				}
			}
			p.End(true)
			p.End(false)
			p.Close()
			if err := sink.check(); err != nil {
				t.Fatal(err)
			}
			return sink, p
		}
		rng := rand.New(rand.NewSource(seed))
		whole, pw := run(func() int { return 1 << 30 })
		split, ps := run(func() int { return 1 + rng.Intn(100) })
		if pw.stats.Desyncs != 0 || ps.stats.Desyncs != 0 || pw.stats.NotHTTP != ps.stats.NotHTTP {
			return
		}
		if len(whole.files) != len(split.files) {
			t.Fatalf("%d files whole, %d split", len(whole.files), len(split.files))
		}
		for i, a := range whole.files {
			b := split.files[i]
			ma, mb := a.meta, b.meta
			ma.Time, mb.Time = mb.Time, ma.Time
			if fmt.Sprint(ma) != fmt.Sprint(mb) || a.cut != b.cut || a.sum() != b.sum() || a.n != b.n {
				t.Fatalf("file %d differs:\n%+v %q %d\n%+v %q %d", i, ma, a.cut, a.n, mb, b.cut, b.n)
			}
		}
	})
}
