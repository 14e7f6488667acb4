package filetype

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
	"time"
)

func officeMeta(t *testing.T, name string, b []byte) *OfficeMeta {
	t.Helper()
	ty := Detect(head(b), name, "", int64(len(b)))
	m, err := MetadataFile(writeTemp(t, name, b), ty)
	if err != nil {
		t.Fatal(err)
	}
	return m.Office
}

// LibreOffice fixtures (testdata/gen/docs.sh); values as unzip and
// python3-olefile show them.
func TestOfficeFixtures(t *testing.T) {
	lo := "LibreOffice/7.4.7.2$Linux_X86_64 LibreOffice_project/40$Build-2"
	for _, c := range []struct {
		file string
		want OfficeMeta
	}{
		{"lo-memo.docx", OfficeMeta{Creator: "Ana Müller", LastModifiedBy: "Bob Editor", Title: "Quarterly Überblick",
			Application: lo, Created: "2026-01-02T03:04:05Z", Modified: "2026-02-03T04:05:06Z"}},
		{"lo-memo.odt", OfficeMeta{Creator: "Ana Müller", LastModifiedBy: "Bob Editor", Title: "Quarterly Überblick",
			Application: lo, Created: "2026-01-02T03:04:05", Modified: "2026-02-03T04:05:06"}},
		{"lo-sheet.xlsx", OfficeMeta{Creator: "Carla Sheet", LastModifiedBy: "Dan Numbers", Title: "Budget", Application: lo}},
		// OLE2: SummaryInformation in the mini stream, code page 65001.
		{"lo-memo.doc", OfficeMeta{Creator: "Ana Müller", LastModifiedBy: "Bob Editor", Title: "Quarterly Überblick"}},
		{"lo-sheet.xls", OfficeMeta{Creator: "Carla Sheet", LastModifiedBy: "Dan Numbers", Title: "Budget"}},
	} {
		m := officeMeta(t, c.file, fixture(t, c.file))
		if m == nil || *m != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.file, m, c.want)
		}
	}
}

// The corpus DOCX has no docProps at all.
func TestOfficeCorpus(t *testing.T) {
	f := corpus(t)["letter.docx"]
	if m := officeMeta(t, f.name, f.body); m == nil || *m != (OfficeMeta{}) {
		t.Errorf("%+v", m)
	}
}

func TestOfficeMacrosAndApp(t *testing.T) {
	docm := buildZip(t,
		zipEntry{name: "[Content_Types].xml", body: contentTypes},
		zipEntry{name: "word/document.xml", body: "<w:document/>"},
		zipEntry{name: "word/vbaProject.bin", body: "\xd0\xcf\x11\xe0"},
		zipEntry{name: "docProps/core.xml", body: coreXML("Eve &amp; Co", "Mallory", "Invoice")},
		zipEntry{name: "docProps/app.xml", body: `<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"><Application>Microsoft Office Word</Application><Company>ACME Corp</Company></Properties>`})
	m := officeMeta(t, "a.docm", docm)
	want := OfficeMeta{Creator: "Eve & Co", LastModifiedBy: "Mallory", Title: "Invoice", Application: "Microsoft Office Word", Company: "ACME Corp", Macros: true}
	if m == nil || *m != want {
		t.Errorf("got %+v\nwant %+v", m, want)
	}
}

// A core.xml that inflates to 8 MiB (32 times the limit): the part is read to maxXMLPart
// only, so a creator at its start is found, one past the limit is not,
// and neither costs more than a few MiB or a blink.
func TestOfficeZipBomb(t *testing.T) {
	pad := "<!--" + strings.Repeat(" ", 8<<20) + "-->"
	for _, c := range []struct {
		what, core, creator string
	}{
		{"creator first", coreXML("Early Bird", "", "") + pad, "Early Bird"},
		{"creator past the limit", strings.Replace(coreXML("Late", "", ""), "<dc:title>", pad+"<dc:title>", 1), ""},
	} {
		b := buildZip(t,
			zipEntry{name: "[Content_Types].xml", body: contentTypes},
			zipEntry{name: "word/document.xml", body: "<w:document/>"},
			zipEntry{name: "docProps/core.xml", body: c.core})
		if len(b) > 1<<20 {
			t.Fatalf("%s: the bomb is %d bytes", c.what, len(b))
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		m := Metadata(bytes.NewReader(b), int64(len(b)), Type{Kind: KindDOCX})
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if m.Office == nil || m.Office.Creator != c.creator {
			t.Errorf("%s: %+v", c.what, m.Office)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
			t.Errorf("%s: allocated %d bytes", c.what, alloc)
		}
		if took > 2*time.Second {
			t.Errorf("%s: took %v", c.what, took)
		}
	}
}

// A central directory that declares more entries than we allow is not
// opened at all.
func TestOfficeZipTooManyEntries(t *testing.T) {
	b := buildZip(t, zipEntry{name: "docProps/core.xml", body: coreXML("X", "", "")})
	i := bytes.LastIndex(b, []byte("PK\x05\x06"))
	// zip64 markers without a zip64 locator
	binary.LittleEndian.PutUint16(b[i+10:], 0xffff)
	if m := Metadata(bytes.NewReader(b), int64(len(b)), Type{Kind: KindDOCX}); m.Office != nil {
		t.Errorf("opened: %+v", m.Office)
	}
}

var (
	fmtidSummary    = []byte{0xE0, 0x85, 0x9F, 0xF2, 0xF9, 0x4F, 0x68, 0x10, 0xAB, 0x91, 0x08, 0x00, 0x2B, 0x27, 0xB3, 0xD9}
	fmtidDocSummary = []byte{0x02, 0xD5, 0xCD, 0xD5, 0x9C, 0x2E, 0x1B, 0x10, 0x93, 0x97, 0x08, 0x00, 0x2B, 0x2C, 0xF9, 0xAE}
)

// OLE2 with the property streams in regular sectors: code page 1252
// narrow strings, and wide strings.
func TestOLEProperties(t *testing.T) {
	narrow := buildCFB(nil, 0,
		cfbStream{"\x05SummaryInformation", propStream(fmtidSummary, 1252, false,
			map[uint32]string{2: "Caf\xe9 \x80", 4: "Jos\xe9", 8: "Last One", 0x12: "Microsoft Office Word"})},
		cfbStream{"\x05DocumentSummaryInformation", propStream(fmtidDocSummary, 1252, false, map[uint32]string{0x0F: "ACME"})},
		cfbStream{"Macros", nil})
	m := Metadata(bytes.NewReader(narrow), int64(len(narrow)), Type{Kind: KindOLE2})
	want := OfficeMeta{Title: "Café €", Creator: "José", LastModifiedBy: "Last One", Application: "Microsoft Office Word", Company: "ACME"}
	if m.Office == nil || *m.Office != want {
		t.Errorf("narrow: %+v\nwant %+v", m.Office, want)
	}
	wide := buildCFB(nil, 0, cfbStream{"\x05SummaryInformation", propStream(fmtidSummary, 1200, true, map[uint32]string{4: "Zoë 山田"})})
	if m := Metadata(bytes.NewReader(wide), int64(len(wide)), Type{Kind: KindOLE2}); m.Office == nil || m.Office.Creator != "Zoë 山田" {
		t.Errorf("wide: %+v", m.Office)
	}
}

func TestOLEHostile(t *testing.T) {
	good := buildCFB(nil, 0, cfbStream{"\x05SummaryInformation", propStream(fmtidSummary, 1252, false, map[uint32]string{4: "A"})})
	loop := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(loop[512+4*2:], 2) // the stream's sector chains to itself
	dirLoop := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(dirLoop[512+4*1:], 1) // the directory chains to itself
	difat := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(difat[44:], 0x7fffffff) // FAT sectors claimed
	binary.LittleEndian.PutUint32(difat[68:], 0)          // DIFAT chain at the FAT sector
	props := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(props[3*512+48+4:], 0x7fffffff) // the property count (stream in sector 2)
	for name, b := range map[string][]byte{"sector loop": loop, "directory loop": dirLoop, "DIFAT": difat, "props": props, "short": good[:700]} {
		start := time.Now()
		m := Metadata(bytes.NewReader(b), int64(len(b)), Type{Kind: KindOLE2})
		if time.Since(start) > time.Second {
			t.Errorf("%s: slow", name)
		}
		if m.Office != nil && m.Office.Creator != "" && m.Office.Creator != "A" {
			t.Errorf("%s: creator %q", name, m.Office.Creator)
		}
	}
}
