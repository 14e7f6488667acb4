package filetype

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/formats/pdffile"
)

// buildPDF writes a classic PDF: objects numbered from 1, a pad comment
// of padAt bytes before object padObj (to push it away from both ends),
// an xref table and a trailer with extra keys.
func buildPDF(objs []string, trailer string, padObj, pad int) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		if i+1 == padObj && pad > 0 {
			b.WriteString("%" + strings.Repeat("p", pad) + "\n")
		}
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	if pad > 0 {
		b.WriteString("%" + strings.Repeat("q", pad) + "\n")
	}
	x := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R %s >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, trailer, x)
	return b.Bytes()
}

var pdfBase = []string{"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [] /Count 0 >>"}

func pdfMeta(t *testing.T, b []byte) *PDFMeta {
	t.Helper()
	ty := Detect(head(b), "x.pdf", "", int64(len(b)))
	if ty.Kind != KindPDF {
		t.Fatalf("typed %+v", ty)
	}
	m := Metadata(bytes.NewReader(b), int64(len(b)), ty)
	if m.PDF == nil {
		t.Fatal("no PDF metadata")
	}
	return m.PDF
}

func TestPDFStrings(t *testing.T) {
	info := `<< /Title (A \(paren\) \\ back\101\60 end\
 joined (nested) x)
/Author <FEFF 00C4 006E 006E 0061 D83D DE00>
/Creator (caf\351 \223 \x)
/Producer 4 0 R
/CreationDate (D:20260101120000Z)
/Keywords [ (not) (kept) ] /Custom << /Author (not this one) >> >>`
	b := buildPDF(append(pdfBase, info, "(Indirect Producer)"), "/Info 3 0 R", 0, 0)
	m := pdfMeta(t, b)
	want := PDFMeta{
		Version:      "1.7",
		Title:        "A (paren) \\ backA0 end joined (nested) x",
		Author:       "Änna😀",
		Creator:      "café ﬁ x",
		Producer:     "Indirect Producer",
		CreationDate: "D:20260101120000Z",
	}
	if *m != want {
		t.Errorf("got  %+v\nwant %+v", *m, want)
	}
}

// An incremental update appends a new Info object and trailer: the last
// one wins.
func TestPDFIncrementalUpdate(t *testing.T) {
	b := buildPDF(append(pdfBase, "<< /Author (Old Author) >>"), "/Info 3 0 R", 0, 0)
	upd := len(b)
	b = append(b, "3 0 obj\n<< /Author (New Author) >>\nendobj\n"...)
	b = append(b, fmt.Sprintf("xref\n3 1\n%010d 00000 n \ntrailer\n<< /Size 4 /Root 1 0 R /Info 3 0 R >>\nstartxref\n%d\n%%%%EOF\n", upd, upd+44)...)
	if m := pdfMeta(t, b); m.Author != "New Author" {
		t.Errorf("author %q", m.Author)
	}
}

// The Info object lies more than a window away from both ends: found
// through the xref table.
func TestPDFInfoFarFromBothEnds(t *testing.T) {
	objs := append(pdfBase, "<< /Author (Far Away) >>")
	b := buildPDF(objs, "/Info 3 0 R", 3, 3*pdffile.Window/2)
	if len(b) < 3*pdffile.Window {
		t.Fatalf("only %d bytes", len(b))
	}
	if i := bytes.Index(b, []byte("Far Away")); i < pdffile.Window || i > len(b)-pdffile.Window {
		t.Fatalf("Info at %d of %d: inside a window", i, len(b))
	}
	if m := pdfMeta(t, b); m.Author != "Far Away" {
		t.Errorf("author %q", m.Author)
	}
}

func TestPDFEncrypted(t *testing.T) {
	b := buildPDF(append(pdfBase, "<< /Author <8a7f3b> >>", "<< /Filter /Standard /V 2 >>"), "/Info 3 0 R /Encrypt 4 0 R", 0, 0)
	m := pdfMeta(t, b)
	if !m.Encrypted || m.Author != "" {
		t.Errorf("%+v", *m)
	}
}

// LibreOffice fixtures (testdata/gen/docs.sh); values as pdfinfo
// (poppler 22.12) prints them.
func TestPDFFixtures(t *testing.T) {
	for _, c := range []struct {
		file, version string
		patch         func([]byte) []byte
		fromXMP       bool
	}{
		{"lo-memo.pdf", "1.6", nil, false},        // UTF-16BE hex strings
		{"lo-memo-objstm.pdf", "1.6", nil, false}, // Info in an object stream, xref stream
		{"lo-memo-a.pdf", "1.4", nil, false},      // PDF/A: Info and XMP
		{"lo-memo-a.pdf", "1.4", func(b []byte) []byte { // no Info: XMP alone
			return bytes.ReplaceAll(b, []byte("/Info"), []byte("/Xnfo"))
		}, true},
	} {
		b := fixture(t, c.file)
		if c.patch != nil {
			b = c.patch(b)
		}
		m := pdfMeta(t, b)
		if m.Version != c.version || m.Title != "Quarterly Überblick" || m.Author != "Ana Müller" ||
			m.Creator != "Writer" || m.Producer != "LibreOffice 7.4" || m.FromXMP != c.fromXMP || m.Encrypted {
			t.Errorf("%s (patched %v): %+v", c.file, c.patch != nil, *m)
		}
	}
}

// The corpus PDF has no Info dictionary and no XMP.
func TestPDFCorpus(t *testing.T) {
	f := corpus(t)["report.pdf"]
	m, err := MetadataFile(writeTemp(t, f.name, f.body), Detect(head(f.body), f.name, f.claimed, int64(len(f.body))))
	if err != nil || m.PDF == nil || *m.PDF != (PDFMeta{Version: "1.4"}) {
		t.Errorf("%v %+v", err, m.PDF)
	}
}

func TestPDFHostile(t *testing.T) {
	info := buildPDF(append(pdfBase, "<< /Author (A) >>"), "/Info 3 0 R", 0, 0)
	for name, b := range map[string][]byte{
		"unterminated string":   []byte("%PDF-1.4\n1 0 obj << /Author (never closed \\\n"),
		"Info points at itself": buildPDF(append(pdfBase, "<< /Author 3 0 R >>"), "/Info 3 0 R", 0, 0),
		"Info is not a dict":    buildPDF(append(pdfBase, "[ /Author (x) ]"), "/Info 3 0 R", 0, 0),
		"startxref nonsense":    append(info[:len(info)-20:len(info)-20], "startxref\n-5\n%%EOF"...),
		"xref with huge counts": []byte("%PDF-1.4\ntrailer << /Info 9 0 R >>\nxref\n0 99999999999\nstartxref\n9\n"),
		"object stream bomb": append([]byte("%PDF-1.5\ntrailer << /Info 9 0 R >>\n5 0 obj << /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length 9999 >>\nstream\n"),
			deflated(bytes.Repeat([]byte{'0'}, 20<<20))...),
		"deep nesting": append([]byte("%PDF-1.4\n3 0 obj << /A "+strings.Repeat("<< /B [", 100000)), "trailer << /Info 3 0 R >>"...),
	} {
		m := Metadata(bytes.NewReader(b), int64(len(b)), Type{Kind: KindPDF})
		if m.PDF == nil {
			t.Errorf("%s: nil", name)
			continue
		}
		if m.PDF.Author != "" && name != "startxref nonsense" {
			t.Errorf("%s: author %q", name, m.PDF.Author)
		}
	}
}
