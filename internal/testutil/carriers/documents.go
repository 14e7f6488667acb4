// Document carriers: OneNote sections and compiled HTML help (CHM) files.

package carriers

import (
	"bytes"
	"encoding/binary"
	"maps"
	"sort"
	"strings"
	"unicode/utf16"
)

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
