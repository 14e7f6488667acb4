package fatfs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
)

func open(b []byte) *FS { return Open(bytes.NewReader(b), int64(len(b))) }

func contents(f *FS) map[string][]byte {
	out := map[string][]byte{}
	for _, e := range f.Files {
		b, _ := io.ReadAll(io.LimitReader(f.Open(e), 1<<24))
		out[e.Path] = b
	}
	return out
}

func TestOpenBuilt(t *testing.T) {
	files := map[string][]byte{
		"Invoice 2026.pdf.lnk": carriers.LNK(`C:\Windows\System32\rundll32.exe`, "helper.dll,Start", "", true),
		"helper.dll":           bytes.Repeat([]byte("MZ helper "), 300), // several clusters
		"empty.txt":            nil,
	}
	f := open(carriers.FAT(files))
	if f == nil || f.Type != 12 || f.Label != "EDGESENSOR" || f.Truncated {
		t.Fatalf("%+v", f)
	}
	got := contents(f)
	if len(got) != len(files) {
		t.Fatalf("files %v", keys(got))
	}
	for n, want := range files {
		if !bytes.Equal(got[n], want) {
			t.Errorf("%s: %d bytes, want %d", n, len(got[n]), len(want))
		}
	}
	if f.Stats.CutChains != 0 {
		t.Errorf("%+v", f.Stats)
	}
}

// Files of megabytes take larger clusters; fsck.fat (Debian
// dosfstools) finds the builder's volume sound.
func TestBuiltLarge(t *testing.T) {
	files := map[string][]byte{"big.dll": bytes.Repeat([]byte("MZ big "), 600000), "a.txt": []byte("a")}
	b := carriers.FAT(files)
	f := open(b)
	if f == nil || f.Type != 12 || f.clusterSize <= 512 {
		t.Fatalf("%+v", f)
	}
	got := contents(f)
	for n, w := range files {
		if !bytes.Equal(got[n], w) {
			t.Errorf("%s: %d bytes", n, len(got[n]))
		}
	}
	if _, err := exec.LookPath("fsck.fat"); err == nil {
		p := filepath.Join(t.TempDir(), "v.img")
		os.WriteFile(p, b, 0o644)
		if out, err := exec.Command("fsck.fat", "-n", p).CombinedOutput(); err != nil {
			t.Errorf("fsck.fat: %v %s", err, out)
		}
	}
}

// A chain that loops back ends the file's reader early, counted.
func TestChainLoop(t *testing.T) {
	b := carriers.FAT(map[string][]byte{"a.bin": bytes.Repeat([]byte{'x'}, 512*4)})
	// Clusters 2..5; make 4 point back to 3 (FAT12 at sector 1).
	fat := b[512:]
	c, v := 4, 3
	o := c + c/2
	fat[o] = byte(v)
	fat[o+1] = fat[o+1]&0xF0 | byte(v>>8)&0x0F
	f := open(b)
	got := contents(f)["a.bin"]
	if len(got) != 512*3 || f.Stats.Loops != 1 || f.Stats.CutChains != 1 {
		t.Fatalf("%d bytes, %+v", len(got), f.Stats)
	}
}

// A long name whose checksum does not match its short entry is not
// used (Windows shows the short name then).
func TestLongNameChecksum(t *testing.T) {
	b := carriers.FAT(map[string][]byte{"document.pdf.exe": []byte("MZ")})
	root := bytes.Index(b, []byte("EDGESENSOR \x08"))
	b[root+32+13] ^= 0xFF // the first long name entry's checksum
	f := open(b)
	if len(f.Files) != 1 || f.Files[0].Path != "DOCUME~1.EXE" {
		t.Fatalf("%+v", f.Files)
	}
}

// Volumes made by mkfs.vfat and filled by mcopy (Debian dosfstools,
// mtools), of each FAT type, with a subdirectory and long names: the
// same files, the same bytes.
func TestMkfsVfat(t *testing.T) {
	for _, tool := range []string{"mkfs.vfat", "mcopy", "mmd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not installed")
		}
	}
	for _, c := range []struct {
		bits int
		kib  string
	}{{12, "1024"}, {16, "20480"}, {32, "40960"}} {
		t.Run(fmt.Sprint(c.bits), func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "v.img")
			run(t, "mkfs.vfat", "-C", "-F", fmt.Sprint(c.bits), "-n", "LURE", img, c.kib)
			want := map[string][]byte{
				"Photos from the trip.lnk":  carriers.LNK(`C:\Windows\System32\cmd.exe`, "/c start x", "", true),
				"system/update helper.dll":  bytes.Repeat([]byte("MZ dll "), 5000),
				"system/deep/er/readme.txt": []byte("hello"),
				"UPPER.TXT":                 []byte("short name only"),
			}
			run(t, "mmd", "-i", img, "::system", "::system/deep", "::system/deep/er")
			for n, body := range want {
				src := filepath.Join(dir, "src")
				os.WriteFile(src, body, 0o644)
				run(t, "mcopy", "-i", img, src, "::"+n)
			}
			b, _ := os.ReadFile(img)
			f := open(b)
			if f == nil || f.Type != c.bits {
				t.Fatalf("%+v", f)
			}
			got := contents(f)
			if len(got) != len(want) {
				t.Fatalf("%v", keys(got))
			}
			for n, body := range want {
				if !bytes.Equal(got[n], body) {
					t.Errorf("%s: %d bytes, want %d", n, len(got[n]), len(body))
				}
			}
			if f.Label != "LURE" {
				t.Errorf("label %q", f.Label)
			}
		})
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v %s", name, args, err, out)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// FuzzOpen: no panic, bounded lists, every reader ends within its size.
func FuzzOpen(f *testing.F) {
	f.Add(carriers.FAT(map[string][]byte{"a.lnk": carriers.LNK(`C:\a.exe`, "", "", false), "b.dll": []byte("MZ")}))
	f.Add(carriers.FAT(map[string][]byte{"x": bytes.Repeat([]byte{1}, 3000)}))
	// A FAT32 boot sector with its root at cluster 2.
	b32 := make([]byte, 64<<10)
	copy(b32, []byte{0xEB, 0x58, 0x90})
	binary.LittleEndian.PutUint16(b32[11:], 512)
	b32[13], b32[14], b32[16] = 1, 32, 2
	binary.LittleEndian.PutUint32(b32[32:], 70000)
	binary.LittleEndian.PutUint32(b32[36:], 10)
	binary.LittleEndian.PutUint32(b32[44:], 2)
	f.Add(b32)
	f.Add(fat32Small(2, 1)) // a small FAT32, mirroring off (fatfs_review_test.go)
	f.Fuzz(func(t *testing.T, b []byte) {
		fs := open(b)
		if fs == nil {
			return
		}
		if len(fs.Files) > MaxEntries {
			t.Fatal(len(fs.Files))
		}
		for i, e := range fs.Files {
			if i > 50 {
				break
			}
			n, _ := io.Copy(io.Discard, io.LimitReader(fs.Open(e), 1<<20))
			if n > e.Size {
				t.Fatalf("%s: %d bytes of %d", e.Path, n, e.Size)
			}
		}
	})
}
