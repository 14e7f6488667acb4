// Package zipfile opens a zip container once (its central directory)
// for every reader that needs it: the archive walk of the static
// analyzers, and the document properties of the office formats built on
// zip (OOXML docProps/core.xml and app.xml, ODF meta.xml).
//
// archive/zip allocates for every directory record it reads, and reads
// records until one does not parse, whatever the end record declares:
// so the declared size and entry count are checked first (Bounded), and
// while archive/zip opens the file it may read no more than the declared
// directory and the end records. A 29 MB file declaring one entry and
// holding 655361 records made 655361 entries and 167 MB of allocations
// without that cap (TestExtraRecords). The properties are read only
// from a bounded directory, and at most 256 KiB of a part, however
// large it says it is.
package zipfile

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/pager"
	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/text"
)

// Bounds on a central directory whose properties are read.
const (
	MaxDir     = 1 << 20   // central directory size
	MaxEntries = 20000     // central directory entries
	maxXMLPart = 256 << 10 // bytes of a metadata part read (decompressed)
	// openSlack is what archive/zip reads while opening besides the
	// directory: the end record search (up to 66 KiB), the zip64 records
	// and its 4 KiB read-ahead.
	openSlack = 128 << 10
)

// File is a zip container, opened.
type File struct {
	// Zip is the container, nil when its central directory could not be
	// read, or was not opened: a file larger than maxRead whose
	// directory is not Bounded.
	Zip *zip.Reader
	// Bounded: the directory declares no more than MaxDir bytes and
	// MaxEntries entries.
	Bounded bool
	// Props are the document properties of an office file, nil unless
	// asked for and the directory is Bounded.
	Props *Props
}

// Props are the document properties of a zip-based office file.
type Props struct {
	Creator        string // OOXML dc:creator; ODF meta:initial-creator
	LastModifiedBy string // OOXML cp:lastModifiedBy; ODF dc:creator
	Title          string // dc:title
	Application    string // OOXML app.xml Application; ODF meta:generator
	Company        string // OOXML app.xml Company
	Created        string // dcterms:created / meta:creation-date as written
	Modified       string // dcterms:modified / dc:date as written
	// Macros: a vbaProject.bin part, or ODF Basic/Scripts.
	Macros bool
}

const (
	nsDC      = "http://purl.org/dc/elements/1.1/"
	nsCP      = "http://schemas.openxmlformats.org/package/2006/metadata/core-properties"
	nsDCTerms = "http://purl.org/dc/terms/"
	nsExtApp  = "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"
	nsODFMeta = "urn:oasis:names:tc:opendocument:xmlns:meta:1.0"
)

// Open opens the zip in the size bytes of r: always when its directory
// is Bounded, and otherwise only when size is at most maxRead (the
// archive walk's own limit). With office, the document properties are
// read too.
func Open(r io.ReaderAt, size, maxRead int64, office bool) *File {
	entries, dirSize, ok := dirEnd(r, size)
	f := &File{Bounded: ok && entries <= MaxEntries && dirSize <= MaxDir}
	if !f.Bounded && size > maxRead {
		return f
	}
	if !ok {
		dirSize = uint64(size)
	}
	br := &budgetReader{r: r, left: int64(min(dirSize, uint64(size))) + openSlack}
	z, err := zip.NewReader(io.NewSectionReader(br, 0, size), size)
	br.left = -1 // the entries' data is read by the walkers, each with bounds of its own
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return f
	}
	z.RegisterDecompressor(zip.Deflate, inflate)
	f.Zip = z
	if office && f.Bounded {
		f.Props = props(z)
	}
	return f
}

func props(z *zip.Reader) *Props {
	m := &Props{}
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
		v := partXML(core, nsDC+" creator", nsCP+" lastModifiedBy", nsDC+" title", nsDCTerms+" created", nsDCTerms+" modified")
		m.Creator, m.LastModifiedBy, m.Title, m.Created, m.Modified = v[0], v[1], v[2], v[3], v[4]
	}
	if app != nil {
		v := partXML(app, nsExtApp+" Application", nsExtApp+" Company")
		m.Application, m.Company = v[0], v[1]
	}
	if meta != nil {
		v := partXML(meta, nsODFMeta+" initial-creator", nsDC+" creator", nsDC+" title",
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

// partXML reads at most maxXMLPart decompressed bytes of an entry,
// however large it says it is, and returns the values of the named
// elements ("namespace local"), in order.
func partXML(f *zip.File, names ...string) []string {
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
	vals := text.XMLValues(io.LimitReader(rc, maxXMLPart), want)
	for i, k := range keys {
		out[i] = vals[k]
	}
	return out
}

// errOpenBudget ends archive/zip's directory reading past the budget.
var errOpenBudget = errors.New("zip: central directory longer than declared")

// budgetReader passes reads through while left (bytes) lasts, and all
// reads once left is negative. It is not safe for concurrent use while
// left counts down.
type budgetReader struct {
	r    io.ReaderAt
	left int64
}

func (b *budgetReader) ReadAt(p []byte, off int64) (int, error) {
	if b.left >= 0 {
		if int64(len(p)) > b.left {
			return 0, errOpenBudget
		}
		b.left -= int64(len(p))
	}
	return b.r.ReadAt(p, off)
}

// dirEnd finds the end of central directory record (zip64 too) and
// returns the directory's declared entry count and size; ok is false
// when there is no sound record.
func dirEnd(r io.ReaderAt, size int64) (entries, dirSize uint64, ok bool) {
	const eocdLen = 22
	n := int(min(size, 65535+eocdLen))
	tail := pager.ReadAt(r, size, size-int64(n), n)
	i := bytes.LastIndex(tail, []byte("PK\x05\x06"))
	if i < 0 || i+eocdLen > len(tail) {
		return 0, 0, false
	}
	e := tail[i:]
	entries = uint64(binary.LittleEndian.Uint16(e[10:]))
	dirSize = uint64(binary.LittleEndian.Uint32(e[12:]))
	if entries == 0xffff || dirSize == 0xffffffff || binary.LittleEndian.Uint32(e[16:]) == 0xffffffff {
		// zip64: the locator sits just before the EOCD record.
		if i < 20 || string(tail[i-20:i-16]) != "PK\x06\x07" {
			return 0, 0, false
		}
		off := int64(binary.LittleEndian.Uint64(tail[i-20+8:]))
		z := pager.ReadAt(r, size, off, 56)
		if len(z) < 56 || string(z[:4]) != "PK\x06\x06" {
			return 0, 0, false
		}
		entries = binary.LittleEndian.Uint64(z[32:])
		dirSize = binary.LittleEndian.Uint64(z[40:])
	}
	return entries, dirSize, true
}

// inflate is the entries' deflate decoder: klauspost/compress's, the
// standard one's algorithm with the bit reader specialised for the
// buffered reader archive/zip hands it: 2.1-2.3x as fast here
// (go test -bench Inflate ./userspace/files/formats/zipfile). Decoders
// (each with its 32 KiB window) are pooled, as archive/zip pools its own.
func inflate(r io.Reader) io.ReadCloser {
	if d, ok := inflaters.Get().(io.ReadCloser); ok {
		if err := d.(flate.Resetter).Reset(r, nil); err == nil {
			return &pooled{d}
		}
	}
	return &pooled{flate.NewReader(r)}
}

var inflaters sync.Pool

// pooled returns its decoder to the pool once closed.
type pooled struct{ io.ReadCloser }

func (p *pooled) Read(b []byte) (int, error) {
	if p.ReadCloser == nil {
		return 0, errors.New("zipfile: read after close")
	}
	return p.ReadCloser.Read(b)
}

func (p *pooled) Close() error {
	if p.ReadCloser == nil {
		return nil
	}
	err := p.ReadCloser.Close()
	inflaters.Put(p.ReadCloser)
	p.ReadCloser = nil
	return err
}
