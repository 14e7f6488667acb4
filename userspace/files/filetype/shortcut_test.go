package filetype

import (
	"bytes"
	"strings"
	"testing"
)

// The text shortcut skips the library only for text no candidate can be:
// a tar header made of printable bytes, a PDF and bzip2 still go its way,
// and every fixture is typed the same both ways.
func TestTextShortcut(t *testing.T) {
	if got := Detect(textTar(), "a.tar", "", -1); got.Category != Archive {
		t.Errorf("printable tar: %+v", got)
	}
	if plainText(textTar()) || plainText([]byte("%PDF-1.7\n%\n")) || plainText([]byte("BZh91AY&SY")) {
		t.Error("a candidate's head taken for plain text")
	}
	if !plainText([]byte(strings.Repeat("Plain words, line after line.\n", 100))) {
		t.Error("plain text not taken")
	}
	heads := map[string][]byte{}
	for name, f := range corpus(t) {
		heads[name] = head(f.body)
	}
	for name, b := range heads {
		got := Detect(b, name, "", int64(len(b)))
		textShortcut = false
		long := Detect(b, name, "", int64(len(b)))
		textShortcut = true
		if got.Category != long.Category || got.Kind != long.Kind || got.Reason != long.Reason {
			t.Errorf("%s: %+v, the library's way %+v", name, got, long)
		}
	}
}

// scanTextRef is scanText one byte at a time.
func scanTextRef(b []byte) (ascii, ok bool) {
	ascii = true
	for _, c := range b {
		if c >= 0x80 {
			ascii = false
		}
	}
	return ascii, controlsOK(b)
}

// controlsOK: no C0 control but TAB, LF, FF, CR and ESC, written out
// apart from scanText's mask so that the tests compare two spellings.
func controlsOK(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\f' && c != '\r' && c != 0x1b {
			return false
		}
	}
	return true
}

// The word-at-a-time scan agrees with the byte-at-a-time one for every
// byte value at every place in a word, the tail included, and next to
// the bytes that sit at the edges of its masks.
func TestScanTextExact(t *testing.T) {
	for _, fill := range []byte{'a', ' ', 0x1f, 0x20, 0x7f, 0x80, 0x9f, 0xff, '\n'} {
		for n := 0; n <= 19; n++ {
			for pos := 0; pos < n; pos++ {
				for v := 0; v < 256; v++ {
					b := bytes.Repeat([]byte{fill}, n)
					b[pos] = byte(v)
					ga, gok := scanText(b)
					wa, wok := scanTextRef(b)
					if gok != wok || gok && ga != wa { // ascii is only told of text
						t.Fatalf("fill %#x len %d byte %#x at %d: got %v %v, want %v %v", fill, n, v, pos, ga, gok, wa, wok)
					}
				}
			}
		}
	}
}
