package fatfs

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fat32Small is a FAT32 volume of 100 clusters (fewer than the 65525
// the specification's count gives FAT32): mkfs.fat -F 32 makes such
// volumes and Windows and Linux mount them as FAT32, since their 16-bit
// FAT size is zero. Root (cluster 2) holds directory A (cluster 3),
// which holds EVIL.LNK (clusters 4 and 5). fats FATs; with active >= 0,
// mirroring is off and FAT active is the one in use, the others zeroed.
func fat32Small(fats, active int) []byte {
	lnk := lnkBody()
	const bps, reserved, fatSecs, clusters = 512, 32, 1, 100
	total := reserved + fats*fatSecs + clusters
	img := make([]byte, total*bps)
	b := img
	copy(b, []byte{0xEB, 0x58, 0x90})
	copy(b[3:], "mkfs.fat")
	binary.LittleEndian.PutUint16(b[11:], bps)
	b[13] = 1
	binary.LittleEndian.PutUint16(b[14:], reserved)
	b[16] = byte(fats)
	b[21] = 0xF8
	binary.LittleEndian.PutUint32(b[32:], uint32(total))
	binary.LittleEndian.PutUint32(b[36:], fatSecs)
	if active >= 0 {
		binary.LittleEndian.PutUint16(b[40:], 0x80|uint16(active))
	}
	binary.LittleEndian.PutUint32(b[44:], 2)
	b[66] = 0x29
	copy(b[71:], "LURE       ")
	b[510], b[511] = 0x55, 0xAA
	fat := make([]byte, bps)
	for c, v := range []uint32{0x0FFFFFF8, 0x0FFFFFFF, 0x0FFFFFFF, 0x0FFFFFFF, 5, 0x0FFFFFFF} {
		binary.LittleEndian.PutUint32(fat[4*c:], v)
	}
	for i := 0; i < fats; i++ {
		if active < 0 || i == active {
			copy(img[(reserved+i*fatSecs)*bps:], fat)
		}
	}
	data := (reserved + fats*fatSecs) * bps
	ent := func(at int, name string, attr byte, first, size uint32) {
		e := img[at : at+32]
		copy(e, name)
		e[11] = attr
		binary.LittleEndian.PutUint16(e[20:], uint16(first>>16))
		binary.LittleEndian.PutUint16(e[26:], uint16(first))
		binary.LittleEndian.PutUint32(e[28:], size)
	}
	ent(data, "A          ", 0x10, 3, 0)
	ent(data+bps, "EVIL    LNK", 0x20, 4, uint32(len(lnk)))
	copy(img[data+2*bps:], lnk)
	return img
}

func TestSmallFAT32(t *testing.T) {
	f := open(fat32Small(2, -1))
	if f == nil || f.Type != 32 {
		t.Fatalf("%+v", f)
	}
	got := contents(f)
	if !bytes.Equal(got["A/EVIL.LNK"], lnkBody()) || f.Label != "LURE" {
		t.Fatalf("files %v label %q", keys(got), f.Label)
	}
}

// With mirroring off, Windows reads the FAT BPB_ExtFlags names: a zeroed
// FAT 0 must not hide the files.
func TestFAT32ActiveFAT(t *testing.T) {
	f := open(fat32Small(2, 1))
	if f == nil {
		t.Fatal("not opened")
	}
	got := contents(f)
	if !bytes.Equal(got["A/EVIL.LNK"], lnkBody()) || f.Stats.CutChains != 0 {
		t.Fatalf("files %v %+v", keys(got), f.Stats)
	}
}

// lnkBody spans two clusters of 512 bytes.
func lnkBody() []byte { return append([]byte("L\x00\x00\x00\x01"), bytes.Repeat([]byte{'x'}, 700)...) }

// A file twenty directories deep (mmd, mcopy) is listed and read.
func TestDeepDirectory(t *testing.T) {
	for _, tool := range []string{"mkfs.vfat", "mcopy", "mmd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not installed")
		}
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "v.img")
	run(t, "mkfs.vfat", "-C", "-F", "16", img, "20480")
	p := "::"
	for i := 0; i < 20; i++ {
		p += "d/"
		run(t, "mmd", "-i", img, strings.TrimSuffix(p, "/"))
	}
	src := filepath.Join(dir, "src")
	os.WriteFile(src, lnkBody(), 0o644)
	run(t, "mcopy", "-i", img, src, p+"evil.lnk")
	b, _ := os.ReadFile(img)
	f := open(b)
	if f == nil {
		t.Fatal("not opened")
	}
	want := strings.Repeat("d/", 20) + "evil.lnk"
	if got := contents(f); !bytes.Equal(got[want], lnkBody()) || f.Truncated {
		t.Fatalf("files %v truncated %v %+v", keys(got), f.Truncated, f.Stats)
	}
}
