package pdffile

import (
	"bytes"
	"os"
	"reflect"
	"testing"
	"unicode/utf8"
)

func seedFiles(f *testing.F) [][]byte {
	var out [][]byte
	for _, name := range []string{"lo-memo.pdf", "lo-memo-objstm.pdf", "lo-memo-a.pdf"} {
		b, err := os.ReadFile("../../filetype/testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return append(out, hostilePDF(1, 4096),
		[]byte("%PDF-1.4\nxref\n0 9223372036854775807\n0000000000 65535 f \ntrailer << /Info 461168601842738790 0 R /Prev 9 >>\nstartxref\n9\n"),
		[]byte("%PDF-1.5\ntrailer << /Info 9 0 R >>\n5 0 obj << /Type /ObjStm /N 1 /First 4 /Length 12 >>\nstream\n9 0 << /Author (x) >>\nendstream\nstartxref\n0\n"),
		[]byte("%PDF-1.4\n<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description xmlns:pdf=\"http://ns.adobe.com/pdf/1.3/\" pdf:Producer=\"P\"/></rdf:RDF></x:xmpmeta>"))
}

// FuzzKeywords: the chunked keyword scan counts as the whole-buffer scan
// does, whatever the chunk size.
func FuzzKeywords(f *testing.F) {
	for _, b := range seedFiles(f) {
		f.Add(b, uint16(7))
	}
	f.Fuzz(func(t *testing.T, b []byte, chunk uint16) {
		c := int(chunk%4096) + 1
		head := b[:min(len(b), c+maxName)]
		got := scanKeywords(bytes.NewReader(b), int64(len(b)), head, c)
		if want := refKeywords(b); !reflect.DeepEqual(got, want) {
			t.Fatalf("chunk %d:\n got %+v\nwant %+v", c, got, want)
		}
	})
}

// FuzzParse: any input parses without a panic into bounded, valid
// text, the same twice.
func FuzzParse(f *testing.F) {
	for _, b := range seedFiles(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := Parse(bytes.NewReader(b), int64(len(b)), 1<<20)
		if again := Parse(bytes.NewReader(b), int64(len(b)), 1<<20); !reflect.DeepEqual(p, again) {
			t.Fatalf("not deterministic:\n%+v\n%+v", p, again)
		}
		i := p.Info
		for _, s := range []string{p.Version, i.Title, i.Author, i.Creator, i.Producer, i.CreationDate, i.ModDate} {
			if len(s) > 512 || !utf8.ValidString(s) {
				t.Fatalf("value %q", s)
			}
		}
		if len(p.Keywords.Obfuscated) > MaxObfuscated || p.Encrypted && i != (Info{}) {
			t.Fatalf("%+v", p)
		}
	})
}
