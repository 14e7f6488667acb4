package cloudapi

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzAppendJSONString: the hand-written encoder the batches are built
// with always gives valid JSON that decodes to the input (invalid UTF-8
// becoming U+FFFD, as with encoding/json).
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "ctl\x00\x1f\n\t", "é€𝄞", "\u2028\u2029", "bad\xff\xfe utf8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendJSONString(nil, s)
		if !json.Valid(b) {
			t.Fatalf("invalid JSON for %q: %s", s, b)
		}
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if !utf8.ValidString(s) {
			// encoding/json replaces each invalid byte; compare that way.
			std, _ := json.Marshal(s)
			json.Unmarshal(std, &want)
		}
		if got != want {
			t.Fatalf("round trip of %q gave %q, want %q", s, got, want)
		}
	})
}
