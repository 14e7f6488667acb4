package ntfsfs

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
)

func readAll(f *FS) map[string][]byte {
	got := map[string][]byte{}
	for _, e := range f.Files {
		got[e.Path], _ = io.ReadAll(f.Open(e))
	}
	return got
}

// A user's top-level folder or file may start with "$" (Windows allows
// it): only the system's records are left out.
func TestDollarUserFolder(t *testing.T) {
	want := map[string][]byte{
		"$payload/Invoice.pdf.lnk": []byte("L\x00\x00\x00 shortcut"),
		"$run.lnk":                 []byte("L\x00\x00\x00 another"),
		"sub/$x/helper.dll":        bytes.Repeat([]byte("MZ "), 400),
	}
	f := open(carriers.NTFS(want))
	if f == nil {
		t.Fatal("not opened")
	}
	got := readAll(f)
	for n, w := range want {
		if !bytes.Equal(got[n], w) {
			t.Errorf("%s: %q (files %v)", n, got[n], keys(got))
		}
	}
	for n := range got {
		if strings.HasPrefix(n, "$Volume") || strings.HasPrefix(n, "$MFT") {
			t.Errorf("system file listed: %s", n)
		}
	}
}

// A file deeper than MaxDepth is still listed (its path cut) and the
// cut is counted.
func TestDeepPath(t *testing.T) {
	deep := strings.Repeat("d/", MaxDepth+8) + "evil.lnk"
	f := open(carriers.NTFS(map[string][]byte{deep: []byte("L\x00\x00\x00 deep"), "top.txt": []byte("top")}))
	if f == nil {
		t.Fatal("not opened")
	}
	var found *File
	for i, e := range f.Files {
		if strings.HasSuffix(e.Path, "/evil.lnk") {
			found = &f.Files[i]
		}
	}
	if found == nil || !strings.HasPrefix(found.Path, ".../") || f.Stats.DeepPaths != 1 || !f.Truncated {
		t.Fatalf("files %+v stats %+v truncated %v", f.Files, f.Stats, f.Truncated)
	}
	if b, _ := io.ReadAll(f.Open(*found)); string(b) != "L\x00\x00\x00 deep" {
		t.Fatalf("%q", b)
	}
}

// A run whose cluster number times the cluster size overflows must be
// cut, not wrap to an offset inside the volume.
func TestRunOffsetOverflow(t *testing.T) {
	f := &FS{size: 1 << 20, clusterSize: 1 << 16}
	// One cluster at LCN 2^48 (<<16 is 2^64: zero after the wrap).
	runs := f.runs([]byte{0x81, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0}, 1<<16)
	if len(runs) != 0 || f.Stats.CutRuns != 1 {
		t.Fatalf("%+v %+v", runs, f.Stats)
	}
}

// A file behind a reparse point (WOF: "compact /exe" keeps the bytes in
// a named stream, the unnamed $DATA sparse) is not read as its raw
// $DATA: it is unreadable, and counted.
func TestReparsePointUnreadable(t *testing.T) {
	b := carriers.NTFS(map[string][]byte{"a.exe": []byte("MZ wof stub"), "b.txt": []byte("plain")})
	// a.exe is record 32: MFT at cluster 16, 1 KiB records. Its
	// attributes end well inside the first 510 bytes (the fixups).
	r := b[16*512+32*1024:][:1024]
	p := int(binary.LittleEndian.Uint16(r[20:]))
	for binary.LittleEndian.Uint32(r[p:]) != 0xFFFFFFFF {
		p += int(binary.LittleEndian.Uint32(r[p+4:]))
	}
	rp := make([]byte, 32) // a resident $REPARSE_POINT: IO_REPARSE_TAG_WOF
	binary.LittleEndian.PutUint32(rp, 0xC0)
	binary.LittleEndian.PutUint32(rp[4:], 32)
	binary.LittleEndian.PutUint32(rp[16:], 8)
	binary.LittleEndian.PutUint16(rp[20:], 24)
	binary.LittleEndian.PutUint32(rp[24:], 0x80000017)
	copy(r[p:], rp)
	binary.LittleEndian.PutUint32(r[p+32:], 0xFFFFFFFF)
	binary.LittleEndian.PutUint32(r[24:], uint32(p+40))
	f := open(b)
	if f == nil {
		t.Fatal("not opened")
	}
	for _, e := range f.Files {
		if want := e.Path == "b.txt"; e.Readable != want {
			t.Errorf("%s: readable %v", e.Path, e.Readable)
		}
	}
	if len(f.Files) != 2 || f.Stats.Unreadable != 1 {
		t.Fatalf("%+v %+v", f.Files, f.Stats)
	}
}

// A file whose base record is 20 (between the metafiles and the first
// record Windows usually gives a file) is listed: Windows lists it
// from its directory like any other.
func TestLowRecordFile(t *testing.T) {
	body := []byte("L\x00\x00\x00 low record")
	b := carriers.NTFS(map[string][]byte{"low.lnk": body})
	mft := b[16*512:]
	copy(mft[20*1024:21*1024], mft[32*1024:33*1024])
	binary.LittleEndian.PutUint32(mft[20*1024+44:], 20)
	clear(mft[32*1024 : 33*1024])
	f := open(b)
	if f == nil {
		t.Fatal("not opened")
	}
	if got := readAll(f); !bytes.Equal(got["low.lnk"], body) {
		t.Fatalf("files %v", keys(got))
	}
}
