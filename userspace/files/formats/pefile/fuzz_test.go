package pefile

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var hexHash = regexp.MustCompile(`^[0-9a-f]{32}$`)

// FuzzParse: any input parses without a panic into a model within its
// bounds, the same twice, and with the section table debug/pe reads when
// debug/pe reads the file.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"hello-x64.exe", "hello-x86.exe", "hello-arm64.exe", "imports-x64.exe"} {
		b := fixture(f, name)
		f.Add(b)
		f.Add(longName(b, 0, ".text$x"))
	}
	f.Add([]byte("MZ"))
	f.Add(versionFlood(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := parse(b)
		if p == nil {
			return
		}
		if !reflect.DeepEqual(stripPager(p), stripPager(parse(b))) {
			t.Fatal("not deterministic")
		}
		if p.NumSections > MaxSections || len(p.Sections) > MaxSections || len(p.Imports) > MaxImportDLLs || len(p.Dirs) > 16 {
			t.Fatalf("unbounded: %d sections, %d imports, %d dirs", len(p.Sections), len(p.Imports), len(p.Dirs))
		}
		funcs := 0
		for _, im := range p.Imports {
			funcs += len(im.Funcs)
			if len(im.DLL) > maxName {
				t.Fatalf("DLL name of %d bytes", len(im.DLL))
			}
			for _, fn := range im.Funcs {
				if len(fn.Name) > maxName {
					t.Fatalf("function name of %d bytes", len(fn.Name))
				}
			}
		}
		if funcs > MaxImports {
			t.Fatalf("%d imported functions", funcs)
		}
		if h := p.Imphash(); h != "" && !hexHash.MatchString(h) {
			t.Fatalf("imphash %q", h)
		}
		if v := p.Version; v != nil {
			for _, s := range []string{v.Company, v.Product, v.OriginalFileName, v.FileVersion, v.Description, v.InternalName, v.LegalCopyright, v.ProductVersion} {
				if len(s) > 512 || !utf8.ValidString(s) {
					t.Fatalf("version value %q", s)
				}
			}
		}
		compareDebugPE(t, b, p)
	})
}

func stripPager(f *File) File {
	c := *f
	c.p = nil
	return c
}

// compareDebugPE checks the section table against debug/pe's when that
// reads the file too (long names aside: debug/pe refuses a file whose
// string table it cannot read; this reader keeps the "/n").
func compareDebugPE(t *testing.T, b []byte, p *File) {
	ref, err := pe.NewFile(bytes.NewReader(b))
	if err != nil || !p.Headers || len(ref.Sections) > MaxSections {
		return
	}
	lfanew := int64(binary.LittleEndian.Uint32(b[60:]))
	if lfanew+24 > int64(len(b)) || int(binary.LittleEndian.Uint16(b[lfanew+20:])) < 0 {
		return
	}
	if len(ref.Sections) != len(p.Sections) {
		t.Fatalf("%d sections, debug/pe %d", len(p.Sections), len(ref.Sections))
	}
	for i, s := range ref.Sections {
		got := p.Sections[i]
		want := Section{got.Name, s.VirtualSize, s.VirtualAddress, s.Size, s.Offset, s.Characteristics}
		if !strings.HasPrefix(got.Name, "/") && len(s.Name) <= maxLongName {
			want.Name = s.Name
		}
		if got != want {
			t.Fatalf("section %d: %+v, debug/pe %+v", i, got, want)
		}
	}
}
