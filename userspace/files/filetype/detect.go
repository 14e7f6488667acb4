package filetype

import (
	"bytes"
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// HeadSize is how many leading bytes Detect looks at. 4096 is the
// library's own read limit (mimetype v1.4.16 truncates to it), and it is
// enough for OOXML as Office, LibreOffice and Google Docs write it: the
// zip walk (sniffZip) needs the first local headers to show either
// [Content_Types].xml / _rels/ / docProps/ or a word/ xl/ ppt/ part, and
// those entries are small and come first. An OOXML file whose first 4 KiB
// hold none of these (a big media entry first) is typed archive/zip: it
// is still a candidate. A larger head would buy nothing from the library
// and cost memory per file in flight.
const HeadSize = 4096

// Type is what Detect says about a file.
type Type struct {
	// MIME is the media type from the content (no parameters), e.g.
	// "application/vnd.microsoft.portable-executable"; the library's
	// answer, or ours where a rule here decided. Empty for an empty file.
	MIME string
	// Category is Executable, Document, Archive, or None for a file that
	// is not a candidate.
	Category Category
	// Kind is the short format name (the Kind* constants), "" for None.
	Kind string
	// Mismatch: the name's extension or the claimed Content-Type names a
	// different format family than the content (a PE named .jpg, an ELF
	// served as text/plain). Extensions and types that name nothing in
	// particular (.bin, .dat, application/octet-stream) never mismatch,
	// nor does content of no known family.
	Mismatch bool
	// Reason is one short phrase saying why the file was selected, ""
	// for None.
	Reason string
}

// Candidate reports whether the pipeline should keep the file.
func (t Type) Candidate() bool { return t.Category != None }

// Detect types a file from its head (the first HeadSize bytes, or the
// whole file when shorter; more is ignored), the name the sender gave,
// the claimed Content-Type, and the total size (-1 when unknown).
//
// Content decides; the name only makes an executable of content that is
// not clearly another type, and name and claim otherwise only set
// Mismatch. Detect never panics and reads nothing past head.
func Detect(head []byte, name, claimed string, total int64) Type {
	if len(head) == 0 {
		return Type{}
	}
	deep := head[:min(len(head), DeepHeadSize)]
	if len(head) > HeadSize {
		head = head[:HeadSize]
	}
	ext, hasExt := extOf(name)
	var k kind
	var mime, reason string
	var fams fam
	clear := true
	if k = sniffImage(deep); k == kNone {
		k = sniffCarrier(head)
	}
	ours := k != kNone // the decision is a rule's here, and so is the MIME
	if k == kNone {
		k, mime, fams, clear = sniff(head, total)
		if k == kNone && clear && fams&famText != 0 {
			k, reason = sniffScript(head, ext, hasExt, claimed)
			ours = k != kNone
		}
		if (k == kZip || k == kOOXML) && hasExt && appxExt[ext] {
			k, reason, ours = kAPPX, "content: zip; name: ."+extString(ext), true
		}
	}
	info := &kinds[k]
	if k != kNone {
		fams = info.fam
	}
	if ours {
		mime = info.mime
	}
	if reason == "" {
		reason = info.reason
	}
	t := Type{MIME: mime, Category: info.cat, Kind: info.name, Reason: reason}
	if k == kNone && !clear && hasExt {
		if r, ok := namedReasons[ext]; ok {
			t.Category, t.Kind, t.Reason = Executable, KindNamed, r
		} else if namedImages[ext] {
			t.Category, t.Kind, t.Reason = DiskImage, KindNamedImage, "name: ."+extString(ext)+", content not clearly another type"
		}
	}
	t.Mismatch = mismatch(fams, ext, hasExt, claimed)
	return t
}

// extString is the extension a key holds.
func extString(k extKey) string {
	n := bytes.IndexByte(k[:], 0)
	if n < 0 {
		n = len(k)
	}
	return string(k[:n])
}

// sniff types the content. For a non-candidate it also returns the
// families its MIME belongs to and whether it is "clearly" that type.
//
// "Clearly another type" (which keeps the name rule off) means: the
// library found a specific type, other than its root
// application/octet-stream, other than text/plain and its children unless
// IsText agrees, and other than the weak signatures that random binaries
// hit (zlib's 2-byte header, an MPEG or AAC frame sync found by a linear
// search): so a tiny DOS program named x.com is an executable, a UTF-8
// text named setup.bin is not.
func sniff(head []byte, total int64) (k kind, mime string, fams fam, clear bool) {
	switch {
	case isEICAR(head, total):
		return kEICAR, kinds[kEICAR].mime, 0, true
	case len(head) >= 4 && string(head[:4]) == "\x7fELF":
		return kELF, elfMIME(head), 0, true
	case isRTF(head):
		return kRTF, kinds[kRTF].mime, 0, true
	}
	mz := sniffMZ(head)
	if mz != kNone {
		return mz, mimePE, 0, true
	}

	if textShortcut && plainText(head) {
		return kNone, "text/plain", famText, true
	}
	m := mimetype.Detect(head)
	mime = m.String()
	if i := strings.IndexByte(mime, ';'); i >= 0 {
		mime = strings.TrimSpace(mime[:i])
	}
	switch mime {
	case "application/octet-stream":
		if isCOFF(head, total) {
			return kCOFF, kinds[kCOFF].mime, 0, true
		}
		return kNone, mime, 0, false
	case mimePE: // "MZ" that sniffMZ rejected: not a PE after all
		if IsText(head) {
			return kNone, "text/plain", famText, true
		}
		return kNone, mimeOctet, 0, false
	case "application/x-mach-binary":
		return kMachO, mime, 0, true
	case "application/x-ms-installer":
		return kMSI, mime, 0, true
	case "application/java-archive":
		return kJAR, mime, 0, true
	case "application/vnd.android.package-archive":
		return kAPK, mime, 0, true
	case "application/pdf":
		if pdfHeader(head) {
			return kPDF, mime, 0, true
		}
		if IsText(head) {
			return kNone, "text/plain", famText, true
		}
		return kNone, mimeOctet, 0, false
	case "application/x-ole-storage", "application/msword", "application/vnd.ms-excel",
		"application/vnd.ms-powerpoint", "application/vnd.ms-publisher", "application/vnd.ms-outlook":
		return kOLE2, mime, 0, true
	case mimeDOCX:
		return kDOCX, mime, 0, true
	case mimeXLSX:
		return kXLSX, mime, 0, true
	case mimePPTX:
		return kPPTX, mime, 0, true
	case "application/vnd.ms-visio.drawing.main+xml":
		return kOOXML, mime, 0, true
	case "application/vnd.sun.xml.calc":
		return kODF, mime, 0, true
	case "application/zip":
		zk, odf := sniffZip(head)
		switch {
		case zk == kODF && len(odf) > 0:
			return kODF, string(odf), 0, true
		case zk != kZip:
			return zk, kinds[zk].mime, 0, true
		}
		return kZip, mime, 0, true
	case "application/epub+zip", "application/vnd.google-earth.kmz":
		return kZip, mime, 0, true
	case "application/vnd.rar":
		return kRAR, mime, 0, true
	case "application/x-7z-compressed":
		return k7z, mime, 0, true
	case "application/x-tar":
		return kTar, mime, 0, true
	case "application/vnd.ms-cab-compressed":
		return kCab, mime, 0, true
	case "application/x-xz":
		return kXz, mime, 0, true
	case "application/gzip":
		if isGzip(head) {
			return kGzip, mime, 0, true
		}
		return kNone, mime, 0, false
	case "application/x-bzip2":
		if isBzip2(head) {
			return kBzip2, mime, 0, true
		}
		return kNone, mime, 0, false
	case "application/zstd":
		if isZstd(head) {
			return kZstd, mime, 0, true
		}
		return kNone, mime, 0, false
	case "application/zlib", "audio/mpeg", "audio/aac":
		return kNone, mime, mimeFam(mime, false), false
	}
	if strings.HasPrefix(mime, odfPrefix) {
		return kODF, mime, 0, true
	}
	// Text is text to sniffScript whatever else the library calls it
	// (XPM, PostScript, SVG, M3U, a GIF header are all valid JScript
	// openings): famText as the shortcut gives it, or a script so
	// begun and so named would pass untyped.
	text := IsText(head)
	fams = mimeFam(mime, text)
	if text {
		fams |= famText
	}
	if isTextFamily(m) {
		return kNone, mime, fams, text
	}
	return kNone, mime, fams, true
}

// isTextFamily: the library's text/plain or one of its children (HTML,
// JSON, CSV, scripts...).
func isTextFamily(m *mimetype.MIME) bool {
	for p := m; p != nil; p = p.Parent() {
		if strings.HasPrefix(p.String(), "text/plain") {
			return true
		}
	}
	return false
}
