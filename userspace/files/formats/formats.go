// Package formats parses a spooled file once, by its format, into the
// typed, bounded models of the readers under it (pefile, elffile,
// pdffile, ole2, zipfile). The file pipeline hands the one Doc to both
// the metadata (package filetype) and the static analyzers (package
// analyzers), which used to parse every PE, PDF and OLE2 file each with a
// reader of their own.
//
// The readers trust nothing in the file: reads are bounded, malformed
// structures end a parse with what was found, and a reader's panic (a
// bug, which the fuzz targets hunt) costs only that reader's model.
package formats

import (
	"io"

	"github.com/edgesensor/edgesensor/userspace/files/formats/elffile"
	"github.com/edgesensor/edgesensor/userspace/files/formats/isofile"
	"github.com/edgesensor/edgesensor/userspace/files/formats/lnkfile"
	"github.com/edgesensor/edgesensor/userspace/files/formats/ole2"
	"github.com/edgesensor/edgesensor/userspace/files/formats/pdffile"
	"github.com/edgesensor/edgesensor/userspace/files/formats/pefile"
	"github.com/edgesensor/edgesensor/userspace/files/formats/zipfile"
)

// Format is which reader a file goes to.
type Format uint8

// Formats.
const (
	None      Format = iota // nothing is parsed (the analyzers read raw bytes, if any)
	PE                      // PE image (and a DOS program, whose PE header may lie past the head)
	ELF                     // ELF
	PDF                     // PDF
	OLE2                    // OLE2 compound file (doc, xls, ppt...)
	Zip                     // zip container (zip, jar, apk)
	OfficeZip               // zip-based office document (OOXML, ODF): the container and its properties
	LNK                     // Windows shortcut
	ISO                     // ISO 9660 image: its file list
)

// DefaultMaxRead is the default for Parse's maxRead.
const DefaultMaxRead = 64 << 20

// Doc is a file parsed once. R and Size are the file, for the analyzers
// that read raw bytes; the model of its format is set (nil when the file
// is not what its format says, or too broken to read at all).
type Doc struct {
	R      io.ReaderAt
	Size   int64
	Format Format

	PE   *pefile.File
	ELF  *elffile.File
	PDF  *pdffile.File
	OLE2 *ole2.File
	Zip  *zipfile.File
	LNK  *lnkfile.File
	ISO  *isofile.Image
}

// Parse parses the size bytes of r as format f. maxRead (DefaultMaxRead
// when 0) bounds what the whole-file scans read: the PDF keyword count,
// and the opening of a zip whose central directory is not bounded.
func Parse(r io.ReaderAt, size int64, f Format, maxRead int64) *Doc {
	d := &Doc{R: r, Size: size, Format: f}
	if r == nil || size <= 0 {
		return d
	}
	if maxRead <= 0 {
		maxRead = DefaultMaxRead
	}
	defer func() {
		if recover() != nil {
			d.PE, d.ELF, d.PDF, d.OLE2, d.Zip, d.LNK, d.ISO = nil, nil, nil, nil, nil, nil, nil
		}
	}()
	switch f {
	case PE:
		d.PE = pefile.Parse(r, size)
	case ELF:
		d.ELF = elffile.Parse(r, size)
	case PDF:
		d.PDF = pdffile.Parse(r, size, maxRead)
	case OLE2:
		d.OLE2 = ole2.Open(r, size)
	case Zip, OfficeZip:
		d.Zip = zipfile.Open(r, size, maxRead, f == OfficeZip)
	case LNK:
		d.LNK = lnkfile.Parse(r, size)
	case ISO:
		d.ISO = isofile.Parse(r, size)
	}
	return d
}
