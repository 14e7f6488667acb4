package analyzers

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/files/formats"
	"github.com/edgesensor/edgesensor/userspace/files/formats/ole2"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// Office: VBA macros in OLE2 files and in OOXML's vbaProject.bin,
// auto-run macro names, and OOXML relationships that fetch something
// from outside when the document opens (remote template injection).

const (
	vbaMaxStream = 4 << 20  // bytes read of one VBA stream
	vbaMaxTotal  = 16 << 20 // bytes read of all VBA streams of a file
	vbaMaxTries  = 64       // decompression attempts per module stream
	// vbaMaxSource bounds the VBA source decompressed per analyzed file,
	// over every try of every module. A 6 KiB document whose one 4 KB
	// module puts 64 chunk chains in front of ~580 chunks of 4 KiB each
	// cost 1.8 s (64 tries of 2.3 MB) without it, and a directory of
	// 4096 such modules on one chain 4096 times that; 0.3 s with it
	// (TestVBABomb).
	vbaMaxSource = 32 << 20
	relsMax      = 1 << 20 // bytes of a .rels part parsed
)

// autoExec are the macro names Office runs by itself.
var autoExec = []string{"AutoOpen", "Auto_Open", "Document_Open", "Workbook_Open", "AutoExec",
	"AutoClose", "Auto_Close", "Document_Close", "Document_New", "AutoNew"}

func (a *run) ole(d *formats.Doc, _ string, _ int) []score.Reason {
	return a.vbaReasons(d.OLE2, "")
}

// vbaReasons looks for a VBA project in a compound file (nil: none was
// read) and for auto-run names in its streams. where prefixes the texts.
func (a *run) vbaReasons(c *ole2.File, where string) []score.Reason {
	if c == nil {
		return nil
	}
	macros := false
	var modules []*ole2.Dir
	c.Walk(func(d *ole2.Dir, parent string) {
		switch {
		case d.Type == ole2.TypeStorage && (d.Name == "VBA" || d.Name == "Macros" || d.Name == "_VBA_PROJECT_CUR"):
			macros = true
		case d.Type == ole2.TypeStream && d.Name == "_VBA_PROJECT":
			macros = true
		}
		if d.Type == ole2.TypeStream && parent == "VBA" {
			modules = append(modules, d)
		}
	})
	if !macros {
		return nil
	}
	out := []score.Reason{{Rule: "office.macros", Weight: 5, Text: where + "contains a VBA macro project"}}
	total := 0
	for _, d := range modules {
		if total >= vbaMaxTotal {
			break
		}
		b := c.Stream(d, min(vbaMaxStream, vbaMaxTotal-total))
		total += len(b)
		if n := a.findAutoExec(b); n != "" {
			out = append(out, score.Reason{Rule: "office.autoexec_macro", Weight: 8,
				Text: fmt.Sprintf("%smacro %s runs automatically (stream %q)", where, n, d.Name)})
			break
		}
	}
	return out
}

// findAutoExec searches a module stream for auto-run names: in the raw
// bytes (p-code and identifier tables keep them in ASCII, and compressed
// source often keeps them whole), then in the compressed source. The
// source's offset is in the dir stream; rather than parse it, try each
// place that looks like a container start: 0x01 then a chunk header,
// within the file's vbaMaxSource.
func (a *run) findAutoExec(b []byte) string {
	if n := autoExecIn(b); n != "" {
		return n
	}
	tries := 0
	for i := len(b) - 3; i >= 0 && tries < vbaMaxTries && a.vba > 0; i-- {
		if b[i] != 1 || b[i+2]&0x70 != 0x30 {
			continue
		}
		tries++
		src, ok := decompressVBA(b[i:], min(vbaMaxStream, a.vba))
		a.vba -= len(src)
		if ok {
			if n := autoExecIn(src); n != "" {
				return n
			}
		}
	}
	return ""
}

func autoExecIn(b []byte) string {
	lower := bytes.ToLower(b)
	for _, n := range autoExec {
		if bytes.Contains(lower, []byte(strings.ToLower(n))) {
			return n
		}
	}
	return ""
}

// officePart checks the OOXML parts of a zip: vbaProject.bin (macros)
// and relationship parts. It reports whether the entry was fully dealt
// with (the generic entry walk would only repeat it).
func (x *arch) officePart(f *zip.File) bool {
	lname := strings.ToLower(f.Name)
	switch {
	case strings.HasSuffix(lname, "vbaproject.bin"):
		rc, err := f.Open()
		if err != nil {
			return false
		}
		defer rc.Close()
		b, _ := x.read(rc, vbaMaxTotal)
		rs := x.a.vbaReasons(ole2.Open(bytes.NewReader(b), int64(len(b))), x.name+" > ")
		if len(rs) == 0 { // not a readable compound file: still a macro part
			rs = []score.Reason{{Rule: "office.macros", Weight: 5, Text: x.name + " > contains " + f.Name}}
			if n := x.a.findAutoExec(b); n != "" {
				rs = append(rs, score.Reason{Rule: "office.autoexec_macro", Weight: 8,
					Text: fmt.Sprintf("%s > macro %s runs automatically", x.name, n)})
			}
		}
		x.out = append(x.out, rs...)
		return true
	case strings.HasSuffix(lname, ".rels"):
		rc, err := f.Open()
		if err != nil {
			return false
		}
		defer rc.Close()
		b, _ := x.read(rc, relsMax)
		x.out = append(x.out, relsReasons(b, x.name+" > "+f.Name)...)
		return true
	}
	return false
}

// relsReasons reads OPC relationships and reports external targets that
// Office fetches by itself. Hyperlinks are external by nature and only
// followed on a click, so they are left out.
func relsReasons(b []byte, where string) []score.Reason {
	var out []score.Reason
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = false
	for tokens := 0; tokens < 100000; tokens++ {
		tok, err := d.RawToken()
		if err != nil {
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "Relationship" {
			continue
		}
		var typ, target, mode string
		for _, at := range se.Attr {
			switch at.Name.Local {
			case "Type":
				typ = at.Value
			case "Target":
				target = at.Value
			case "TargetMode":
				mode = at.Value
			}
		}
		if !strings.EqualFold(mode, "External") {
			continue
		}
		kind := typ[strings.LastIndexByte(typ, '/')+1:]
		switch kind {
		case "hyperlink":
		case "attachedTemplate":
			out = append(out, score.Reason{Rule: "office.remote_template", Weight: 8,
				Text: fmt.Sprintf("%s: template loaded from %q on open", where, trunc(target, 200))})
		default:
			out = append(out, score.Reason{Rule: "office.external_relationship", Weight: 6,
				Text: fmt.Sprintf("%s: external %s fetched from %q", where, kind, trunc(target, 200))})
		}
	}
	return out
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// rtf reports embedded OLE objects: the carrier of most RTF exploits.
// \objupdate makes Word load the object without a click.
func (a *run) rtf(d *formats.Doc, _ string, _ int) []score.Reason {
	b := readAll(d.R, d.Size, a.lim.MaxRead)
	seen := map[string]bool{}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		j := i + 1
		for j < len(b) && j-i < 32 && isLetter(b[j]) {
			j++
		}
		switch w := string(b[i+1 : j]); w {
		case "object", "objdata", "objupdate", "objemb", "objlink", "objautlink":
			seen[w] = true
		}
		i = j - 1
	}
	switch {
	case seen["objupdate"]:
		return []score.Reason{{Rule: "rtf.embedded_object", Weight: 7, Text: `embedded OLE object loaded on open (\objupdate)`}}
	case len(seen) > 0:
		return []score.Reason{{Rule: "rtf.embedded_object", Weight: 6, Text: `embedded OLE object (\object, \objdata)`}}
	}
	return nil
}
