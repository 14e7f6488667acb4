// Package analyzers holds small analyzers that look at a reconstructed file
// without running it and say what about it is suspicious, as score
// reasons. They read the file's model as package formats parsed it (the
// same parse the metadata reads), and the file's bytes where they look
// at content (entropy, archives, RTF). Every analyzer treats the file as
// hostile: reads are bounded by Limits, and a panic in one analyzer
// costs only its reasons.
package analyzers

import (
	"cmp"
	"io"
	"slices"

	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/files/formats"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// Limits bound the work done on one file. Zero fields take the defaults.
type Limits struct {
	MaxRead    int64 // bytes any analyzer reads from the file (64 MiB)
	MaxDepth   int   // archive nesting followed (3)
	MaxEntries int   // entries looked at per archive (10000)
	MaxExpand  int64 // decompressed bytes of archive entries examined, in total (256 MiB)
}

// DefaultLimits are the limits used for zero fields.
var DefaultLimits = Limits{MaxRead: formats.DefaultMaxRead, MaxDepth: 3, MaxEntries: 10000, MaxExpand: 256 << 20}

func (l Limits) withDefaults() Limits {
	if l.MaxRead <= 0 {
		l.MaxRead = DefaultLimits.MaxRead
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultLimits.MaxEntries
	}
	if l.MaxExpand <= 0 {
		l.MaxExpand = DefaultLimits.MaxExpand
	}
	return l
}

// Analyze parses the file (r, of size bytes) as its type says and runs
// AnalyzeDoc on it.
func Analyze(r io.ReaderAt, size int64, t filetype.Type, name string, lim Limits) []score.Reason {
	lim = lim.withDefaults()
	return AnalyzeDoc(formats.Parse(r, size, t.Format(), lim.MaxRead), t, name, lim)
}

// AnalyzeDoc runs the analyzers that apply to t (and the name checks for
// every file) on d, the whole file parsed by formats.Parse with
// lim.MaxRead (nil for a file with no bytes to read), and returns their
// reasons, strongest first. name is the name the sender gave. It never
// panics and is bounded by lim.
func AnalyzeDoc(d *formats.Doc, t filetype.Type, name string, lim Limits) []score.Reason {
	if d == nil {
		d = &formats.Doc{}
	}
	a := &run{lim: lim.withDefaults(), vba: vbaMaxSource}
	a.expand = a.lim.MaxExpand
	out := a.file(d, t, name, 0)
	sortReasons(out)
	return out
}

// run is the state shared by one Analyze call, nested archives included:
// the decompression budget is for the whole call, not per archive.
type run struct {
	lim    Limits
	expand int64 // decompressed bytes still allowed
	vba    int   // VBA source bytes still allowed to be decompressed
}

// file analyzes one file (the top one, or an archive entry at depth > 0).
func (a *run) file(d *formats.Doc, t filetype.Type, name string, depth int) []score.Reason {
	if d.Size < 0 {
		d.Size = 0
	}
	var out []score.Reason
	out = append(out, safe(func() []score.Reason { return checkName(name, t) })...)
	if t.Kind == filetype.KindEICAR {
		out = append(out, score.Reason{Rule: "eicar", Text: "EICAR anti-virus test file", Weight: 10})
	}
	for _, an := range a.analyzers(t) {
		out = append(out, safe(func() []score.Reason { return an(d, name, depth) })...)
	}
	return out
}

// testPanics makes safe re-panic; set by the tests.
var testPanics bool

// An analyzer looks at one file: its model (the one of its format, by
// t.Format) and its bytes (d.R, d.Size).
type analyzer func(d *formats.Doc, name string, depth int) []score.Reason

// analyzers picks what applies to the kind. Zip-based documents are
// archives too: an executable inside a .docx is as bad as inside a .zip.
func (a *run) analyzers(t filetype.Type) []analyzer {
	var out []analyzer
	switch t.Kind {
	case filetype.KindPE, filetype.KindDOS:
		out = append(out, a.pe)
	case filetype.KindZip, filetype.KindJAR, filetype.KindAPK, filetype.KindODF,
		filetype.KindDOCX, filetype.KindXLSX, filetype.KindPPTX, filetype.KindOOXML:
		out = append(out, a.zip)
	case filetype.KindELF:
		out = append(out, a.elf)
	case filetype.KindPDF:
		out = append(out, a.pdf)
	case filetype.KindOLE2:
		out = append(out, a.ole)
	case filetype.KindRTF:
		out = append(out, a.rtf)
	case filetype.KindGzip:
		out = append(out, a.gzip)
	case filetype.KindTar:
		out = append(out, a.tar)
	}
	return append(out, a.carrierAnalyzers(t)...)
}

// safe runs one analyzer; a panic (a parser bug on hostile input) loses
// that analyzer's reasons and nothing else.
func safe(f func() []score.Reason) (out []score.Reason) {
	defer func() {
		if p := recover(); p != nil {
			if testPanics {
				panic(p) // tests and fuzzing must see the bug
			}
			out = nil
		}
	}()
	return f()
}

// sortReasons orders strongest first; equal weights keep analyzer order
// so the output is deterministic.
func sortReasons(rs []score.Reason) {
	slices.SortStableFunc(rs, func(x, y score.Reason) int { return cmp.Compare(y.Weight, x.Weight) })
}

// readAll reads the first min(size, max) bytes of r.
func readAll(r io.ReaderAt, size, max int64) []byte {
	n := min(size, max)
	if n <= 0 || r == nil {
		return nil
	}
	b := make([]byte, n)
	k, _ := r.ReadAt(b, 0)
	return b[:k]
}

// readAt reads n bytes at off, nil when they are not all there.
func readAt(r io.ReaderAt, off int64, n int) []byte {
	if off < 0 || n <= 0 {
		return nil
	}
	b := make([]byte, n)
	if k, _ := r.ReadAt(b, off); k < n {
		return nil
	}
	return b
}
