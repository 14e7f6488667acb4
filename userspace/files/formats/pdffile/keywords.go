package pdffile

import (
	"bufio"
	"bytes"
	"io"

	"github.com/klauspost/compress/zlib"
)

// Keywords counts the names that make a PDF act rather than display.
// Names are read as PDF names (#xx escapes decoded), so /J#61vaScript
// counts as /JavaScript; and is itself a finding, as no honest writer
// spells a keyword that way.
type Keywords struct {
	JavaScript, JS, OpenAction, AA, Launch, EmbeddedFile, URI, ObjStm, XFA, AcroForm int

	// Obfuscated are the first escaped keyword names as written (e.g.
	// "/J#61vaScript"), at most MaxObfuscated; ObfuscatedCount counts
	// them all.
	Obfuscated      []string
	ObfuscatedCount int
}

// MaxObfuscated bounds Keywords.Obfuscated.
const MaxObfuscated = 5

const (
	maxName = 128 // a name's bytes, the slash included, as scanned
	// scanChunk is where names start per read of the keyword scan: with
	// the look-ahead a name started at its end may need, a read is the
	// head window exactly, so the first is the one the metadata walk made.
	scanChunk = Window - maxName
	// streamSearch: how far after an /ObjStm name its stream is looked for.
	streamSearch = 4096
)

// count adds one keyword name; raw is as written (without the slash).
func (k *Keywords) count(name string, raw []byte, escaped bool) (objStm bool) {
	var n *int
	switch name {
	case "JavaScript":
		n = &k.JavaScript
	case "JS":
		n = &k.JS
	case "OpenAction":
		n = &k.OpenAction
	case "AA":
		n = &k.AA
	case "Launch":
		n = &k.Launch
	case "EmbeddedFile":
		n = &k.EmbeddedFile
	case "URI":
		n = &k.URI
	case "ObjStm":
		n, objStm = &k.ObjStm, true
	case "XFA":
		n = &k.XFA
	case "AcroForm":
		n = &k.AcroForm
	default:
		return false
	}
	*n++
	if escaped {
		k.ObfuscatedCount++
		if len(k.Obfuscated) < MaxObfuscated {
			k.Obfuscated = append(k.Obfuscated, "/"+string(raw))
		}
	}
	return objStm
}

// add merges o (counted after k) into k.
func (k *Keywords) add(o *Keywords) {
	k.JavaScript += o.JavaScript
	k.JS += o.JS
	k.OpenAction += o.OpenAction
	k.AA += o.AA
	k.Launch += o.Launch
	k.EmbeddedFile += o.EmbeddedFile
	k.URI += o.URI
	k.ObjStm += o.ObjStm
	k.XFA += o.XFA
	k.AcroForm += o.AcroForm
	k.ObfuscatedCount += o.ObfuscatedCount
	for _, s := range o.Obfuscated {
		if len(k.Obfuscated) < MaxObfuscated {
			k.Obfuscated = append(k.Obfuscated, s)
		}
	}
}

// scanKeywords counts keyword names in the first n bytes of r, read in
// chunks where chunk names may start (head, when it holds the first
// chunk and its look-ahead, is that read, already made),
// and in the stream after each /ObjStm name (found as a name, so an
// escaped /Obj#53tm is followed too): up to maxObjStms streams are
// inflated, each to maxObjStm bytes, and counted; object streams cannot
// nest, so names inside them are not followed. The file's own names
// count first, then the streams', in the order found.
func scanKeywords(r io.ReaderAt, n int64, head []byte, chunk int) Keywords {
	var base, inner Keywords
	streams := 0
	var buf []byte
	for pos := int64(0); pos < n; {
		end := min(n, pos+int64(chunk))
		want := int(min(n, end+maxName) - pos)
		var b []byte
		if pos == 0 && len(head) >= want {
			b = head[:want]
		} else {
			if cap(buf) < want {
				buf = make([]byte, want)
			}
			k, _ := r.ReadAt(buf[:want], pos)
			b = buf[:k]
			if k < want {
				n = pos + int64(k) // a short read ends the file here
				end = min(end, n)
			}
		}
		next := scanNames(b, int(end-pos), &base, func(at int) {
			if streams < maxObjStms && objStream(r, n, pos+int64(at), b[at:], &inner) {
				streams++
			}
		})
		pos += int64(next)
	}
	base.add(&inner)
	return base
}

// objStream inflates and counts the stream after the /ObjStm name that
// ends at off (ahead: the bytes from there that are at hand). It reports
// whether a stream was inflated.
func objStream(r io.ReaderAt, n, off int64, ahead []byte, k *Keywords) bool {
	if len(ahead) < streamSearch && off+int64(len(ahead)) < n {
		ahead = make([]byte, min(streamSearch, n-off))
		got, _ := r.ReadAt(ahead, off)
		ahead = ahead[:got]
	}
	i := bytes.Index(ahead[:min(len(ahead), streamSearch)], []byte("stream"))
	if i < 0 {
		return false
	}
	s := off + int64(i) + int64(len("stream"))
	br := bufio.NewReaderSize(io.NewSectionReader(r, s, n-s), 4096)
	for {
		c, err := br.ReadByte()
		if err != nil {
			break
		}
		if c != '\r' && c != '\n' {
			br.UnreadByte()
			break
		}
	}
	zr, err := zlib.NewReader(br)
	if err != nil {
		return false
	}
	in, _ := io.ReadAll(io.LimitReader(zr, maxObjStm))
	scanNames(in, len(in), k, nil)
	return true
}

// scanNames counts the keyword names that start in b[:end] (a name is
// '/' then regular characters, PDF 32000 7.3.5: anything but white
// space and delimiters, 127 at most here) and calls objStm with the
// offset just past each /ObjStm name. It returns where the next scan
// starts: end, or past a name that ran over it.
func scanNames(b []byte, end int, k *Keywords, objStm func(at int)) int {
	i := 0
	for ; i < end; i++ {
		if b[i] != '/' {
			continue
		}
		j := i + 1
		for j < len(b) && j-i < maxName && !nameDelim(b[j]) {
			j++
		}
		raw := b[i+1 : j]
		i = j - 1
		name, escaped := decodeName(raw)
		if k.count(name, raw, escaped) && objStm != nil {
			objStm(j)
		}
	}
	return i
}

func nameDelim(c byte) bool {
	switch c {
	case 0, '\t', '\n', '\f', '\r', ' ', '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

// decodeName decodes #xx escapes; escaped says whether there were any.
func decodeName(raw []byte) (string, bool) {
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
