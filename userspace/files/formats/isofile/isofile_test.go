package isofile

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
)

func parse(b []byte) *Image { return Parse(bytes.NewReader(b), int64(len(b))) }

func TestParseBuiltImage(t *testing.T) {
	files := map[string][]byte{"setup.exe": []byte("MZ payload"), "readme.txt": []byte("read me\n")}
	img := parse(carriers.ISO(files))
	if img == nil || img.VolumeID != "EDGESENSOR_TEST" || len(img.Files) != 2 || img.Truncated {
		t.Fatalf("%+v", img)
	}
	b := carriers.ISO(files)
	for _, e := range img.Files {
		want := files[strings.ToLower(e.Path)]
		if got := b[e.Offset : e.Offset+e.Size]; !bytes.Equal(got, want) {
			t.Errorf("%s: %q", e.Path, got)
		}
	}
}

// An image made by genisoimage (Debian), with a directory: the same
// files as isoinfo lists.
func TestParseGenisoimage(t *testing.T) {
	if _, err := exec.LookPath("genisoimage"); err != nil {
		t.Skip("genisoimage not installed")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "docs", "more"), 0o755)
	os.WriteFile(filepath.Join(src, "invoice.exe"), []byte("MZ not really"), 0o644)
	os.WriteFile(filepath.Join(src, "docs", "more", "a.txt"), []byte("deep"), 0o644)
	iso := filepath.Join(dir, "x.iso")
	if out, err := exec.Command("genisoimage", "-quiet", "-V", "LURE", "-o", iso, src).CombinedOutput(); err != nil {
		t.Fatalf("genisoimage: %v %s", err, out)
	}
	b, _ := os.ReadFile(iso)
	img := parse(b)
	if img == nil || img.VolumeID != "LURE" {
		t.Fatalf("%+v", img)
	}
	var got []string
	for _, e := range img.Files {
		got = append(got, e.Path)
		if e.Path == "INVOICE.EXE" && string(b[e.Offset:e.Offset+e.Size]) != "MZ not really" {
			t.Errorf("content of %s", e.Path)
		}
	}
	sort.Strings(got)
	if want := []string{"DOCS/MORE/A.TXT", "INVOICE.EXE"}; !reflect.DeepEqual(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
}

// A directory that contains itself, and entries past the image's end,
// end the walk quietly.
func TestParseHostileImage(t *testing.T) {
	b := carriers.ISO(map[string][]byte{"a.txt": []byte("x")})
	// The root's file entry (third record) becomes a directory pointing
	// at the root: a loop.
	rec := b[20*2048+34+34:]
	rec[25] = 2
	copy(rec[2:6], []byte{20, 0, 0, 0})
	img := parse(b)
	if img == nil || len(img.Files) != 0 {
		t.Errorf("loop: %+v", img)
	}
	b = carriers.ISO(map[string][]byte{"a.txt": []byte("x")})
	rec = b[20*2048+34+34:]
	copy(rec[2:6], []byte{0xff, 0xff, 0xff, 0x0f})
	if img := parse(b); img == nil || len(img.Files) != 0 {
		t.Errorf("outside: %+v", img)
	}
}

// FuzzParse: any input reads without a panic, the same twice, inside the
// image and its bounds.
func FuzzParse(f *testing.F) {
	f.Add(carriers.ISO(map[string][]byte{"setup.exe": []byte("MZ"), "b.txt": []byte("b")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		img := parse(b)
		if img == nil {
			return
		}
		if !reflect.DeepEqual(img, parse(b)) {
			t.Fatal("not deterministic")
		}
		if len(img.Files) > MaxEntries {
			t.Fatalf("%d entries", len(img.Files))
		}
		for _, e := range img.Files {
			if e.Offset < 0 || e.Size < 0 || e.Offset+e.Size > int64(len(b)) {
				t.Fatalf("entry outside the image: %+v of %d", e, len(b))
			}
		}
	})
}
