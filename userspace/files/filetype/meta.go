package filetype

import (
	"io"
	"os"

	"github.com/edgesensor/edgesensor/userspace/files/formats"
)

// Meta is what the file itself says about its vendor or creator. One
// field is set, by the file's kind; all are nil when nothing was found
// or the format is not one we read.
type Meta struct {
	PE     *PEMeta
	ELF    *ELFMeta
	PDF    *PDFMeta
	Office *OfficeMeta
	LNK    *LNKMeta
}

// LNKMeta is what a Windows shortcut runs.
type LNKMeta struct {
	Target, Arguments, IconLocation, WorkingDir string
	ArgsLength                                  int
}

// Format is the reader of package formats that parses a file of this
// type, for its metadata and for the static analyzers: PE for PE and DOS
// programs (the PE header may lie past the head), ELF, PDF, OLE2, the
// zip container for zips, JARs and APKs, and with the document
// properties for OOXML and ODF. Every other kind is None.
func (t Type) Format() formats.Format {
	switch t.Kind {
	case KindPE, KindDOS:
		return formats.PE
	case KindELF:
		return formats.ELF
	case KindPDF:
		return formats.PDF
	case KindOLE2:
		return formats.OLE2
	case KindDOCX, KindXLSX, KindPPTX, KindOOXML, KindODF:
		return formats.OfficeZip
	case KindZip, KindJAR, KindAPK, KindAPPX:
		return formats.Zip
	case KindLNK:
		return formats.LNK
	case KindISO:
		return formats.ISO
	}
	return formats.None
}

// MetadataOf reads the metadata of a parsed file: version resources,
// architecture and imphash of a PE; architecture and type of an ELF;
// Info dictionary (or XMP) of a PDF; core and app properties of OOXML,
// meta.xml of ODF, the summary information of OLE2 documents. The
// models are bounded and cleaned by their readers (package formats).
func MetadataOf(d *formats.Doc) Meta {
	var m Meta
	if d == nil {
		return m
	}
	m.PE = metaPE(d.PE)
	m.ELF = metaELF(d.ELF)
	m.PDF = metaPDF(d.PDF)
	if l := d.LNK; l != nil {
		m.LNK = &LNKMeta{Target: l.Target, Arguments: l.Arguments, IconLocation: l.IconLocation,
			WorkingDir: l.WorkingDir, ArgsLength: l.ArgsLen}
	}
	switch {
	case d.Zip != nil && d.Format == formats.OfficeZip:
		m.Office = metaZipOffice(d.Zip)
	case d.OLE2 != nil:
		m.Office = metaOLE(d.OLE2)
	}
	return m
}

// Metadata parses a candidate file (r, of size bytes) according to its
// type t and reads its metadata (see MetadataOf). With a zero Type the
// head is detected first. The file is never trusted: reads are bounded,
// malformed structures end the parse with what was found, read errors
// are the end of the file, and Metadata does not panic. The file
// pipeline parses once with formats.Parse and calls MetadataOf.
func Metadata(r io.ReaderAt, size int64, t Type) Meta {
	if r == nil || size <= 0 {
		return Meta{}
	}
	if t.Kind == "" {
		h := make([]byte, min(size, HeadSize))
		n, _ := r.ReadAt(h, 0)
		t = Detect(h[:n], "", "", size)
	}
	return MetadataOf(formats.Parse(r, size, t.Format(), 0))
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
