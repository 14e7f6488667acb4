package alertpcap

import (
	"encoding/binary"
	"strings"
	"unicode/utf8"
)

// The pcapng blocks the keeper writes (draft-ietf-opsawg-pcapng): one
// Section Header Block, one Interface Description Block per ingress
// interface, one Enhanced Packet Block per packet. Everything is written
// little-endian; the byte-order magic tells readers so.
const (
	blockSHB = 0x0A0D0D0A
	blockIDB = 0x00000001
	blockEPB = 0x00000006

	byteOrderMagic = 0x1A2B3C4D

	optEnd      = 0
	optComment  = 1 // opt_comment, on any block
	optUserAppl = 4 // shb_userappl
	optIfName   = 2 // if_name
	optTsresol  = 9 // if_tsresol

	linkTypeEthernet = 1
	tsresolNanos     = 9 // if_tsresol: 10^-9 s

	// epbFixed is an EPB without its data and options: type, length,
	// interface, two time stamp words, captured and original length,
	// trailing length.
	epbFixed = 32
	// maxOption is the longest option value (a 16-bit length).
	maxOption = 0xFFFF
	// maxComment bounds the event id and reason the keeper writes.
	maxComment = 1024
	// maxHeaderBytes bounds what a file holds besides its EPBs: the SHB
	// with its comments, the IDBs, the first packet's comment.
	maxHeaderBytes = 16 << 10
)

// Application is what files name as their writer (shb_userappl) and
// what their first section comment starts with.
const Application = "edgesensor"

var le = binary.LittleEndian

// appendOption appends one option, padded to 32 bits.
func appendOption(b []byte, code uint16, val []byte) []byte {
	b = le.AppendUint16(b, code)
	b = le.AppendUint16(b, uint16(len(val)))
	b = append(b, val...)
	return pad4(b, len(val))
}

// appendStringOption appends a UTF-8 string option.
func appendStringOption(b []byte, code uint16, s string) []byte {
	b = le.AppendUint16(b, code)
	b = le.AppendUint16(b, uint16(len(s)))
	b = append(b, s...)
	return pad4(b, len(s))
}

// pad4 pads b with zeros after a field of n bytes to a 32-bit boundary.
func pad4(b []byte, n int) []byte {
	for ; n%4 != 0; n++ {
		b = append(b, 0)
	}
	return b
}

// beginBlock appends a block's type and a length to patch; it returns
// where the block starts.
func beginBlock(b []byte, typ uint32) ([]byte, int) {
	start := len(b)
	b = le.AppendUint32(b, typ)
	b = le.AppendUint32(b, 0)
	return b, start
}

// endBlock appends the trailing length and patches the leading one.
func endBlock(b []byte, start int) []byte {
	n := uint32(len(b) - start + 4)
	le.PutUint32(b[start+4:], n)
	return le.AppendUint32(b, n)
}

// appendSHB appends a Section Header Block of unknown section length
// with one comment option per comment.
func appendSHB(b []byte, comments ...string) []byte {
	b, start := beginBlock(b, blockSHB)
	b = le.AppendUint32(b, byteOrderMagic)
	b = le.AppendUint16(b, 1) // major version
	b = le.AppendUint16(b, 0) // minor version
	b = le.AppendUint64(b, ^uint64(0))
	for _, c := range comments {
		b = appendStringOption(b, optComment, c)
	}
	b = appendStringOption(b, optUserAppl, Application)
	b = appendOption(b, optEnd, nil)
	return endBlock(b, start)
}

// appendIDB appends an Ethernet Interface Description Block named name
// with nanosecond time stamps.
func appendIDB(b []byte, name string, snaplen int) []byte {
	b, start := beginBlock(b, blockIDB)
	b = le.AppendUint16(b, linkTypeEthernet)
	b = le.AppendUint16(b, 0) // reserved
	b = le.AppendUint32(b, uint32(snaplen))
	if name != "" {
		b = appendStringOption(b, optIfName, cleanOption(name, maxOption))
	}
	b = appendOption(b, optTsresol, []byte{tsresolNanos})
	b = appendOption(b, optEnd, nil)
	return endBlock(b, start)
}

// appendEPB appends an Enhanced Packet Block: the frame data captured on
// interface ifc at ts (Unix ns), origLen bytes long on the wire, with a
// comment unless it is "".
func appendEPB(b []byte, ifc uint32, ts int64, data []byte, origLen int, comment string) []byte {
	b, start := beginBlock(b, blockEPB)
	b = le.AppendUint32(b, ifc)
	b = le.AppendUint32(b, uint32(uint64(ts)>>32))
	b = le.AppendUint32(b, uint32(ts))
	b = le.AppendUint32(b, uint32(len(data)))
	b = le.AppendUint32(b, uint32(max(origLen, len(data))))
	b = append(b, data...)
	b = pad4(b, len(data))
	if comment != "" {
		b = appendStringOption(b, optComment, comment)
		b = appendOption(b, optEnd, nil)
	}
	return endBlock(b, start)
}

// cleanOption makes s valid UTF-8 of at most n bytes, cut on a rune
// boundary, as string options must be, with control characters (a NUL
// ends the string for Wireshark) made spaces; tabs and newlines stay.
func cleanOption(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexFunc(s, isControl) >= 0 {
		s = strings.Map(func(r rune) rune {
			if isControl(r) {
				return ' '
			}
			return r
		}, s)
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isControl(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' || r == 0x7f }
