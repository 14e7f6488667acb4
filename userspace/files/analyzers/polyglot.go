package analyzers

import (
	"bytes"
	"encoding/binary"
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

// trailing types what follows the picture's end: at the end (after
// padding), else a payload that junk put further off and that its tools
// still find there: a PE or ELF (carved by a loader), a RAR (WinRAR
// looks for its signature as for a self-extractor's), a 7z or a zip's
// local header (7-Zip does the same).
func trailing(w *window, end int64) (int64, filetype.Type) {
	off := end
	for off < w.size && off-end < polyPad {
		b := w.at(off, 1)
		if b == nil || (b[0] != 0 && b[0] != ' ' && b[0] != '\r' && b[0] != '\n' && b[0] != '\t') {
			break
		}
		off++
	}
	if t := typeAt(w, off); t.Candidate() {
		return off, t
	}
	// All the rest: junk of any length before the payload is no cover
	// (about 1 ms a MiB; only what follows a picture's end).
	return search(w, end, w.size, len(polyMagics))
}

// search finds the first of polyMagics[:magics] from start to stop that
// Detect types as that payload. Each magic is checked further (a PE header
// where e_lfanew points, RAR's version bytes) on a second window before
// the head there is typed, so a run of decoy "MZ"s can neither use up
// the typings nor make the search quadratic: each magic's next place is
// found once per chunk, from where it was last found.
func search(w *window, start, stop int64, magics int) (int64, filetype.Type) {
	chk := &window{r: w.r, size: w.size}
	hits := 0
	for pos := start; pos < stop && hits < polyHits; {
		b := w.from(pos, stop)
		if int64(len(b)) < min(windowSize, stop-pos) {
			// The window holds the chunk's start only: read it whole.
			w.fill(pos)
			b = w.from(pos, stop)
		}
		if len(b) <= polyMagicMax {
			break // too short for a magic (or a short read)
		}
		var next [len(polyMagics)]int
		for i := range polyMagics {
			next[i] = -1
			if i < magics {
				next[i] = indexFrom(b, 0, polyMagics[i])
			}
		}
		for hits < polyHits {
			m, at := -1, len(b)
			for i, j := range next {
				if j >= 0 && j < at {
					m, at = i, j
				}
			}
			if m < 0 {
				break
			}
			p := pos + int64(at)
			next[m] = indexFrom(b, at+1, polyMagics[m])
			if !polyMagicOK(b, at, chk, p, m) {
				continue
			}
			hits++
			t := typeAt(chk, p)
			switch {
			case t.Kind == filetype.KindPE, t.Kind == filetype.KindELF, t.Kind == filetype.KindRAR, t.Kind == filetype.Kind7z,
				m == 4 && t.Candidate(): // a zip (or a docx, a jar) by its first local header
				return p, t
			}
		}
		if pos+int64(len(b)) >= stop {
			break
		}
		// A magic may straddle the chunk's end: the next chunk starts
		// before it.
		pos += int64(len(b)) - polyMagicMax
	}
	return 0, filetype.Type{}
}

// polyMagics: the payloads trailing searches for past junk. A zip's
// local header is last: a zip whose end record Go's reader refuses (or
// that is followed by more than 64 KiB) is still opened by 7-Zip from
// its local headers.
var polyMagics = [...]string{"MZ", "\x7fELF", "Rar!\x1a\x07", "7z\xbc\xaf\x27\x1c", "PK\x03\x04"}

// polyMagicMax: the longest magic's length less one.
const polyMagicMax = 5

func indexFrom(b []byte, from int, magic string) int {
	if from >= len(b) {
		return -1
	}
	i := bytes.Index(b[from:], []byte(magic))
	if i < 0 {
		return -1
	}
	return from + i
}

// polyMagicOK checks what follows magic m at p (b[i] in the chunk) as
// Detect would decide it (a PE signature within the head; RAR 4 or 5;
// an ELF class and byte order): from the chunk when it holds the bytes,
// else through w (a read: random data holds an "MZ" every 64 KiB).
func polyMagicOK(b []byte, i int, w *window, p int64, m int) bool {
	at := func(off int64, n int) []byte {
		if j := int64(i) + off; j+int64(n) <= int64(len(b)) {
			return b[j : j+int64(n)]
		}
		return w.at(p+off, n)
	}
	switch m {
	case 0:
		h := at(60, 4)
		if h == nil {
			return false
		}
		lfanew := int64(binary.LittleEndian.Uint32(h))
		if lfanew+4 > int64(filetype.HeadSize) {
			return false
		}
		sig := at(lfanew, 4)
		return sig != nil && string(sig) == "PE\x00\x00"
	case 1:
		h := at(4, 2)
		return h != nil && (h[0] == 1 || h[0] == 2) && (h[1] == 1 || h[1] == 2)
	case 2:
		h := at(6, 1)
		return h != nil && (h[0] == 0 || h[0] == 1)
	case 4:
		// Version needed (PKWARE APPNOTE 4.4.3: at most 6.3) and a
		// method of the few tools write (0 stored ... 99 AES).
		h := at(4, 6)
		if h == nil || h[1] != 0 || h[0] > 63 {
			return false
		}
		switch binary.LittleEndian.Uint16(h[4:]) {
		case 0, 8, 9, 12, 14, 93, 95, 98, 99:
			return true
		}
		return false
	}
	return at(0, 6) != nil
}

func typeAt(w *window, off int64) filetype.Type {
	n := int(min(int64(filetype.HeadSize), w.size-off))
	head := w.at(off, n)
	if head == nil {
		return filetype.Type{}
	}
	// Detect may keep nothing of head, but the window is reused: a copy.
	return filetype.Detect(append([]byte(nil), head...), "", "", w.size-off)
}

// pictureEnd finds where the picture's structure ends (or breaks).
func pictureEnd(w *window, picture string) int64 {
	switch picture {
	case filetype.KindJPEG:
		return jpegEnd(w)
	case filetype.KindPNG:
		return pngEnd(w)
	case filetype.KindGIF:
		return gifEnd(w)
	case filetype.KindBMP:
		return bmpEnd(w)
	case filetype.KindWebP:
		return riffEnd(w)
	case filetype.KindICO:
		return icoEnd(w)
	case filetype.KindHEIF:
		return bmffEnd(w)
	}
	// TIFF: its strips may lie anywhere the offsets say; a zip is found
	// from its end all the same.
	return -1
}

// icoEnd: the end of the furthest image the directory names (ICONDIR,
// then 16-byte entries with each image's size and offset).
func icoEnd(w *window) int64 {
	h := w.at(0, 6)
	if h == nil {
		return -1
	}
	n := int64(binary.LittleEndian.Uint16(h[4:]))
	end := 6 + 16*n
	for i := int64(0); i < n; i++ {
		e := w.at(6+16*i, 16)
		if e == nil {
			return -1
		}
		end = max(end, int64(binary.LittleEndian.Uint32(e[12:]))+int64(binary.LittleEndian.Uint32(e[8:])))
	}
	if n == 0 || end > w.size {
		return -1
	}
	return end
}

// bmffEnd walks the top-level boxes (ISO/IEC 14496-12: a 32-bit size,
// or 1 and a 64-bit one, or 0 for "to the end of the file") to the first
// that is no box: where the picture ends.
func bmffEnd(w *window) int64 {
	pos := int64(0)
	for n := 0; pos < w.size && n < 1<<16; n++ {
		h := w.at(pos, 8)
		if h == nil {
			return pos
		}
		for _, c := range h[4:8] {
			if c < 0x20 || c > 0x7e {
				return pos // no box type: the structure breaks here
			}
		}
		size := int64(binary.BigEndian.Uint32(h))
		switch size {
		case 0:
			return w.size
		case 1:
			l := w.at(pos+8, 8)
			if l == nil {
				return pos
			}
			size = int64(binary.BigEndian.Uint64(l) & (1<<62 - 1))
			if size < 16 {
				return pos
			}
		default:
			if size < 8 {
				return pos
			}
		}
		if size > w.size-pos {
			return pos
		}
		pos += size
	}
	return pos
}

// jpegEnd walks the markers (ITU T.81 B.1.1.2): a segment's length after
// each marker but SOI, EOI, RSTn and TEM; after SOS the entropy-coded
// data, where 0xFF is followed by 0x00 (stuffing), RSTn or fill bytes,
// until a marker. Progressive pictures have many scans, each read so.
// A marker where none can be ends the picture there (the break).
func jpegEnd(w *window) int64 {
	pos := int64(2)
	for pos < w.size {
		b := w.at(pos, 2)
		if b == nil {
			return -1
		}
		if b[0] != 0xFF {
			return pos
		}
		m := b[1]
		if m == 0xFF { // fill byte before a marker
			pos++
			continue
		}
		switch {
		case m == 0xD9:
			return pos + 2
		case m == 0x01 || m >= 0xD0 && m <= 0xD7:
			pos += 2
			continue
		case m == 0x00 || m == 0xD8:
			return pos
		}
		l := w.at(pos+2, 2)
		if l == nil {
			return -1
		}
		n := int64(binary.BigEndian.Uint16(l))
		if n < 2 {
			return pos
		}
		pos += 2 + n
		if m == 0xDA {
			if pos = entropyEnd(w, pos); pos < 0 {
				return -1
			}
		}
	}
	return -1
}

// entropyEnd finds the marker that ends entropy-coded data from pos.
func entropyEnd(w *window, pos int64) int64 {
	for pos < w.size {
		b := w.from(pos, w.size)
		i := bytes.IndexByte(b, 0xFF)
		if i < 0 {
			pos += int64(len(b))
			continue
		}
		pos += int64(i)
		n := w.at(pos+1, 1)
		if n == nil {
			return -1
		}
		switch x := n[0]; {
		case x == 0x00 || x >= 0xD0 && x <= 0xD7:
			pos += 2
		case x == 0xFF:
			pos++
		default:
			return pos
		}
	}
	return -1
}

// pngEnd walks the chunks (length, type, data, CRC) to IEND.
func pngEnd(w *window) int64 {
	pos := int64(8)
	for pos+12 <= w.size {
		h := w.at(pos, 8)
		if h == nil {
			return -1
		}
		n := int64(binary.BigEndian.Uint32(h))
		if n > 1<<31-1 || pos+12+n > w.size {
			return pos // no chunk this long: the structure breaks here
		}
		pos += 12 + n
		if string(h[4:8]) == "IEND" {
			return pos
		}
	}
	return -1
}

// gifEnd walks the blocks (GIF89a: header, logical screen, colour
// table, then extensions and images as sub-block chains) to the trailer.
func gifEnd(w *window) int64 {
	h := w.at(0, 13)
	if h == nil {
		return -1
	}
	pos := int64(13)
	if h[10]&0x80 != 0 {
		pos += 3 << (h[10]&7 + 1)
	}
	for pos < w.size {
		b := w.at(pos, 1)
		if b == nil {
			return -1
		}
		switch b[0] {
		case 0x3B:
			return pos + 1
		case 0x21: // extension: label, sub-blocks
			pos = subBlocks(w, pos+2)
		case 0x2C: // image: descriptor, local colour table, LZW code size, sub-blocks
			d := w.at(pos, 10)
			if d == nil {
				return -1
			}
			pos += 10
			if d[9]&0x80 != 0 {
				pos += 3 << (d[9]&7 + 1)
			}
			pos = subBlocks(w, pos+1)
		default:
			return pos
		}
		if pos < 0 {
			return -1
		}
	}
	return -1
}

func subBlocks(w *window, pos int64) int64 {
	for pos < w.size {
		b := w.at(pos, 1)
		if b == nil {
			return -1
		}
		pos += 1 + int64(b[0])
		if b[0] == 0 {
			return pos
		}
	}
	return -1
}

// bmpEnd: the file size the header declares, or the end of the pixel
// rows when that is further (a header declaring less than its pixels
// is not what a viewer reads by). Compressed pixels: the declared size.
func bmpEnd(w *window) int64 {
	h := w.at(0, 34)
	if h == nil {
		return -1
	}
	end := int64(binary.LittleEndian.Uint32(h[2:]))
	off := int64(binary.LittleEndian.Uint32(h[10:]))
	if binary.LittleEndian.Uint32(h[14:]) >= 40 {
		width := int64(int32(binary.LittleEndian.Uint32(h[18:])))
		height := int64(int32(binary.LittleEndian.Uint32(h[22:])))
		bpp := int64(binary.LittleEndian.Uint16(h[28:]))
		comp := binary.LittleEndian.Uint32(h[30:])
		if height < 0 {
			height = -height
		}
		if (comp == 0 || comp == 3) && width > 0 && width < 1<<20 && height < 1<<20 && bpp > 0 && bpp <= 32 {
			end = max(end, off+(width*bpp+31)/32*4*height)
		}
	}
	if end < 26 || end > w.size {
		return -1
	}
	return end
}

// riffEnd: the RIFF chunk's declared size, padded to even.
func riffEnd(w *window) int64 {
	h := w.at(0, 8)
	if h == nil {
		return -1
	}
	n := int64(binary.LittleEndian.Uint32(h[4:]))
	end := 8 + n + n&1
	if end > w.size {
		return -1
	}
	return end
}

// window reads r through one 64 KiB buffer: the walks above read a few
// bytes at a time, and each would otherwise be a system call (a spool
// file). Reads past size fail.
type window struct {
	r    io.ReaderAt
	size int64
	buf  []byte
	off  int64
	n    int
}

const windowSize = 64 << 10

// at returns the n bytes at off (valid until the next call), nil when
// they are not all within size.
func (w *window) at(off int64, n int) []byte {
	if off < 0 || n <= 0 || n > windowSize || off+int64(n) > w.size {
		return nil
	}
	if off < w.off || off+int64(n) > w.off+int64(w.n) {
		w.fill(off)
		if w.n < n {
			return nil
		}
	}
	i := int(off - w.off)
	return w.buf[i : i+n]
}

// from returns the bytes from off to at most stop that the window holds
// (filling it at off when it holds none).
func (w *window) from(off, stop int64) []byte {
	if off < 0 || off >= stop || off >= w.size {
		return nil
	}
	if off < w.off || off >= w.off+int64(w.n) {
		w.fill(off)
	}
	i := int(off - w.off)
	j := min(w.n, int(min(stop, w.size)-w.off))
	if i >= j {
		return nil
	}
	return w.buf[i:j]
}

func (w *window) fill(off int64) {
	if w.buf == nil {
		w.buf = make([]byte, windowSize)
	}
	n := int(min(int64(windowSize), w.size-off))
	k, _ := w.r.ReadAt(w.buf[:n], off)
	w.off, w.n = off, k
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
