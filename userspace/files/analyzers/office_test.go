package analyzers

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

// A small MS-CFB v3 writer for tests. Entry 0 is the root; each node
// names its parent storage; siblings are chained as right children.
// Streams go to the mini stream when mini is set (cutoff 4096), else to
// regular sectors (cutoff 0). Layout: FAT, 2 directory sectors, the
// mini FAT, then data.
type cfbNode struct {
	name   string
	typ    byte // 1 storage, 2 stream
	parent int  // index in the node list + 1; 0 = root
	data   []byte
}

func buildOLE(mini bool, nodes ...cfbNode) []byte {
	const ss = 512
	le := binary.LittleEndian
	h := make([]byte, ss)
	copy(h, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")
	le.PutUint16(h[24:], 0x3E)
	le.PutUint16(h[26:], 3)
	le.PutUint16(h[28:], 0xFFFE)
	le.PutUint16(h[30:], 9)
	le.PutUint16(h[32:], 6)
	le.PutUint32(h[44:], 1)
	le.PutUint32(h[48:], 1)
	le.PutUint32(h[60:], 0xFFFFFFFE)
	le.PutUint32(h[68:], 0xFFFFFFFE)
	for i := range 109 {
		le.PutUint32(h[76+4*i:], 0xFFFFFFFF)
	}
	le.PutUint32(h[76:], 0)
	fat := make([]uint32, ss/4)
	for i := range fat {
		fat[i] = 0xFFFFFFFF
	}
	fat[0], fat[1], fat[2] = 0xFFFFFFFD, 2, 0xFFFFFFFE
	dir := make([]byte, 2*ss)
	entry := func(i int, name string, typ byte, start uint32, size int) []byte {
		e := dir[128*i : 128*(i+1)]
		u := utf16.Encode([]rune(name))
		for j, c := range u {
			le.PutUint16(e[2*j:], c)
		}
		le.PutUint16(e[64:], uint16(2*len(u)+2))
		e[66], e[67] = typ, 1
		le.PutUint32(e[68:], 0xFFFFFFFF)
		le.PutUint32(e[72:], 0xFFFFFFFF)
		le.PutUint32(e[76:], 0xFFFFFFFF)
		le.PutUint32(e[116:], start)
		le.PutUint32(e[120:], uint32(size))
		return e
	}
	root := entry(0, "Root Entry", 5, 0xFFFFFFFE, 0)
	last := map[int]int{} // parent entry -> last child entry
	var miniData, regular []byte
	next := uint32(3)
	var miniFAT []uint32
	if mini {
		le.PutUint32(h[56:], 4096)
		next = 4 // sector 3 is the mini FAT
	}
	var starts []uint32
	for _, n := range nodes {
		switch {
		case n.typ != 2:
			starts = append(starts, 0)
		case mini:
			s := uint32(len(miniData) / 64)
			k := (len(n.data) + 63) / 64
			for j := range k {
				miniFAT = append(miniFAT, s+uint32(j)+1)
			}
			miniFAT[len(miniFAT)-1] = 0xFFFFFFFE
			pad := make([]byte, k*64)
			copy(pad, n.data)
			miniData = append(miniData, pad...)
			starts = append(starts, s)
		default:
			k := (len(n.data) + ss - 1) / ss
			starts = append(starts, next+uint32(len(regular)/ss))
			pad := make([]byte, k*ss)
			copy(pad, n.data)
			regular = append(regular, pad...)
		}
	}
	for i, n := range nodes {
		e := entry(i+1, n.name, n.typ, starts[i], len(n.data))
		if n.typ == 1 {
			le.PutUint32(e[116:], 0)
		}
		if prev, ok := last[n.parent]; ok {
			le.PutUint32(dir[128*prev+72:], uint32(i+1))
		} else {
			le.PutUint32(dir[128*n.parent+76:], uint32(i+1))
		}
		last[n.parent] = i + 1
	}
	var out []byte
	chainFAT := func(first uint32, n int) {
		for k := range n {
			fat[first+uint32(k)] = first + uint32(k) + 1
		}
		fat[first+uint32(n)-1] = 0xFFFFFFFE
	}
	if mini {
		fat[3] = 0xFFFFFFFE
		le.PutUint32(h[60:], 3)
		k := (len(miniData) + ss - 1) / ss
		le.PutUint32(root[116:], next)
		le.PutUint32(root[120:], uint32(len(miniData)))
		chainFAT(next, k)
		mf := make([]byte, ss)
		for i, v := range miniFAT {
			le.PutUint32(mf[4*i:], v)
		}
		for i := len(miniFAT); i < ss/4; i++ {
			le.PutUint32(mf[4*i:], 0xFFFFFFFF)
		}
		pad := make([]byte, k*ss)
		copy(pad, miniData)
		regular = append(append(mf, pad...), regular...)
	} else {
		k := len(regular) / ss
		if k > 0 {
			// Regular streams are contiguous: chain each one.
			for i, n := range nodes {
				if n.typ == 2 {
					chainFAT(starts[i], (len(n.data)+ss-1)/ss)
				}
			}
		}
	}
	fb := make([]byte, ss)
	for i, v := range fat {
		le.PutUint32(fb[4*i:], v)
	}
	out = append(append(append(h, fb...), dir...), regular...)
	return out
}

// macroDoc is a Word-like file: Macros/VBA/{ThisDocument,_VBA_PROJECT,dir}.
func macroDoc(mini bool, module []byte) []byte {
	return buildOLE(mini,
		cfbNode{name: "WordDocument", typ: 2, data: []byte("text AutoOpen in the body is not a macro")},
		cfbNode{name: "Macros", typ: 1},
		cfbNode{name: "VBA", typ: 1, parent: 2},
		cfbNode{name: "ThisDocument", typ: 2, parent: 3, data: module},
		cfbNode{name: "_VBA_PROJECT", typ: 2, parent: 3, data: []byte{0xCC, 0x61, 0xFF, 0xFF}},
		cfbNode{name: "dir", typ: 2, parent: 3, data: []byte{1, 2, 0xB0}},
	)
}

// compressedOpen is "Open AutoOpen" MS-OVBA-compressed with a copy token,
// so the raw bytes do not hold the name: "Open Aut" (8 literals), then
// 'o' and a copy of 4 bytes from 9 back.
var compressedOpen = []byte{0x01, 0x0C, 0xB0, 0x00, 'O', 'p', 'e', 'n', ' ', 'A', 'u', 't', 0x02, 'o', 0x01, 0x80}

func TestDecompressVBA(t *testing.T) {
	got, ok := decompressVBA(compressedOpen, 1<<20)
	if !ok || string(got) != "Open AutoOpen" {
		t.Fatalf("%q %v", got, ok)
	}
}

// bombModule is a module stream whose first 64 chunk ends are places
// findAutoExec tries (0x01, then a chunk header), each decompressing
// the rest of the stream: ~580 chunks of 4 KiB from 7 bytes each.
func bombModule(n int) []byte {
	b := []byte{0x01}
	for k := 0; len(b)+7 <= n; k++ {
		last := byte(0)
		if k < 64 {
			last = 1
		}
		b = append(b, 0x04, 0xB0, 0x02, 0x00, 0xFF, 0x0F, last)
	}
	return b
}

// The VBA source decompressed is bounded per file, over all modules:
// each bomb module cost 1.6 s before, and a file may hold 4096 of them.
func TestVBABomb(t *testing.T) {
	m := bombModule(4000)
	if src, ok := decompressVBA(m, vbaMaxStream); !ok || len(src) < 2<<20 {
		t.Fatalf("the module decompresses to %d bytes: the case tests nothing", len(src))
	}
	a := &run{vba: vbaMaxSource}
	start := time.Now()
	for range 8 {
		if n := a.findAutoExec(m); n != "" {
			t.Fatal(n)
		}
	}
	if d := time.Since(start); d > 2*time.Second || a.vba > 0 {
		t.Errorf("%v, %d bytes of budget left", d, a.vba)
	}
	if got := analyzeAs(t, macroDoc(false, m), "x.doc", Limits{}); got != "office.macros" {
		t.Errorf("%q", got)
	}
}

func TestOLE(t *testing.T) {
	perfCache := bytes.Repeat([]byte{0xAB, 0x01, 0x02}, 300)
	module := append(append([]byte{}, perfCache...), compressedOpen...)
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"no macros", buildOLE(false, cfbNode{name: "WordDocument", typ: 2, data: []byte("AutoOpen")}), ""},
		{"macros", macroDoc(false, []byte("Sub Foo()\nEnd Sub")), "office.macros"},
		{"autoopen raw", macroDoc(false, []byte("Sub AutoOpen()\nEnd Sub")), "office.autoexec_macro,office.macros"},
		{"autoopen compressed", macroDoc(false, module), "office.autoexec_macro,office.macros"},
		{"autoopen mini", macroDoc(true, []byte("Sub Document_Open()\nEnd Sub")), "office.autoexec_macro,office.macros"},
	}
	for _, tc := range tests {
		if filetype.Detect(tc.b, "x.doc", "", int64(len(tc.b))).Kind != filetype.KindOLE2 {
			t.Fatalf("%s: not typed OLE2", tc.name)
		}
		if got := analyzeAs(t, tc.b, "x.doc", Limits{}); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	for _, name := range []string{"lo-memo.doc", "lo-sheet.xls", "lo-memo.docx", "lo-sheet.xlsx", "lo-memo.odt"} {
		if got := analyzeAs(t, fixture(t, name), name, Limits{}); got != "" {
			t.Errorf("%s: %q", name, got)
		}
	}
}

func TestOOXML(t *testing.T) {
	ct := zent{name: "[Content_Types].xml", data: []byte(`<?xml version="1.0"?><Types/>`)}
	doc := zent{name: "word/document.xml", data: []byte(`<w:document/>`)}
	rels := func(typ, target, mode string) zent {
		return zent{name: "word/_rels/settings.xml.rels", data: []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/` +
			typ + `" Target="` + target + `" TargetMode="` + mode + `"/></Relationships>`)}
	}
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"plain", buildZip(t, ct, doc), ""},
		{"docm", buildZip(t, ct, doc, zent{name: "word/vbaProject.bin", data: macroDoc(false, []byte("Sub AutoOpen()"))}), "office.autoexec_macro,office.macros"},
		{"docm raw", buildZip(t, ct, doc, zent{name: "word/vbaProject.bin", data: []byte("not OLE but AutoOpen")}), "office.autoexec_macro,office.macros"},
		{"docm no auto", buildZip(t, ct, doc, zent{name: "word/vbaProject.bin", data: macroDoc(false, []byte("Sub X()"))}), "office.macros"},
		{"template", buildZip(t, ct, doc, rels("attachedTemplate", "http://evil.example/t.dotm", "External")), "office.remote_template"},
		{"oleobject", buildZip(t, ct, doc, rels("oleObject", "http://evil.example/x.sct", "External")), "office.external_relationship"},
		{"hyperlink", buildZip(t, ct, doc, rels("hyperlink", "http://example.com/", "External")), ""},
		{"internal", buildZip(t, ct, doc, rels("attachedTemplate", "template.dotx", "")), ""},
	}
	for _, tc := range tests {
		if got := analyzeAs(t, tc.b, "x.docx", Limits{}); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestRTF(t *testing.T) {
	tests := []struct{ doc, want string }{
		{`{\rtf1\ansi hello \par}`, ""},
		{`{\rtf1{\object\objemb{\*\objdata 0105000002000000}}}`, "rtf.embedded_object"},
		{`{\rtf1\objectx \objdatax}`, ""},
	}
	for _, tc := range tests {
		if got := analyzeAs(t, []byte(tc.doc), "x.rtf", Limits{}); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.doc, got, tc.want)
		}
	}
	b := []byte(`{\rtf1{\object\objautlink\objupdate{\*\objdata 01}}}`)
	ty := filetype.Detect(b, "x.rtf", "", int64(len(b)))
	if rs := Analyze(bytes.NewReader(b), int64(len(b)), ty, "x.rtf", Limits{}); len(rs) != 1 || rs[0].Weight != 7 {
		t.Errorf("objupdate: %+v", rs)
	}
}

func FuzzOffice(f *testing.F) {
	f.Add(macroDoc(false, []byte("Sub AutoOpen()")), uint8(0))
	f.Add(macroDoc(true, compressedOpen), uint8(0))
	f.Add(fixture(f, "lo-memo.doc"), uint8(0))
	f.Add(compressedOpen, uint8(1))
	f.Add([]byte(`<Relationships><Relationship Type="/attachedTemplate" TargetMode="External" Target="x"/>`), uint8(2))
	f.Add([]byte(`{\rtf1\object\objupdate`), uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, k uint8) {
		switch k % 4 {
		case 0:
			Analyze(bytes.NewReader(b), int64(len(b)), filetype.Type{Kind: filetype.KindOLE2}, "f.doc", Limits{MaxRead: 1 << 20})
		case 1:
			(&run{vba: vbaMaxSource}).findAutoExec(b)
		case 2:
			relsReasons(b, "x")
		case 3:
			Analyze(bytes.NewReader(b), int64(len(b)), filetype.Type{Kind: filetype.KindRTF}, "f.rtf", Limits{MaxRead: 1 << 20})
		}
	})
}
