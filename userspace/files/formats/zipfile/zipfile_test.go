package zipfile

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../filetype/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func open(b []byte, maxRead int64, office bool) *File {
	return Open(bytes.NewReader(b), int64(len(b)), maxRead, office)
}

// build writes a zip with archive/zip: the named entries, stored.
func build(t testing.TB, comment string, names ...string) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, n := range names {
		fw, err := w.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		fw.Write([]byte(n))
	}
	if err := w.SetComment(comment); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The fixtures' properties are what unzip shows in their parts
// (testdata/README.md).
func TestFixtures(t *testing.T) {
	for _, c := range []struct {
		file string
		want Props
	}{
		{"lo-memo.docx", Props{Creator: "Ana Müller", LastModifiedBy: "Bob Editor", Title: "Quarterly Überblick",
			Created: "2026-01-02T03:04:05Z", Modified: "2026-02-03T04:05:06Z"}},
		{"lo-memo.odt", Props{Creator: "Ana Müller", LastModifiedBy: "Bob Editor", Title: "Quarterly Überblick",
			Created: "2026-01-02T03:04:05", Modified: "2026-02-03T04:05:06"}},
		{"lo-sheet.xlsx", Props{Creator: "Carla Sheet", LastModifiedBy: "Dan Numbers", Title: "Budget"}},
	} {
		f := open(fixture(t, c.file), 1<<20, true)
		if f.Zip == nil || !f.Bounded || f.Props == nil {
			t.Fatalf("%s: %+v", c.file, f)
		}
		got := *f.Props
		got.Application = "" // LibreOffice's build string
		if got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.file, got, c.want)
		}
	}
}

// extraRecords is a zip whose end record declares one entry in one
// record's bytes, followed by n copies of that record: archive/zip
// reads them all, and accepts the file when n+1 and the declared count
// agree modulo 65536.
func extraRecords(t testing.TB, n int) []byte {
	b := build(t, "", "a")
	e := bytes.LastIndex(b, []byte("PK\x05\x06"))
	dirOff := int(binary.LittleEndian.Uint32(b[e+16:]))
	rec := b[dirOff:e]
	out := append([]byte(nil), b[:e]...)
	for range n {
		out = append(out, rec...)
	}
	return append(out, b[e:]...)
}

// Without the read budget the 29 MB case took 390 ms and 167 MB of
// allocations, for 655361 entries.
func TestExtraRecords(t *testing.T) {
	b := extraRecords(t, 10*65536)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start := time.Now()
	f := open(b, 1<<20, true)
	d := time.Since(start)
	runtime.ReadMemStats(&m1)
	if !f.Bounded {
		t.Fatal("the end record declares one entry: the case tests nothing")
	}
	if f.Zip != nil && len(f.Zip.File) > (MaxDir+openSlack)/46 {
		t.Errorf("%d entries", len(f.Zip.File))
	}
	if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 8<<20 || d > 2*time.Second {
		t.Errorf("%d bytes allocated, %v", alloc, d)
	}
	// The declared directory alone opens.
	if f := open(extraRecords(t, 0), 1<<20, false); f.Zip == nil || len(f.Zip.File) != 1 {
		t.Errorf("one record: %+v", f)
	}
}

// The budget lets archive/zip read an honest directory whole: larger
// than Bounded allows (within maxRead), and with the longest comment.
func TestHonestDirectories(t *testing.T) {
	names := make([]string, MaxEntries+1)
	for i := range names {
		names[i] = fmt.Sprintf("d/%06d.txt", i)
	}
	big := build(t, "", names...)
	if f := open(big, int64(len(big)), false); f.Bounded || f.Zip == nil || len(f.Zip.File) != len(names) {
		t.Errorf("%d entries: bounded %v, zip %v", len(names), f.Bounded, f.Zip != nil)
	}
	if f := open(big, int64(len(big))-1, false); f.Zip != nil {
		t.Error("an unbounded directory past maxRead was opened")
	}
	long := build(t, string(bytes.Repeat([]byte{'c'}, 65535)), "docProps/core.xml", "word/vbaProject.bin")
	if f := open(long, 1, true); !f.Bounded || f.Zip == nil || len(f.Zip.File) != 2 || f.Props == nil || !f.Props.Macros {
		t.Errorf("a 64 KiB comment: %+v", f)
	}
}

func BenchmarkOpen(b *testing.B) {
	body := fixture(b, "lo-memo.docx")
	b.ReportAllocs()
	r := bytes.NewReader(body)
	for b.Loop() {
		Open(r, int64(len(body)), 1<<20, true)
	}
}
