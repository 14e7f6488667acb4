package ntfsfs

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
)

func open(b []byte) *FS { return Open(bytes.NewReader(b), int64(len(b))) }

// A volume made by mkntfs and filled by ntfscp (Debian ntfs-3g, no
// mount): the same files and bytes, resident and not.
func TestMkntfs(t *testing.T) {
	for _, tool := range []string{"mkntfs", "ntfscp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not installed")
		}
	}
	img, want := mkntfs(t)
	f := open(img)
	if f == nil {
		t.Fatal("not opened")
	}
	got := map[string][]byte{}
	for _, e := range f.Files {
		got[e.Path], _ = io.ReadAll(f.Open(e))
	}
	for n, w := range want {
		if !bytes.Equal(got[n], w) {
			t.Errorf("%s: %d bytes, want %d (files %v)", n, len(got[n]), len(w), keys(got))
		}
	}
	if len(got) != len(want) || f.Label != "LURE" {
		t.Errorf("files %v, label %q, %+v", keys(got), f.Label, f.Stats)
	}
}

func mkntfs(t *testing.T) ([]byte, map[string][]byte) {
	dir := t.TempDir()
	p := filepath.Join(dir, "v.img")
	os.WriteFile(p, nil, 0o644)
	os.Truncate(p, 8<<20)
	run(t, "mkntfs", "-F", "-Q", "-q", "-L", "LURE", p)
	want := map[string][]byte{
		"Invoice.pdf.lnk": []byte("small: resident in its record"),
		"helper.dll":      bytes.Repeat([]byte("MZ helper "), 30000),
	}
	for n, b := range want {
		src := filepath.Join(dir, "src")
		os.WriteFile(src, b, 0o644)
		run(t, "ntfscp", "-f", p, src, n)
	}
	b, _ := os.ReadFile(p)
	return b, want
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v %s", name, args, err, out)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestBuilt(t *testing.T) {
	files := map[string][]byte{"a.lnk": []byte("resident content"), "b.exe": bytes.Repeat([]byte("MZ non-resident "), 100)}
	f := open(carriers.NTFS(files))
	if f == nil || len(f.Files) != 2 || f.Label != "EDGESENSOR" || f.Stats != (Stats{}) {
		t.Fatalf("%+v", f)
	}
	for _, e := range f.Files {
		b, _ := io.ReadAll(f.Open(e))
		if !bytes.Equal(b, files[e.Path]) {
			t.Errorf("%s: %q", e.Path, b)
		}
		if (e.Resident != nil) != (len(b) < 600) {
			t.Errorf("%s: resident %v", e.Path, e.Resident != nil)
		}
	}
	// A torn record (its fixup does not match) is not used.
	b := carriers.NTFS(files)
	b[16*512+32*1024+510] = 9
	if f := open(b); len(f.Files) != 1 || f.Stats.BadRecords != 1 {
		t.Errorf("%+v", f)
	}
}

// FuzzOpen: no panic, bounded, runs inside the volume, reads end.
func FuzzOpen(f *testing.F) {
	f.Add(carriers.NTFS(map[string][]byte{"a.lnk": []byte("L"), "b.exe": bytes.Repeat([]byte("MZ"), 400)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		fs := open(b)
		if fs == nil {
			return
		}
		if len(fs.Files) > MaxEntries {
			t.Fatal(len(fs.Files))
		}
		for i, e := range fs.Files {
			if len(e.Runs) > MaxRuns {
				t.Fatalf("%d runs", len(e.Runs))
			}
			for _, r := range e.Runs {
				if !r.Sparse && (r.Offset < 0 || r.Offset+r.Size > int64(len(b))) {
					t.Fatalf("%+v in %d bytes", r, len(b))
				}
			}
			if i < 20 {
				n, _ := io.Copy(io.Discard, io.LimitReader(fs.Open(e), 1<<20))
				if n > e.Size {
					t.Fatalf("%d bytes of %d", n, e.Size)
				}
			}
		}
	})
}
