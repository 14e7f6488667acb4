package filetype

import (
	"io"
	"os"
)

// Meta is what the file itself says about its vendor or creator. One
// field is set, by the file's kind; all are nil when nothing was found
// or the format is not one we read.
type Meta struct {
	PE     *PEMeta
	ELF    *ELFMeta
	PDF    *PDFMeta
	Office *OfficeMeta
}

// Bounds on the work Metadata does on one untrusted file. Each parser
// reads through a ReaderAt and never holds more than these.
const (
	maxPEHeaders  = 64 << 10  // NT headers + section table
	maxPESections = 1024      // the loader's own limit is 96 (XP) to 65535
	maxVersionRes = 64 << 10  // VS_VERSIONINFO: wLength is 16 bits anyway
	maxResEntries = 4096      // entries looked at in one resource directory
	maxImportDLLs = 1024      // import descriptors
	maxImports    = 16384     // imported functions in all
	maxPDFWindow  = 1 << 20   // PDF: the first and the last MiB are read
	maxPDFObjStm  = 4 << 20   // PDF: one object stream, decompressed
	maxPDFObjStms = 16        // PDF: object streams opened in all
	maxZipDir     = 1 << 20   // OOXML/ODF: central directory size
	maxZipEntries = 20000     // OOXML/ODF: central directory entries
	maxXMLPart    = 256 << 10 // OOXML/ODF: bytes of a metadata part read (decompressed)
	maxValue      = 512       // bytes kept of any one string value
)

// Metadata reads the metadata of a candidate file (r, of size bytes)
// according to its type t: version resources, architecture and imphash
// of a PE; architecture and type of an ELF; Info dictionary (or XMP) of
// a PDF; core and app properties of OOXML, meta.xml of ODF, the summary
// information of OLE2 documents. t.Kind picks the parser; with a zero
// Type the head is detected first.
//
// The file is never trusted: reads are bounded (see the max* constants),
// malformed structures end the parse with what was found so far, and
// Metadata does not panic. Read errors are treated as the end of the file.
func Metadata(r io.ReaderAt, size int64, t Type) Meta {
	if r == nil || size <= 0 {
		return Meta{}
	}
	if t.Kind == "" {
		h := make([]byte, min(size, HeadSize))
		n, _ := r.ReadAt(h, 0)
		t = Detect(h[:n], "", "", size)
	}
	var m Meta
	switch t.Kind {
	case KindPE, KindDOS: // DOS: the PE header may lie past the head
		m.PE = peMetadata(r, size)
	case KindELF:
		m.ELF = elfMetadata(r, size)
	case KindPDF:
		m.PDF = pdfMetadata(r, size)
	case KindDOCX, KindXLSX, KindPPTX, KindOOXML, KindODF:
		m.Office = zipOfficeMetadata(r, size)
	case KindOLE2:
		m.Office = oleMetadata(r, size)
	}
	return m
}

// MetadataFile is Metadata on a file on disk (the spooled candidate).
func MetadataFile(path string, t Type) (Meta, error) {
	f, err := os.Open(path)
	if err != nil {
		return Meta{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Meta{}, err
	}
	return Metadata(f, st.Size(), t), nil
}

// readAt reads n bytes at off, fewer at the end of the file; nil when
// the range is outside the file. n is capped by the caller.
func readAt(r io.ReaderAt, size, off int64, n int) []byte {
	if off < 0 || off >= size || n <= 0 {
		return nil
	}
	if rem := size - off; int64(n) > rem {
		n = int(rem)
	}
	b := make([]byte, n)
	got, err := r.ReadAt(b, off)
	if err != nil && got < n {
		b = b[:got]
	}
	return b
}
