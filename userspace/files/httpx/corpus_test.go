package httpx

import (
	"bufio"
	"bytes"
	"io"
	"math/rand"
	"net/http"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

var corpus = []string{"http_keepalive", "http_exe", "http_gzip_chunked"}

// boundaries finds where each request ends in the client stream and each
// response ends in the server stream, with net/http as an independent
// reader, so a test can interleave the directions as a capture would
// (response k only after request k).
func boundaries(t *testing.T, c testutil.TCPConn) (reqEnd, respEnd []int) {
	t.Helper()
	off := func(total int, r *bytes.Reader, b *bufio.Reader) int { return total - r.Len() - b.Buffered() }
	rr := bytes.NewReader(c.ToServer)
	br := bufio.NewReader(rr)
	var methods []string
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			break
		}
		io.Copy(io.Discard, req.Body)
		methods = append(methods, req.Method)
		reqEnd = append(reqEnd, off(len(c.ToServer), rr, br))
	}
	sr := bytes.NewReader(c.ToClient)
	sb := bufio.NewReader(sr)
	for _, m := range methods {
		resp, err := http.ReadResponse(sb, &http.Request{Method: m})
		if err != nil {
			t.Fatalf("oracle: response %d: %v", len(respEnd), err)
		}
		io.Copy(io.Discard, resp.Body)
		respEnd = append(respEnd, off(len(c.ToClient), sr, sb))
	}
	return reqEnd, respEnd
}

// feedCausal feeds random-size chunks alternating directions at random,
// never starting response k before request k is whole.
func feedCausal(t *testing.T, d *driver, reqEnd, respEnd []int, rng *rand.Rand) {
	t.Helper()
	for d.rest(true) > 0 || d.rest(false) > 0 {
		limit := len(d.streams[1])
		done := 0 // requests fed whole
		for done < len(reqEnd) && d.off[0] >= reqEnd[done] {
			done++
		}
		if done < len(respEnd) {
			limit = 0
			if done > 0 {
				limit = respEnd[done-1]
			}
		}
		n := 1 + rng.Intn(3000)
		canServer := d.off[1] < limit && d.rest(false) > 0
		if d.rest(true) > 0 && (!canServer || rng.Intn(2) == 0) {
			d.feed(true, n)
			continue
		}
		if !canServer {
			t.Fatalf("stuck at client %d server %d", d.off[0], d.off[1])
		}
		d.feed(false, min(n, limit-d.off[1]))
	}
}

func TestCorpus(t *testing.T) {
	for _, name := range corpus {
		truth := testutil.ReadTruth(t, "../../../testdata/corpus/"+name+".truth.json")
		conns := testutil.TCPConns(t, "../../../testdata/corpus/"+name+".pcap")
		for _, mode := range []string{"whole", "chunks"} {
			t.Run(name+"/"+mode, func(t *testing.T) {
				sink := &recSink{}
				var st Stats
				for _, c := range conns {
					p := New(sink, Options{}, &st)
					d := &driver{p: p, streams: [2][]byte{c.ToServer, c.ToClient}}
					if mode == "whole" {
						d.feed(true, len(c.ToServer))
						d.feed(false, len(c.ToClient))
					} else {
						reqEnd, respEnd := boundaries(t, c)
						feedCausal(t, d, reqEnd, respEnd, rand.New(rand.NewSource(int64(len(c.ToClient)))))
					}
					p.End(true)
					p.End(false)
					p.Close()
					if p.bug != "" {
						t.Fatal(p.bug)
					}
				}
				if err := sink.check(); err != nil {
					t.Fatal(err)
				}
				want := append(append([]testutil.FileTruth{}, truth.Files...), truth.NotFiles...)
				if len(sink.files) != len(want) {
					t.Errorf("%d files opened, want %d", len(sink.files), len(want))
				}
				for _, w := range want {
					found := false
					for _, f := range sink.files {
						if f.meta.Name == w.Name && f.sum() == w.SHA256 && f.cut == transfer.Whole {
							found = true
						}
					}
					if !found {
						t.Errorf("%s (%s) not extracted whole", w.Name, w.SHA256)
						for _, f := range sink.files {
							t.Logf("  got %q %s %d bytes cut %q", f.meta.Name, f.sum(), f.n, f.cut)
						}
					}
				}
				for _, f := range sink.files {
					m := f.meta
					if testing.Verbose() {
						t.Logf("%q %s %d bytes %q %q %q size %d", m.Name, m.ContentType, f.n, m.ContentEncoding, m.Transfer, m.URL, m.Size)
					}
					if m.Protocol != transfer.HTTP || m.Method != "GET" || m.Host != "files.example.test" ||
						m.UserAgent != "curl/7.88.1" || m.Status != 200 || m.URL != "http://files.example.test/"+urlPath(name, m.Name) {
						t.Errorf("meta %+v", m)
					}
				}
				if st.Malformed != (Malformed{}) || st.Desyncs != 0 || st.Unpaired != 0 {
					t.Errorf("stats %+v", st)
				}
			})
		}
	}
}

func urlPath(capture, name string) string {
	if capture == "http_gzip_chunked" {
		return "gz/" + name
	}
	return name
}

// A sink that types files by their first bytes, as the file pipeline
// does, declines the text file and the JPEG: their bodies are handed back
// as skip and every candidate still comes out whole.
func TestCorpusDeclined(t *testing.T) {
	magics := []string{"MZ", "%PDF", "PK\x03\x04", "\x7fELF", "X5O!"}
	notCandidate := func(p []byte) bool {
		for _, m := range magics {
			if bytes.HasPrefix(p, []byte(m)) {
				return false
			}
		}
		return true
	}
	truth := testutil.ReadTruth(t, "../../../testdata/corpus/http_keepalive.truth.json")
	c := testutil.TCPConns(t, "../../../testdata/corpus/http_keepalive.pcap")[0]
	sink := &recSink{declineFirst: notCandidate}
	var st Stats
	p := New(sink, Options{}, &st)
	d := &driver{p: p, streams: [2][]byte{c.ToServer, c.ToClient}}
	d.feed(true, len(c.ToServer))
	for d.rest(false) > 0 {
		d.feed(false, 1448)
	}
	p.End(true)
	p.End(false)
	p.Close()
	if err := sink.check(); err != nil {
		t.Fatal(err)
	}
	for _, w := range truth.Files {
		f := file(t, sink, w.Name)
		if f.sum() != w.SHA256 || f.cut != transfer.Whole || f.decline {
			t.Errorf("%s: %s cut %q", w.Name, f.sum(), f.cut)
		}
	}
	var declined int64
	for _, w := range truth.NotFiles {
		if f := file(t, sink, w.Name); !f.decline || f.writes != 1 {
			t.Errorf("%s: not declined", w.Name)
		} else {
			declined += f.meta.Size - f.n
		}
	}
	// photo.jpg is 204811 bytes: most of it never reached the parser.
	if d.skipped[1] < 200000 || uint64(d.skipped[1]) != st.SkippedBytes || d.skipped[1] != declined {
		t.Errorf("skipped %d (stats %d), declined bodies had %d bytes left", d.skipped[1], st.SkippedBytes, declined)
	}
	if st.Desyncs != 0 || st.Responses != 8 || st.BodiesDeclined != 2 {
		t.Errorf("stats %+v", st)
	}
}
