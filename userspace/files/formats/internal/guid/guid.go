// Package guid converts GUIDs between their text and the bytes Windows
// stores (the first three fields little-endian), as VHDX and GPT keep
// them.
package guid

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// Bytes is the stored form of the GUID s ("8B7CA206-4790-4B9A-B8FE-575F050F886E").
// It panics on a malformed s: it is for the formats' constants.
func Bytes(s string) []byte {
	h, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(h) != 16 || len(s) != 36 {
		panic(fmt.Sprintf("guid %q", s))
	}
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b, binary.BigEndian.Uint32(h))
	binary.LittleEndian.PutUint16(b[4:], binary.BigEndian.Uint16(h[4:]))
	binary.LittleEndian.PutUint16(b[6:], binary.BigEndian.Uint16(h[6:]))
	copy(b[8:], h[8:])
	return b
}

// String is the text of the stored GUID b (16 bytes), in capitals.
func String(b []byte) string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X", binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint16(b[4:]),
		binary.LittleEndian.Uint16(b[6:]), b[8:10], b[10:16])
}
