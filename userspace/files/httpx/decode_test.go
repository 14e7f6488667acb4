package httpx

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

func TestContentEncodings(t *testing.T) {
	body := testBody(300000, 12) + string(make([]byte, 100000))
	cases := []struct {
		ce, wire, meta string
	}{
		{"gzip", gz(body), "gzip"},
		{"x-gzip", gz(body), "gzip"},
		{"deflate", zl(body), "deflate"},
		{"deflate", rawDeflate(body), "deflate"},
		{"br", br(body), "br"},
		{"gzip, br", br(gz(body)), "gzip, br"},
		{"br,deflate", zl(br(body)), "br, deflate"},
		{"gzip, identity, gzip", gz(gz(body)), "gzip, gzip"},
		{"identity", body, ""},
		{"GZIP", gz(body) + "trailing junk", "gzip"},
		{"gzip", gz(body[:1000]) + gz(body[1000:]), "gzip"}, // two members
	}
	for _, c := range cases {
		for _, framing := range []string{"length", "chunked", "close"} {
			for _, n := range []int{0, 7, 1448} {
				t.Run(fmt.Sprintf("%s/%s/%d", c.ce, framing, n), func(t *testing.T) {
					var server string
					switch framing {
					case "length":
						server = ok200(c.wire, "Content-Encoding: "+c.ce) + ok200("next")
					case "chunked":
						server = msg("HTTP/1.1 200 OK", chunk(c.wire, 4000), "Content-Encoding: "+c.ce, "Transfer-Encoding: chunked") + ok200("next")
					case "close":
						server = msg("HTTP/1.1 200 OK", c.wire, "Content-Encoding: "+c.ce)
					}
					s := &recSink{keep: 1 << 20}
					p, _ := conn(t, Options{}, s, get("/f.exe")+get("/next"), server, n)
					f := whole(t, s, "f.exe", body)
					if f.meta.ContentEncoding != c.meta || (c.meta != "" && f.meta.Size != -1) {
						t.Errorf("ContentEncoding %q size %d", f.meta.ContentEncoding, f.meta.Size)
					}
					if framing != "close" {
						whole(t, s, "next", "next")
					}
					if p.stats.Corrupt != 0 || p.stats.Bombs != 0 {
						t.Errorf("stats %+v", *p.stats)
					}
				})
			}
		}
	}
}

func TestUnknownAndBadEncodings(t *testing.T) {
	body := testBody(5000, 13)
	for _, ce := range []string{"compress", "gzip, zstd", "gzip, gzip, gzip, gzip"} {
		s := &recSink{keep: 1 << 20}
		p, _ := conn(t, Options{}, s, get("/u"), ok200(body, "Content-Encoding: "+ce), 0)
		f := whole(t, s, "u", body)
		if f.meta.ContentEncoding != ce || p.stats.UnknownEncoding != 1 {
			t.Errorf("%s: ContentEncoding %q", ce, f.meta.ContentEncoding)
		}
	}
	// Not gzip at all, a truncated stream, a bad checksum: cut corrupt.
	z := gz(body)
	bad := []byte(z)
	bad[len(bad)-5] ^= 1 // CRC
	for name, wire := range map[string]string{"garbage": body, "truncated": z[:len(z)/2], "crc": string(bad)} {
		s := &recSink{keep: 1 << 20}
		p, _ := conn(t, Options{}, s, get("/c")+get("/n"), ok200(wire, "Content-Encoding: gzip")+ok200("n"), 0)
		if name != "garbage" {
			if f := file(t, s, "c"); f.cut != transfer.CutCorrupt {
				t.Errorf("%s: cut %q", name, f.cut)
			}
		}
		whole(t, s, "n", "n")
		if p.stats.Corrupt != 1 {
			t.Errorf("%s: corrupt %d", name, p.stats.Corrupt)
		}
	}
	// A close-delimited stream cut by the end of the connection ended,
	// it was not corrupt.
	s := &recSink{keep: 1 << 20}
	conn(t, Options{}, s, get("/e"), msg("HTTP/1.1 200 OK", z[:len(z)/2], "Content-Encoding: gzip"), 0)
	if f := file(t, s, "e"); f.cut != transfer.CutEnded {
		t.Errorf("close-delimited truncated: cut %q", f.cut)
	}
}

// zeros reads n zero bytes without holding them.
type zeros struct{ n int64 }

func (z *zeros) Read(b []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	k := int(min(int64(len(b)), z.n))
	clear(b[:k])
	z.n -= int64(k)
	return k, nil
}

// repeat reads p over and over, n times.
type repeat struct {
	p   []byte
	off int
	n   int64
}

func (r *repeat) Read(b []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	k := copy(b, r.p[r.off:])
	if r.off += k; r.off == len(r.p) {
		r.off, r.n = 0, r.n-1
	}
	return k, nil
}

// bombSource streams gzip of n zeros, compressing as it is read, so a
// 10 GB bomb is never built. With two layers the inner stream is one
// small gzip member of 1 MiB of zeros repeated (members may follow each
// other), which the outer layer squeezes again.
func bombSource(n int64, layers int) io.Reader {
	var r io.Reader = &zeros{n: n}
	if layers == 2 {
		var b bytes.Buffer
		w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		io.Copy(w, &zeros{n: 1 << 20})
		w.Close()
		r = &repeat{p: b.Bytes(), n: n >> 20}
	}
	pr, pw := io.Pipe()
	go func() {
		w, _ := gzip.NewWriterLevel(pw, gzip.BestCompression)
		_, err := io.Copy(w, r)
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

func TestGzipBomb(t *testing.T) {
	cases := []struct {
		name   string
		layers int
		opts   Options
		// limit is the most the file may get
		limit int64
	}{
		{"10GB zeros, ratio", 1, Options{}, 8 << 20},
		{"stacked, ratio", 2, Options{}, 2 << 20},
		{"MaxDecoded", 1, Options{MaxDecoded: 3 << 20, MaxRatio: 1 << 30}, 3 << 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			ce := "gzip"
			if c.layers == 2 {
				ce = "gzip, gzip"
			}
			s := &recSink{}
			p := New(s, c.opts, nil)
			p.Data(true, []byte(get("/bomb")+get("/after")))
			p.Data(false, []byte(msg("HTTP/1.1 200 OK", "", "Content-Encoding: "+ce, "Transfer-Encoding: chunked")))
			src := bombSource(10<<30, c.layers)
			defer src.(*io.PipeReader).Close()
			buf := make([]byte, 1448)
			fed := 0
			for {
				n, err := io.ReadFull(src, buf)
				if n > 0 {
					p.Data(false, fmt.Appendf(nil, "%x\r\n%s\r\n", n, buf[:n]))
					fed += n
				}
				if p.resp.b.want == false || err != nil {
					break
				}
			}
			// The rest of the chunked body, then another response.
			p.Data(false, []byte("5\r\nhello\r\n0\r\n\r\n"+ok200("after")))
			p.Close()
			f := file(t, s, "bomb")
			if f.cut != transfer.CutBomb || f.n > c.limit || p.stats.Bombs != 1 {
				t.Errorf("cut %q, %d bytes decoded from %d", f.cut, f.n, fed)
			}
			if c.opts.MaxDecoded > 0 && f.n != c.opts.MaxDecoded {
				t.Errorf("got %d bytes, want exactly MaxDecoded %d", f.n, c.opts.MaxDecoded)
			}
			whole(t, s, "after", "")
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			t.Logf("cut after %d bytes decoded from %d in %v", f.n, fed, time.Since(start))
		})
	}
	// Small very compressible files are not bombs.
	small := string(make([]byte, 900<<10))
	s := &recSink{keep: 1 << 20}
	conn(t, Options{}, s, get("/z"), ok200(gz(small), "Content-Encoding: gzip"), 0)
	whole(t, s, "z", small)
}

// Every decoder runs in a coroutine: Close must end them all.
func TestDecodersReleased(t *testing.T) {
	before := runtime.NumGoroutine()
	z := gz(testBody(100000, 14))
	var ps []*Parser
	for i := 0; i < 50; i++ {
		p := New(&recSink{}, Options{}, nil)
		p.Data(true, []byte(get("/x")))
		p.Data(false, []byte(ok200(z, "Content-Encoding: gzip")[:500]))
		ps = append(ps, p)
	}
	if runtime.NumGoroutine() < before+50 {
		t.Fatalf("expected a coroutine per open decoder: %d -> %d", before, runtime.NumGoroutine())
	}
	for _, p := range ps {
		p.Close()
	}
	for i := 0; i < 100 && runtime.NumGoroutine() > before; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("goroutines %d -> %d after Close", before, n)
	}
}
