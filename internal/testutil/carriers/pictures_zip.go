// Pictures, zip archives, and polyglots of the two.

package carriers

import (
	"archive/zip"
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"math/rand"
)

// JPEG is a real JPEG picture (Go's image/jpeg encoder, quality 90) of
// w x h pixels of seeded noise: noise does not compress, so the size
// follows the pixels (about 3.3 bytes a pixel).
func JPEG(w, h int, seed int64) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, noise(w, h, seed), &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// PNG is a real PNG picture (image/png) of w x h pixels of seeded noise.
func PNG(w, h int, seed int64) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, noise(w, h, seed)); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func noise(w, h int, seed int64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rand.New(rand.NewSource(seed)).Read(img.Pix)
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 0xFF // opaque
	}
	return img
}

// ZipOf is a zip archive (archive/zip, deflated) of files, in name order.
func ZipOf(files map[string][]byte) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, n := range sortedNames(files) {
		f, err := zw.Create(n)
		if err != nil {
			panic(err)
		}
		f.Write(files[n])
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// PictureZip is a polyglot: the picture, then a zip of files appended
// as `cat picture.jpg files.zip` makes it (the zip's offsets count from
// its own start; unzip, 7-Zip and archive/zip find it from its end).
func PictureZip(picture []byte, files map[string][]byte) []byte {
	return append(append([]byte(nil), picture...), ZipOf(files)...)
}
