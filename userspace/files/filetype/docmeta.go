package filetype

import (
	"github.com/edgesensor/edgesensor/userspace/files/formats/ole2"
	"github.com/edgesensor/edgesensor/userspace/files/formats/pdffile"
	"github.com/edgesensor/edgesensor/userspace/files/formats/zipfile"
)

// PDFMeta is the document information of a PDF. ECS has no field for
// these: the event writer needs custom ones (e.g. file.x_pdf.author).
type PDFMeta struct {
	Version      string // from the header, e.g. "1.7"
	Title        string // /Title (XMP dc:title)
	Author       string // /Author (XMP dc:creator)
	Creator      string // /Creator: the authoring application (XMP xmp:CreatorTool)
	Producer     string // /Producer: the PDF writer (XMP pdf:Producer)
	CreationDate string // /CreationDate as written, e.g. "D:20260101120000Z"
	ModDate      string // /ModDate as written
	// Encrypted: the trailer has /Encrypt; the Info strings are then
	// ciphertext and are not reported.
	Encrypted bool
	FromXMP   bool // some values came from the XMP packet
}

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

func metaPDF(f *pdffile.File) *PDFMeta {
	if f == nil {
		return nil
	}
	i := f.Info
	return &PDFMeta{Version: f.Version, Title: i.Title, Author: i.Author, Creator: i.Creator, Producer: i.Producer,
		CreationDate: i.CreationDate, ModDate: i.ModDate, Encrypted: f.Encrypted, FromXMP: f.FromXMP}
}

func metaZipOffice(z *zipfile.File) *OfficeMeta {
	p := z.Props
	if p == nil {
		return nil
	}
	return &OfficeMeta{Creator: p.Creator, LastModifiedBy: p.LastModifiedBy, Title: p.Title, Application: p.Application,
		Company: p.Company, Created: p.Created, Modified: p.Modified, Macros: p.Macros}
}

// metaOLE reads the two property streams of an OLE2 document:
// "\x05SummaryInformation" (title, author, last author, application) and
// "\x05DocumentSummaryInformation" (company); and whether it holds a
// macro storage. When a name repeats, the last entry's stream is read
// (and only it: a directory of 4096 such entries on one looping chain
// would otherwise cost 4096 reads of 64 KiB).
func metaOLE(c *ole2.File) *OfficeMeta {
	m := &OfficeMeta{}
	var summary, docSummary *ole2.Dir
	for i := range c.Dirs {
		d := &c.Dirs[i]
		switch {
		case d.Type == ole2.TypeStream && d.Name == ole2.SummaryInformation:
			summary = d
		case d.Type == ole2.TypeStream && d.Name == ole2.DocumentSummaryInformation:
			docSummary = d
		case d.Type == ole2.TypeStorage && (d.Name == "Macros" || d.Name == "_VBA_PROJECT_CUR" || d.Name == "VBA"):
			m.Macros = true
		}
	}
	if summary != nil {
		props := c.Properties(summary)
		m.Title, m.Creator, m.LastModifiedBy, m.Application = props[0x02], props[0x04], props[0x08], props[0x12]
	}
	if docSummary != nil {
		m.Company = c.Properties(docSummary)[0x0F]
	}
	return m
}
