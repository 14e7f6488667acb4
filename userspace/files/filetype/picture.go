package filetype

import (
	"encoding/binary"
	"strings"
)

// Pictures are not candidates (Detect types them None), but a picture
// may carry a file after its own end: a zip appended to a JPEG opens in
// every archive tool, and a PE after a PNG's IEND chunk passes every
// filter that lets images through. The file pipeline reads pictures
// whole up to a bound (files.image_scan_limit) and reports those that
// carry something (package analyzers, FindPolyglot), typed by a
// polyglot kind: the picture's and the payload's, "jpeg+zip".

// Picture kinds (Picture), and the first half of a polyglot kind.
const (
	KindJPEG = "jpeg"
	KindPNG  = "png"
	KindGIF  = "gif"
	KindBMP  = "bmp"
	KindWebP = "webp"
	// Less common on the web, opened by every viewer all the same: a
	// zip appended to any of them opens in archive tools just as well.
	KindTIFF = "tiff"
	KindICO  = "ico"
	KindHEIF = "heif" // HEIC, HEIF and AVIF: ISO base media files
)

// Picture says which picture format a file Detect typed t is, from the
// signature at the start of its head: "jpeg", "png", "gif", "bmp",
// "webp", "tiff", "ico", "heif", or "" (not a picture, or a candidate: a PE named .jpg is an
// executable, never a picture). A few byte compares; no allocation.
func Picture(t Type, head []byte) string {
	if t.Category != None || len(head) < 12 {
		return ""
	}
	switch {
	case head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF:
		return KindJPEG
	case string(head[:8]) == "\x89PNG\r\n\x1a\n":
		return KindPNG
	case string(head[:6]) == "GIF87a" || string(head[:6]) == "GIF89a":
		return KindGIF
	case string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return KindWebP
	case string(head[:2]) == "BM" && isBMP(head):
		return KindBMP
	// The weaker signatures only where the library agrees.
	case (string(head[:4]) == "II*\x00" || string(head[:4]) == "MM\x00*") && t.MIME == "image/tiff":
		return KindTIFF
	case string(head[:4]) == "\x00\x00\x01\x00" && t.MIME == "image/x-icon":
		return KindICO
	case string(head[4:8]) == "ftyp" && heifMIME(t.MIME):
		return KindHEIF
	}
	return ""
}

func heifMIME(m string) bool {
	switch m {
	case "image/heic", "image/heic-sequence", "image/heif", "image/heif-sequence", "image/avif":
		return true
	}
	return false
}

// isBMP checks what follows "BM" (two bytes random data often starts
// with): a known DIB header size and a pixel offset past it.
func isBMP(h []byte) bool {
	if len(h) < 18 {
		return false
	}
	dib := binary.LittleEndian.Uint32(h[14:])
	off := binary.LittleEndian.Uint32(h[10:])
	switch dib {
	case 12, 40, 52, 56, 64, 108, 124:
		return off >= 14+dib
	}
	return false
}

// PolyglotKind is the kind of a picture carrying a payload of kind
// payload: "jpeg+zip", "png+pe".
func PolyglotKind(picture, payload string) string { return picture + "+" + payload }

// SplitPolyglot splits a polyglot kind into the picture's and the
// payload's; ok is false for any other kind.
func SplitPolyglot(kind string) (picture, payload string, ok bool) {
	picture, payload, ok = strings.Cut(kind, "+")
	if !ok || payload == "" {
		return "", "", false
	}
	switch picture {
	case KindJPEG, KindPNG, KindGIF, KindBMP, KindWebP, KindTIFF, KindICO, KindHEIF:
		return picture, payload, true
	}
	return "", "", false
}
