package filetype

import (
	"bytes"
	"fmt"
	"testing"
)

// seeds adds the fixtures and a few built files to a fuzz corpus.
func seeds(f *testing.F, add func(b []byte), files ...string) {
	for _, name := range files {
		add(fixture(f, name))
	}
}

func FuzzDetect(f *testing.F) {
	for _, name := range []string{"hello-x64.exe", "hello-x86.exe", "hello-x64.obj", "lo-memo.pdf", "lo-memo.docx", "lo-memo.odt", "lo-memo.doc", "lo-sheet.xlsx"} {
		b := fixture(f, name)
		f.Add(b[:min(len(b), HeadSize)], name, "", int64(len(b)))
	}
	f.Add([]byte(eicarString+"\r\n"), "eicar.com", "text/plain", int64(70))
	f.Add([]byte{0xEB, 0xFE}, "x.com", "", int64(-1))
	f.Add([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00"), "a.exe", "image/jpeg", int64(-1))
	f.Add(dosExe(), "x.exe", "application/octet-stream; charset=binary", int64(75))
	f.Add([]byte("PK\x03\x04\x14\x00\x08\x00\x08\x00"), "a.docx", "", int64(-1))
	f.Add([]byte("{\\rt1"), "a.doc", "application/msword", int64(5))
	// Text the library has types for, and text that must go its way.
	f.Add([]byte("<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>"), "a.svg", "image/svg+xml", int64(-1))
	f.Add([]byte("<!DOCTYPE html><html><body>hi</body></html>\n"), "a.html", "text/html", int64(-1))
	f.Add([]byte("{\"a\": [1, 2]}\n"), "a.json", "application/json", int64(-1))
	f.Add([]byte("#!/bin/sh\necho hi\n"), "run", "text/plain", int64(-1))
	f.Add([]byte("%PDF-1.4\n1 0 obj\n"), "a.pdf", "", int64(-1))
	f.Add(textTar(), "a.tar", "", int64(-1))
	f.Fuzz(func(t *testing.T, head []byte, name, claimed string, total int64) {
		got := Detect(head, name, claimed, total)
		if (got.Category == None) != (got.Kind == "") || (got.Category == None) != (got.Reason == "") {
			t.Fatalf("inconsistent: %+v", got)
		}
		if got.Category >= numCategories {
			t.Fatalf("category %d", got.Category)
		}
		if len(head) > 0 && got.MIME == "" {
			t.Fatalf("no MIME: %+v", got)
		}
		if len(head) > HeadSize {
			if short := Detect(head[:HeadSize], name, claimed, total); short != got {
				t.Fatalf("past the head: %+v vs %+v", got, short)
			}
		}
		if again := Detect(head, name, claimed, total); again != got {
			t.Fatalf("not deterministic: %+v vs %+v", got, again)
		}
		if a, ok := scanText(head); ok != controlsOK(head) || ok && a != scanTextRefAscii(head) {
			t.Fatalf("scanText %v %v disagrees with the byte scan", a, ok)
		}
		// Text typed without the library is typed as the library would
		// have it decide.
		textShortcut = false
		long := Detect(head, name, claimed, total)
		textShortcut = true
		if long.Category != got.Category || long.Kind != got.Kind || long.Reason != got.Reason ||
			got.Category != None && (long.MIME != got.MIME || long.Mismatch != got.Mismatch) {
			t.Fatalf("text shortcut: %+v, the library's way: %+v", got, long)
		}
	})
}

func fuzzMeta(t *testing.T, b []byte, kinds ...string) {
	for _, k := range kinds {
		m := Metadata(bytes.NewReader(b), int64(len(b)), Type{Kind: k})
		for _, s := range metaStrings(m) {
			if len(s) > maxValue {
				t.Fatalf("%s: a value of %d bytes", k, len(s))
			}
		}
	}
}

// metaStrings lists the string values, which must all be bounded.
func metaStrings(m Meta) []string {
	var out []string
	if p := m.PE; p != nil {
		out = append(out, p.Company, p.Product, p.OriginalFileName, p.FileVersion, p.Description, p.InternalName, p.LegalCopyright, p.ProductVersion)
	}
	if p := m.PDF; p != nil {
		out = append(out, p.Title, p.Author, p.Creator, p.Producer, p.CreationDate, p.ModDate)
	}
	if o := m.Office; o != nil {
		out = append(out, o.Creator, o.LastModifiedBy, o.Title, o.Application, o.Company, o.Created, o.Modified)
	}
	return out
}

func FuzzMetadataPE(f *testing.F) {
	seeds(f, func(b []byte) { f.Add(b) }, "hello-x64.exe", "hello-x86.exe", "hello-arm64.exe")
	f.Add(dosExe())
	f.Fuzz(func(t *testing.T, b []byte) { fuzzMeta(t, b, KindPE) })
}

func FuzzMetadataPDF(f *testing.F) {
	seeds(f, func(b []byte) { f.Add(b) }, "lo-memo.pdf", "lo-memo-objstm.pdf")
	f.Add(buildPDF(append(pdfBase, `<< /Title (a\(b\)\101) /Author <FEFF00C4> /Producer 4 0 R >>`, "(P)"), "/Info 3 0 R", 0, 0))
	f.Add([]byte("%PDF-1.5\ntrailer << /Info 9 0 R >>\n5 0 obj << /Type /ObjStm /N 1 /First 4 /Length 12 >>\nstream\n9 0 << /Author (x) >>\nendstream\nstartxref\n0\n"))
	f.Add([]byte("%PDF-1.4\n<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description xmlns:pdf=\"http://ns.adobe.com/pdf/1.3/\" pdf:Producer=\"P\"/></rdf:RDF></x:xmpmeta>"))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzMeta(t, b, KindPDF) })
}

func FuzzMetadataOffice(f *testing.F) {
	seeds(f, func(b []byte) { f.Add(b) }, "lo-memo.docx", "lo-memo.odt", "lo-sheet.xlsx", "lo-memo.doc", "lo-sheet.xls")
	f.Add(buildCFB(nil, 0, cfbStream{"\x05SummaryInformation", propStream(fmtidSummary, 1252, false, map[uint32]string{4: "A"})}))
	f.Add(buildZip(f, zipEntry{name: "docProps/core.xml", body: coreXML("C", "L", "T")}))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzMeta(t, b, KindDOCX, KindOLE2) })
}

// maxValue is what the format readers keep of any one string value.
const maxValue = 512

// textTar is a tar header whose bytes are all printable: the name field
// full, the other fields blank-padded, no NUL.
func textTar() []byte {
	h := bytes.Repeat([]byte(" "), 512)
	copy(h, bytes.Repeat([]byte("a"), 100))
	copy(h[100:], "0000644 0000000 0000000 00000000012 00000000000 ")
	h[156] = '0'
	copy(h[257:], "ustar  ")
	var sum int
	for i, c := range h {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int(c)
	}
	copy(h[148:], []byte(fmt.Sprintf("%06o", sum)))
	return append(h, []byte("hello text\n")...)
}

func scanTextRefAscii(b []byte) bool {
	a, _ := scanTextRef(b)
	return a
}
