package chmfile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
)

func parse(b []byte) *File { return Parse(bytes.NewReader(b), int64(len(b))) }

func TestParseBuilt(t *testing.T) {
	files := map[string][]byte{"/index.html": []byte("<html>hi</html>"), "/setup.exe": []byte("MZ setup"), "/empty.txt": nil}
	b := carriers.CHMWith(files)
	f := parse(b)
	if f == nil || f.Version != 3 || f.Truncated || f.BadChunks != 0 || f.Chunks != 1 {
		t.Fatalf("%+v", f)
	}
	seen := 0
	for _, e := range f.Entries {
		want, ok := files[e.Name]
		if !ok {
			if e.Name != "/" && e.Name != "::DataSpace/NameList" {
				t.Errorf("unexpected %+v", e)
			}
			continue
		}
		seen++
		if !e.Readable() || e.Outside || !bytes.Equal(b[e.Offset:e.Offset+e.Size], want) {
			t.Errorf("%+v: %q", e, b[e.Offset:e.Offset+e.Size])
		}
	}
	if seen != len(files) {
		t.Errorf("%d of %d files", seen, len(files))
	}
}

// Many entries take several listing chunks; all are read.
func TestManyChunks(t *testing.T) {
	files := map[string][]byte{}
	for i := 0; i < 600; i++ {
		files[fmt.Sprintf("/pages/page-with-a-long-name-%04d.html", i)] = []byte(fmt.Sprint(i))
	}
	f := parse(carriers.CHMWith(files))
	if f == nil || f.Chunks < 5 || len(f.Entries) != 602 || f.BadChunks != 0 {
		t.Fatalf("chunks %d entries %d bad %d", f.Chunks, len(f.Entries), f.BadChunks)
	}
}

// A directory claiming more chunks than the bounds allow is read up to
// them, and says it was cut.
func TestChunkBound(t *testing.T) {
	b := carriers.CHMWith(map[string][]byte{"/a.htm": []byte("x")})
	binary.LittleEndian.PutUint32(b[0x78+0x2C:], 1<<20) // chunks
	f := parse(b)
	if f == nil || !f.Truncated || len(f.Entries) != 3 {
		t.Fatalf("%+v", f)
	}
}

// An entry pointing past the file's end is marked, and cut to the file.
func TestOutside(t *testing.T) {
	b := carriers.CHMWith(map[string][]byte{"/a.htm": []byte("0123456789")})
	for _, e := range parse(b).Entries {
		if e.Name != "/a.htm" {
			continue
		}
		cut := b[:e.Offset+6]
		for _, e := range parse(cut).Entries {
			if e.Name == "/a.htm" && (!e.Outside || e.Size != 6 || string(cut[e.Offset:]) != "012345") {
				t.Fatalf("%+v", e)
			}
		}
		return
	}
	t.Fatal("no /a.htm")
}

// 7-Zip (Debian p7zip-full) lists the builder's files and extracts the
// same bytes the reader finds.
func TestSevenZip(t *testing.T) {
	if _, err := exec.LookPath("7z"); err != nil {
		t.Skip("7z not installed")
	}
	dir := t.TempDir()
	files := map[string][]byte{"/index.html": []byte("<html>hi</html>"), "/js/run.js": []byte("var x=1;")}
	b := carriers.CHMWith(files)
	p := filepath.Join(dir, "h.chm")
	os.WriteFile(p, b, 0o644)
	if out, err := exec.Command("7z", "x", "-y", "-o"+filepath.Join(dir, "out"), p).CombinedOutput(); err != nil {
		t.Fatalf("7z: %v %s", err, out)
	}
	for _, e := range parse(b).Entries {
		want, ok := files[e.Name]
		if !ok {
			continue
		}
		got, err := os.ReadFile(filepath.Join(dir, "out", strings.TrimPrefix(e.Name, "/")))
		if err != nil || !bytes.Equal(got, want) || !bytes.Equal(b[e.Offset:e.Offset+e.Size], got) {
			t.Errorf("%s: 7z %q (%v), reader %q", e.Name, got, err, b[e.Offset:e.Offset+e.Size])
		}
	}
}

// FuzzParse: no panic, bounded, readable entries inside the file.
func FuzzParse(f *testing.F) {
	f.Add(carriers.CHMShortcut())
	f.Add(carriers.CHM())
	f.Add(carriers.CHMWith(map[string][]byte{"/a.exe": []byte("MZ"), "/b.html": []byte("<script>")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := parse(b)
		if c == nil {
			return
		}
		if len(c.Entries) > MaxEntries || c.Chunks > MaxChunks {
			t.Fatalf("%d entries, %d chunks", len(c.Entries), c.Chunks)
		}
		for _, e := range c.Entries {
			if e.Section == 0 && (e.Offset < 0 || e.Size < 0 || e.Offset+e.Size > int64(len(b))) {
				t.Fatalf("%+v in %d bytes", e, len(b))
			}
		}
	})
}
