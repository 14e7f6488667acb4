package filetype

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// OfficeMeta is the document properties of an Office file: OOXML
// (docProps/core.xml, docProps/app.xml), ODF (meta.xml) or OLE2 (the
// SummaryInformation and DocumentSummaryInformation streams). ECS has no
// fields for these: the event writer needs custom ones.
type OfficeMeta struct {
	Creator        string // OOXML dc:creator; ODF meta:initial-creator; OLE2 Author
	LastModifiedBy string // OOXML cp:lastModifiedBy; ODF dc:creator; OLE2 LastAuthor
	Title          string // dc:title; OLE2 Title
	Application    string // OOXML app.xml Application; ODF meta:generator; OLE2 AppName
	Company        string // OOXML app.xml Company; OLE2 DocumentSummaryInformation Company
	Created        string // dcterms:created / meta:creation-date as written (OOXML, ODF)
	Modified       string // dcterms:modified / dc:date as written (OOXML, ODF)
	// Macros: the file carries a VBA project (OOXML vbaProject.bin, OLE2
	// Macros or _VBA_PROJECT_CUR storage) or ODF Basic/Scripts.
	Macros bool
}

const (
	nsCP      = "http://schemas.openxmlformats.org/package/2006/metadata/core-properties"
	nsDCTerms = "http://purl.org/dc/terms/"
	nsExtApp  = "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"
	nsODFMeta = "urn:oasis:names:tc:opendocument:xmlns:meta:1.0"
)

// zipOfficeMetadata opens the zip through its central directory, after
// checking that directory's declared size and entry count against our
// bounds (archive/zip would allocate for every entry it declares).
func zipOfficeMetadata(r io.ReaderAt, size int64) *OfficeMeta {
	if !zipDirBounded(r, size) {
		return nil
	}
	z, err := zip.NewReader(io.NewSectionReader(r, 0, size), size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil
	}
	m := &OfficeMeta{}
	var core, app, meta *zip.File
	for _, f := range z.File {
		name := strings.ToLower(f.Name)
		switch {
		case name == "docprops/core.xml":
			core = f
		case name == "docprops/app.xml":
			app = f
		case name == "meta.xml":
			meta = f
		case strings.HasSuffix(name, "vbaproject.bin"),
			strings.HasPrefix(name, "basic/") && !strings.HasSuffix(name, "/"),
			strings.HasPrefix(name, "scripts/") && !strings.HasSuffix(name, "/"):
			m.Macros = true
		}
	}
	if core != nil {
		v := zipXML(core, nsDC+" creator", nsCP+" lastModifiedBy", nsDC+" title", nsDCTerms+" created", nsDCTerms+" modified")
		m.Creator, m.LastModifiedBy, m.Title, m.Created, m.Modified = v[0], v[1], v[2], v[3], v[4]
	}
	if app != nil {
		v := zipXML(app, nsExtApp+" Application", nsExtApp+" Company")
		m.Application, m.Company = v[0], v[1]
	}
	if meta != nil {
		v := zipXML(meta, nsODFMeta+" initial-creator", nsDC+" creator", nsDC+" title",
			nsODFMeta+" generator", nsODFMeta+" creation-date", nsDC+" date")
		m.Creator = firstOf(m.Creator, v[0])
		m.LastModifiedBy = firstOf(m.LastModifiedBy, v[1])
		m.Title = firstOf(m.Title, v[2])
		m.Application = firstOf(m.Application, v[3])
		m.Created = firstOf(m.Created, v[4])
		m.Modified = firstOf(m.Modified, v[5])
	}
	return m
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// zipXML reads at most maxXMLPart decompressed bytes of an entry, however
// large it says it is, and returns the values of the named elements
// ("namespace local"), in order.
func zipXML(f *zip.File, names ...string) []string {
	out := make([]string, len(names))
	rc, err := f.Open()
	if err != nil {
		return out
	}
	defer rc.Close()
	want := map[xml.Name]bool{}
	keys := make([]xml.Name, len(names))
	for i, n := range names {
		sp, local, _ := strings.Cut(n, " ")
		keys[i] = xml.Name{Space: sp, Local: local}
		want[keys[i]] = true
	}
	vals := xmlValuesReader(io.LimitReader(rc, maxXMLPart), want)
	for i, k := range keys {
		out[i] = vals[k]
	}
	return out
}

// zipDirBounded finds the end of central directory record (zip64 too)
// and checks the directory's size and entry count.
func zipDirBounded(r io.ReaderAt, size int64) bool {
	const eocdLen = 22
	n := int(min(size, 65535+eocdLen))
	tail := readAt(r, size, size-int64(n), n)
	i := bytes.LastIndex(tail, []byte("PK\x05\x06"))
	if i < 0 || i+eocdLen > len(tail) {
		return false
	}
	e := tail[i:]
	entries := uint64(binary.LittleEndian.Uint16(e[10:]))
	dirSize := uint64(binary.LittleEndian.Uint32(e[12:]))
	if entries == 0xffff || dirSize == 0xffffffff || binary.LittleEndian.Uint32(e[16:]) == 0xffffffff {
		// zip64: the locator sits just before the EOCD record.
		if i < 20 || string(tail[i-20:i-16]) != "PK\x06\x07" {
			return false
		}
		off := int64(binary.LittleEndian.Uint64(tail[i-20+8:]))
		z := readAt(r, size, off, 56)
		if len(z) < 56 || string(z[:4]) != "PK\x06\x06" {
			return false
		}
		entries = binary.LittleEndian.Uint64(z[32:])
		dirSize = binary.LittleEndian.Uint64(z[40:])
	}
	return entries <= maxZipEntries && dirSize <= maxZipDir
}
