package zipfile

import (
	"archive/zip"
	"bytes"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzOpen: any input opens without a panic, the same twice, with no
// more entries than its bytes can hold (a Bounded one no more than the
// budget lets archive/zip read), never past maxRead unless Bounded, and
// exactly as archive/zip alone opens it when the budget cannot bind (a
// small file): the budget refuses no honest directory.
func FuzzOpen(f *testing.F) {
	for _, name := range []string{"lo-memo.docx", "lo-memo.odt", "lo-sheet.xlsx"} {
		f.Add(fixture(f, name), uint32(1<<20), true)
	}
	f.Add(build(f, "a comment", "docProps/core.xml", "basic/x", "../escape"), uint32(10), true)
	f.Add(extraRecords(f, 3), uint32(1<<20), false)
	f.Fuzz(func(t *testing.T, b []byte, maxRead uint32, office bool) {
		got := open(b, int64(maxRead), office)
		if again := open(b, int64(maxRead), office); !reflect.DeepEqual(summary(got), summary(again)) {
			t.Fatalf("not deterministic: %+v vs %+v", summary(got), summary(again))
		}
		if !got.Bounded && int64(len(b)) > int64(maxRead) && got.Zip != nil {
			t.Fatal("an unbounded directory past maxRead was opened")
		}
		if z := got.Zip; z != nil {
			if 46*len(z.File) > len(b) || got.Bounded && len(z.File) > (MaxDir+openSlack)/46 {
				t.Fatalf("%d entries in %d bytes (bounded %v)", len(z.File), len(b), got.Bounded)
			}
		}
		if p := got.Props; p != nil {
			if !office || !got.Bounded || got.Zip == nil {
				t.Fatalf("properties of %+v", got)
			}
			for _, s := range []string{p.Creator, p.LastModifiedBy, p.Title, p.Application, p.Company, p.Created, p.Modified} {
				if len(s) > 512 || !utf8.ValidString(s) {
					t.Fatalf("value %q", s)
				}
			}
		}
		if len(b) > 60<<10 || !got.Bounded && int64(len(b)) > int64(maxRead) {
			return
		}
		z, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
			z = nil
		}
		if (z == nil) != (got.Zip == nil) || z != nil && !reflect.DeepEqual(names(z), names(got.Zip)) {
			t.Fatalf("archive/zip opens %v, Open %v", z != nil, got.Zip != nil)
		}
	})
}

func names(z *zip.Reader) []string {
	var out []string
	for _, f := range z.File {
		out = append(out, f.Name)
	}
	return out
}

type openSummary struct {
	Bounded bool
	Props   *Props
	Names   []string
	Opened  bool
}

func summary(f *File) openSummary {
	s := openSummary{Bounded: f.Bounded, Props: f.Props, Opened: f.Zip != nil}
	if f.Zip != nil {
		s.Names = names(f.Zip)
	}
	return s
}
