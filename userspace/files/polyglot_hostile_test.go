package files

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
	"github.com/edgesensor/edgesensor/userspace/export/ndjson"
)

// Through the whole file path, a favicon with a PE after its one image
// (a picture kind beyond the web's five) and a JPEG whose EOI was cut
// off before an appended PE are reported whole with every hash the
// settings ask for, each the file's; a plain favicon is not.
func TestPolyglotMoreKinds(t *testing.T) {
	pe := goPE(t)
	img := carriers.PNG(16, 16, 3)
	ico := []byte{0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0, 0, 0, 0, 0, 22, 0, 0, 0}
	binary.LittleEndian.PutUint32(ico[14:], uint32(len(img)))
	ico = append(ico, img...)
	icoPE := append(append([]byte(nil), ico...), pe...)
	jpg := carriers.JPEG(64, 48, 9)
	noEOI := append(append([]byte(nil), jpg[:len(jpg)-2]...), pe...)
	p, buf, spool := feedPipeline(t, nil, nil, serve([]served{
		{"favicon.ico", "image/x-icon", icoPE, false},
		{"plain.ico", "image/x-icon", ico, false},
		{"cut.jpg", "image/jpeg", noEOI, false},
	}))
	got := polyEvents(t, buf)
	for _, w := range []struct {
		name, kind string
		body       []byte
	}{{"favicon.ico", "ico+pe", icoPE}, {"cut.jpg", "jpeg+pe", noEOI}} {
		e, ok := got[w.name]
		if !ok {
			t.Errorf("%s: no event (%d events)", w.name, len(got))
			continue
		}
		s256, s1, s5 := sha256.Sum256(w.body), sha1.Sum(w.body), md5.Sum(w.body)
		f := e.Edgesensor.File
		if f.Kind != w.kind || f.Category != "executable" || !f.Complete || e.File.Hash.SHA256 != hex.EncodeToString(s256[:]) ||
			e.File.Hash.SHA1 != hex.EncodeToString(s1[:]) || e.File.Hash.MD5 != hex.EncodeToString(s5[:]) {
			t.Errorf("%s: %+v", w.name, e)
		}
	}
	if _, ok := got["plain.ico"]; ok || len(got) != 2 {
		t.Errorf("events %v, want the two polyglots only", got)
	}
	if p.Stats.ImagesScanned.Load() != 3 || p.Stats.Polyglots.Load() != 2 {
		t.Errorf("scanned %d, polyglots %d", p.Stats.ImagesScanned.Load(), p.Stats.Polyglots.Load())
	}
	spoolEmpty(t, spool)
}

// A picture larger than the analyzers read (static max_read below
// image_scan_limit) is not scanned in part and counted as scanned: it
// is counted not scanned, and its payload past that bound is no event
// called a plain picture.
func TestPictureOverMaxRead(t *testing.T) {
	pe := goPE(t)
	jpg := padJPEG(t, carriers.JPEG(64, 48, 9), 300<<10)
	poly := append(append([]byte(nil), jpg...), pe...)
	cfg := defaultTestConfig()
	cfg.Files.SpoolDir = filepath.Join(t.TempDir(), "spool")
	cfg.Files.ImageScanLimit = 16 << 20
	fc := cfg.pipelineConfig(nil)
	fc.Static.MaxRead = 256 << 10
	var buf bytes.Buffer
	p, err := New(fc, ndjson.NewNDJSON(&buf))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sh := p.NewShard(0)
	c := serve([]served{{"photo.jpg", "image/jpeg", poly, false}})
	feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
	sh.Close()
	if p.Stats.ImagesScanned.Load() != 0 || p.Stats.ImagesNotScanned.Load() != 1 {
		t.Errorf("scanned %d, not scanned %d", p.Stats.ImagesScanned.Load(), p.Stats.ImagesNotScanned.Load())
	}
}
