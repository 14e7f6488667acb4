package pefile

import (
	"bytes"
	"crypto/sha256"
	"debug/pe"
	"encoding/binary"
	"encoding/hex"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../filetype/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// corpusPE is the corpus's sample.exe (a Go program), cut from its
// capture and checked against the capture's truth.
func corpusPE(t testing.TB) []byte {
	t.Helper()
	const dir = "../../../../testdata/corpus/"
	c := testutil.TCPConns(t, dir+"http_exe.pcap")[0]
	b := c.ToClient[bytes.Index(c.ToClient, []byte("\r\n\r\n"))+4:]
	sum := sha256.Sum256(b)
	if want := testutil.ReadTruth(t, dir+"http_exe.truth.json").Files[0].SHA256; hex.EncodeToString(sum[:]) != want {
		t.Fatalf("sample.exe cut wrong: %x", sum)
	}
	return b
}

func parse(b []byte) *File { return Parse(bytes.NewReader(b), int64(len(b))) }

// The fixtures' values are what pefile 2023.2.7 reports for them
// (testdata/README.md).
func TestFixtures(t *testing.T) {
	version := Version{
		Company: "Société Edgesensor Test", Product: "Edgesensor Hello", OriginalFileName: "hello.exe",
		FileVersion: "1.2.3.4", Description: "Hello test program", InternalName: "hello",
		LegalCopyright: "Copyright (C) 2026 Edgesensor Test", ProductVersion: "1.2",
	}
	for _, c := range []struct {
		file     string
		machine  uint16
		plus     bool
		sections int
	}{
		{"hello-x64.exe", 0x8664, true, 3},
		{"hello-x86.exe", 0x14c, false, 4},
		{"hello-arm64.exe", 0xaa64, true, 3},
	} {
		f := parse(fixture(t, c.file))
		if f == nil || !f.Headers {
			t.Fatalf("%s: %+v", c.file, f)
		}
		if f.Machine != c.machine || f.PE32Plus != c.plus || f.NumSections != c.sections || len(f.Sections) != c.sections ||
			f.TimeDateStamp != 1767225600 || f.Subsystem != 3 || f.TLSCallbacks {
			t.Errorf("%s: %+v", c.file, f)
		}
		if f.Version == nil || *f.Version != version {
			t.Errorf("%s: version %+v", c.file, f.Version)
		}
		if h := f.Imphash(); h != "733671eb2f1ac029df421a54678f7279" {
			t.Errorf("%s: imphash %s", c.file, h)
		}
	}
}

// imports-x64.exe: the import table and TLS directory as pefile lists
// them.
func TestImportsFixture(t *testing.T) {
	f := parse(fixture(t, "imports-x64.exe"))
	want := []Import{
		{DLL: "kernel32.dll", Funcs: []Func{{Name: "CreateRemoteThread"}, {Name: "ExitProcess"}, {Name: "IsDebuggerPresent"},
			{Name: "VirtualAllocEx"}, {Name: "WriteProcessMemory"}}},
		{DLL: "api-ms-win-core-synch-l1-2-0.dll", Funcs: []Func{{Name: "WaitOnAddress"}}},
		{DLL: "custom.dll", Funcs: []Func{{Ordinal: 7, ByOrdinal: true}}},
	}
	if !reflect.DeepEqual(f.Imports, want) || f.ImportsCut {
		t.Errorf("imports\n got %+v\nwant %+v", f.Imports, want)
	}
	if h := f.Imphash(); h != "0c4c223d14100f2d03480d176af0db65" {
		t.Errorf("imphash %s", h)
	}
	if !f.TLSCallbacks || f.Version != nil {
		t.Errorf("TLS callbacks %v, version %+v", f.TLSCallbacks, f.Version)
	}
}

// The corpus PE: imphash as pefile computes it, sections as it lists
// them, no timestamp (Go writes 0), no version resource.
func TestCorpus(t *testing.T) {
	f := parse(corpusPE(t))
	var names []string
	for _, s := range f.Sections {
		names = append(names, s.Name)
	}
	if want := []string{".text", ".rdata", ".data", ".pdata", ".xdata", ".idata", ".reloc", ".symtab"}; !reflect.DeepEqual(names, want) {
		t.Errorf("sections %q", names)
	}
	if h := f.Imphash(); h != "9b763104e1c7e7b7334a1e9ed4235cd3" || f.TimeDateStamp != 0 || f.Version != nil {
		t.Errorf("imphash %s, stamp %d, version %+v", h, f.TimeDateStamp, f.Version)
	}
}

// Every section, its fields and its long name, as debug/pe (independent
// code) reads them.
func TestSectionsAsDebugPE(t *testing.T) {
	b := fixture(t, "hello-x86.exe")
	// Give section 1 a long name in a COFF string table appended to the
	// file, as MinGW writes them.
	b = longName(b, 1, ".rdata$long_name_of_a_section")
	for name, b := range map[string][]byte{"hello-x86.exe with a long name": b, "corpus": corpusPE(t)} {
		ref, err := pe.NewFile(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		f := parse(b)
		if len(f.Sections) != len(ref.Sections) {
			t.Fatalf("%s: %d sections, debug/pe %d", name, len(f.Sections), len(ref.Sections))
		}
		for i, s := range ref.Sections {
			want := Section{s.Name, s.VirtualSize, s.VirtualAddress, s.Size, s.Offset, s.Characteristics}
			if f.Sections[i] != want {
				t.Errorf("%s: section %d: %+v, debug/pe %+v", name, i, f.Sections[i], want)
			}
		}
	}
}

// longName renames section i "/4" and appends a COFF string table (no
// symbols) holding name.
func longName(b []byte, i int, name string) []byte {
	b = append([]byte(nil), b...)
	lfanew := int(binary.LittleEndian.Uint32(b[60:]))
	opt := int(binary.LittleEndian.Uint16(b[lfanew+20:]))
	sh := lfanew + 24 + opt + 40*i
	copy(b[sh:sh+8], "/4\x00\x00\x00\x00\x00\x00")
	binary.LittleEndian.PutUint32(b[lfanew+12:], uint32(len(b))) // PointerToSymbolTable
	binary.LittleEndian.PutUint32(b[lfanew+16:], 0)              // NumberOfSymbols
	table := binary.LittleEndian.AppendUint32(nil, uint32(4+len(name)+1))
	return append(append(append(b, table...), name...), 0)
}

// The loader reads neither the COFF symbol table nor the string table:
// a pointer to nowhere must not blind the reader (debug/pe refuses such
// a file whole).
func TestBogusSymbolTable(t *testing.T) {
	b := longName(fixture(t, "imports-x64.exe"), 0, ".text")
	lfanew := int(binary.LittleEndian.Uint32(b[60:]))
	binary.LittleEndian.PutUint32(b[lfanew+12:], 0xfffffff0)
	if _, err := pe.NewFile(bytes.NewReader(b)); err == nil {
		t.Fatal("debug/pe reads it: the case tests nothing")
	}
	f := parse(b)
	if f.Sections[0].Name != "/4" || f.Imphash() != "0c4c223d14100f2d03480d176af0db65" || !f.TLSCallbacks {
		t.Errorf("%+v", f)
	}
}

// sectionOffset finds the file offset of an RVA with debug/pe, an
// independent reader, to aim corruptions.
func sectionOffset(t *testing.T, b []byte, rva uint32) int {
	f, err := pe.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range f.Sections {
		if rva >= s.VirtualAddress && rva < s.VirtualAddress+s.VirtualSize {
			return int(s.Offset + rva - s.VirtualAddress)
		}
	}
	t.Fatalf("rva %#x in no section", rva)
	return 0
}

// Hostile variants of good files: each must end quickly, keep what is
// sound, and not invent values.
func TestHostile(t *testing.T) {
	good := fixture(t, "hello-x64.exe")
	le := binary.LittleEndian
	lfanew := int(le.Uint32(good[60:]))
	rsrc := sectionOffset(t, good, parse(good).Dir(DirResource).VirtualAddress)
	mutate := func(b []byte, f func(b []byte)) []byte {
		b = append([]byte(nil), b...)
		f(b)
		return b
	}
	u16 := func(s string) []byte {
		var b []byte
		for _, r := range s {
			b = le.AppendUint16(b, uint16(r))
		}
		return b
	}
	cases := []struct {
		what    string
		b       []byte
		company string // "" when the version info must be gone
		imphash string
	}{
		// saferwall/pe v1.6.5 never returns on this one (scripts/libeval,
		// TestPEHostile).
		{"a string table of length 0", mutate(good, func(b []byte) {
			i := bytes.Index(b, u16("StringFileInfo")) - 6
			le.PutUint16(b[i+36:], 0) // the first StringTable, after the 36-byte StringFileInfo header
		}), "", "733671eb2f1ac029df421a54678f7279"},
		{"every resource subdirectory points at the root", mutate(good, func(b []byte) {
			n := int(le.Uint16(b[rsrc+12:])) + int(le.Uint16(b[rsrc+14:]))
			for i := range n {
				le.PutUint32(b[rsrc+16+8*i+4:], 0x80000000)
			}
		}), "", "733671eb2f1ac029df421a54678f7279"},
		{"resource entry count 65535+65535", mutate(good, func(b []byte) {
			le.PutUint16(b[rsrc+12:], 0xffff)
			le.PutUint16(b[rsrc+14:], 0xffff)
		}), "", "733671eb2f1ac029df421a54678f7279"},
		{"NumberOfRvaAndSizes 0xffffffff", mutate(good, func(b []byte) {
			le.PutUint32(b[lfanew+24+108:], 0xffffffff)
		}), "Société Edgesensor Test", "733671eb2f1ac029df421a54678f7279"},
		{"VS_VERSIONINFO lengths zeroed", mutate(good, func(b []byte) {
			i := bytes.Index(b, u16("VS_VER"))
			le.PutUint16(b[i-6:], 0)
		}), "", "733671eb2f1ac029df421a54678f7279"},
		// The import directory moved onto a section filled with 0x1000:
		// descriptors never end, every thunk is non-zero.
		{"endless import descriptors", mutate(good, func(b []byte) {
			le.PutUint32(b[lfanew+24+120:], 0x1000)
			for i := 0x400; i < 0x600; i += 4 {
				le.PutUint32(b[i:], 0x1000)
			}
		}), "Société Edgesensor Test", ""},
		{"section table past the end", mutate(good, func(b []byte) {
			le.PutUint16(b[lfanew+6:], 0xffff)
		}), "", ""},
		{"truncated in the resources", good[:rsrc+40], "", "733671eb2f1ac029df421a54678f7279"},
		{"RT_VERSION 4096 times, 8 names, 8 languages, one broken entry", versionFlood(t), "", "733671eb2f1ac029df421a54678f7279"},
	}
	for _, c := range cases {
		start := time.Now()
		f := parse(c.b)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: %v", c.what, d)
		}
		if f == nil || f.Machine != 0x8664 {
			t.Errorf("%s: %+v", c.what, f)
			continue
		}
		company := ""
		if f.Version != nil {
			company = f.Version.Company
		}
		if company != c.company || f.Imphash() != c.imphash {
			t.Errorf("%s: company %q imphash %q, want %q %q", c.what, company, f.Imphash(), c.company, c.imphash)
		}
	}
	if f := parse(mutate(good, func(b []byte) { le.PutUint32(b[60:], 0x7fffffff) })); f != nil {
		t.Errorf("e_lfanew past the end: %+v", f)
	}
}

// Every prefix of a fixture parses without a panic into a model that
// claims nothing the full file does not.
func TestTruncated(t *testing.T) {
	b := fixture(t, "imports-x64.exe")
	full := parse(b)
	for n := 0; n < len(b); n += 7 {
		f := parse(b[:n])
		if f == nil {
			continue
		}
		if f.Machine != full.Machine || len(f.Imports) > len(full.Imports) || f.TLSCallbacks && !full.TLSCallbacks {
			t.Errorf("%d bytes: %+v", n, f)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"corpus-1.6MB", corpusPE(b)},
		{"version-resource", fixture(b, "hello-x64.exe")},
		{"imports-tls", fixture(b, "imports-x64.exe")},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			r := bytes.NewReader(c.body)
			for b.Loop() {
				f := Parse(r, int64(len(c.body)))
				f.Imphash()
			}
		})
	}
}
