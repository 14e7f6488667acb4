// Package text turns strings found in untrusted files into values fit
// for an event: valid UTF-8, no control characters, bounded.
package text

import (
	"encoding/binary"
	"encoding/xml"
	"io"
	"strings"
	"unicode/utf16"
)

// MaxValue is how many bytes of any one string value are kept.
const MaxValue = 512

// Clean makes an untrusted value fit for an event: valid UTF-8, no
// control characters, trimmed, at most MaxValue bytes.
func Clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			if r == '\t' || r == '\n' || r == '\r' {
				return ' '
			}
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > MaxValue {
		s = strings.ToValidUTF8(s[:MaxValue], "")
	}
	return s
}

// UTF16LE decodes UTF-16LE up to the first NUL, at most MaxValue code
// units, and cleans the result.
func UTF16LE(b []byte) string {
	for i := 0; i+2 <= len(b); i += 2 {
		if b[i] == 0 && b[i+1] == 0 {
			b = b[:i]
			break
		}
	}
	return UTF16(b, binary.LittleEndian)
}

// UTF16 decodes UTF-16 in the byte order bo, NULs included (a file
// system's name holds what its bytes say; Clean drops them), at most
// MaxValue code units, and cleans the result.
func UTF16(b []byte, bo binary.ByteOrder) string {
	u := make([]uint16, min(len(b)/2, MaxValue))
	for i := range u {
		u[i] = bo.Uint16(b[2*i:])
	}
	return Clean(string(utf16.Decode(u)))
}

// XMLValues returns the first text of each wanted element (for an RDF
// container, of its first rdf:li) and of each wanted attribute (XMP
// writes simple properties as attributes of rdf:Description too), all
// cleaned. The decoder does not expand external entities, stops at the
// first syntax error with what it has, and looks at 100000 tokens at
// most; the caller bounds what r yields.
func XMLValues(r io.Reader, want map[xml.Name]bool) map[xml.Name]string {
	out := map[xml.Name]string{}
	dec := xml.NewDecoder(r)
	dec.Strict = false
	dec.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	var cur xml.Name // the wanted element we are inside, if any
	var text strings.Builder
	depth, curDepth := 0, 0
	for tokens := 0; tokens < 100000; tokens++ {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			for _, a := range t.Attr {
				if want[a.Name] && out[a.Name] == "" {
					out[a.Name] = Clean(a.Value)
				}
			}
			if cur.Local == "" && want[t.Name] && out[t.Name] == "" {
				cur, curDepth = t.Name, depth
				text.Reset()
			}
		case xml.CharData:
			if cur.Local != "" && text.Len() < 4*MaxValue {
				text.Write(t)
			}
		case xml.EndElement:
			if cur.Local != "" {
				// End of an rdf:li with text, or of the element itself.
				if s := strings.TrimSpace(text.String()); s != "" && (t.Name.Space == nsRDF && t.Name.Local == "li" || depth == curDepth) {
					out[cur] = Clean(s)
					cur = xml.Name{}
				} else if depth == curDepth {
					cur = xml.Name{}
				}
			}
			depth--
		}
	}
	return out
}

const nsRDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
