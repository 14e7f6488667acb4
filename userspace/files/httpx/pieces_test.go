package httpx

import (
	"strconv"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// With Options.Pieces every range the parser can place goes to the sink
// as a piece of its own, whatever its order: its Meta.Range says where it
// sits, and its bytes are the range's. Ranges it cannot place (no total,
// a content coding, a length that is not the range's) are skipped and
// counted; a 206 of the whole file is a whole file.
func TestRangePieces(t *testing.T) {
	body := testBody(1000, 5)
	rng := func(target string, a, b int, extra ...string) (string, string) {
		h := append([]string{"Content-Range: bytes " + strconv.Itoa(a) + "-" + strconv.Itoa(b) + "/1000",
			"Content-Length: " + strconv.Itoa(b-a+1)}, extra...)
		return get(target, "Range: bytes="+strconv.Itoa(a)+"-"+strconv.Itoa(b)),
			msg("HTTP/1.1 206 Partial Content", body[a:b+1], h...)
	}
	var req, resp string
	add := func(q, s string) { req, resp = req+q, resp+s }
	add(rng("/dl/a.exe", 600, 999, `ETag: "v1"`))
	add(rng("/dl/a.exe", 0, 299, "Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT"))
	add(rng("/dl/a.exe", 250, 649))
	// Chunked: placed too.
	add(get("/dl/a.exe", "Range: bytes=300-"), msg("HTTP/1.1 206 Partial Content", chunk(body[300:400], 33), "Content-Range: bytes 300-399/1000", "Transfer-Encoding: chunked"))
	// Not placeable: no total; a content coding; then a whole-file range.
	add(get("/dl/a.exe", "Range: bytes=0-2"), msg("HTTP/1.1 206 Partial Content", "abc", "Content-Range: bytes 0-2/*", "Content-Length: 3"))
	add(get("/dl/a.exe", "Range: bytes=-3"), msg("HTTP/1.1 206 Partial Content", "abc", "Content-Range: bytes 0-2/1000", "Content-Length: 3", "Content-Encoding: gzip"))
	add(get("/dl/w.exe"), msg("HTTP/1.1 206 Partial Content", "abc", "Content-Range: bytes 0-2/3", "Content-Length: 3"))
	for _, n := range []int{0, 1, 7} {
		s := &recSink{keep: 1 << 20}
		p, _ := conn(t, Options{Pieces: true}, s, req, resp, n)
		if len(s.files) != 5 {
			t.Fatalf("feed %d: %d files", n, len(s.files))
		}
		want := []struct {
			first, last int64
			validator   string
		}{{600, 999, `"v1"`}, {0, 299, "Mon, 01 Jan 2024 00:00:00 GMT"}, {250, 649, ""}, {300, 399, ""}}
		for i, w := range want {
			f := s.files[i]
			r := f.meta.Range
			if r == nil || r.First != w.first || r.Last != w.last || r.Total != 1000 || r.Validator != w.validator {
				t.Fatalf("feed %d: piece %d: %+v", n, i, r)
			}
			if f.cut != transfer.Whole || string(f.data) != body[w.first:w.last+1] || f.meta.Status != 206 {
				t.Errorf("feed %d: piece %d: cut %q size %d, %d bytes", n, i, f.cut, f.meta.Size, len(f.data))
			}
		}
		if w := s.files[4]; w.meta.Range != nil || w.meta.Name != "w.exe" || string(w.data) != "abc" || w.cut != transfer.Whole {
			t.Errorf("feed %d: whole range: %+v", n, w.meta)
		}
		if p.stats.RangePieces != 4 || p.stats.Partial != 2 || p.stats.RangesJoined != 0 {
			t.Errorf("feed %d: pieces %d partial %d joined %d", n, p.stats.RangePieces, p.stats.Partial, p.stats.RangesJoined)
		}
	}
}

// A 206 is a piece only when the client asked for that range. One to a
// request with no Range field is the file the client saves (curl, wget
// and PowerShell save any 2xx body), so it is a whole file, typed and
// hashed, not a piece left waiting for the rest; one whose Content-Range
// starts elsewhere than asked is written by the client where it asked,
// so it is never placed where Content-Range says (a hostile server would
// make the sensor join a file the client does not have).
func TestRange206NotAsked(t *testing.T) {
	pe := "MZ" + testBody(500, 9)
	part := func(a, b int) string {
		return msg("HTTP/1.1 206 Partial Content", pe[a:b+1], "Content-Range: bytes "+strconv.Itoa(a)+"-"+strconv.Itoa(b)+"/5000",
			"Content-Length: "+strconv.Itoa(b-a+1))
	}
	req := get("/x/unasked") + get("/x/moved", "Range: bytes=100-199") +
		get("/x/piece", "range:  Bytes=0-501") + get("/x/suffix", "Range: bytes=-10") + get("/x/two", "Range: bytes=0-1, 5-9") +
		get("/x/junk")
	// A 206 with a Content-Range no client could place, to a request
	// with no Range: still the file curl saves.
	resp := part(0, 501) + part(0, 99) + part(0, 501) + part(0, 9) + part(0, 1) +
		msg("HTTP/1.1 206 Partial Content", pe, "Content-Range: none of it", "Content-Length: "+strconv.Itoa(len(pe)))
	for _, pieces := range []bool{true, false} {
		for _, n := range []int{0, 3} {
			s := &recSink{keep: 1 << 20}
			p, _ := conn(t, Options{Pieces: pieces}, s, req, resp, n)
			un := file(t, s, "unasked")
			if un.meta.Range != nil || string(un.data) != pe[:502] || un.cut != transfer.Whole {
				t.Errorf("pieces %v feed %d: unasked 206: range %+v cut %q %d bytes", pieces, n, un.meta.Range, un.cut, len(un.data))
			}
			if j := file(t, s, "junk"); j.meta.Range != nil || string(j.data) != pe || j.cut != transfer.Whole {
				t.Errorf("pieces %v feed %d: junk Content-Range: range %+v cut %q %d bytes", pieces, n, j.meta.Range, j.cut, len(j.data))
			}
			mv := file(t, s, "moved")
			if mv.meta.Range != nil || string(mv.data) != pe[:100] {
				t.Errorf("pieces %v feed %d: moved 206: range %+v %d bytes", pieces, n, mv.meta.Range, len(mv.data))
			}
			if p.stats.RangeUnasked != 2 || p.stats.RangeMismatch != 1 || p.stats.Partial != 0 {
				t.Errorf("pieces %v feed %d: unasked %d mismatch %d", pieces, n, p.stats.RangeUnasked, p.stats.RangeMismatch)
			}
			if !pieces {
				continue
			}
			for _, name := range []string{"piece", "suffix", "two"} {
				if f := file(t, s, name); f.meta.Range == nil {
					t.Errorf("feed %d: %s: not a piece", n, name)
				}
			}
		}
	}
}
