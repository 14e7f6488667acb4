package filetype

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"testing"
	"time"
)

// The fixtures were built by clang/lld-link from testdata/gen; the
// expected values are what pefile 2023.2.7 reports for them.
func TestPEMetadataFixtures(t *testing.T) {
	want := PEMeta{
		Company:          "Société Edgesensor Test",
		Product:          "Edgesensor Hello",
		OriginalFileName: "hello.exe",
		FileVersion:      "1.2.3.4",
		Description:      "Hello test program",
		InternalName:     "hello",
		LegalCopyright:   "Copyright (C) 2026 Edgesensor Test",
		ProductVersion:   "1.2",
		Imphash:          "733671eb2f1ac029df421a54678f7279",
		CompileTime:      time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Subsystem:        "console",
	}
	for _, c := range []struct {
		file, arch string
		plus       bool
		sections   int
	}{
		{"hello-x64.exe", "x64", true, 3},
		{"hello-x86.exe", "x86", false, 4},
		{"hello-arm64.exe", "arm64", true, 3},
	} {
		b := fixture(t, c.file)
		ty := Detect(head(b), c.file, "", int64(len(b)))
		m, err := MetadataFile(writeTemp(t, c.file, b), ty)
		if err != nil || m.PE == nil {
			t.Fatalf("%s: %v %+v", c.file, err, m)
		}
		w := want
		w.Architecture, w.PE32Plus, w.Sections = c.arch, c.plus, c.sections
		if *m.PE != w {
			t.Errorf("%s:\n got %+v\nwant %+v", c.file, *m.PE, w)
		}
		if m.PDF != nil || m.Office != nil || m.ELF != nil {
			t.Errorf("%s: other metadata set: %+v", c.file, m)
		}
	}
}

// The corpus PE is a Go program: no version resource, no timestamp.
// Architecture and imphash as pefile reports them.
func TestPEMetadataCorpus(t *testing.T) {
	f := corpus(t)["sample.exe"]
	ty := Detect(head(f.body), f.name, f.claimed, int64(len(f.body)))
	m, err := MetadataFile(writeTemp(t, "sample.exe", f.body), ty)
	if err != nil || m.PE == nil {
		t.Fatalf("%v %+v", err, m)
	}
	want := PEMeta{Architecture: "x64", Imphash: "9b763104e1c7e7b7334a1e9ed4235cd3", Subsystem: "console", PE32Plus: true, Sections: 8}
	if *m.PE != want {
		t.Errorf("got %+v\nwant %+v", *m.PE, want)
	}
}

// resourceRoot finds the file offset of the resource directory with
// debug/pe, an independent reader, to aim corruptions.
func resourceRoot(t *testing.T, b []byte) int {
	f, err := pe.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var rva uint32
	switch oh := f.OptionalHeader.(type) {
	case *pe.OptionalHeader64:
		rva = oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_RESOURCE].VirtualAddress
	case *pe.OptionalHeader32:
		rva = oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_RESOURCE].VirtualAddress
	}
	for _, s := range f.Sections {
		if rva >= s.VirtualAddress && rva < s.VirtualAddress+s.VirtualSize {
			return int(s.Offset + rva - s.VirtualAddress)
		}
	}
	t.Fatal("no resource section")
	return 0
}

// Hostile variants of a good file: each must end, keep what is sound,
// and not invent values.
func TestPEMetadataHostile(t *testing.T) {
	good := fixture(t, "hello-x64.exe")
	rsrc := resourceRoot(t, good)
	lfanew := int(binary.LittleEndian.Uint32(good[60:]))

	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		what    string
		b       []byte
		company string // "" when the version info must be gone
		nilMeta bool
	}{
		{"every resource subdirectory points at the root", mutate(func(b []byte) []byte {
			n := int(binary.LittleEndian.Uint16(b[rsrc+12:])) + int(binary.LittleEndian.Uint16(b[rsrc+14:]))
			for i := range n {
				binary.LittleEndian.PutUint32(b[rsrc+16+8*i+4:], 0x80000000)
			}
			return b
		}), "", false},
		{"resource entry count 65535+65535", mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[rsrc+12:], 0xffff)
			binary.LittleEndian.PutUint16(b[rsrc+14:], 0xffff)
			return b
		}), "", false},
		{"section table past the end", mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[lfanew+6:], 0xffff)
			return b
		}), "", false},
		{"e_lfanew past the end", mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[60:], 0x7fffffff)
			return b
		}), "", true},
		{"truncated in the resources", good[:rsrc+40], "", false},
		{"VS_VERSIONINFO lengths zeroed", mutate(func(b []byte) []byte {
			i := bytes.Index(b, []byte("V\x00S\x00_\x00V\x00E\x00R\x00"))
			binary.LittleEndian.PutUint16(b[i-6:], 0)
			return b
		}), "", false},
		// The value is read to the block's (clamped) end: still right.
		{"string block claims 64 KiB", mutate(func(b []byte) []byte {
			i := bytes.Index(b, []byte("C\x00o\x00m\x00p\x00a\x00n\x00y\x00"))
			binary.LittleEndian.PutUint16(b[i-6:], 0xffff)
			return b
		}), "Société Edgesensor Test", false},
		// The import directory moved onto a section filled with 0x1000:
		// descriptors never end, every thunk is non-zero.
		{"endless import descriptors", mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[lfanew+24+120:], 0x1000)
			for i := 0x400; i < 0x600; i += 4 {
				binary.LittleEndian.PutUint32(b[i:], 0x1000)
			}
			return b
		}), "Société Edgesensor Test", false},
	}
	for _, c := range cases {
		m := Metadata(bytes.NewReader(c.b), int64(len(c.b)), Type{Kind: KindPE})
		if c.nilMeta {
			if m.PE != nil {
				t.Errorf("%s: %+v", c.what, *m.PE)
			}
			continue
		}
		if m.PE == nil {
			t.Errorf("%s: no metadata", c.what)
			continue
		}
		if m.PE.Company != c.company {
			t.Errorf("%s: company %q, want %q", c.what, m.PE.Company, c.company)
		}
		if c.what == "endless import descriptors" && m.PE.Imphash != "" {
			t.Errorf("%s: imphash %q from a bogus table", c.what, m.PE.Imphash)
		}
		if m.PE.Architecture != "x64" {
			t.Errorf("%s: architecture %q", c.what, m.PE.Architecture)
		}
	}
}
