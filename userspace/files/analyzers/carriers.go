package analyzers

import (
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/files/formats"
	"github.com/edgesensor/edgesensor/userspace/files/formats/onenote"
	"github.com/edgesensor/edgesensor/userspace/files/formats/udffile"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// The carriers of today's malware: shortcuts, scripts, disk images,
// OneNote and CHM. What each weighs, and why, is in docs/events.md
// ("Threat score").

// carrierAnalyzers picks what applies to the new kinds.
func (a *run) carrierAnalyzers(t filetype.Type) []analyzer {
	// A picture carrying a payload (polyglot.go), whatever the payload's
	// category: first, so the category's own analyzers do not claim it.
	if pic, _, ok := filetype.SplitPolyglot(t.Kind); ok {
		return []analyzer{func(d *formats.Doc, name string, depth int) []score.Reason { return a.polyglot(d, pic, name, depth) }}
	}
	switch t.Category {
	case filetype.Shortcut:
		if t.Kind == filetype.KindLNK {
			return []analyzer{lnk}
		}
		return []analyzer{urlFile}
	case filetype.Script:
		return []analyzer{func(d *formats.Doc, name string, depth int) []score.Reason { return script(d, t) }}
	case filetype.DiskImage:
		return []analyzer{a.image}
	}
	switch t.Kind {
	case filetype.KindOneNote:
		return []analyzer{a.oneNote}
	case filetype.KindCHM:
		return []analyzer{a.chm} // chm.go
	}
	return nil
}

// lolbins are programs a shortcut or script runs to do the malware's
// work with a signed binary: interpreters and the system tools that
// fetch, decode or load code.
var lolbins = []string{
	"powershell", "pwsh", "cmd.exe", "mshta", "rundll32", "regsvr32", "wscript", "cscript",
	"certutil", "bitsadmin", "msiexec", "conhost", "forfiles", "schtasks", "wmic", "curl.exe",
	"msbuild", "installutil", "regasm", "regsvcs", "hh.exe", "explorer.exe",
}

func lolbin(s string) string {
	l := strings.ToLower(s)
	for _, b := range lolbins {
		if strings.Contains(l, b) {
			return b
		}
	}
	return ""
}

// lnk reads what a shortcut runs.
func lnk(d *formats.Doc, _ string, _ int) []score.Reason {
	l := d.LNK
	out := []score.Reason{{Rule: "lnk.downloaded", Weight: 5,
		Text: "a Windows shortcut from the network: it runs what it points at with a double click"}}
	if l == nil {
		return out
	}
	for _, t := range []string{l.Target, l.TargetLinkInfo, l.TargetEnv, l.TargetIDList, l.RelativePath, l.Arguments} {
		if b := lolbin(t); b != "" {
			out = append(out, score.Reason{Rule: "lnk.runs_interpreter", Weight: 8,
				Text: fmt.Sprintf("shortcut runs %s: %q %q", b, l.Target, l.Arguments)})
			break
		}
	}
	if l.ArgsLen > 260 || strings.Contains(l.ArgsRaw, strings.Repeat(" ", 64)) || strings.Count(l.ArgsRaw, "\n") > 4 {
		out = append(out, score.Reason{Rule: "lnk.hidden_arguments", Weight: 6,
			Text: fmt.Sprintf("shortcut arguments of %d characters, padded past what Explorer shows", l.ArgsLen)})
	}
	if icon := strings.ToLower(l.IconLocation); strings.HasPrefix(icon, `\\`) || strings.HasPrefix(icon, "http") {
		out = append(out, score.Reason{Rule: "lnk.remote_icon", Weight: 5,
			Text: fmt.Sprintf("shortcut icon on a remote host (%q): showing it sends the user's credentials", l.IconLocation)})
	}
	if l.ShowCommand == 7 && len(out) > 1 {
		out = append(out, score.Reason{Rule: "lnk.hidden_window", Weight: 3, Text: "shortcut opens its window minimised"})
	}
	return out
}

// urlFile reads an internet shortcut's URL.
func urlFile(d *formats.Doc, _ string, _ int) []score.Reason {
	b := readAll(d.R, d.Size, 64<<10)
	var target string
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && strings.EqualFold(k, "URL") {
			target = v
			break
		}
	}
	l := strings.ToLower(target)
	if strings.HasPrefix(l, "file:") || strings.HasPrefix(l, `\\`) || strings.HasPrefix(l, "search-ms:") {
		return []score.Reason{{Rule: "url.file_target", Weight: 7,
			Text: fmt.Sprintf("internet shortcut opens a remote file share (%q): WebDAV/SMB delivery", target)}}
	}
	return []score.Reason{{Rule: "url.downloaded", Weight: 3, Text: "an internet shortcut from the network"}}
}

// scriptWeight: a script of this kind from the network, run with a
// double click (Windows Script Host, HTA, batch) or not (shell, Python:
// they need an interpreter invoked, and install scripts are common).
var scriptWeight = map[string]int{
	filetype.KindHTA: 7, filetype.KindPowerShell: 5, filetype.KindVBScript: 6, filetype.KindJScript: 6,
	filetype.KindWSF: 6, filetype.KindBatch: 5, filetype.KindShell: 2, filetype.KindPython: 2,
}

var (
	// fetchers fetch code; runners run what they are given.
	fetchers = []string{"downloadstring", "downloadfile", "downloaddata", "invoke-webrequest", "iwr ", "invoke-restmethod",
		"irm ", "net.webclient", "start-bitstransfer", "bitsadmin", "urlcache", "msxml2.xmlhttp", "winhttp.winhttprequest",
		"xmlhttp", "urldownloadtofile", "curl ", "wget "}
	runners = []string{"iex", "invoke-expression", "shellexecute", "wscript.shell", ".run(", "start-process", "eval(",
		"execute(", "| sh", "|sh", "| bash", "exec(", "regsvr32", "rundll32", "mshta"}
	encoded = []string{"-enc ", "-encodedcommand", "frombase64string", "#@~^", "-e jab", "-ec "}
)

// script weighs a script from the network and what it says it does.
func script(d *formats.Doc, t filetype.Type) []score.Reason {
	w, ok := scriptWeight[t.Kind]
	if !ok {
		return nil
	}
	rule := "script.downloaded"
	if t.Kind == filetype.KindHTA {
		rule = "script.hta"
	}
	out := []score.Reason{{Rule: rule, Weight: w, Text: fmt.Sprintf("a %s script from the network (%s)", t.Kind, t.Reason)}}
	src := strings.ToLower(string(readAll(d.R, d.Size, 1<<20)))
	if f, r := anyOf(src, fetchers), anyOf(src, runners); f != "" && r != "" {
		out = append(out, score.Reason{Rule: "script.download_cradle", Weight: 8,
			Text: fmt.Sprintf("script fetches code (%s) and runs it (%s)", strings.TrimSpace(f), strings.TrimSpace(r))})
	}
	if e := anyOf(src, encoded); e != "" {
		out = append(out, score.Reason{Rule: "script.encoded", Weight: 6,
			Text: fmt.Sprintf("script carries encoded code (%s)", strings.TrimSpace(e))})
	}
	return out
}

func anyOf(s string, words []string) string {
	for _, w := range words {
		if strings.Contains(s, w) {
			return w
		}
	}
	return ""
}

// image weighs a disk image and looks at the files of an ISO.
func (a *run) image(d *formats.Doc, name string, depth int) []score.Reason {
	out := []score.Reason{{Rule: "image.downloaded", Weight: 4,
		Text: "a disk image from the network: it mounts with a double click, and what is inside did not carry the download's Mark-of-the-Web before Windows 11 22H2"}}
	if d.ISO == nil { // a VHD, VHDX or raw disk: its volumes (diskimage.go)
		return append(out, a.diskImage(d, name, depth)...)
	}
	x := &arch{a: a, name: name, depth: depth}
	if d.ISO.Truncated {
		x.cut("image directory")
	}
	for i, f := range d.ISO.Files {
		if x.stop || i >= a.lim.MaxEntries {
			break
		}
		x.entry(path.Base(f.Path), io.NewSectionReader(d.R, f.Offset, f.Size), f.Size, -1)
	}
	// An ISO/UDF bridge: Windows mounts the UDF side, whose directory
	// may differ from the ISO 9660 one (a decoy in one, the payload in
	// the other). The UDF files not seen through ISO 9660 are examined
	// too.
	if u := udffile.Parse(d.R, d.Size); u != nil && !x.stop {
		seen := map[[2]int64]bool{}
		for _, f := range d.ISO.Files {
			seen[[2]int64{f.Offset, f.Size}] = true
		}
		return append(out, a.udf(x, d.R, u, seen)...)
	}
	return append(out, x.out...)
}

// oneNote examines the files embedded in a OneNote section (package
// onenote finds them) each as an archive entry: the 2023 lures hid an
// HTA, a script or an executable behind a "double click to view"
// picture.
func (a *run) oneNote(d *formats.Doc, name string, depth int) []score.Reason {
	f := onenote.Scan(d.R, d.Size, a.lim.MaxRead)
	x := &arch{a: a, name: name, depth: depth}
	n := 0
	for _, e := range f.Files {
		if x.stop || n >= a.lim.MaxEntries {
			break
		}
		n++
		x.entry(fmt.Sprintf("embedded file %d", n), io.NewSectionReader(d.R, e.Offset, e.Size), e.Size, -1)
	}
	if f.Truncated && !x.stop {
		// Past MaxRead (or MaxFiles) the section was not searched: a
		// payload put after padding is not silently missed.
		x.limit("OneNote size")
	}
	if n == 0 {
		return x.out
	}
	out := []score.Reason{{Rule: "onenote.embedded_file", Weight: 5,
		Text: fmt.Sprintf("OneNote section with %d embedded file(s): a double click runs them", n)}}
	return append(out, x.out...)
}
