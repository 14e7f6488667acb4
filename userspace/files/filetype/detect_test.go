package filetype

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"strings"
	"testing"
)

func elfHeader(typ, machine uint16) []byte {
	h := make([]byte, 64)
	copy(h, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(h[16:], typ)
	binary.LittleEndian.PutUint16(h[18:], machine)
	return h
}

// dosExe is a real-mode MZ program: a 32-byte header (e_cparhdr 2), one
// page, and code that prints with int 21h; e_lfanew is 0.
func dosExe() []byte {
	b := make([]byte, 64)
	copy(b, "MZ")
	binary.LittleEndian.PutUint16(b[2:], 64) // bytes on the last page
	binary.LittleEndian.PutUint16(b[4:], 1)  // pages
	binary.LittleEndian.PutUint16(b[8:], 2)  // header paragraphs
	return append(b, 0xB4, 0x09, 0xBA, 0x08, 0x01, 0xCD, 0x21, 0xC3, 'h', 'i', '$')
}

// peFarHeader is the x64 fixture with its PE header moved past the
// head: the DOS header alone must carry it.
func peFarHeader(t *testing.T) []byte {
	pe := fixture(t, "hello-x64.exe")
	lfanew := binary.LittleEndian.Uint32(pe[60:])
	out := make([]byte, 8192)
	copy(out, pe[:lfanew])
	binary.LittleEndian.PutUint32(out[60:], 6000)
	copy(out[6000:], pe[lfanew:])
	return out
}

func tarball(t *testing.T) []byte {
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	if err := w.WriteHeader(&tar.Header{Name: "a.txt", Mode: 0o644, Size: 3}); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("abc"))
	w.Close()
	return buf.Bytes()
}

func gzipped(t *testing.T, s string) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write([]byte(s))
	w.Close()
	return buf.Bytes()
}

func TestDetect(t *testing.T) {
	pe := fixture(t, "hello-x64.exe")
	obj := fixture(t, "hello-x64.obj")
	badObj := append([]byte(nil), obj...)
	badObj[20] = 0x01 // first section name no longer a name
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0}, make([]byte, 200)...)
	text := []byte("Meeting notes: bring the report.\nZürich office, 3rd floor.\n")

	eicarWS := eicarString + " \t\r\n\x1a" + strings.Repeat(" ", 128-68-5) // exactly 128 bytes
	eicarLong := eicarWS + " "                                             // 129: not EICAR
	eicarTrail := eicarString + "X"
	eicarInside := "hello " + eicarString

	docx := buildZip(t,
		zipEntry{name: "[Content_Types].xml", body: contentTypes},
		zipEntry{name: "_rels/.rels", body: "<Relationships/>"},
		zipEntry{name: "word/document.xml", body: "<w:document/>"},
		zipEntry{name: "word/vbaProject.bin", body: "vba"})
	xlsx := buildZip(t,
		zipEntry{name: "[Content_Types].xml", body: contentTypes},
		zipEntry{name: "xl/workbook.xml", body: "<workbook/>"})
	// First entry not one the library accepts; OOXML parts behind it.
	oddOrder := buildZip(t,
		zipEntry{name: "readme.txt", body: "x"},
		zipEntry{name: "ppt/presentation.xml", body: "<p/>"},
		zipEntry{name: "[Content_Types].xml", body: contentTypes})
	// Only the content types in the head: OOXML of unknown flavour.
	ctypesOnly := buildZip(t,
		zipEntry{name: "[Content_Types].xml", body: contentTypes},
		zipEntry{name: "media/big.bin", body: strings.Repeat("\x00\x01\x02\x03", 2000), store: true})
	// A zip of a folder named word/ is just a zip.
	plainWord := buildZip(t,
		zipEntry{name: "notes/a.txt", body: "x"},
		zipEntry{name: "word/a.txt", body: "y"})
	odt := buildZip(t,
		zipEntry{name: "mimetype", body: "application/vnd.oasis.opendocument.text", store: true},
		zipEntry{name: "content.xml", body: "<office:document-content/>"})
	odb := buildZipRaw(t,
		zipEntry{name: "mimetype", body: "application/vnd.oasis.opendocument.database", extra: []byte{0x99, 0x99, 0, 0}},
		zipEntry{name: "content.xml", body: "<x/>"})
	jar := buildZip(t,
		zipEntry{name: "META-INF/MANIFEST.MF", body: "Manifest-Version: 1.0\n"},
		zipEntry{name: "a/B.class", body: "\xca\xfe\xba\xbe"})
	apk := buildZip(t,
		zipEntry{name: "AndroidManifest.xml", body: "\x03\x00\x08\x00"},
		zipEntry{name: "classes.dex", body: "dex\n035\x00"})
	plainZip := buildZip(t, zipEntry{name: "a.txt", body: "hello"})

	macho := append([]byte{0xCF, 0xFA, 0xED, 0xFE, 0x07, 0x00, 0x00, 0x01, 0x03, 0, 0, 0, 0x02, 0, 0, 0}, make([]byte, 48)...)

	cases := []struct {
		what, name, claimed string
		body                []byte
		total               int64 // 0: len(body)
		cat                 Category
		kind                string
		mismatch            bool
	}{
		// Executables.
		{"PE", "setup.exe", "application/x-msdownload", pe, 0, Executable, KindPE, false},
		{"PE named .jpg", "photo.jpg", "", pe, 0, Executable, KindPE, true},
		{"PE served as image/jpeg", "download", "image/jpeg", pe, 0, Executable, KindPE, true},
		{"PE named .ex_", "SETUP.EX_", "", pe, 0, Executable, KindPE, false},
		{"PE header past the head", "x", "", peFarHeader(t), 0, Executable, KindDOS, false},
		{"DOS program", "hi.exe", "", dosExe(), 0, Executable, KindDOS, false},
		{"MZ text", "mz.exe", "", []byte("MZ is the DOS signature, the teacher said, and more text follows here."), 0, None, "", true},
		{"ELF", "tool", "", elfHeader(2, 62), 0, Executable, KindELF, false},
		{"ELF named .jpg", "cat.jpg", "", elfHeader(3, 183), 0, Executable, KindELF, true},
		{"COFF object", "hello.obj", "", obj, 0, Executable, KindCOFF, false},
		{"COFF with a bad section name", "hello.obj", "", badObj, 0, None, "", false},
		{"COFF truncated total", "hello.obj", "", obj, 100, None, "", false},
		{"Mach-O", "tool", "", macho, 0, Executable, KindMachO, false},
		{"EICAR", "eicar.com", "text/plain", []byte(eicarString), 0, Executable, KindEICAR, false},
		{"EICAR + whitespace to 128", "eicar.txt", "", []byte(eicarWS), 0, Executable, KindEICAR, false},
		{"EICAR size unknown", "eicar.com", "", []byte(eicarWS), -1, Executable, KindEICAR, false},
		{"EICAR + 129th byte", "e.txt", "", []byte(eicarLong), 0, None, "", false},
		{"EICAR + non-space", "e.txt", "", []byte(eicarTrail), 0, None, "", false},
		{"EICAR not at start", "e.txt", "", []byte(eicarInside), 0, None, "", false},
		{"EICAR head shorter than total", "e.com", "", []byte(eicarString), 100, None, "", true},
		{"JAR", "lib.jar", "application/java-archive", jar, 0, Java, KindJAR, false},
		{"APK", "app.apk", "", apk, 0, Executable, KindAPK, false},
		{"APK named .zip", "app.zip", "", apk, 0, Executable, KindAPK, false},

		// Name rule.
		{"tiny .com program", "x.com", "", []byte{0xB4, 0x09, 0xBA, 0x08, 0x01, 0xCD, 0x21, 0xC3}, 0, Executable, KindNamed, false},
		{"2-byte .com the library calls text", "loop.COM", "", []byte{0xEB, 0xFE}, 0, Executable, KindNamed, false},
		{"same bytes named .txt", "loop.txt", "", []byte{0xEB, 0xFE}, 0, None, "", false},
		{"unknown binary .bin", "firmware.bin", "", []byte{0x00, 0x01, 0x02, 0x03, 0x04, 0x05}, 0, Executable, KindNamed, false},
		{"text named setup.bin", "setup.bin", "", text, 0, None, "", false},
		{"text named setup.exe", "setup.exe", "", text, 0, None, "", true},
		{"JPEG named .bin", "x.bin", "", jpeg, 0, None, "", false},
		{"JPEG named .exe", "C:\\tmp\\x.exe", "", jpeg, 0, None, "", true},
		{"JPEG named .jpg", "photo.jpg", "image/jpeg", jpeg, 0, None, "", false},
		{"bad gzip named .bin", "a.bin", "", append([]byte{0x1f, 0x8b, 0x01}, make([]byte, 20)...), 0, Executable, KindNamed, false},
		{"binary with an unlisted extension", "a.dat", "", []byte{0, 1, 2, 3}, 0, None, "", false},
		{"empty .exe", "a.exe", "", []byte{}, 0, None, "", false},

		// Documents.
		{"PDF", "r.pdf", "application/pdf", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"), 0, Document, KindPDF, false},
		{"PDF after junk", "r.pdf", "", append(bytes.Repeat([]byte{'A'}, 300), "\n%PDF-1.4\n1 0 obj"...), 0, Document, KindPDF, false},
		{"HTML mentioning %PDF-", "page.html", "text/html", []byte("<html><body>A PDF starts with %PDF- and a version.</body></html>"), 0, None, "", false},
		{"PDF served as text/html", "r", "text/html", []byte("%PDF-1.7\n"), 0, Document, KindPDF, true},
		{"DOCX (docm: macros)", "a.docm", "", docx, 0, Document, KindDOCX, false},
		{"XLSX", "a.xlsx", mimeXLSX, xlsx, 0, Document, KindXLSX, false},
		{"OOXML parts after an odd first entry", "a.pptx", "", oddOrder, 0, Document, KindPPTX, false},
		{"OOXML, part not in head", "a.docx", "", ctypesOnly, 0, Document, KindOOXML, false},
		{"DOCX named .doc", "a.doc", "", docx, 0, Document, KindDOCX, true},
		{"folder named word/ in a zip", "a.zip", "", plainWord, 0, Archive, KindZip, false},
		{"ODT", "a.odt", "", odt, 0, Document, KindODF, false},
		{"ODB with an extra field", "a.odb", "", odb, 0, Document, KindODF, false},
		{"RTF", "a.rtf", "application/rtf", []byte(`{\rtf1\ansi\deff0 {\fonttbl {\f0 Times;}} Hello}`), 0, Document, KindRTF, false},
		{"RTF as Word accepts it", "a.doc", "application/msword", []byte(`{\rtx Hello}`), 0, Document, KindRTF, true},
		{"OLE2 doc", "memo.doc", "application/msword", fixture(t, "lo-memo.doc"), 0, Document, KindOLE2, false},
		{"OLE2 xls named .pdf", "memo.pdf", "", fixture(t, "lo-sheet.xls"), 0, Document, KindOLE2, true},
		{"MSI", "setup.msi", "", msiFile(), 0, Package, KindMSI, false},

		// Archives.
		{"zip", "a.zip", "application/zip", plainZip, 0, Archive, KindZip, false},
		{"zip named .pdf", "a.pdf", "", plainZip, 0, Archive, KindZip, true},
		{"RAR4", "a.rar", "", append([]byte("Rar!\x1a\x07\x00"), make([]byte, 20)...), 0, Archive, KindRAR, false},
		{"RAR5", "a.rar", "", append([]byte("Rar!\x1a\x07\x01\x00"), make([]byte, 20)...), 0, Archive, KindRAR, false},
		{"7z", "a.7z", "", append([]byte{'7', 'z', 0xBC, 0xAF, 0x27, 0x1C, 0, 4}, make([]byte, 24)...), 0, Archive, Kind7z, false},
		{"cab", "a.cab", "", append([]byte("MSCF\x00\x00\x00\x00"), make([]byte, 32)...), 0, Archive, KindCab, false},
		{"tar", "a.tar", "", tarball(t), 0, Archive, KindTar, false},
		{"gzip", "a.tar.gz", "application/gzip", gzipped(t, "hello"), 0, Archive, KindGzip, false},
		{"gzip served as application/x-tar", "a.tgz", "application/x-tar", gzipped(t, "hello"), 0, Archive, KindGzip, false},
		{"xz", "a.xz", "", append([]byte{0xFD, '7', 'z', 'X', 'Z', 0, 0, 4}, make([]byte, 24)...), 0, Archive, KindXz, false},
		{"bzip2", "a.bz2", "", []byte("BZh91AY&SY\x00\x01\x02"), 0, Archive, KindBzip2, false},
		{"BZh without block magic", "a.bin", "", []byte("BZh91AY&XX\x00\x01\x02"), 0, Executable, KindNamed, false},
		{"zstd", "a.zst", "", []byte{0x28, 0xB5, 0x2F, 0xFD, 0x04, 0x00, 0x01, 0x00}, 0, Archive, KindZstd, false},

		// Not candidates.
		{"JPEG", "p.jpg", "", jpeg, 0, None, "", false},
		{"text", "notes.txt", "text/plain", text, 0, None, "", false},
		{"JSON", "a.json", "application/json", []byte(`{"a": [1, 2, 3], "b": "c"}`), 0, None, "", false},
	}
	for _, c := range cases {
		total := c.total
		if total == 0 {
			total = int64(len(c.body))
		}
		got := Detect(head(c.body), c.name, c.claimed, total)
		if got.Category != c.cat || got.Kind != c.kind || got.Mismatch != c.mismatch {
			t.Errorf("%s: got %v/%q mismatch %v (%+v), want %v/%q mismatch %v",
				c.what, got.Category, got.Kind, got.Mismatch, got, c.cat, c.kind, c.mismatch)
		}
		if (got.Category == None) != (got.Reason == "") || (got.Category == None) != (got.Kind == "") {
			t.Errorf("%s: category %v with kind %q reason %q", c.what, got.Category, got.Kind, got.Reason)
		}
		if len(c.body) > 0 && got.MIME == "" {
			t.Errorf("%s: no MIME", c.what)
		}
		if strings.Contains(got.MIME, ";") {
			t.Errorf("%s: MIME %q has parameters", c.what, got.MIME)
		}
	}
}

func TestDetectMIME(t *testing.T) {
	odb := buildZipRaw(t,
		zipEntry{name: "mimetype", body: "application/vnd.oasis.opendocument.database", extra: []byte{0x99, 0x99, 0, 0}})
	for _, c := range []struct {
		body []byte
		mime string
	}{
		{odb, "application/vnd.oasis.opendocument.database"},
		{elfHeader(3, 62), "application/x-sharedlib"},
		{[]byte("plain words\n"), "text/plain"},
		{fixture(t, "hello-x86.exe"), mimePE},
		{[]byte{0xEB, 0xFE}, "text/plain"}, // the library's answer stays the MIME
	} {
		if got := Detect(c.body, "", "", int64(len(c.body))).MIME; got != c.mime {
			t.Errorf("%q: MIME %q, want %q", c.body[:min(len(c.body), 16)], got, c.mime)
		}
	}
}

// Only the head counts: bytes past HeadSize change nothing.
func TestDetectHeadOnly(t *testing.T) {
	pe := fixture(t, "hello-x64.exe")
	long := append(append([]byte(nil), pe...), bytes.Repeat([]byte("%PDF-1.4 "), 1000)...)
	if a, b := Detect(long, "a.exe", "", -1), Detect(long[:HeadSize], "a.exe", "", -1); a != b {
		t.Errorf("past the head: %+v vs %+v", a, b)
	}
}

func TestIsText(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"hello\r\n\tworld\f", true},
		{"Zürich", true},
		{strings.Repeat("a", HeadSize-1) + "ü"[:1], true}, // a full head that cuts a rune
		{"Z" + "ü"[:1], false},                            // a whole file that ends in one
		{"\xEF\xBB\xBFbom", true},
		{"\xFF\xFEh\x00i\x00", true},
		{"caf\xe9", false}, // Latin-1
		{"a\x00b", false},
		{"\xEB\xFE", false},
		{"\x1b[1mbold\x1b[0m", true},
		{"", false},
	} {
		if got := IsText([]byte(c.in)); got != c.want {
			t.Errorf("IsText(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestCategory(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Category
	}{
		{"executable", Executable}, {" Documents ", Document}, {"ARCHIVE", Archive}, {"archives", Archive},
	} {
		got, err := ParseCategory(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseCategory(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
		if back, _ := ParseCategory(got.String()); back != got {
			t.Errorf("%v does not round-trip", got)
		}
	}
	for _, bad := range []string{"", "none", "image", "exe"} {
		if _, err := ParseCategory(bad); err == nil {
			t.Errorf("ParseCategory(%q): no error", bad)
		}
	}
	if None.String() != "" || Executable.String() != "executable" {
		t.Errorf("String: %q %q", None.String(), Executable.String())
	}
	var c Category
	if err := c.UnmarshalText([]byte("document")); err != nil || c != Document {
		t.Errorf("UnmarshalText: %v %v", c, err)
	}
	if b, _ := Archive.MarshalText(); string(b) != "archive" {
		t.Errorf("MarshalText: %q", b)
	}
}
