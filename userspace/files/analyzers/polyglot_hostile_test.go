package analyzers

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

// A payload put off the picture's end by junk is found past decoys
// (magics that are no payload: they must not use up the search) and
// whatever its kind that a tool finds there: a PE, an ELF, a RAR or a
// 7z archive (WinRAR and 7-Zip look for their signatures).
func TestPolyglotTrailingPastJunk(t *testing.T) {
	jpg := carriers.JPEG(60, 40, 8)
	junk := make([]byte, 5000)
	rand.New(rand.NewSource(4)).Read(junk)
	decoys := bytes.Repeat([]byte("MZ\x00\x00\x7fELF\x09\x09Rar!\x1a\x07\x07PK\x03\x04\x14\x00\x00\x00\x07\x00"), 200)
	elf := append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 120)...)
	rar := append([]byte("Rar!\x1a\x07\x01\x00"), make([]byte, 64)...)
	sz := append([]byte("7z\xbc\xaf\x27\x1c\x00\x04"), make([]byte, 64)...)
	for _, c := range []struct {
		name    string
		payload []byte
		kind    string
	}{
		{"pe", minimalPE(), "jpeg+pe"},
		{"elf", elf, "jpeg+elf"},
		{"rar", rar, "jpeg+rar"},
		{"7z", sz, "jpeg+7z"},
	} {
		b := append(append(append(append([]byte(nil), jpg...), junk...), decoys...), c.payload...)
		at := int64(len(b) - len(c.payload))
		pg, ok := FindPolyglot(bytes.NewReader(b), int64(len(b)), filetype.KindJPEG, Limits{})
		if !ok || pg.Kind != c.kind || pg.TrailingAt != at {
			t.Errorf("%s after junk and %d decoys: %v %q at %d, want %q at %d", c.name, len(decoys)/20, ok, pg.Kind, pg.TrailingAt, c.kind, at)
		}
		// Straddling a chunk's end of the search is no hiding place.
		for _, k := range []int{windowSize - 3, windowSize - 1, 2*windowSize - 5} {
			pad := bytes.Repeat([]byte{'j'}, k)
			b := append(append(append([]byte(nil), jpg...), pad...), c.payload...)
			at := int64(len(jpg) + k)
			if pg, ok := FindPolyglot(bytes.NewReader(b), int64(len(b)), filetype.KindJPEG, Limits{}); !ok || pg.TrailingAt != at {
				t.Errorf("%s after %d bytes of junk: %v %+v", c.name, k, ok, pg)
			}
		}
	}
}

// A megabyte of decoy magics after a picture costs a linear scan, not a
// search per decoy.
func TestPolyglotDecoysLinear(t *testing.T) {
	jpg := carriers.JPEG(60, 40, 8)
	b := append(append([]byte(nil), jpg...), bytes.Repeat([]byte("MZ\x7fELF\x00Rar!\x1a\x07\x097z\xbc\xaf\x27\x00PK\x03\x04\xff"), (1<<20)/25)...)
	start := time.Now()
	if pg, ok := FindPolyglot(bytes.NewReader(b), int64(len(b)), filetype.KindJPEG, Limits{}); ok {
		t.Errorf("decoys found as %+v", pg)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("1 MiB of decoys took %v", d)
	}
}

// The pictures beyond the web's five: a TIFF (its end unknown: the zip
// is found from its end), an ICO (its end the furthest image its
// directory names) and a HEIC/AVIF (its top-level boxes walked).
func TestPolyglotMorePictures(t *testing.T) {
	tiff := append([]byte("II*\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00"), bytes.Repeat([]byte{0x55}, 200)...)
	img := carriers.PNG(16, 16, 3)
	ico := []byte{0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0, 0, 0, 0, 0, 22, 0, 0, 0}
	binary.LittleEndian.PutUint32(ico[14:], uint32(len(img)))
	ico = append(ico, img...)
	box := func(typ string, body []byte) []byte {
		b := make([]byte, 8, 8+len(body))
		binary.BigEndian.PutUint32(b, uint32(8+len(body)))
		copy(b[4:], typ)
		return append(b, body...)
	}
	heic := append(box("ftyp", []byte("heic\x00\x00\x00\x00mif1heic")), box("meta", make([]byte, 40))...)
	heic = append(heic, box("mdat", bytes.Repeat([]byte{0xAA}, 300))...)
	avif := append(box("ftyp", []byte("avif\x00\x00\x00\x00mif1avif")), box("mdat", bytes.Repeat([]byte{0xAA}, 300))...)
	zip := carriers.ZipOf(map[string][]byte{"setup.exe": minimalPE()})
	pe := minimalPE()
	for _, c := range []struct {
		name, pic string
		picture   []byte
		payload   []byte
		kind      string
	}{
		{"a.tif", filetype.KindTIFF, tiff, zip, "tiff+zip"},
		{"b.tif", filetype.KindTIFF, tiff, append([]byte("Rar!\x1a\x07\x01\x00"), make([]byte, 64)...), "tiff+rar"},
		{"favicon.ico", filetype.KindICO, ico, pe, "ico+pe"},
		{"favicon-zip.ico", filetype.KindICO, ico, zip, "ico+zip"},
		{"photo.heic", filetype.KindHEIF, heic, pe, "heif+pe"},
		{"photo.avif", filetype.KindHEIF, avif, zip, "heif+zip"},
	} {
		ty := filetype.Detect(c.picture, c.name, "", int64(len(c.picture)))
		if got := filetype.Picture(ty, c.picture); got != c.pic {
			t.Errorf("%s: picture %q (%+v), want %q", c.name, got, ty, c.pic)
			continue
		}
		if pg, ok := FindPolyglot(bytes.NewReader(c.picture), int64(len(c.picture)), c.pic, Limits{}); ok {
			t.Errorf("%s alone: found %+v", c.name, pg)
		}
		b := append(append([]byte(nil), c.picture...), c.payload...)
		pg, ok := FindPolyglot(bytes.NewReader(b), int64(len(b)), c.pic, Limits{})
		if !ok || pg.Kind != c.kind {
			t.Errorf("%s: %v %+v, want %s", c.name, ok, pg, c.kind)
		}
		if c.pic != filetype.KindTIFF && pg.End != int64(len(c.picture)) {
			t.Errorf("%s: ends at %d, want %d", c.name, pg.End, len(c.picture))
		}
		// The analysis takes the new kinds for polyglots too.
		rs := Analyze(bytes.NewReader(b), int64(len(b)), filetype.Type{Kind: pg.Kind, Category: pg.Category}, c.name, Limits{})
		found := false
		for _, r := range rs {
			found = found || strings.HasPrefix(r.Rule, "polyglot.appended_")
		}
		if !found {
			t.Errorf("%s: no polyglot rule in %+v", c.name, rs)
		}
	}
}

// A picture whose own end is not there (a JPEG without its EOI, whose
// entropy-coded data then runs into the payload's bytes; viewers show it
// all the same) still has its payload found: the whole file is searched.
func TestPolyglotPictureWithoutEnd(t *testing.T) {
	jpg := carriers.JPEG(60, 40, 8)
	noEOI := jpg[:len(jpg)-2]
	pe := minimalPE()
	// Bytes a PE holds: 0xFF then a marker-like byte, in the code.
	copy(pe[300:], []byte{0xFF, 0x15, 0x40, 0x00, 0xFF, 0xC4, 0xFF, 0xFF})
	b := append(append([]byte(nil), noEOI...), pe...)
	pg, ok := FindPolyglot(bytes.NewReader(b), int64(len(b)), filetype.KindJPEG, Limits{})
	if !ok || pg.Kind != "jpeg+pe" || pg.TrailingAt != int64(len(noEOI)) {
		t.Errorf("JPEG without EOI, then a PE: %v %+v", ok, pg)
	}
	if pg, ok := FindPolyglot(bytes.NewReader(noEOI), int64(len(noEOI)), filetype.KindJPEG, Limits{}); ok {
		t.Errorf("JPEG without EOI alone: %+v", pg)
	}
}

// The zip forms archive tools open after a picture: a long comment on
// its end record, junk between the picture and the zip, junk after the
// zip's end record (within the 64 KiB tools search).
func TestPolyglotZipForms(t *testing.T) {
	jpg := carriers.JPEG(60, 40, 8)
	zip := carriers.ZipOf(map[string][]byte{"setup.exe": minimalPE()})
	comment := func(n int) []byte {
		z := append([]byte(nil), zip...)
		binary.LittleEndian.PutUint16(z[len(z)-2:], uint16(n))
		return append(z, bytes.Repeat([]byte{'c'}, n)...)
	}
	junk := make([]byte, 3000)
	rand.New(rand.NewSource(5)).Read(junk)
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"long comment", append(append([]byte(nil), jpg...), comment(65535)...)},
		{"junk before", append(append(append([]byte(nil), jpg...), junk...), zip...)},
		{"junk after", append(append(append([]byte(nil), jpg...), zip...), junk...)},
		{"junk both sides", append(append(append(append([]byte(nil), jpg...), junk...), zip...), junk[:100]...)},
	} {
		pg, ok := FindPolyglot(bytes.NewReader(c.b), int64(len(c.b)), filetype.KindJPEG, Limits{})
		if !ok || pg.Kind != "jpeg+zip" || pg.Category != filetype.Archive {
			t.Errorf("%s: %v %+v", c.name, ok, pg)
			continue
		}
		rs := Analyze(bytes.NewReader(c.b), int64(len(c.b)), filetype.Type{Kind: pg.Kind, Category: pg.Category}, "photo.jpg", Limits{})
		have := false
		for _, r := range rs {
			have = have || r.Rule == "archive.executable_inside"
		}
		if !have {
			t.Errorf("%s: the zip's PE not seen: %+v", c.name, rs)
		}
	}
}

// Junk of any length between a picture's end and the payload: a BMP
// whose header declares less than it holds (viewers of RLE bitmaps read
// the pixels, not the size) with megabytes after that, then a PE.
func TestPolyglotFarPayload(t *testing.T) {
	bmp := bmpPicture(4, 4)
	binary.LittleEndian.PutUint32(bmp[30:], 1) // BI_RLE8: the declared size rules
	binary.LittleEndian.PutUint32(bmp[2:], 54)
	junk := make([]byte, 3<<20)
	rand.New(rand.NewSource(6)).Read(junk)
	for i := range junk {
		if junk[i] == 'M' || junk[i] == 0x7f || junk[i] == 'R' || junk[i] == '7' {
			junk[i] = 'a'
		}
	}
	b := append(append(append([]byte(nil), bmp...), junk...), minimalPE()...)
	pg, ok := FindPolyglot(bytes.NewReader(b), int64(len(b)), filetype.KindBMP, Limits{})
	if !ok || pg.Kind != "bmp+pe" || pg.TrailingAt != int64(len(bmp)+len(junk)) {
		t.Errorf("PE 3 MiB after a BMP's declared end: %v %+v", ok, pg)
	}
}

// A PE inside the picture's own segments: an APP9 segment of a JPEG, a
// private chunk of a PNG. The picture ends where it should; the PE is
// found all the same, and told as inside.
func TestPolyglotPayloadInsideSegments(t *testing.T) {
	pe := minimalPE()
	jpg := carriers.JPEG(60, 40, 8)
	seg := []byte{0xFF, 0xE9, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(pe)+2))
	inJPEG := append(append(append(append([]byte(nil), jpg[:2]...), seg...), pe...), jpg[2:]...)
	pngb := carriers.PNG(16, 16, 2)
	chunk := make([]byte, 8, 8+len(pe)+4)
	binary.BigEndian.PutUint32(chunk, uint32(len(pe)))
	copy(chunk[4:], "prVt")
	chunk = append(append(chunk, pe...), 0, 0, 0, 0)
	inPNG := append(append(append([]byte(nil), pngb[:33]...), chunk...), pngb[33:]...)
	for _, c := range []struct {
		name, pic string
		b         []byte
		at        int64
	}{
		{"app9", filetype.KindJPEG, inJPEG, 6},
		{"png chunk", filetype.KindPNG, inPNG, 41},
	} {
		pg, ok := FindPolyglot(bytes.NewReader(c.b), int64(len(c.b)), c.pic, Limits{})
		if !ok || pg.Trailing.Kind != filetype.KindPE || pg.TrailingAt != c.at || pg.End != int64(len(c.b)) ||
			!strings.Contains(pg.Reason, "inside") {
			t.Errorf("%s: %v %+v", c.name, ok, pg)
		}
	}
}

// What cameras and phones put after a picture's end is no payload: a
// second picture (MPF, a gain map), a motion photo's MP4, Samsung's
// SEFH/SEFT trailer, and random trailers of many seeds.
func TestPolyglotCameraTrailers(t *testing.T) {
	jpg := carriers.JPEG(60, 40, 8)
	rnd := rand.New(rand.NewSource(10))
	random := func(n int) []byte {
		b := make([]byte, n)
		rnd.Read(b)
		return b
	}
	mp4 := append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom\x00\x01\x00\x08mdat"), random(65536)...)
	sef := append(append([]byte("\x00\x00\x30\x0aSEFHxxxxImage_UTC_Data1700000000000"), random(300)...), "SEFT"...)
	trailers := map[string][]byte{
		"mpf":    carriers.JPEG(32, 24, 9),
		"motion": mp4,
		"sef":    sef,
		"pad":    bytes.Repeat([]byte{0}, 9000),
	}
	for i := 0; i < 300; i++ {
		trailers[string(rune('a'+i%26))+string(rune('0'+i/26))] = random(256 + rnd.Intn(16<<10))
	}
	for name, tr := range trailers {
		b := append(append([]byte(nil), jpg...), tr...)
		if pg, ok := FindPolyglot(bytes.NewReader(b), int64(len(b)), filetype.KindJPEG, Limits{}); ok {
			t.Errorf("%s trailer: reported as %+v", name, pg)
		}
	}
}

// A zip with junk before it and more than 64 KiB after its end record
// (Go's reader, and hasEOCD, look no further back): found by its first
// local header, and its entries still walked.
func TestPolyglotZipByLocalHeader(t *testing.T) {
	jpg := carriers.JPEG(60, 40, 8)
	zip := carriers.ZipOf(map[string][]byte{"setup.exe": minimalPE()})
	junk := bytes.Repeat([]byte("junk"), 300)
	tail := bytes.Repeat([]byte{'t'}, 70<<10)
	b := append(append(append(append([]byte(nil), jpg...), junk...), zip...), tail...)
	pg, ok := FindPolyglot(bytes.NewReader(b), int64(len(b)), filetype.KindJPEG, Limits{})
	if !ok || pg.Category != filetype.Archive || pg.TrailingAt != int64(len(jpg)+len(junk)) {
		t.Fatalf("zip between junk: %v %+v", ok, pg)
	}
	rs := Analyze(bytes.NewReader(b), int64(len(b)), filetype.Type{Kind: pg.Kind, Category: pg.Category}, "photo.jpg", Limits{})
	have := ruleSet(rs)
	if !have["polyglot.appended_archive"] {
		t.Errorf("no polyglot.appended_archive in %+v", rs)
	}
}

// A picture that reads shorter than its size (a spool read that failed)
// ends the search: entropy-coded data with no marker once looped for
// ever on the empty window.
func TestPolyglotShortRead(t *testing.T) {
	jpg := append([]byte{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02}, bytes.Repeat([]byte{0x11}, 1000)...)
	for _, kind := range []string{filetype.KindJPEG, filetype.KindPNG, filetype.KindGIF} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			FindPolyglot(bytes.NewReader(jpg), int64(len(jpg))+100000, kind, Limits{})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s read short: no answer in 10 s", kind)
		}
	}
}
