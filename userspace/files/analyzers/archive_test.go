package analyzers

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"fmt"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

type zent struct {
	name  string
	data  []byte
	flags uint16
}

func buildZip(t testing.TB, ents ...zent) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, e := range ents {
		f, err := w.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate, Flags: e.flags})
		if err != nil {
			t.Fatal(err)
		}
		f.Write(e.data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func buildTar(t testing.TB, ents ...zent) []byte {
	t.Helper()
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, e := range ents {
		w.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg})
		w.Write(e.data)
	}
	w.Close()
	return b.Bytes()
}

func gz(b []byte, name string) []byte {
	var o bytes.Buffer
	w, _ := gzip.NewWriterLevel(&o, gzip.BestCompression)
	w.Name = name
	w.Write(b)
	w.Close()
	return o.Bytes()
}

func analyzeAs(t testing.TB, b []byte, name string, lim Limits) string {
	t.Helper()
	ty := filetype.Detect(b, name, "", int64(len(b)))
	return rules(Analyze(bytes.NewReader(b), int64(len(b)), ty, name, lim))
}

func TestArchive(t *testing.T) {
	exe := fixture(t, "hello-x64.exe")
	text := []byte("hello, world\n")
	nest := func(depth int) []byte {
		b := buildZip(t, zent{name: "a.exe", data: exe})
		for range depth {
			b = buildZip(t, zent{name: "in.zip", data: b})
		}
		return b
	}
	many := make([]zent, 20)
	for i := range many {
		many[i] = zent{name: fmt.Sprintf("f%d.txt", i), data: text}
	}
	tests := []struct {
		name, file string
		b          []byte
		lim        Limits
		want       string
	}{
		{"text zip", "a.zip", buildZip(t, zent{name: "readme.txt", data: text}), Limits{}, ""},
		{"exe in zip", "a.zip", buildZip(t, zent{name: "setup.exe", data: exe}), Limits{}, "archive.executable_inside"},
		{"lure in zip", "a.zip", buildZip(t, zent{name: "invoice.pdf.exe", data: exe}), Limits{}, "archive.executable_inside,name.double_extension"},
		{"encrypted", "a.zip", buildZip(t, zent{name: "data.txt", data: text, flags: 1}), Limits{}, "archive.encrypted"},
		{"escape", "a.zip", buildZip(t, zent{name: "../../etc/cron.d/x", data: text}), Limits{}, "archive.path_escape"},
		{"drive", "a.zip", buildZip(t, zent{name: `C:\Windows\x.txt`, data: text}), Limits{}, "archive.path_escape"},
		{"nested 2", "a.zip", nest(2), Limits{}, "archive.executable_inside"},
		// Beyond MaxDepth the inner zip is not opened.
		{"nested too deep", "a.zip", nest(3), Limits{MaxDepth: 2}, ""},
		{"entries", "a.zip", buildZip(t, many...), Limits{MaxEntries: 5}, "archive.limit_reached"},
		{"tar", "a.tar", buildTar(t, zent{name: "/etc/x.exe", data: exe}), Limits{}, "archive.executable_inside,archive.path_escape"},
		{"tgz", "a.tgz", gz(buildTar(t, zent{name: "bin/x.exe", data: exe}), "a.tar"), Limits{}, "archive.executable_inside"},
		{"gz", "x.gz", gz(exe, "x.exe"), Limits{}, "archive.executable_inside"},
		{"gz text", "x.gz", gz(text, "x.txt"), Limits{}, ""},
		{"budget", "a.zip", buildZip(t, zent{name: "a.zip", data: buildZip(t, zent{name: "a.exe", data: exe})}), Limits{MaxExpand: 100}, "archive.limit_reached"},
	}
	for _, tc := range tests {
		if got := analyzeAs(t, tc.b, tc.file, tc.lim); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestEncryptedExecutable(t *testing.T) {
	b := buildZip(t, zent{name: "doc.exe", data: []byte("x"), flags: 1})
	ty := filetype.Detect(b, "a.zip", "", int64(len(b)))
	rs := Analyze(bytes.NewReader(b), int64(len(b)), ty, "a.zip", Limits{})
	if len(rs) != 1 || rs[0].Rule != "archive.encrypted" || rs[0].Weight != 8 {
		t.Fatalf("%+v", rs)
	}
}

func TestBomb(t *testing.T) {
	// A gzip whose member inflates past 1000x: the ISIZE trailer says so.
	exe := fixture(t, "hello-x64.exe")
	big := append(append([]byte{}, exe...), make([]byte, 40<<20)...)
	b := gz(big, "x.exe")
	if got := analyzeAs(t, b, "x.gz", Limits{}); got != "archive.bomb" {
		t.Errorf("gzip bomb: %q", got)
	}
	// The same with the trailer zeroed: found by inflating, bounded.
	b[len(b)-4], b[len(b)-3], b[len(b)-2], b[len(b)-1] = 0, 0, 0, 0
	if got := analyzeAs(t, b, "x.gz", Limits{}); !strings.Contains(got, "archive.bomb") {
		t.Errorf("gzip bomb, no trailer: %q", got)
	}
	// A zip entry claiming a huge size from a few bytes.
	var o bytes.Buffer
	w := zip.NewWriter(&o)
	f, _ := w.CreateRaw(&zip.FileHeader{Name: "x.bin", Method: zip.Deflate, CompressedSize64: 100, UncompressedSize64: 1 << 30})
	f.Write(make([]byte, 100))
	w.Close()
	if got := analyzeAs(t, o.Bytes(), "a.zip", Limits{}); got != "archive.bomb" {
		t.Errorf("zip bomb: %q", got)
	}
}

func FuzzArchive(f *testing.F) {
	exe := fixture(f, "hello-x64.exe")
	f.Add(buildZip(f, zent{name: "a.exe", data: exe}, zent{name: "../x", data: []byte("x"), flags: 1}), uint8(0))
	f.Add(buildTar(f, zent{name: "a.exe", data: exe}), uint8(1))
	f.Add(gz(buildTar(f, zent{name: "a.exe", data: exe}), "a.tar"), uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, k uint8) {
		kind := []string{filetype.KindZip, filetype.KindTar, filetype.KindGzip, filetype.KindDOCX}[k%4]
		Analyze(bytes.NewReader(b), int64(len(b)), filetype.Type{Kind: kind}, "f", Limits{MaxRead: 1 << 20, MaxExpand: 1 << 20, MaxEntries: 100})
	})
}
