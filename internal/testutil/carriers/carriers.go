// Package carriers builds harmless samples of the file types malware
// arrives in today (shortcuts, disk images, OneNote, CHM, HTA, scripts,
// packages), for the tests and the lab: each has the structure its
// readers look at, and no payload that does anything.
package carriers

import (
	"encoding/binary"
	"encoding/hex"
	"sort"
	"strings"
	"unicode/utf16"
)

func sortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
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
