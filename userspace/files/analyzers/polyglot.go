package analyzers

import (
	"bytes"
	"fmt"
	"io"

	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/files/formats"
	"github.com/edgesensor/edgesensor/userspace/files/formats/zipfile"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// Polyglots: a picture that is also something else. Viewers stop at the
// picture's end marker (JPEG EOI, PNG IEND, GIF trailer, the BMP and
// RIFF sizes) and ignore what follows; archive tools find a zip from its
// end of central directory wherever it starts, and loaders carve a PE
// from after the marker. So filters that pass pictures pass the payload.
// FindPolyglot looks for both: a zip from its end (archive/zip honours
// the prefix), and a candidate typed at the picture's end, or found by
// its magic past junk after it, or a PE or ELF inside the picture
// itself (a loader carves it from an APPn as well as from the end).
//
// The search: polyglot_search.go; where each picture ends: polyglot_ends.go.

// Bounds of the search beyond Limits.
const (
	// polyPad: padding (NUL, white space) skipped after the picture's
	// end before the payload is typed.
	polyPad = 4 << 10
	// polyHits: the candidates typed at most in a search for a payload
	// that junk put off the end (each magic is checked first: decoys do
	// not count).
	polyHits = 64
	// eocdTail: the end of central directory record and its comment.
	eocdTail = 22 + 65535
)

// Polyglot is a picture carrying a payload, as FindPolyglot found it.
type Polyglot struct {
	Picture string // filetype.KindJPEG...
	// End is where the picture's own structure ends (the byte after its
	// end marker), or where it breaks; -1 when neither was found within
	// the bounds (a truncated picture).
	End int64
	// Zip: a zip archive opens from the end of central directory;
	// ZipStart is its first entry's data offset (the lowest of the first
	// entries), ZipEntries its entry count.
	Zip        bool
	ZipStart   int64
	ZipEntries int
	// Trailing is the candidate typed at TrailingAt, after End (Category
	// None when there is none).
	Trailing   filetype.Type
	TrailingAt int64
	// Kind and Category are what the file is reported as: the picture
	// and the trailing candidate's kind ("png+pe", category of that
	// candidate), else the picture and "zip" (category archive).
	Kind     string
	Category filetype.Category
	Reason   string

	zip *zipfile.File
}

// FindPolyglot looks for a payload in the size bytes of r, a picture of
// kind picture (filetype.Picture): a zip from its end of central
// directory, or a candidate after the picture's end. ok is false when
// there is none (the common case: it then read the picture's structure,
// what follows its end, and its last 64 KiB). Bounded by lim.MaxRead;
// never panics.
func FindPolyglot(r io.ReaderAt, size int64, picture string, lim Limits) (p Polyglot, ok bool) {
	defer func() {
		if x := recover(); x != nil {
			if testPanics {
				panic(x)
			}
			p, ok = Polyglot{}, false
		}
	}()
	lim = lim.withDefaults()
	p = Polyglot{Picture: picture, End: -1}
	if r == nil || size <= 0 {
		return p, false
	}
	limit := min(size, lim.MaxRead)
	w := &window{r: r, size: limit}
	p.End = pictureEnd(w, picture)
	if hasEOCD(r, size) {
		if zf := zipfile.Open(r, size, lim.MaxRead, false); zf.Zip != nil && len(zf.Zip.File) > 0 {
			p.Zip, p.zip, p.ZipEntries = true, zf, len(zf.Zip.File)
			p.ZipStart = -1
			for i, f := range zf.Zip.File {
				if i >= 16 {
					break
				}
				if o, err := f.DataOffset(); err == nil && (p.ZipStart < 0 || o < p.ZipStart) {
					p.ZipStart = o
				}
			}
		}
	}
	if p.End >= 0 && p.End < limit {
		p.TrailingAt, p.Trailing = trailing(w, p.End)
	}
	if !p.Trailing.Candidate() {
		// Inside the picture: in its own segments (an APPn, a PNG
		// chunk), where a loader carves it as well; after entropy-coded
		// data with no EOI, which runs into the payload and may find an
		// "end" in it; anywhere in a picture whose end is not there (a
		// TIFF). Only the magics a tool finds anywhere are looked for.
		// Before an end, PE and ELF only: what a loader carves (half
		// the cost); without one, all that a tool finds anywhere.
		stop, magics := limit, len(polyMagics)
		if p.End >= 0 {
			stop, magics = min(limit, p.End+polyMagicMax), 2
		}
		p.TrailingAt, p.Trailing = search(w, 0, stop, magics)
	}
	switch {
	case p.Trailing.Candidate():
		p.Kind, p.Category = filetype.PolyglotKind(picture, p.Trailing.Kind), p.Trailing.Category
		p.Reason = fmt.Sprintf("content: %s picture, then %s at offset %d (%s)", picture, p.Trailing.Kind, p.TrailingAt, p.Trailing.Reason)
		if p.End < 0 || p.TrailingAt < p.End {
			p.Reason = fmt.Sprintf("content: %s picture holding %s at offset %d, inside its own structure (%s)", picture, p.Trailing.Kind, p.TrailingAt, p.Trailing.Reason)
		}
	case p.Zip:
		p.Kind, p.Category = filetype.PolyglotKind(picture, filetype.KindZip), filetype.Archive
		p.Reason = fmt.Sprintf("content: %s picture, and a zip archive (%d entries) found from its end of central directory", picture, p.ZipEntries)
	default:
		return p, false
	}
	return p, true
}

// hasEOCD: the end of central directory signature in the last bytes; a
// cheap test before archive/zip is asked to open anything.
func hasEOCD(r io.ReaderAt, size int64) bool {
	n := min(size, eocdTail)
	b := make([]byte, n)
	k, _ := r.ReadAt(b, size-n)
	// Any occurrence will do (zipfile finds the last); bytes.Index is
	// vectorised, LastIndex is not (5x slower on 64 KiB of a picture).
	return bytes.Index(b[:k], []byte("PK\x05\x06")) >= 0
}

// polyglot weighs a picture carrying a payload (a kind the file pipeline
// gave it, filetype.PolyglotKind), and examines the payload as an
// archive's entries: the zip's, and the candidate after the picture.
func (a *run) polyglot(d *formats.Doc, picture, name string, depth int) []score.Reason {
	p, ok := FindPolyglot(d.R, d.Size, picture, a.lim)
	if !ok {
		return nil
	}
	x := &arch{a: a, name: name, depth: depth}
	t := p.Trailing
	zipTail := t.Candidate() && (t.Format() == formats.Zip || t.Format() == formats.OfficeZip)
	if p.Zip {
		where := "after"
		switch {
		case p.End < 0:
			where = "in" // the picture's end was not found
		case p.ZipStart < p.End:
			where = "inside"
		}
		x.add("polyglot.appended_archive", 6, "%s: a %s picture with a zip archive (%d entries) %s it, from offset %d, found from its end of central directory: archive tools open it, filters that pass pictures let it through",
			name, picture, p.ZipEntries, where, p.ZipStart)
	}
	if t.Candidate() && !(zipTail && p.Zip) {
		w, ok := polyWeight[t.Category]
		if !ok {
			w = 5
		}
		rule := "polyglot.appended_" + t.Category.String()
		if p.Zip && t.Category == filetype.Archive {
			rule = "polyglot.appended_archive" // one finding, told once by dedup
		}
		how, ends := "followed by", fmt.Sprintf("the picture ends at %d", p.End)
		switch {
		case p.End < 0:
			how, ends = "holding", "the picture's own end is not there"
		case p.TrailingAt < p.End:
			how = "holding, inside its own structure,"
		}
		x.add(rule, w, "%s: a %s picture %s a%s %s (%s) at offset %d (%s)",
			name, picture, how, an(t.Category.String()), t.Category.String(), t.Kind, p.TrailingAt, ends)
	}
	if p.Zip {
		x.out = append(x.out, a.zip(&formats.Doc{R: d.R, Size: d.Size, Format: formats.Zip, Zip: p.zip}, name, depth)...)
	}
	if t.Candidate() && !(zipTail && p.Zip) && !x.stop {
		n := d.Size - p.TrailingAt
		label := "data after the " + picture + " end"
		if p.End < 0 || p.TrailingAt < p.End {
			label = "data inside the " + picture
		}
		x.entry(label, io.NewSectionReader(d.R, p.TrailingAt, n), n, -1)
	}
	return dedup(x.out)
}

// polyWeight: what a payload after a picture weighs, by its category: a
// program or script there has no innocent reason to be (a zip may:
// "jpeg+zip" has been a way to share files on image boards).
var polyWeight = map[filetype.Category]int{
	filetype.Executable: 7, filetype.Script: 6, filetype.Archive: 6, filetype.Shortcut: 6, filetype.Java: 6,
}
