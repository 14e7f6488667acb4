package pdffile

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// Hostile files: each must parse without a panic, in far less than the
// seconds to minutes the quadratic walks took, and invent no value.
func TestHostile(t *testing.T) {
	var refs strings.Builder
	refs.WriteString("%PDF-1.4\n3 0 obj << ")
	for range 4000 {
		refs.WriteString("/Title 7 0 R ")
	}
	refs.WriteString(">>\nendobj\n7 0 obj (T) endobj\n")
	refs.WriteString(strings.Repeat("1 0 obj ", 100000)) // every lookup walks these
	refs.WriteString("trailer << /Info 3 0 R >>\n")

	for _, c := range []struct {
		what  string
		b     []byte
		title string
	}{
		// 94 s before /Info's reference was looked for in a bounded span.
		{"an unclosed string after every /Info", append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("/Info("), 170000)...), ""},
		// 48 s.
		{"a comment after every /Info", append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("/Info %"), 140000)...), ""},
		// 22 s before the lookups were counted; the first one still counts.
		{"an Info dictionary naming one object 4000 times", []byte(refs.String()), "T"},
		// A panic (slice bounds) before the checks came before the arithmetic.
		{"an xref subsection count that overflows an offset",
			[]byte("%PDF-1.4\nxref\n0 9223372036854775807\n0000000000 65535 f \ntrailer << /Info 461168601842738790 0 R >>\nstartxref\n9\n"), ""},
		{"an object stream offset that overflows",
			[]byte("%PDF-1.5\ntrailer << /Info 9 0 R >>\n5 0 obj << /Type /ObjStm /N 1 /First 22 /Length 40 >>\nstream\n9 9223372036854775807 << /Title (x) >>\nendstream\n"), ""},
		{"a /Prev chain that loops",
			[]byte("%PDF-1.4\nxref\n0 1\n0000000000 65535 f \ntrailer << /Info 5 0 R /Prev 9 >>\nstartxref\n9\n"), ""},
	} {
		start := time.Now()
		f := Parse(bytes.NewReader(c.b), int64(len(c.b)), 1<<20)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: %v", c.what, d)
		}
		if f.Info.Title != c.title {
			t.Errorf("%s: title %q, want %q", c.what, f.Info.Title, c.title)
		}
	}
}
