package analyzers

import (
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/files/formats"
	"github.com/edgesensor/edgesensor/userspace/files/formats/chmfile"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// hhCtrl is the CLSID of the HTML Help ActiveX control: its ShortCut
// command starts a program from a page (the CHM lures' way to run their
// payload), its Close/WinHelp commands are benign.
const hhCtrl = "adb880a6-d8ff-11cf-9377-00aa003b7a11"

// maxCHMPage is how much of one stored page is searched for commands.
const maxCHMPage = 1 << 20

// chm weighs a compiled HTML help file and looks inside (package
// chmfile): the files stored uncompressed are typed and examined like
// archive entries, the pages among them searched for the ShortCut
// command and for scripts that run programs; files that are LZX
// compressed (most pages of a real CHM) are judged by name only, and
// the reason says how many were not read.
func (a *run) chm(d *formats.Doc, name string, depth int) []score.Reason {
	x := &arch{a: a, name: name, depth: depth}
	f := chmfile.Parse(d.R, d.Size)
	unread := 0
	if f != nil {
		if f.Truncated {
			x.cut("CHM directory")
		}
		files := 0
		for _, e := range f.Entries {
			if x.stop {
				break
			}
			if strings.HasSuffix(e.Name, "/") || strings.HasPrefix(e.Name, "::") || helpTable(e.Name) {
				continue // directories and the help system's own tables
			}
			if files >= a.lim.MaxEntries {
				x.limit("entry count")
				break
			}
			files++
			ext := strings.TrimPrefix(strings.ToLower(path.Ext(e.Name)), ".")
			if !e.Readable() {
				unread++
				if execExts[ext] {
					x.add("chm.executable_name", 7, "%s: holds %q (compressed, content not read)", name, e.Name)
				}
				continue
			}
			x.entry(path.Base(e.Name), io.NewSectionReader(d.R, e.Offset, e.Size), e.Size, -1)
			switch ext {
			case "htm", "html", "hhc", "hhk", "js", "vbs", "sct":
				x.page(d.R, e)
			}
		}
	}
	text := "compiled HTML help: opening it runs its scripts with the user's rights (hh.exe)"
	if unread > 0 {
		text += fmt.Sprintf("; %d file(s) LZX-compressed, not read", unread)
	}
	out := []score.Reason{{Rule: "chm.downloaded", Weight: 6, Text: text}}
	return append(out, dedup(x.out)...)
}

// page searches a stored page for what runs programs.
func (x *arch) page(r io.ReaderAt, e chmfile.Entry) {
	n := min(e.Size, maxCHMPage, x.a.expand)
	if n <= 0 {
		return
	}
	b := make([]byte, n)
	k, _ := r.ReadAt(b, e.Offset)
	x.a.expand -= int64(k)
	src := strings.ToLower(string(b[:k]))
	if strings.Contains(src, hhCtrl) && strings.Contains(src, "shortcut") {
		what := "a program"
		// Item1 is ",program,arguments": what the click runs.
		if i := strings.Index(src, `"item1"`); i >= 0 {
			if v := strings.Index(src[i:], "value="); v >= 0 {
				val := strings.TrimLeft(src[i+v+6:], `"' `)
				if end := strings.IndexAny(val, `"'>`); end >= 0 {
					val = val[:end]
				}
				what = fmt.Sprintf("%q", val[:min(len(val), 200)])
			}
		}
		x.add("chm.shortcut_command", 8, "%s: page %q uses the HTML Help control's ShortCut command to run %s", x.name, e.Name, what)
		return
	}
	if strings.Contains(src, "<script") {
		if r := anyOf(src, runners); r != "" {
			x.add("chm.script_runs", 7, "%s: page %q has a script that runs programs (%s)", x.name, e.Name, strings.TrimSpace(r))
		}
	}
}

// helpTable: the help system's own tables ("/#SYSTEM", "/$FIftiMain",
// "/$WWKeywordLinks/BTree") have no extension; "/$setup.exe" is a file
// hh.exe serves like any other.
func helpTable(name string) bool {
	return (strings.HasPrefix(name, "/#") || strings.HasPrefix(name, "/$")) && !strings.Contains(path.Base(name), ".")
}
