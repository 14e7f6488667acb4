// Package carriers builds harmless samples of the file types malware
// arrives in today (shortcuts, disk images, OneNote, CHM, HTA, scripts,
// packages), for the tests and the lab: each has the structure its
// readers look at, and no payload that does anything.
package carriers

import (
	"bytes"
	"encoding/binary"
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
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
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
	for i, c := range utf16.Encode([]rune("edgesensor tests")) {
		binary.LittleEndian.PutUint16(b[8+2*i:], c)
	}
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
