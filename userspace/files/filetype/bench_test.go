package filetype

import (
	"bytes"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
)

func BenchmarkDetect(b *testing.B) {
	files := corpus(b)
	text := []byte(strings.Repeat("Plain words in a plain text file, line after line.\n", 90))
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"PE", files["sample.exe"].body},
		{"ELF", files["tool_linux"].body},
		{"PDF", files["report.pdf"].body},
		{"DOCX", files["letter.docx"].body},
		{"ZIP", files["archive.zip"].body},
		{"JPEG", files["photo.jpg"].body},
		{"text-4KiB", text},
		{"text-short", files["notes.txt"].body},
	} {
		h := head(c.body)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(h)))
			for b.Loop() {
				Detect(h, "download.bin", "application/octet-stream", int64(len(c.body)))
			}
		})
	}
	// The carriers (carriers.go); an ISO is typed from the deep head.
	iso := carriers.ISO(map[string][]byte{"a.exe": files["sample.exe"].body[:4096]})
	for _, c := range []struct {
		name, file string
		h          []byte
	}{
		{"ISO-deep-head", "download.bin", iso[:DeepHeadSize]},
		{"LNK", "download.bin", carriers.LNK(`C:\Windows\System32\cmd.exe`, "/c calc", "", false)},
		{"OneNote", "download.bin", head(carriers.OneNote([]byte("x")))},
		{"HTA", "download.bin", carriers.HTA()},
		{"PowerShell-by-name", "update.ps1", carriers.PowerShellCradle()},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.h)))
			for b.Loop() {
				Detect(c.h, c.file, "application/octet-stream", -1)
			}
		})
	}
}

func BenchmarkMetadata(b *testing.B) {
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"PE-corpus-1.6MB", corpus(b)["sample.exe"].body},
		{"PE-version-resource", fixture(b, "hello-x64.exe")},
		{"PDF", fixture(b, "lo-memo.pdf")},
		{"DOCX", fixture(b, "lo-memo.docx")},
		{"DOC", fixture(b, "lo-memo.doc")},
	} {
		ty := Detect(head(c.body), "", "", int64(len(c.body)))
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Metadata(bytes.NewReader(c.body), int64(len(c.body)), ty)
			}
		})
	}
}
