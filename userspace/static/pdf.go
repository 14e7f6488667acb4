package static

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/score"
)

// PDF: count the names that make a PDF act rather than display. Names
// are read as PDF names (with #xx escapes decoded), so /J#61vaScript
// counts as /JavaScript and is itself a finding: no honest writer spells
// a keyword that way. Object streams (/ObjStm) can hide all of this from
// a raw scan, so a few FlateDecode streams are inflated and scanned too.

const (
	pdfMaxObjStm   = 16      // object streams inflated
	pdfMaxObjStmSz = 4 << 20 // bytes inflated from each
	pdfManyURI     = 20
)

var pdfKeys = []string{"JavaScript", "JS", "OpenAction", "AA", "Launch", "EmbeddedFile", "URI", "ObjStm", "XFA", "AcroForm"}

type pdfCounts struct {
	n          map[string]int
	obfuscated []string // keywords written with #xx escapes
}

func (a *run) pdf(r io.ReaderAt, size int64, _ string, _ int) []score.Reason {
	b := readAll(r, size, a.lim.MaxRead)
	c := pdfCounts{n: map[string]int{}}
	// Inflate object streams: the stream after each /ObjStm name (found
	// as a name, so an escaped /Obj#53tm is followed too).
	streams := 0
	for _, i := range c.scan(b) {
		if streams >= pdfMaxObjStm {
			break
		}
		k := bytes.Index(b[i:min(len(b), i+4096)], []byte("stream"))
		if k < 0 {
			continue
		}
		s := i + k + len("stream")
		for s < len(b) && (b[s] == '\r' || b[s] == '\n') {
			s++
		}
		zr, err := zlib.NewReader(bytes.NewReader(b[s:]))
		if err != nil {
			continue
		}
		in, _ := io.ReadAll(io.LimitReader(zr, pdfMaxObjStmSz))
		streams++
		c.scan(in) // object streams cannot nest: their positions are not followed
	}
	return c.reasons()
}

// scan counts keyword names in b and returns where each /ObjStm name
// ends. A name is '/' then regular characters (PDF 32000 7.3.5):
// anything but white space and delimiters.
func (c *pdfCounts) scan(b []byte) (objStm []int) {
	for i := 0; i < len(b); i++ {
		if b[i] != '/' {
			continue
		}
		j := i + 1
		for j < len(b) && j-i < 128 && !pdfDelim(b[j]) {
			j++
		}
		raw := b[i+1 : j]
		i = j - 1
		name, escaped := pdfName(raw)
		for _, k := range pdfKeys {
			if name == k {
				c.n[k]++
				if escaped {
					c.obfuscated = append(c.obfuscated, "/"+string(raw))
				}
				if k == "ObjStm" {
					objStm = append(objStm, j)
				}
			}
		}
	}
	return objStm
}

func pdfDelim(c byte) bool {
	switch c {
	case 0, '\t', '\n', '\f', '\r', ' ', '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

// pdfName decodes #xx escapes; escaped says whether there were any.
func pdfName(raw []byte) (string, bool) {
	if bytes.IndexByte(raw, '#') < 0 {
		return string(raw), false
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] == '#' && i+2 < len(raw) && hexVal(raw[i+1]) >= 0 && hexVal(raw[i+2]) >= 0 {
			out = append(out, byte(hexVal(raw[i+1])<<4|hexVal(raw[i+2])))
			i += 2
			continue
		}
		out = append(out, raw[i])
	}
	return string(out), true
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c|0x20 >= 'a' && c|0x20 <= 'f':
		return int(c|0x20-'a') + 10
	}
	return -1
}

func (c *pdfCounts) reasons() []score.Reason {
	var out []score.Reason
	add := func(rule string, w int, format string, args ...any) {
		out = append(out, score.Reason{Rule: rule, Weight: w, Text: fmt.Sprintf(format, args...)})
	}
	js := c.n["JavaScript"] + c.n["JS"]
	auto := c.n["OpenAction"] + c.n["AA"]
	if len(c.obfuscated) > 0 {
		add("pdf.obfuscated_name", 5, "keyword names hidden with #xx escapes: %s", strings.Join(first(c.obfuscated, 5), " "))
	}
	switch {
	case js > 0 && auto > 0:
		add("pdf.auto_javascript", 7, "JavaScript run on open or on an event (/OpenAction or /AA)")
	case js > 0:
		add("pdf.javascript", 5, "contains JavaScript")
	}
	if c.n["Launch"] > 0 {
		add("pdf.launch", 7, "a /Launch action starts a program or opens a file")
	}
	if c.n["EmbeddedFile"] > 0 {
		add("pdf.embedded_file", 4, "carries %d embedded file(s)", c.n["EmbeddedFile"])
	}
	if c.n["XFA"] > 0 {
		add("pdf.xfa", 2, "XFA form (can carry scripts)")
	}
	if c.n["URI"] > pdfManyURI {
		add("pdf.many_uris", 2, "%d URI actions", c.n["URI"])
	}
	return out
}

func first(s []string, n int) []string { return s[:min(len(s), n)] }
