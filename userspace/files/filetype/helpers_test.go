package filetype

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"hash/crc32"
	"os"
	"testing"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type zipEntry struct {
	name  string
	body  string
	store bool
	extra []byte
}

// buildZip writes entries in order with archive/zip (which streams:
// sizes go to data descriptors unless the entry is stored with a CRC we
// give it, so both header layouts get exercised).
func buildZip(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Extra: e.extra}
		if e.store {
			h.Method = zip.Store
		}
		f, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// buildZipRaw writes entries with sizes in the local headers (no data
// descriptor), as Office and LibreOffice do.
func buildZipRaw(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Store, Extra: e.extra}
		h.CRC32 = crc32IEEE([]byte(e.body))
		h.CompressedSize64 = uint64(len(e.body))
		h.UncompressedSize64 = uint64(len(e.body))
		f, err := w.CreateRaw(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const contentTypes = `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"></Types>`

func coreXML(creator, lastBy, title string) string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"><dc:title>` + title + `</dc:title><dc:creator>` + creator + `</dc:creator><cp:lastModifiedBy>` + lastBy + `</cp:lastModifiedBy></cp:coreProperties>`
}

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

func deflated(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}
