package files

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/ndjson"
	"github.com/edgesensor/edgesensor/userspace/setting"
)

// padJPEG grows a JPEG to n bytes with comment segments after SOI: still
// a plain picture, of the size a polyglot has.
func padJPEG(t testing.TB, jpg []byte, n int) []byte {
	out := append([]byte(nil), jpg[:2]...)
	for need := n - len(jpg); need > 0; {
		if need < 4 {
			t.Fatalf("cannot pad by %d bytes", need)
		}
		seg := min(need, 65535+2)
		if rest := need - seg; rest > 0 && rest < 4 {
			seg -= 4 // leave room for one more segment
		}
		out = append(out, 0xFF, 0xFE, 0, 0)
		binary.BigEndian.PutUint16(out[len(out)-2:], uint16(seg-2))
		out = append(out, bytes.Repeat([]byte{'c'}, seg-4)...)
		need -= seg
	}
	return append(out, jpg[2:]...)
}

type polyEvent struct {
	File struct {
		Name string `json:"name"`
		Hash struct {
			SHA256 string `json:"sha256"`
			SHA1   string `json:"sha1"`
			MD5    string `json:"md5"`
		} `json:"hash"`
		MimeType string `json:"mime_type"`
	} `json:"file"`
	Edgesensor struct {
		File struct {
			Category string `json:"category"`
			Kind     string `json:"kind"`
			Complete bool   `json:"complete"`
			Mismatch bool   `json:"mismatch"`
		} `json:"file"`
		Score struct {
			Reasons []struct {
				Rule string `json:"rule"`
			} `json:"reasons"`
		} `json:"score"`
	} `json:"edgesensor"`
}

type served struct {
	name, claimed string
	body          []byte
	chunked       bool
}

func serve(files []served) testutil.TCPConn {
	var req, resp bytes.Buffer
	for _, s := range files {
		req.WriteString("GET /" + s.name + " HTTP/1.1\r\nHost: pics.test\r\n\r\n")
		resp.WriteString("HTTP/1.1 200 OK\r\nContent-Type: " + s.claimed + "\r\n")
		if s.chunked {
			resp.WriteString("Transfer-Encoding: chunked\r\n\r\n" + strconv.FormatInt(int64(len(s.body)), 16) + "\r\n")
			resp.Write(s.body)
			resp.WriteString("\r\n0\r\n\r\n")
			continue
		}
		resp.WriteString("Content-Length: " + strconv.Itoa(len(s.body)) + "\r\n\r\n")
		resp.Write(s.body)
	}
	return testutil.TCPConn{
		Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:80"),
		ToServer: req.Bytes(), ToClient: resp.Bytes(),
	}
}

func polyEvents(t *testing.T, buf *bytes.Buffer) map[string]polyEvent {
	got := map[string]polyEvent{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var e polyEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		got[e.File.Name] = e
	}
	return got
}

// Pictures served one after another on a keep-alive connection: the
// JPEG with a zip holding a PE appended and the PNG with a PE after
// IEND are reported whole, typed by their payload, with the SHA-256 of
// the whole polyglot; a plain JPEG of the same size and pictures over
// files.image_scan_limit (declared, or found while read) are counted,
// never reported; a PE named .jpg is still an executable that
// mismatches its name.
func TestPolyglotsOverKeepAlive(t *testing.T) {
	pe := goPE(t)
	jpg := carriers.JPEG(160, 120, 11)
	poly := carriers.PictureZip(jpg, map[string][]byte{"readme.txt": []byte("see the picture\n"), "viewer.exe": pe})
	plain := padJPEG(t, carriers.JPEG(160, 120, 12), len(poly))
	if len(plain) != len(poly) {
		t.Fatalf("plain %d bytes, polyglot %d", len(plain), len(poly))
	}
	pngb := carriers.PNG(64, 64, 13)
	pngPE := append(append([]byte(nil), pngb...), pe...)
	const bound = 4 << 20 // the Go-built PE is 1.5 MiB or so
	if len(pngPE) > bound || len(poly) > bound {
		t.Fatalf("samples of %d and %d bytes are over the bound", len(pngPE), len(poly))
	}
	big := carriers.PictureZip(padJPEG(t, carriers.JPEG(64, 64, 14), bound), map[string][]byte{"viewer.exe": pe})
	files := []served{
		{"photo.jpg", "image/jpeg", poly, false},
		{"plain.jpg", "image/jpeg", plain, false},
		{"logo.png", "image/png", pngPE, false},
		{"big.jpg", "image/jpeg", big, false},
		{"big-chunked.jpg", "image/jpeg", big, true},
		{"avatar.jpg", "image/jpeg", pe, false},
	}
	rec := &recorder{}
	conn := serve(files)
	p, buf, spool := feedPipeline(t, func(c *testConfig) { c.Files.ImageScanLimit = bound }, rec, conn)
	// Only the pictures over the bound are skipped in the kernel: big.jpg
	// (declared) from where its head was read to the end of its body,
	// big-chunked.jpg from the bound to the end of its chunk.
	// (The segment that crosses the bound is read whole.)
	if rest := int64(len(big)) - bound; len(rec.skips) != 2 || int64(rec.skips[1][1]) > rest || int64(rec.skips[1][1]) <= rest-1448 {
		t.Errorf("skips %v, want two (big.jpg, and %d bytes of big-chunked.jpg)", rec.skips, int64(len(big))-bound)
	} else if end := int(rec.skips[0][0]+rec.skips[0][1]) - (isnS + 1); !bytes.HasPrefix(conn.ToClient[end:], []byte("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nTransfer-Encoding")) {
		t.Errorf("skip %v ends at %q", rec.skips[0], conn.ToClient[end:min(end+40, len(conn.ToClient))])
	}
	got := polyEvents(t, buf)
	want := []struct {
		name, category, kind string
		body                 []byte
		rules                []string
		mismatch             bool
	}{
		{"photo.jpg", "archive", "jpeg+zip", poly, []string{"polyglot.appended_archive", "archive.executable_inside"}, false},
		{"logo.png", "executable", "png+pe", pngPE, []string{"polyglot.appended_executable", "archive.executable_inside"}, false},
		{"avatar.jpg", "executable", "pe", pe, []string{"name.extension_mismatch"}, true},
	}
	for _, w := range want {
		e, ok := got[w.name]
		if !ok {
			t.Errorf("%s: no event", w.name)
			continue
		}
		sum := sha256.Sum256(w.body)
		f := e.Edgesensor.File
		if f.Category != w.category || f.Kind != w.kind || !f.Complete || f.Mismatch != w.mismatch || e.File.Hash.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: %s/%s complete %v mismatch %v sha256 %s", w.name, f.Category, f.Kind, f.Complete, f.Mismatch, e.File.Hash.SHA256)
		}
		// A picture is hashed with SHA-256 alone (most are never
		// reported); one reported gets the other sums from its spool.
		s1, s5 := sha1.Sum(w.body), md5.Sum(w.body)
		if e.File.Hash.SHA1 != hex.EncodeToString(s1[:]) || e.File.Hash.MD5 != hex.EncodeToString(s5[:]) {
			t.Errorf("%s: sha1 %q md5 %q", w.name, e.File.Hash.SHA1, e.File.Hash.MD5)
		}
		have := map[string]bool{}
		for _, r := range e.Edgesensor.Score.Reasons {
			have[r.Rule] = true
		}
		for _, r := range w.rules {
			if !have[r] {
				t.Errorf("%s: no %s in %+v", w.name, r, e.Edgesensor.Score.Reasons)
			}
		}
	}
	for _, name := range []string{"plain.jpg", "big.jpg", "big-chunked.jpg"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s: reported", name)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d events, want %d", len(got), len(want))
	}
	st := &p.Stats
	scanned := uint64(len(poly) + len(plain) + len(pngPE))
	if st.ImagesScanned.Load() != 3 || st.ImageBytes.Load() != scanned || st.ImagesNotScanned.Load() != 2 || st.Polyglots.Load() != 2 {
		t.Errorf("scanned %d (%d bytes, want %d), not scanned %d, polyglots %d", st.ImagesScanned.Load(), st.ImageBytes.Load(),
			scanned, st.ImagesNotScanned.Load(), st.Polyglots.Load())
	}
	spoolEmpty(t, spool)
	if p.spoolUsed.Load() != 0 || p.imageSpool.Load() != 0 {
		t.Errorf("spool accounting %d, pictures %d", p.spoolUsed.Load(), p.imageSpool.Load())
	}
}

// Pictures may fill half of files.spool_limit, no more: past it one is
// hashed but not scanned (counted), and a candidate still spools.
func TestPicturesKeepToHalfTheSpool(t *testing.T) {
	pe := goPE(t)
	poly := carriers.PictureZip(padJPEG(t, carriers.JPEG(64, 64, 41), 600<<10), map[string][]byte{"viewer.exe": pe})
	cfg := defaultTestConfig()
	spool := filepath.Join(t.TempDir(), "spool")
	cfg.Files.SpoolDir = spool
	fc := cfg.pipelineConfig(nil)
	fc.SpoolLimit = 4 << 20 // 2 MiB for pictures: the polyglot (about 1.4 MiB) fits once
	var buf bytes.Buffer
	p, err := New(fc, ndjson.NewNDJSON(&buf))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Two connections at once: both pictures are spooling together.
	c1 := serve([]served{{"one.jpg", "image/jpeg", poly, false}})
	c2 := serve([]served{{"two.jpg", "image/jpeg", poly, false}, {"viewer.exe", "application/octet-stream", pe, false}})
	c2.Client = netip.MustParseAddrPort("10.0.0.3:40001")
	sh := p.NewShard(0)
	interleave(sh, c1, c2)
	sh.Close()
	got := polyEvents(t, &buf)
	if p.Stats.ImagesScanned.Load() != 1 || p.Stats.ImagesNotScanned.Load() != 1 || p.Stats.SpoolFull.Load() == 0 {
		t.Errorf("scanned %d, not scanned %d, spool full %d", p.Stats.ImagesScanned.Load(), p.Stats.ImagesNotScanned.Load(), p.Stats.SpoolFull.Load())
	}
	if len(got) != 2 || got["viewer.exe"].Edgesensor.File.Kind != "pe" {
		t.Errorf("events %+v, want one polyglot and the PE", got)
	}
	spoolEmpty(t, spool)
	if p.spoolUsed.Load() != 0 || p.imageSpool.Load() != 0 {
		t.Errorf("spool accounting %d, pictures %d", p.spoolUsed.Load(), p.imageSpool.Load())
	}
}

// files.image_scan_limit = 0: pictures are skipped as before, polyglots
// too (the switch works both ways: on by default, above).
func TestImageScanOff(t *testing.T) {
	pe := goPE(t)
	poly := carriers.PictureZip(carriers.JPEG(64, 64, 21), map[string][]byte{"viewer.exe": pe})
	p, buf, _ := feedPipeline(t, func(c *testConfig) { c.Files.ImageScanLimit = 0 }, nil,
		serve([]served{{"photo.jpg", "image/jpeg", poly, false}}))
	if buf.Len() != 0 || p.Stats.ImagesScanned.Load() != 0 || p.Stats.NonCandidates.Load() != 1 {
		t.Errorf("off: events %q, scanned %d, non-candidates %d", buf.String(), p.Stats.ImagesScanned.Load(), p.Stats.NonCandidates.Load())
	}
	// And the default is on.
	if DefaultSettings().ImageScanLimit <= 0 {
		t.Error("image_scan_limit is off by default")
	}
	var pr setting.Problems
	s := DefaultSettings()
	s.ImageScanLimit = 1000
	s.Validate("files", &pr)
	if pr.Err() == nil {
		t.Error("image_scan_limit of 1000 bytes accepted")
	}
}

// BenchmarkPicture: a 1 MiB JPEG (real, image/jpeg) through the whole
// file path as BenchmarkLargeFile runs it: "off" is the cost before
// pictures were scanned (typed from the head, the rest declined), "scan"
// with files.image_scan_limit (read whole, hashed, spooled, searched
// for a payload, no event).
func BenchmarkPicture(b *testing.B) {
	jpg := carriers.JPEG(560, 560, 31)
	jpg = padJPEG(b, jpg, max(len(jpg), 1<<20))
	c := serve([]served{{"photo.jpg", "image/jpeg", jpg, false}})
	segs := withFrames(c, segments(c, 1448))
	for _, mode := range []struct {
		name  string
		limit setting.ByteSize
	}{{"off", 0}, {"scan", DefaultImageScan}} {
		b.Run(mode.name, func(b *testing.B) {
			cfg := defaultTestConfig()
			cfg.Files.SpoolDir = filepath.Join(b.TempDir(), "spool")
			cfg.Files.ImageScanLimit = mode.limit
			fc := cfg.pipelineConfig(nil)
			fc.Checksums = datapath.NewChecksums(datapath.ChecksumsVerify)
			p, err := New(fc, ndjson.NewNDJSON(io.Discard))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { p.Close() })
			b.SetBytes(int64(len(jpg)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sh := p.NewShard(0)
				feed(sh, c, segs, time.Unix(1700000000, 0))
				sh.Close()
			}
			b.StopTimer()
			p.Close() // the scorers' work counts too: it is done by now
			if p.Stats.Files.Load() != 0 || mode.limit > 0 && p.Stats.ImagesScanned.Load() != uint64(b.N) {
				b.Fatalf("files %d, scanned %d of %d", p.Stats.Files.Load(), p.Stats.ImagesScanned.Load(), b.N)
			}
		})
	}
}

// interleave feeds a's and b's packets to sh one from each in turn.
func interleave(sh datapath.Shard, a, b testutil.TCPConn) {
	t0 := time.Unix(1700000000, 0)
	conns := []testutil.TCPConn{a, b}
	segs := [][]seg{segments(a, 1448), segments(b, 1448)}
	for k := 0; k < max(len(segs[0]), len(segs[1])); k++ {
		for i, c := range conns {
			if k < len(segs[i]) {
				feed(sh, c, segs[i][k:k+1], t0.Add(time.Duration(k)*time.Microsecond))
			}
		}
	}
}
