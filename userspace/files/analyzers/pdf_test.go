package analyzers

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

func pdfDoc(objs ...string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n")
	for i, o := range objs {
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	b.WriteString("trailer << /Root 1 0 R >>\n%%EOF\n")
	return b.Bytes()
}

func objStm(content string) string {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write([]byte(content))
	w.Close()
	return fmt.Sprintf("<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream", z.Len(), z.String())
}

func TestPDF(t *testing.T) {
	catalog := "<< /Type /Catalog /Pages 2 0 R >>"
	uris := strings.Repeat("<< /S /URI /URI (http://x/) >>\n", 21)
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"plain", pdfDoc(catalog), ""},
		{"open js", pdfDoc("<< /Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>"), "pdf.auto_javascript"},
		{"aa js", pdfDoc("<< /AA << /O 3 0 R >> >>", "<< /S /JavaScript /JS (x) >>"), "pdf.auto_javascript"},
		{"js", pdfDoc("<< /Names << /JavaScript 3 0 R >> >>"), "pdf.javascript"},
		{"obfuscated", pdfDoc("<< /OpenAction << /S /J#61vaScript /J#53 (x) >> >>"), "pdf.auto_javascript,pdf.obfuscated_name"},
		{"launch", pdfDoc("<< /OpenAction << /S /Launch /F (cmd.exe) >> >>"), "pdf.launch"},
		{"embedded", pdfDoc("<< /Type /EmbeddedFile /Length 3 >>"), "pdf.embedded_file"},
		{"uris", pdfDoc(uris), "pdf.many_uris"},
		{"20 uris", pdfDoc(strings.Repeat("/URI (x)", 20)), ""},
		// Not a name: the keyword as text, or a longer name.
		{"lookalike", pdfDoc("<< /JSON (x) /JavaScriptX 1 /Title (/Launch) >>"), "pdf.launch"},
		{"objstm escaped", pdfDoc(catalog, strings.Replace(objStm("3 0 << /AA << /S /JavaScript /JS (x) >> >>"), "/ObjStm", "/Obj#53tm", 1)),
			"pdf.auto_javascript,pdf.obfuscated_name"},
		{"objstm", pdfDoc(catalog, objStm("3 0 << /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>")), "pdf.auto_javascript"},
	}
	for _, tc := range tests {
		if got := analyzeAs(t, tc.b, "x.pdf", Limits{}); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestPDFFixtures(t *testing.T) {
	for _, name := range []string{"lo-memo.pdf", "lo-memo-a.pdf", "lo-memo-objstm.pdf"} {
		b := fixture(t, name)
		ty := filetype.Detect(b, name, "", int64(len(b)))
		for _, r := range Analyze(bytes.NewReader(b), int64(len(b)), ty, name, Limits{}) {
			if r.Weight >= 5 {
				t.Errorf("%s: %+v", name, r)
			}
		}
	}
}

func FuzzPDF(f *testing.F) {
	f.Add(pdfDoc("<< /OpenAction << /S /J#61vaScript /JS (x) >> >>"))
	f.Add(pdfDoc(objStm("<< /Launch /URI >>")))
	f.Add(fixture(f, "lo-memo-objstm.pdf"))
	f.Add([]byte("/ObjStm stream\r\nx\x9c"))
	f.Fuzz(func(t *testing.T, b []byte) {
		Analyze(bytes.NewReader(b), int64(len(b)), filetype.Type{Kind: filetype.KindPDF}, "f.pdf", Limits{MaxRead: 1 << 20})
	})
}
