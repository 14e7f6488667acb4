package filetype

import (
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
