// Whole disks: an MBR-partitioned disk, and the VHD and VHDX files that
// hold one.

package carriers

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
)

// VHDX is the start of a VHDX disk image: the file type identifier
// ("vhdxfile" and its creator) in its 64 KiB region, and the two header
// signatures after it, the rest empty.
func VHDX() []byte {
	b := make([]byte, 1<<20)
	copy(b, "vhdxfile")
	copy(b[8:], utf16le("edgesensor tests")) // the creator
	copy(b[64<<10:], "head")
	copy(b[128<<10:], "head")
	copy(b[192<<10:], "regi")
	copy(b[256<<10:], "regi")
	return b
}

// MBRDisk is a disk of whole MiBs with an MBR holding one partition of
// type typ (0x01 FAT12, 0x06 FAT16, 0x07 NTFS, 0x0C FAT32) at sector
// 128, the volume in it.
func MBRDisk(volume []byte, typ byte) []byte {
	const start = 128
	size := (start*512 + len(volume) + 1<<20 - 1) &^ (1<<20 - 1)
	d := make([]byte, size)
	e := d[446:]
	e[0] = 0
	e[4] = typ
	binary.LittleEndian.PutUint32(e[8:], start)
	binary.LittleEndian.PutUint32(e[12:], uint32((len(volume)+511)/512))
	d[510], d[511] = 0x55, 0xAA
	copy(d[start*512:], volume)
	return d
}

// VHD is a VHD file of the disk: fixed (the sectors, then the footer)
// or dynamic (footer copy, dynamic header, BAT, the 2 MiB blocks that
// hold data, footer). qemu-img reads both.
func VHD(disk []byte, dynamic bool) []byte {
	size := (len(disk) + 511) &^ 511
	footer := make([]byte, 512)
	copy(footer, "conectix")
	binary.BigEndian.PutUint32(footer[8:], 2)
	binary.BigEndian.PutUint32(footer[12:], 0x00010000)
	binary.BigEndian.PutUint64(footer[16:], ^uint64(0))
	copy(footer[28:], "win ") // Hyper-V: the size is the footer's, not its CHS geometry
	binary.BigEndian.PutUint32(footer[32:], 0x00010000)
	copy(footer[36:], "Wi2k")
	binary.BigEndian.PutUint64(footer[40:], uint64(size))
	binary.BigEndian.PutUint64(footer[48:], uint64(size))
	// CHS as the specification's algorithm gives for small disks.
	secs := size / 512
	spt, heads := 17, (secs/17+1023)/1024
	heads = max(heads, 4)
	cyl := secs / spt / heads
	binary.BigEndian.PutUint16(footer[56:], uint16(cyl))
	footer[58], footer[59] = byte(heads), byte(spt)
	binary.BigEndian.PutUint32(footer[60:], 2)
	copy(footer[68:], "edgesensor-test!")
	vhdChecksum := func(b []byte, at int) {
		binary.BigEndian.PutUint32(b[at:], 0)
		var s uint32
		for _, c := range b {
			s += uint32(c)
		}
		binary.BigEndian.PutUint32(b[at:], ^s)
	}
	if !dynamic {
		vhdChecksum(footer, 64)
		return append(append(make([]byte, 0, size+512), padTo(disk, size)...), footer...)
	}
	const block = 2 << 20
	binary.BigEndian.PutUint64(footer[16:], 512)
	binary.BigEndian.PutUint32(footer[60:], 3)
	vhdChecksum(footer, 64)
	blocks := (size + block - 1) / block
	batBytes := (blocks*4 + 511) &^ 511
	hdr := make([]byte, 1024)
	copy(hdr, "cxsparse")
	binary.BigEndian.PutUint64(hdr[8:], ^uint64(0))
	binary.BigEndian.PutUint64(hdr[16:], 1536)
	binary.BigEndian.PutUint32(hdr[24:], 0x00010000)
	binary.BigEndian.PutUint32(hdr[28:], uint32(blocks))
	binary.BigEndian.PutUint32(hdr[32:], block)
	vhdChecksum(hdr, 36)
	out := append(append(append([]byte{}, footer...), hdr...), bytes.Repeat([]byte{0xFF}, batBytes)...)
	disk = padTo(disk, blocks*block)
	for i := 0; i < blocks; i++ {
		data := disk[i*block : (i+1)*block]
		if bytes.Count(data, []byte{0}) == len(data) {
			continue // never written: not allocated
		}
		binary.BigEndian.PutUint32(out[1536+4*i:], uint32(len(out)/512))
		out = append(out, bytes.Repeat([]byte{0xFF}, 512)...) // sector bitmap: all present
		out = append(out, data...)
	}
	return append(out, footer...)
}

func padTo(b []byte, n int) []byte {
	if len(b) >= n {
		return b[:n]
	}
	return append(append(make([]byte, 0, n), b...), make([]byte, n-len(b))...)
}

// VHDXDisk is a VHDX file of the disk (1 MiB blocks, 512-byte sectors,
// no log), its headers and region tables CRC-32C checked as Windows
// does; blocks of zeros are not allocated. qemu-img reads it.
func VHDXDisk(disk []byte) []byte {
	const mb = 1 << 20
	const block = mb
	size := (len(disk) + block - 1) &^ (block - 1)
	disk = padTo(disk, size)
	blocks := size / block
	out := make([]byte, 4*mb) // identifier, headers, regions; log; BAT; metadata
	copy(out, "vhdxfile")
	copy(out[8:], utf16le("edgesensor tests")) // the creator
	crc := func(b []byte) {
		binary.LittleEndian.PutUint32(b[4:], 0)
		binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	}
	for i, off := range []int{64 << 10, 128 << 10} {
		h := out[off : off+4096]
		copy(h, "head")
		binary.LittleEndian.PutUint64(h[8:], uint64(i+1))
		copy(h[16:], "edgesensor-file!")
		copy(h[32:], "edgesensor-data!")
		binary.LittleEndian.PutUint16(h[66:], 1)  // version
		binary.LittleEndian.PutUint32(h[68:], mb) // log length
		binary.LittleEndian.PutUint64(h[72:], mb) // log offset
		crc(h)
	}
	const batOff, metaOff = 2 * mb, 3 * mb
	for _, off := range []int{192 << 10, 256 << 10} {
		t := out[off : off+64<<10]
		copy(t, "regi")
		binary.LittleEndian.PutUint32(t[8:], 2)
		for j, r := range []struct {
			g   string
			off int
		}{{"2DC27766-F623-4200-9D64-115E9BFD4A08", batOff}, {"8B7CA206-4790-4B9A-B8FE-575F050F886E", metaOff}} {
			e := t[16+32*j:]
			copy(e, winGUID(r.g))
			binary.LittleEndian.PutUint64(e[16:], uint64(r.off))
			binary.LittleEndian.PutUint32(e[24:], mb)
			binary.LittleEndian.PutUint32(e[28:], 1) // required
		}
		crc(t)
	}
	m := out[metaOff:]
	copy(m, "metadata")
	items := []struct {
		g     string
		val   []byte
		flags uint32
	}{
		{"CAA16737-FA36-4D43-B3B6-33F0AA44E76B", le32(block, 0), 4},
		{"2FA54224-CD1B-4876-B211-5DBED83BF4B8", le64(uint64(size)), 6},
		{"8141BF1D-A96F-4709-BA47-F233A8FAAB5F", le32(512), 6},
		{"CDA348C7-445D-4471-9CC9-E9885251C556", le32(512), 6},
		{"BECA12AB-B2E6-4523-93EF-C309E000C746", []byte("edgesensor-disk!"), 6},
	}
	binary.LittleEndian.PutUint16(m[10:], uint16(len(items)))
	at := 64 << 10
	for j, it := range items {
		e := m[32+32*j:]
		copy(e, winGUID(it.g))
		binary.LittleEndian.PutUint32(e[16:], uint32(at))
		binary.LittleEndian.PutUint32(e[20:], uint32(len(it.val)))
		binary.LittleEndian.PutUint32(e[24:], it.flags)
		copy(m[at:], it.val)
		at += 4096
	}
	// One bitmap entry follows every 2^23*512/block payload entries:
	// more than a small disk has, so the BAT is payload entries only.
	for i := 0; i < blocks; i++ {
		data := disk[i*block : (i+1)*block]
		if bytes.Count(data, []byte{0}) == len(data) {
			continue // BAT entry 0: not present, reads as zeros
		}
		binary.LittleEndian.PutUint64(out[batOff+8*i:], uint64(len(out))|6) // fully present
		out = append(out, data...)
	}
	return out
}

func le32(v ...uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	return b
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
