package udffile

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
)

func parse(b []byte) *Image { return Parse(bytes.NewReader(b), int64(len(b))) }

func need(t *testing.T, tools ...string) {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not installed")
		}
	}
}

// genisoimage -udf (Debian) writes an ISO/UDF bridge; with its ISO 9660
// descriptors wiped it is a UDF image Windows still mounts, and the
// files and bytes are the same.
func TestGenisoimageUDF(t *testing.T) {
	need(t, "genisoimage")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "Docs", "deep"), 0o755)
	want := map[string][]byte{
		"Invoice 2026.pdf.exe": []byte("MZ not really"),
		"Docs/deep/a.txt":      []byte("deep"),
		"Docs/big.bin":         bytes.Repeat([]byte("0123456789abcdef"), 20000),
	}
	for n, b := range want {
		os.WriteFile(filepath.Join(src, n), b, 0o644)
	}
	iso := filepath.Join(dir, "x.iso")
	if out, err := exec.Command("genisoimage", "-quiet", "-udf", "-V", "LURE", "-o", iso, src).CombinedOutput(); err != nil {
		t.Fatalf("genisoimage: %v %s", err, out)
	}
	b, _ := os.ReadFile(iso)
	for s := 16; s < 32; s++ { // the ISO 9660 descriptors: gone
		if string(b[s*2048+1:s*2048+6]) == "CD001" {
			copy(b[s*2048:], make([]byte, 2048))
		}
	}
	img := parse(b)
	if img == nil || img.Unsupported || img.Truncated || img.BlockSize != 2048 {
		t.Fatalf("%+v", img)
	}
	got := map[string][]byte{}
	for _, f := range img.Files {
		c, _ := io.ReadAll(img.Open(bytes.NewReader(b), f))
		got[f.Path] = c
	}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(got) != len(want) {
		t.Fatalf("files %v", names)
	}
	for n, w := range want {
		if !bytes.Equal(got[n], w) {
			t.Errorf("%s: %d bytes, want %d", n, len(got[n]), len(w))
		}
	}
	if img.VolumeID != "LURE" {
		t.Errorf("volume %q", img.VolumeID)
	}
}

// mkudffs (Debian udftools) images of each block size open: an empty
// root, the label read.
func TestMkudffs(t *testing.T) {
	need(t, "mkudffs")
	for _, bs := range []string{"512", "2048", "4096"} {
		p := filepath.Join(t.TempDir(), "u.udf")
		if out, err := exec.Command("mkudffs", "--media-type=hd", "--blocksize="+bs, "-l", "PURE", p, "4000").CombinedOutput(); err != nil {
			t.Fatalf("mkudffs: %v %s", err, out)
		}
		b, _ := os.ReadFile(p)
		img := parse(b)
		if img == nil || img.Unsupported || len(img.Files) != 0 || img.VolumeID != "PURE" || img.Stats.BadTags != 0 {
			t.Fatalf("%s: %+v", bs, img)
		}
	}
}

func TestBuilt(t *testing.T) {
	files := map[string][]byte{"Invoice.pdf.lnk": []byte("lnk"), "helper.dll": bytes.Repeat([]byte("MZ helper"), 500), "empty": nil}
	b := carriers.UDF(files)
	img := parse(b)
	if img == nil || img.VolumeID != "EDGESENSOR" || len(img.Files) != 3 || img.Truncated || img.Stats != (Stats{}) {
		t.Fatalf("%+v", img)
	}
	for _, f := range img.Files {
		c, _ := io.ReadAll(img.Open(bytes.NewReader(b), f))
		if !bytes.Equal(c, files[f.Path]) || f.Size != int64(len(c)) {
			t.Errorf("%s: %d bytes", f.Path, len(c))
		}
	}
	// The fuzz seeds' sparse form reads the same.
	if s := sparse(compact(b)); len(Parse(s, s.size()).Files) != 3 {
		t.Error("sparse form")
	}
	// A file entry whose tag is broken is not used, and counted.
	bad := append([]byte{}, b...)
	for s := 257; s < len(bad)/2048; s++ {
		if bad[s*2048] == 5 && bad[s*2048+1] == 1 { // tag 261: a file entry
			bad[s*2048+4]++
			break
		}
	}
	if img := parse(bad); img == nil || img.Stats.BadTags != 1 {
		t.Fatalf("%+v", img)
	}
}

// sparse is a UDF image of 2048-byte blocks whose blocks 32-39 (the
// volume descriptor sequence) and 256 on (the anchor, the partition)
// are the fuzz input, the rest zeros: the fuzzer mutates the 30 KiB that
// matter rather than half a megabyte of zeros.
type sparse []byte

const sparseGap = 8 * 2048

func (s sparse) size() int64 { return int64(len(s)) - sparseGap + 256*2048 }

func (s sparse) ReadAt(p []byte, off int64) (int, error) {
	for i := range p {
		o := off + int64(i)
		switch {
		case o >= 32*2048 && o < 40*2048 && o-32*2048 < int64(len(s)):
			p[i] = s[o-32*2048]
		case o >= 256*2048 && o-256*2048+sparseGap < int64(len(s)):
			p[i] = s[o-256*2048+sparseGap]
		default:
			p[i] = 0
		}
	}
	if off+int64(len(p)) > s.size() {
		return int(max(0, s.size()-off)), io.EOF
	}
	return len(p), nil
}

func compact(img []byte) []byte {
	return append(append([]byte{}, img[32*2048:40*2048]...), img[256*2048:]...)
}

// FuzzParse: no panic, bounded, extents inside the image.
func FuzzParse(f *testing.F) {
	f.Add(compact(carriers.UDF(map[string][]byte{"a.lnk": []byte("L"), "b.exe": []byte("MZ")})))
	f.Add(compact(carriers.UDF(nil)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < sparseGap {
			return
		}
		s := sparse(b)
		img := Parse(s, s.size())
		if img == nil {
			return
		}
		if len(img.Files) > MaxEntries {
			t.Fatal(len(img.Files))
		}
		for _, fl := range img.Files {
			if len(fl.Extents) > MaxExtents {
				t.Fatalf("%d extents", len(fl.Extents))
			}
			for _, e := range fl.Extents {
				if !e.Zero && (e.Offset < 0 || e.Offset+e.Size > s.size()) {
					t.Fatalf("%+v in %d bytes", e, s.size())
				}
			}
		}
	})
}
