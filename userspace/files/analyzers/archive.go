package analyzers

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"

	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/files/formats"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// Archives: zip (OOXML, ODF, JAR and APK are zips too), a single gzip
// member, tar. Each entry's head is typed like a file off the wire;
// entries that are themselves candidates are read (bounded by the run's
// expansion budget) and analyzed as files, down to MaxDepth.

const (
	bombRatio   = 1000     // uncompressed/compressed beyond which an entry is a bomb...
	bombMinSize = 10 << 20 // ...when it also claims or yields this much
)

var errBudget = errors.New("expansion budget spent")

// insideWeight: what a container holding a file of the category weighs.
// Executables, scripts and shortcuts run with a double click once the
// container is opened (a zip or an image hides them from mail filters
// and, before 2022, from Mark-of-the-Web); a disk image inside an
// archive is the nesting that lures use; packages and Java need one
// more step.
var insideWeight = map[filetype.Category]int{
	filetype.Executable: 7, filetype.Script: 7, filetype.Shortcut: 7,
	filetype.DiskImage: 6, filetype.Package: 5, filetype.Java: 5,
}

// an is "n" before a category name starting with a vowel.
func an(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "n"
	}
	return ""
}

// arch is the walk of one archive.
type arch struct {
	a      *run
	name   string // the archive's name, for texts
	depth  int
	out    []score.Reason
	stop   bool // a bomb or a limit: look no further
	macros bool // a vbaProject.bin was reported (office.go)
}

func (x *arch) add(rule string, w int, format string, args ...any) {
	x.out = append(x.out, score.Reason{Rule: rule, Weight: w, Text: fmt.Sprintf(format, args...)})
}

func (x *arch) limit(what string) {
	x.cut(what)
	x.stop = true
}

// cut reports a listing cut at a limit (a directory walk's): the
// entries it did give are still examined.
func (x *arch) cut(what string) {
	x.add("archive.limit_reached", 2, "%s: stopped at the %s limit, rest not examined", x.name, what)
}

// execName: the name's extension is one Windows runs.
func execName(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	return len(ext) > 1 && execExts[ext[1:]]
}

// escapes reports an entry name that would be written outside the
// extraction directory ("zip slip").
func escapes(name string) bool {
	n := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(n, "/") || (len(n) >= 2 && n[1] == ':' && isLetter(n[0])) {
		return true
	}
	for _, el := range strings.Split(n, "/") {
		if el == ".." {
			return true
		}
	}
	return false
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// entry examines one member's content, read through rc (already
// decompressing). size is the claimed uncompressed size (-1 unknown),
// csize the compressed size (-1 unknown).
func (x *arch) entry(name string, rc io.Reader, size, csize int64) {
	if csize > 0 && size > bombMinSize && size/csize > bombRatio {
		x.add("archive.bomb", 7, "%s: entry %q claims %d bytes from %d (ratio %d)", x.name, name, size, csize, size/csize)
		x.stop = true
		return
	}
	if x.a.expand <= 0 {
		x.limit("decompressed size")
		return
	}
	head, err := x.read(rc, filetype.HeadSize)
	if len(head) == 0 || err != nil && !errors.Is(err, errBudget) {
		return // empty or corrupt: nothing to type
	}
	t := filetype.Detect(head, name, "", size)
	if w, ok := insideWeight[t.Category]; ok {
		x.add("archive."+t.Category.String()+"_inside", w, "%s: entry %q is a%s %s (%s)", x.name, name,
			an(t.Category.String()), strings.ReplaceAll(t.Category.String(), "_", " "), t.Kind)
	}
	if errors.Is(err, errBudget) {
		x.limit("decompressed size") // typed from a partial head: no deeper
		return
	}
	if !t.Candidate() || x.depth+1 > x.a.lim.MaxDepth {
		return
	}
	// Read the whole entry, bounded by the budget, MaxRead and the bomb
	// ratio (headers lie: the ratio is checked on what inflates too).
	full := head
	if len(head) == filetype.HeadSize {
		most := min(x.a.lim.MaxRead, x.a.expand+int64(len(head)))
		bomb := int64(-1)
		if csize > 0 && csize < 1<<40 {
			bomb = max(csize*bombRatio, bombMinSize)
			most = min(most, bomb+1)
		}
		rest, err := x.read(rc, most-int64(len(head)))
		full = append(head, rest...)
		switch {
		case bomb >= 0 && int64(len(full)) > bomb:
			x.add("archive.bomb", 7, "%s: entry %q inflates %d bytes to more than %d", x.name, name, csize, bomb)
			x.stop = true
			return
		case errors.Is(err, errBudget):
			x.limit("decompressed size")
		case err != nil:
			return
		}
	}
	d := formats.Parse(bytes.NewReader(full), int64(len(full)), t.Format(), x.a.lim.MaxRead)
	for _, r := range x.a.file(d, t, name, x.depth+1) {
		r.Text = x.name + " > " + r.Text
		x.out = append(x.out, r)
	}
}

// read reads up to n bytes, charging them to the run's budget; errBudget
// when the budget ran out before the entry did.
func (x *arch) read(r io.Reader, n int64) ([]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	lim := min(n, x.a.expand)
	b, err := io.ReadAll(io.LimitReader(r, lim))
	x.a.expand -= int64(len(b))
	if err == nil && int64(len(b)) == lim && lim < n {
		var one [1]byte
		if k, _ := r.Read(one[:]); k > 0 {
			return b, errBudget
		}
	}
	return b, err
}

// zip walks the container package zipfile opened (once, for the
// document properties too), when the file is within MaxRead.
func (a *run) zip(d *formats.Doc, name string, depth int) []score.Reason {
	if d.Size > a.lim.MaxRead || d.Zip == nil || d.Zip.Zip == nil {
		return nil
	}
	z := d.Zip.Zip
	x := &arch{a: a, name: name, depth: depth}
	for i, f := range z.File {
		if x.stop {
			break
		}
		if i >= a.lim.MaxEntries {
			x.limit("entry count")
			break
		}
		if f.Flags&1 != 0 {
			w, what := 5, "an encrypted entry"
			if execName(f.Name) {
				w, what = 8, "an encrypted executable"
			}
			x.add("archive.encrypted", w, "%s: %q is %s", name, f.Name, what)
			if escapes(f.Name) {
				x.add("archive.path_escape", 6, "%s: entry %q escapes the extraction directory", name, f.Name)
			}
			continue
		}
		if escapes(f.Name) {
			x.add("archive.path_escape", 6, "%s: entry %q escapes the extraction directory", name, f.Name)
		}
		if f.FileInfo().IsDir() || x.officePart(f) {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			continue
		}
		x.entry(f.Name, rc, int64(min(f.UncompressedSize64, 1<<62)), int64(min(f.CompressedSize64, 1<<62)))
		rc.Close()
	}
	return dedup(x.out)
}

func (a *run) gzip(d *formats.Doc, name string, depth int) []score.Reason {
	r, size := d.R, d.Size
	if r == nil {
		return nil
	}
	zr, err := gzip.NewReader(io.NewSectionReader(r, 0, min(size, a.lim.MaxRead)))
	if err != nil {
		return nil
	}
	zr.Multistream(false)
	inner := zr.Name
	if inner == "" {
		inner = strings.TrimSuffix(strings.TrimSuffix(path.Base(name), ".gz"), ".tgz")
	}
	// ISIZE, the last 4 bytes, is the member's size mod 2^32: a claim,
	// but enough to catch the plain bomb without inflating it.
	claimed := int64(-1)
	if t := readAt(r, size-4, 4); len(t) == 4 {
		claimed = int64(binary.LittleEndian.Uint32(t))
	}
	x := &arch{a: a, name: name, depth: depth}
	x.entry(inner, zr, claimed, size)
	return x.out
}

func (a *run) tar(d *formats.Doc, name string, depth int) []score.Reason {
	if d.R == nil {
		return nil
	}
	tr := tar.NewReader(io.NewSectionReader(d.R, 0, min(d.Size, a.lim.MaxRead)))
	x := &arch{a: a, name: name, depth: depth}
	for i := 0; !x.stop; i++ {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if i >= a.lim.MaxEntries {
			x.limit("entry count")
			break
		}
		switch h.Typeflag {
		case tar.TypeReg:
			if escapes(h.Name) {
				x.add("archive.path_escape", 6, "%s: entry %q escapes the extraction directory", name, h.Name)
			}
			x.entry(h.Name, tr, h.Size, h.Size)
		case tar.TypeSymlink, tar.TypeLink:
			if escapes(h.Name) || escapes(h.Linkname) {
				x.add("archive.path_escape", 6, "%s: link %q -> %q escapes the extraction directory", name, h.Name, h.Linkname)
			}
		default:
			if escapes(h.Name) {
				x.add("archive.path_escape", 6, "%s: entry %q escapes the extraction directory", name, h.Name)
			}
		}
	}
	return dedup(x.out)
}

// dedup keeps the first reason per rule and text: a zip of 10000 .exe
// files is one finding told 10000 times. Per rule, at most 5 are kept.
func dedup(rs []score.Reason) []score.Reason {
	seen := map[string]int{}
	out := rs[:0]
	for _, r := range rs {
		if seen[r.Rule]++; seen[r.Rule] <= 5 {
			out = append(out, r)
		}
	}
	return out
}
