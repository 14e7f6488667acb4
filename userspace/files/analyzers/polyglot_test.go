package analyzers

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"math/rand"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

func gifPicture(t *testing.T) []byte {
	img := image.NewPaletted(image.Rect(0, 0, 64, 48), []color.Color{color.Black, color.White})
	rand.New(rand.NewSource(3)).Read(img.Pix)
	for i := range img.Pix {
		img.Pix[i] &= 1
	}
	var b bytes.Buffer
	if err := gif.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// bmpPicture is a 24-bit BMP of w x h (rows padded to 4 bytes).
func bmpPicture(w, h int) []byte {
	row := (w*3 + 3) &^ 3
	b := make([]byte, 54+row*h)
	copy(b, "BM")
	binary.LittleEndian.PutUint32(b[2:], uint32(len(b)))
	binary.LittleEndian.PutUint32(b[10:], 54)
	binary.LittleEndian.PutUint32(b[14:], 40)
	binary.LittleEndian.PutUint32(b[18:], uint32(w))
	binary.LittleEndian.PutUint32(b[22:], uint32(h))
	binary.LittleEndian.PutUint16(b[26:], 1)
	binary.LittleEndian.PutUint16(b[28:], 24)
	return b
}

// webpPicture is a RIFF WEBP container of one (odd-sized) chunk.
func webpPicture() []byte {
	var b bytes.Buffer
	b.WriteString("RIFF\x00\x00\x00\x00WEBPVP8L")
	binary.Write(&b, binary.LittleEndian, uint32(5))
	b.Write([]byte{0x2f, 0, 0, 0, 0, 0}) // 5 bytes and the pad byte
	out := b.Bytes()
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	return out
}

// Each picture's own end is found exactly, so what follows it is what
// is typed; plain pictures carry nothing.
func TestPictureEnd(t *testing.T) {
	pics := []struct {
		kind string
		b    []byte
	}{
		{filetype.KindJPEG, carriers.JPEG(120, 80, 1)},
		{filetype.KindPNG, carriers.PNG(120, 80, 1)},
		{filetype.KindGIF, gifPicture(t)},
		{filetype.KindBMP, bmpPicture(33, 7)},
		{filetype.KindWebP, webpPicture()},
	}
	for _, p := range pics {
		ty := filetype.Detect(p.b, "x", "", int64(len(p.b)))
		if got := filetype.Picture(ty, p.b); got != p.kind {
			t.Errorf("%s: Picture says %q (%+v)", p.kind, got, ty)
		}
		w := &window{r: bytes.NewReader(p.b), size: int64(len(p.b))}
		if end := pictureEnd(w, p.kind); end != int64(len(p.b)) {
			t.Errorf("%s: end %d, want %d", p.kind, end, len(p.b))
		}
		if pg, ok := FindPolyglot(bytes.NewReader(p.b), int64(len(p.b)), p.kind, Limits{}); ok {
			t.Errorf("%s: plain picture found as %+v", p.kind, pg)
		}
		// Harmless bytes after the end (a second picture, a camera's
		// trailer) are no payload either.
		tail := append(append([]byte(nil), p.b...), carriers.JPEG(16, 16, 2)...)
		tail = append(tail, "SEFHtrailer\x00\x01"...)
		if pg, ok := FindPolyglot(bytes.NewReader(tail), int64(len(tail)), p.kind, Limits{}); ok {
			t.Errorf("%s: harmless trailer found as %+v", p.kind, pg)
		}
	}
}

// A payload after each picture is found, typed, and weighed; a zip is
// found from its end of central directory and walked as an archive.
func TestPolyglots(t *testing.T) {
	pe := minimalPE()
	jpg := carriers.JPEG(100, 60, 4)
	pngb := carriers.PNG(100, 60, 4)
	junk := make([]byte, 300)
	rand.New(rand.NewSource(9)).Read(junk)
	for i := range junk {
		if junk[i] == 'M' || junk[i] == 0x7f {
			junk[i] = 'a' // no stray magic before the PE
		}
	}
	cases := []struct {
		name, picture string
		body          []byte
		kind          string
		cat           filetype.Category
		at            int64
		want          []string
	}{
		{"photo.jpg", filetype.KindJPEG, carriers.PictureZip(jpg, map[string][]byte{"readme.txt": []byte("hi\n"), "setup.exe": pe}),
			"jpeg+zip", filetype.Archive, int64(len(jpg)), []string{"polyglot.appended_archive", "archive.executable_inside"}},
		{"logo.png", filetype.KindPNG, append(append([]byte(nil), pngb...), pe...),
			"png+pe", filetype.Executable, int64(len(pngb)), []string{"polyglot.appended_executable", "archive.executable_inside"}},
		{"padded.png", filetype.KindPNG, append(append(append([]byte(nil), pngb...), "\r\n\x00\x00"...), pe...),
			"png+pe", filetype.Executable, int64(len(pngb)) + 4, []string{"polyglot.appended_executable"}},
		{"junk.jpg", filetype.KindJPEG, append(append(append([]byte(nil), jpg...), junk...), pe...),
			"jpeg+pe", filetype.Executable, int64(len(jpg) + len(junk)), []string{"polyglot.appended_executable"}},
		{"anim.gif", filetype.KindGIF, append(gifPicture(t), carriers.HTA()...),
			"gif+hta", filetype.Script, int64(len(gifPicture(t))), []string{"polyglot.appended_script", "archive.script_inside", "script.hta"}},
		{"a.bmp", filetype.KindBMP, append(bmpPicture(10, 10), carriers.ZipOf(map[string][]byte{"a.lnk": carriers.LNK(`C:\Windows\System32\cmd.exe`, "/c x", "", false)})...),
			"bmp+zip", filetype.Archive, int64(len(bmpPicture(10, 10))), []string{"polyglot.appended_archive", "archive.shortcut_inside", "lnk.runs_interpreter"}},
	}
	for _, c := range cases {
		pg, ok := FindPolyglot(bytes.NewReader(c.body), int64(len(c.body)), c.picture, Limits{})
		if !ok || pg.Kind != c.kind || pg.Category != c.cat {
			t.Errorf("%s: found %v as %q/%s, want %q/%s (%+v)", c.name, ok, pg.Kind, pg.Category, c.kind, c.cat, pg)
			continue
		}
		if pg.Trailing.Candidate() && pg.TrailingAt != c.at || pg.Zip && pg.ZipStart < c.at {
			t.Errorf("%s: payload at %d (zip from %d), want %d", c.name, pg.TrailingAt, pg.ZipStart, c.at)
		}
		ty := filetype.Type{Kind: pg.Kind, Category: pg.Category}
		rs := Analyze(bytes.NewReader(c.body), int64(len(c.body)), ty, c.name, Limits{})
		checkRules(t, c.name, rs, c.want, nil)
	}
}

// A picture cut short, or whose structure lies, is read within the
// bounds and found to carry nothing, or what its structure breaks on.
func TestPolyglotBounds(t *testing.T) {
	jpg := carriers.JPEG(100, 60, 5)
	for _, n := range []int{3, 12, 200, len(jpg) / 2, len(jpg) - 1} {
		b := jpg[:n]
		if pg, ok := FindPolyglot(bytes.NewReader(b), int64(len(b)), filetype.KindJPEG, Limits{}); ok {
			t.Errorf("cut at %d: found %+v", n, pg)
		}
	}
	// A PNG without IEND, its last chunk's length being the PE's "MZ":
	// the structure breaks where the PE starts.
	pngb := carriers.PNG(40, 40, 6)
	cut := pngb[:len(pngb)-12]
	b := append(append([]byte(nil), cut...), minimalPE()...)
	pg, ok := FindPolyglot(bytes.NewReader(b), int64(len(b)), filetype.KindPNG, Limits{})
	if !ok || pg.Kind != "png+pe" || pg.End != int64(len(cut)) {
		t.Errorf("PNG without IEND then a PE: %v %+v", ok, pg)
	}
	// MaxRead below the picture: nothing found, nothing read past it.
	big := carriers.PictureZip(jpg, map[string][]byte{"a.exe": minimalPE()})
	cr := &countingReader{r: bytes.NewReader(big)}
	FindPolyglot(cr, int64(len(big)), filetype.KindJPEG, Limits{MaxRead: 4096})
	if cr.max > int64(len(big)) {
		t.Errorf("read to %d of %d", cr.max, len(big))
	}
}

type countingReader struct {
	r   *bytes.Reader
	max int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.max = max(c.max, off+int64(len(p)))
	return c.r.ReadAt(p, off)
}

// FuzzPolyglot: the picture walks and the payload search never panic
// and stay within the file, whatever the picture kind claimed.
func FuzzPolyglot(f *testing.F) {
	pics := []string{filetype.KindJPEG, filetype.KindPNG, filetype.KindGIF, filetype.KindBMP, filetype.KindWebP,
		filetype.KindTIFF, filetype.KindICO, filetype.KindHEIF}
	jpg := carriers.JPEG(24, 16, 7)
	f.Add(carriers.PictureZip(jpg, map[string][]byte{"a.exe": minimalPE()}), uint8(0))
	f.Add(append(carriers.PNG(8, 8, 7), minimalPE()...), uint8(1))
	f.Add(append(webpPicture(), carriers.HTA()...), uint8(4))
	f.Add(append(bmpPicture(3, 3), carriers.ZipOf(map[string][]byte{"x": []byte("x")})...), uint8(3))
	f.Add(jpg[:len(jpg)/2], uint8(0))
	f.Add([]byte("\x00\x00\x01\x00\x01\x00\x10\x10\x00\x00\x01\x00\x20\x00\x04\x00\x00\x00\x16\x00\x00\x00abcdMZ"), uint8(6))
	f.Add([]byte("\x00\x00\x00\x10ftypheic\x00\x00\x00\x00\x00\x00\x00\x01mdat\x00\x00\x00\x00\x00\x00\x00\x18xxxxxxxx\x7fELF\x02\x01"), uint8(7))
	f.Fuzz(func(t *testing.T, b []byte, k uint8) {
		pic := pics[int(k)%len(pics)]
		lim := Limits{MaxRead: 1 << 20, MaxExpand: 1 << 20, MaxEntries: 100}
		pg, ok := FindPolyglot(bytes.NewReader(b), int64(len(b)), pic, lim)
		if pg.End > int64(len(b)) || ok && pg.Trailing.Candidate() && (pg.TrailingAt < 0 || pg.TrailingAt >= int64(len(b))) {
			t.Fatalf("end %d, payload at %d of %d", pg.End, pg.TrailingAt, len(b))
		}
		if ok {
			Analyze(bytes.NewReader(b), int64(len(b)), filetype.Type{Kind: pg.Kind, Category: pg.Category}, "f", lim)
		}
	})
}

// BenchmarkFindPolyglot: the search alone on a plain 280 KiB JPEG (its
// markers walked, the entropy-coded data scanned for 0xFF, the whole for
// a PE or ELF, the last 64 KiB for an end of central directory), from
// memory.
func BenchmarkFindPolyglot(b *testing.B) {
	jpg := carriers.JPEG(560, 560, 31)
	b.SetBytes(int64(len(jpg)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, ok := FindPolyglot(bytes.NewReader(jpg), int64(len(jpg)), filetype.KindJPEG, Limits{}); ok {
			b.Fatal("plain JPEG found carrying a payload")
		}
	}
}
