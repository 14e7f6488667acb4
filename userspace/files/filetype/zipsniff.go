package filetype

import (
	"bytes"
	"encoding/binary"
)

var zipLocal = []byte("PK\x03\x04")

const odfPrefix = "application/vnd.oasis.opendocument."

// sniffZip looks at the local file headers inside the head of a zip the
// library called plain "application/zip" and finds what it missed:
// OOXML whose first entry is not one the library expects (producers
// order parts freely: Google Docs writes [Content_Types].xml last, some
// writers start with [trash]/ or xl/_rels/), ODF variants the library
// does not list, JAR and APK markers past the first entry.
//
// It follows each entry by its compressed size, and by searching for the
// next header when the size is deferred to a data descriptor (bit 3) or
// is in a zip64 extra. The walk stops at the end of the head; a decision
// is made on what was seen. odf is the ODF media type when one was read.
func sniffZip(head []byte) (k kind, odf []byte) {
	var ctypes, marker, jar, apk, appx, firstIsPart bool
	part := kNone
	off := 0
	for i := 0; i < 256; i++ {
		if off+30 > len(head) {
			break
		}
		if !bytes.HasPrefix(head[off:], zipLocal) {
			j := bytes.Index(head[off:], zipLocal)
			if j < 0 {
				break
			}
			off += j
			continue
		}
		h := head[off:]
		flags := binary.LittleEndian.Uint16(h[6:])
		method := binary.LittleEndian.Uint16(h[8:])
		csize := int(binary.LittleEndian.Uint32(h[18:]))
		nlen := int(binary.LittleEndian.Uint16(h[26:]))
		xlen := int(binary.LittleEndian.Uint16(h[28:]))
		if 30+nlen > len(h) {
			break
		}
		name := h[30 : 30+nlen]
		data := off + 30 + nlen + xlen
		if i == 0 && string(name) == "mimetype" && method == 0 && data < len(head) {
			n := csize
			if flags&8 != 0 && n == 0 { // size in a data descriptor
				n = 128
			}
			v := head[data:min(len(head), data+n)]
			if bytes.HasPrefix(v, []byte(odfPrefix)) {
				return kODF, mediaType(v)
			}
		}
		p := zipPart(name)
		switch {
		case string(name) == "[Content_Types].xml":
			ctypes = true
		case hasPrefix(name, "_rels/"), hasPrefix(name, "docProps/"),
			hasPrefix(name, "customXml/"), hasPrefix(name, "[trash]/"):
			marker = true
		case string(name) == "META-INF/MANIFEST.MF", i == 0 && string(name) == "META-INF/":
			jar = true
		case string(name) == "AndroidManifest.xml", string(name) == "classes.dex":
			apk = true
		case string(name) == "AppxManifest.xml", string(name) == "AppxBlockMap.xml",
			string(name) == "AppxSignature.p7x", hasPrefix(name, "AppxMetadata/"):
			appx = true
		case p != kNone:
			if part == kNone {
				part = p
				firstIsPart = i == 0
			}
		}
		next := data + csize
		if flags&8 != 0 || csize == 0xffffffff || next < data {
			j := -1
			if data < len(head) {
				j = bytes.Index(head[data:], zipLocal)
			}
			if j < 0 {
				break
			}
			next = data + j
		}
		if next <= off {
			break
		}
		off = next
	}
	switch {
	case apk:
		return kAPK, nil
	case appx:
		return kAPPX, nil
	case jar && !ctypes:
		return kJAR, nil
	case part != kNone && (ctypes || marker || firstIsPart):
		return part, nil
	case ctypes:
		return kOOXML, nil
	}
	return kZip, nil
}

// zipPart maps an OOXML main-part folder to its kind.
func zipPart(name []byte) kind {
	switch {
	case hasPrefix(name, "word/"):
		return kDOCX
	case hasPrefix(name, "xl/"):
		return kXLSX
	case hasPrefix(name, "ppt/"):
		return kPPTX
	case hasPrefix(name, "visio/"):
		return kOOXML
	}
	return kNone
}

func hasPrefix(b []byte, s string) bool { return len(b) >= len(s) && string(b[:len(s)]) == s }

// mediaType cuts an ODF "mimetype" entry to its token characters, so
// what goes into an event is a plain media type.
func mediaType(v []byte) []byte {
	n := 0
	for n < len(v) && n < 100 {
		c := v[n]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c == '/' || c == '_') {
			break
		}
		n++
	}
	return v[:n]
}
