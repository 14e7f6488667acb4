package filetype

import (
	"bytes"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

// Picture names what the encoders write, and nothing that is a
// candidate or merely starts like a picture.
func TestPicture(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	var j, p, g bytes.Buffer
	if jpeg.Encode(&j, img, nil) != nil || png.Encode(&p, img) != nil || gif.Encode(&g, img, nil) != nil {
		t.Fatal("encoding")
	}
	bmp := make([]byte, 64)
	copy(bmp, "BM")
	bmp[10], bmp[14] = 54, 40
	webp := []byte("RIFF\x20\x00\x00\x00WEBPVP8L\x10\x00\x00\x00")
	pe := make([]byte, 512)
	copy(pe, "MZ")
	pe[60] = 0x80
	copy(pe[0x80:], "PE\x00\x00")
	cases := []struct {
		head []byte
		want string
	}{
		{j.Bytes(), KindJPEG}, {p.Bytes(), KindPNG}, {g.Bytes(), KindGIF}, {bmp, KindBMP}, {webp, KindWebP},
		{pe, ""}, // a candidate, never a picture
		{[]byte("BM is a text, not a bitmap at all"), ""}, // "BM" and no DIB header
		{[]byte("RIFF\x20\x00\x00\x00WAVEfmt "), ""},
		{[]byte{0xFF, 0xD8}, ""}, // too short to say
	}
	for _, c := range cases {
		ty := Detect(c.head, "photo.jpg", "image/jpeg", int64(len(c.head)))
		if got := Picture(ty, c.head); got != c.want {
			t.Errorf("%q (%s/%s): %q, want %q", c.head[:min(len(c.head), 12)], ty.Category, ty.Kind, got, c.want)
		}
	}
	for kind, ok := range map[string]bool{"jpeg+zip": true, "png+pe": true, "jpeg+": false, "zip": false, "tar+gz": false, "webp+hta": true} {
		pic, pay, got := SplitPolyglot(kind)
		if got != ok || ok && PolyglotKind(pic, pay) != kind {
			t.Errorf("SplitPolyglot(%q) = %q %q %v", kind, pic, pay, got)
		}
	}
}
