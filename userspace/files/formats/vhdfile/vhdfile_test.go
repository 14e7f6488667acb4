package vhdfile

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
)

func open(b []byte) *Disk { return Open(bytes.NewReader(b), int64(len(b))) }

// testDisk is a disk with a FAT volume and bytes at its far end (past
// the first blocks, so dynamic formats leave blocks unallocated).
func testDisk() []byte {
	fat := carriers.FAT(map[string][]byte{"a.lnk": carriers.LNK(`C:\a.exe`, "", "", false), "b.dll": []byte("MZ dll")})
	d := carriers.MBRDisk(append(fat, make([]byte, 5<<20)...), 0x01)
	copy(d[len(d)-512:], "the last sector")
	return d
}

func readAll(t *testing.T, d *Disk) []byte {
	t.Helper()
	b := make([]byte, d.Size)
	if n, err := d.ReadAt(b, 0); n != len(b) || err != nil {
		t.Fatalf("read %d of %d: %v", n, len(b), err)
	}
	return b
}

func TestBuilt(t *testing.T) {
	disk := testDisk()
	for _, c := range []struct {
		name string
		file []byte
		kind Kind
	}{
		{"fixed", carriers.VHD(disk, false), VHDFixed},
		{"dynamic", carriers.VHD(disk, true), VHDDynamic},
		{"vhdx", carriers.VHDXDisk(disk), VHDX},
	} {
		d := open(c.file)
		if d == nil || d.Kind != c.kind || d.Size != int64(len(disk)) || d.SectorSize != 512 {
			t.Fatalf("%s: %+v", c.name, d)
		}
		if !bytes.Equal(readAll(t, d), disk) {
			t.Errorf("%s: content differs", c.name)
		}
		// Unaligned reads across block boundaries.
		p := make([]byte, 3000)
		for _, off := range []int64{0, 511, 1<<20 - 100, 2<<20 - 1500, int64(len(disk)) - 3000} {
			if n, _ := d.ReadAt(p, off); n != len(p) || !bytes.Equal(p, disk[off:off+int64(n)]) {
				t.Errorf("%s: at %d", c.name, off)
			}
		}
		if n, err := d.ReadAt(p, d.Size-10); n != 10 || err != io.EOF {
			t.Errorf("%s: read past the end: %d %v", c.name, n, err)
		}
		if d.Stats != (Stats{}) {
			t.Errorf("%s: %+v", c.name, d.Stats)
		}
	}
}

// Windows takes the VHDX header with the valid checksum and the greater
// sequence number; with none valid the file does not mount.
func TestVHDXHeaderChoice(t *testing.T) {
	f := carriers.VHDXDisk(testDisk())
	f[128<<10+100] ^= 1 // header 2 (sequence 2) broken: header 1 is used
	d := open(f)
	if d == nil || d.Stats.BadChecksum != 1 {
		t.Fatalf("%+v", d)
	}
	f[64<<10+100] ^= 1
	if d := open(f); d != nil {
		t.Fatalf("both headers broken: %+v", d)
	}
	// A log to replay is said.
	f = carriers.VHDXDisk(testDisk())
	for _, off := range []int{64 << 10, 128 << 10} {
		h := f[off : off+4096]
		copy(h[48:], "pending-log-guid")
		binary.LittleEndian.PutUint32(h[4:], 0)
		binary.LittleEndian.PutUint32(h[4:], crc32c(h))
	}
	if d := open(f); d == nil || !d.LogPending {
		t.Fatalf("%+v", d)
	}
}

func crc32c(b []byte) uint32 {
	c := append([]byte{}, b...)
	binary.LittleEndian.PutUint32(c[4:], 0)
	return crc32.Checksum(c, castagnoli)
}

// A metadata table claiming more entries than its region holds.
func TestShortMetadata(t *testing.T) {
	f := compactVHDX()
	m := f[324<<10:]
	binary.LittleEndian.PutUint16(m[10:], 2047)
	clear(m[32 : 32+5*32]) // no item found: every entry is looked at
	for _, off := range []int{192 << 10, 256 << 10} {
		tb := f[off : off+64<<10]
		binary.LittleEndian.PutUint32(tb[48+24:], 1024) // metadata region of 1 KiB
		binary.LittleEndian.PutUint32(tb[4:], crc32c(tb))
	}
	if d := open(f); d != nil {
		t.Fatalf("%+v", d)
	}
}

// A BAT entry pointing past the file reads as zeros and is counted.
func TestBadBlock(t *testing.T) {
	disk := testDisk()
	f := carriers.VHD(disk, true)
	binary.BigEndian.PutUint32(f[1536:], 0x7FFFFFFF)
	d := open(f)
	if d == nil || d.Stats.BadBlocks != 1 {
		t.Fatalf("%+v", d)
	}
	if b := readAll(t, d); !bytes.Equal(b[:2<<20], make([]byte, 2<<20)) || !bytes.Equal(b[2<<20:], disk[2<<20:]) {
		t.Error("content")
	}
}

// Images made by qemu-img (Debian qemu-utils) from a raw disk read back
// as that disk; and qemu-img reads the builders' files as their disk.
func TestQemuImg(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed")
	}
	dir := t.TempDir()
	disk := testDisk()
	raw := filepath.Join(dir, "disk.raw")
	os.WriteFile(raw, disk, 0o644)
	for _, c := range []struct{ name, fmt, opt string }{
		{"dyn.vhd", "vpc", "subformat=dynamic,force_size=on"},
		{"fixed.vhd", "vpc", "subformat=fixed,force_size=on"},
		{"d.vhdx", "vhdx", "subformat=dynamic"},
		{"fixed.vhdx", "vhdx", "subformat=fixed"},
		{"small.vhdx", "vhdx", "block_size=1M,log_size=1M"},
	} {
		out := filepath.Join(dir, c.name)
		if b, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", c.fmt, "-o", c.opt, raw, out).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v %s", c.name, err, b)
		}
		b, _ := os.ReadFile(out)
		d := open(b)
		if d == nil {
			t.Fatalf("%s: not opened", c.name)
		}
		got := readAll(t, d)
		if !bytes.Equal(got[:len(disk)], disk) || len(bytes.Trim(got[len(disk):], "\x00")) != 0 {
			t.Errorf("%s (%v, %d bytes): content differs", c.name, d.Kind, d.Size)
		}
	}
	for _, c := range []struct {
		name, fmt string
		file      []byte
	}{{"b.vhd", "vpc", carriers.VHD(disk, true)}, {"bf.vhd", "vpc", carriers.VHD(disk, false)}, {"b.vhdx", "vhdx", carriers.VHDXDisk(disk)}} {
		in, out := filepath.Join(dir, c.name), filepath.Join(dir, c.name+".raw")
		os.WriteFile(in, c.file, 0o644)
		if b, err := exec.Command("qemu-img", "convert", "-f", c.fmt, "-O", "raw", in, out).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v %s", c.name, err, b)
		}
		if b, _ := os.ReadFile(out); !bytes.Equal(b, disk) {
			t.Errorf("qemu-img reads %s as %d other bytes", c.name, len(b))
		}
	}
}

// FuzzOpen: no panic; the disk reads within its size, the same twice.
// The seeds are small (the fuzzer slows down badly on megabytes): a
// fixed VHD of 4 KiB, a dynamic one with 4 KiB blocks, a VHDX with its
// tables packed after the region tables and no payload.
func FuzzOpen(f *testing.F) {
	f.Add(carriers.VHD([]byte("MBR sector"), false), int64(0))
	f.Add(smallDynamic([]byte("first block"), 8192), int64(4090))
	f.Add(compactVHDX(), int64(100))
	f.Add(carriers.VHDX()[:300<<10], int64(0))
	f.Add(compactLoggedVHDX(), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, off int64) {
		d := open(b)
		if d == nil {
			return
		}
		if d.Size < 0 || d.Size > MaxVirtualSize || len(d.bat) > MaxBATEntries {
			t.Fatalf("%+v", d)
		}
		p := make([]byte, 4096)
		n, _ := d.ReadAt(p, off)
		if n < 0 || int64(n) > max(0, d.Size-off) {
			t.Fatalf("%d bytes at %d of %d", n, off, d.Size)
		}
		q := make([]byte, 4096)
		if m, _ := d.ReadAt(q, off); m != n || !bytes.Equal(p[:n], q[:m]) {
			t.Fatal("not deterministic")
		}
	})
}

// The fuzz seeds open as what they are.
func TestSmallSeeds(t *testing.T) {
	d := open(smallDynamic([]byte("first block"), 8192))
	if d == nil || d.Kind != VHDDynamic || d.Size != 8192 {
		t.Fatalf("%+v", d)
	}
	if b := readAll(t, d); string(b[:11]) != "first block" || len(bytes.Trim(b[11:], "\x00")) != 0 {
		t.Errorf("%q", b[:16])
	}
	if d := open(compactVHDX()); d == nil || d.Kind != VHDX || d.Size != 1<<20 || len(bytes.Trim(readAll(t, d), "\x00")) != 0 {
		t.Errorf("%+v", d)
	}
}

// smallDynamic is a dynamic VHD of a disk of size bytes, 4 KiB blocks,
// the first holding data.
func smallDynamic(data []byte, size int) []byte {
	const bs = 4096
	full := carriers.VHD(make([]byte, size), false)
	footer := append([]byte{}, full[len(full)-512:]...)
	binary.BigEndian.PutUint64(footer[16:], 512)
	binary.BigEndian.PutUint32(footer[60:], 3)
	vhdSum(footer, 64)
	h := make([]byte, 1024)
	copy(h, "cxsparse")
	binary.BigEndian.PutUint64(h[8:], ^uint64(0))
	binary.BigEndian.PutUint64(h[16:], 1536)
	binary.BigEndian.PutUint32(h[28:], uint32(size/bs))
	binary.BigEndian.PutUint32(h[32:], bs)
	vhdSum(h, 36)
	bat := bytes.Repeat([]byte{0xFF}, 512)
	binary.BigEndian.PutUint32(bat, 4) // block 0 at sector 4: bitmap, then data
	blk := make([]byte, 512+bs)
	copy(blk[512:], data)
	return bytes.Join([][]byte{footer, h, bat, blk, footer}, nil)
}

func vhdSum(b []byte, at int) {
	binary.BigEndian.PutUint32(b[at:], 0)
	var s uint32
	for _, c := range b {
		s += uint32(c)
	}
	binary.BigEndian.PutUint32(b[at:], ^s)
}

// compactVHDX is a VHDX of a 1 MiB disk of zeros whose BAT and
// metadata are moved to 320 KiB, right after the region tables.
func compactVHDX() []byte {
	full := carriers.VHDXDisk(make([]byte, 1<<20))
	out := make([]byte, 420<<10)
	copy(out, full[:320<<10])
	copy(out[320<<10:], full[2<<20:2<<20+4096])   // BAT
	copy(out[324<<10:], full[3<<20:3<<20+96<<10]) // metadata, its items at 64 KiB
	for _, off := range []int{192 << 10, 256 << 10} {
		t := out[off : off+64<<10]
		binary.LittleEndian.PutUint64(t[16+16:], 320<<10)
		binary.LittleEndian.PutUint32(t[16+24:], 4096)
		binary.LittleEndian.PutUint64(t[48+16:], 324<<10)
		binary.LittleEndian.PutUint32(t[48+24:], 96<<10)
		binary.LittleEndian.PutUint32(t[4:], crc32c(t))
	}
	return out
}
