package filetype

import (
	"bytes"
	"encoding/binary"
)

// The checks here are the rules that beat or sharpen the library: each
// reads only the head and never indexes past it.

// eicarString is the 68-byte EICAR test file.
const eicarString = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// isEICAR follows EICAR's definition: the file starts with the string
// and may go on with whitespace only (space, tab, CR, LF, Ctrl-Z) up to
// 128 bytes in all. The whole file must be in the head to say so.
func isEICAR(head []byte, total int64) bool {
	n := int64(len(head))
	if total >= 0 {
		n = total
	}
	if n < int64(len(eicarString)) || n > 128 || int64(len(head)) < n {
		return false
	}
	if !bytes.HasPrefix(head, []byte(eicarString)) {
		return false
	}
	for _, c := range head[len(eicarString):n] {
		switch c {
		case ' ', '\t', '\r', '\n', 0x1a:
		default:
			return false
		}
	}
	return true
}

// sniffMZ types an MZ file: PE when e_lfanew points at "PE\0\0" inside
// the head, DOS when the MZ header is self-consistent (the PE header may
// then lie beyond the head), kNone for two stray bytes "MZ" (the library
// calls anything starting with MZ a PE; a text starting "MZ" is not).
func sniffMZ(head []byte) kind {
	if len(head) < 2 || head[0] != 'M' || head[1] != 'Z' {
		return kNone
	}
	if len(head) >= 64 {
		lfanew := uint64(binary.LittleEndian.Uint32(head[60:]))
		if lfanew+4 <= uint64(len(head)) && string(head[lfanew:lfanew+4]) == "PE\x00\x00" {
			return kPE
		}
	}
	if len(head) < 28 {
		return kNone
	}
	lastPage := binary.LittleEndian.Uint16(head[2:]) // e_cblp
	pages := binary.LittleEndian.Uint16(head[4:])    // e_cp
	hdrParas := binary.LittleEndian.Uint16(head[8:]) // e_cparhdr
	if lastPage < 512 && pages >= 1 && uint32(hdrParas)*16 <= uint32(pages)*512 {
		return kDOS
	}
	return kNone
}

// elfMIME names an ELF file the way the library does, by e_type.
func elfMIME(head []byte) string {
	if len(head) < 18 {
		return "application/x-elf"
	}
	var t uint16
	switch head[5] {
	case 1:
		t = binary.LittleEndian.Uint16(head[16:])
	case 2:
		t = binary.BigEndian.Uint16(head[16:])
	}
	switch t {
	case 1:
		return "application/x-object"
	case 2:
		return "application/x-executable"
	case 3:
		return "application/x-sharedlib"
	case 4:
		return "application/x-coredump"
	}
	return "application/x-elf"
}

// COFF machine types accepted for objects.
const (
	machineI386  = 0x14c
	machineAMD64 = 0x8664
	machineARM64 = 0xaa64
)

// isCOFF recognises a COFF object file (.obj). Its "magic" is only the
// 2-byte machine type, so the whole file header and every section header
// in the head must be plausible for an object: no optional header, not an
// image, section names in the COFF style, VirtualAddress zero, raw data
// and symbol table after the section table and inside the file.
func isCOFF(head []byte, total int64) bool {
	const fileHdr, secHdr = 20, 40
	if len(head) < fileHdr+secHdr {
		return false
	}
	switch binary.LittleEndian.Uint16(head) {
	case machineI386, machineAMD64, machineARM64:
	default:
		return false
	}
	nsec := int64(binary.LittleEndian.Uint16(head[2:]))
	symPtr := int64(binary.LittleEndian.Uint32(head[8:]))
	nsym := int64(binary.LittleEndian.Uint32(head[12:]))
	optSize := binary.LittleEndian.Uint16(head[16:])
	chars := binary.LittleEndian.Uint16(head[18:])
	if nsec == 0 || nsec > 65279 || optSize != 0 || chars&0x2002 != 0 { // EXECUTABLE_IMAGE|DLL
		return false
	}
	tableEnd := fileHdr + secHdr*nsec
	if total >= 0 && tableEnd > total {
		return false
	}
	if nsym == 0 {
		if symPtr != 0 {
			return false
		}
	} else if symPtr < tableEnd || (total >= 0 && symPtr+18*nsym > total) {
		return false
	}
	for i := int64(0); i < nsec && fileHdr+secHdr*(i+1) <= int64(len(head)); i++ {
		s := head[fileHdr+secHdr*i:]
		if !coffSectionName(s[:8]) {
			return false
		}
		va := binary.LittleEndian.Uint32(s[12:])
		rawSize := int64(binary.LittleEndian.Uint32(s[16:]))
		rawPtr := int64(binary.LittleEndian.Uint32(s[20:]))
		sc := binary.LittleEndian.Uint32(s[36:])
		if va != 0 || sc == 0 || sc&0x417 != 0 || (sc>>20)&0xf == 0xf {
			return false // reserved bits, or alignment code 15 (undefined)
		}
		if rawSize > 0 && (rawPtr < tableEnd || (total >= 0 && rawPtr+rawSize > total)) {
			return false
		}
	}
	return true
}

// coffSectionName accepts ".text", ".debug$S", "/4" (a long name in the
// string table) and the like: printable ASCII, NUL padded.
func coffSectionName(b []byte) bool {
	c := b[0]
	if c != '.' && c != '/' && c != '_' && c != '$' && !(c|0x20 >= 'a' && c|0x20 <= 'z') {
		return false
	}
	end := false
	for _, c := range b[1:] {
		switch {
		case c == 0:
			end = true
		case end || c < 0x21 || c > 0x7e:
			return false
		}
	}
	return true
}

// isRTF: Word opens a file as RTF on "{\rt" alone, and malicious RTF
// uses that (the library wants "{\rtf").
func isRTF(head []byte) bool { return bytes.HasPrefix(head, []byte(`{\rt`)) }

// pdfHeader sharpens the library's PDF rule ("%PDF-" anywhere in the
// first 1024 bytes, as readers accept): away from offset 0 the marker
// must be followed by a version "d.d", so a web page that merely
// mentions %PDF- is not a PDF.
func pdfHeader(head []byte) bool {
	w := head[:min(len(head), 1024)]
	i := bytes.Index(w, []byte("%PDF-"))
	if i < 0 {
		return false
	}
	if i == 0 {
		return true
	}
	v := head[i+5:]
	return len(v) >= 3 && isDigit(v[0]) && v[1] == '.' && isDigit(v[2])
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// The library matches these on short prefixes; a few more header bytes
// keep random binaries out of the archive category.
func isGzip(h []byte) bool { return len(h) >= 10 && h[0] == 0x1f && h[1] == 0x8b && h[2] == 8 }

func isBzip2(h []byte) bool {
	return len(h) >= 10 && string(h[:3]) == "BZh" && h[3] >= '1' && h[3] <= '9' &&
		(string(h[4:10]) == "\x31\x41\x59\x26\x53\x59" || string(h[4:10]) == "\x17\x72\x45\x38\x50\x90")
}

// isZstd accepts a Zstandard frame only (not the skippable frames other
// formats borrow).
func isZstd(h []byte) bool { return len(h) >= 4 && binary.LittleEndian.Uint32(h) == 0xFD2FB528 }
