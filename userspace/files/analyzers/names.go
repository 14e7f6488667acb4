package analyzers

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// Name checks: the tricks that make a user click an executable believing
// it is a document. They need only the name and the content type.

// lureExts are document and media extensions a lure pretends to be.
var lureExts = setOf("pdf doc docx docm xls xlsx xlsm ppt pptx pptm rtf txt odt ods odp csv " +
	"jpg jpeg png gif bmp tif tiff svg webp mp3 mp4 wav avi mov mkv wmv html htm")

// execExts run something when opened on Windows (or a desktop).
var execExts = setOf("exe scr com pif bat cmd vbs vbe js jse wsf wsh hta msi lnk ps1 jar dll cpl reg sys ocx")

func setOf(s string) map[string]bool {
	m := map[string]bool{}
	for _, e := range strings.Fields(s) {
		m[e] = true
	}
	return m
}

// bidiControls reorder how a name is displayed: "invoice\u202Efdp.exe"
// shows as "invoiceexe.pdf". No honest file name needs them.
func isBidiControl(r rune) bool {
	switch {
	case r == 0x200E || r == 0x200F || r == 0x061C: // LRM, RLM, ALM
		return true
	case r >= 0x202A && r <= 0x202E: // LRE RLE PDF LRO RLO
		return true
	case r >= 0x2066 && r <= 0x2069: // LRI RLI FSI PDI
		return true
	}
	return false
}

// padRun is how many white space characters before the last dot count
// as padding meant to push the real extension out of view.
const padRun = 5

func checkName(name string, t filetype.Type) []score.Reason {
	var out []score.Reason
	if t.Mismatch {
		out = append(out, score.Reason{Rule: "name.extension_mismatch", Weight: 6,
			Text: fmt.Sprintf("name or claimed type does not match the content (%s)", t.Kind)})
	}
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	for _, r := range name {
		if isBidiControl(r) {
			out = append(out, score.Reason{Rule: "name.bidi_control", Weight: 8,
				Text: fmt.Sprintf("name contains bidirectional control U+%04X that disguises the extension", r)})
			break
		}
	}
	// Windows ignores trailing dots and spaces, so the extension that
	// counts is the one before them.
	name = strings.TrimRight(name, ". ")
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 {
		return out
	}
	ext := strings.ToLower(name[dot+1:])
	stem := name[:dot]
	if !execExts[ext] {
		return out
	}
	if n := trailingSpace(stem); n >= padRun {
		out = append(out, score.Reason{Rule: "name.whitespace_padding", Weight: 6,
			Text: fmt.Sprintf("%d white space characters pad the name before .%s", n, ext)})
	}
	if d := strings.LastIndexByte(stem, '.'); d >= 0 {
		inner := strings.ToLower(strings.TrimRightFunc(stem[d+1:], unicode.IsSpace))
		if lureExts[inner] {
			out = append(out, score.Reason{Rule: "name.double_extension", Weight: 7,
				Text: fmt.Sprintf("double extension .%s.%s: an executable named as a document", inner, ext)})
		}
	}
	return out
}

// trailingSpace counts white space runes (any Unicode space, including
// no-break and ideographic spaces) at the end of s.
func trailingSpace(s string) int {
	n := 0
	for len(s) > 0 {
		r, size := utf8.DecodeLastRuneInString(s)
		if !unicode.IsSpace(r) && r != '\u2800' && r != '\u3164' { // braille blank, hangul filler render blank
			break
		}
		n++
		s = s[:len(s)-size]
	}
	return n
}
