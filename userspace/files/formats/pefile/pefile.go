// Package pefile reads Windows PE images (executables, DLLs, drivers)
// once into a bounded model that both the metadata (ECS file.pe.*) and
// the static analyzers read: the headers, the section table, the
// imports with their imphash, the version resource and the TLS callback
// pointer.
//
// Everything in the file is a claim. Reads go through a 64 KiB page
// cache over an io.ReaderAt (the file is never read whole), every table
// walk has a count bound (the Max* constants), the resource tree is
// walked downwards only, and RVAs are mapped to file offsets the way the
// loader (and pefile, the reference) does. A malformed structure ends
// that part of the parse with what was found; Parse never panics.
//
// # Why not github.com/saferwall/pe
//
// saferwall/pe v1.6.5 (MIT; it brings mmap-go, pkcs7 and x/crypto) was
// weighed against this reader in scripts/libeval, a module of its own
// (cd scripts/libeval; go test -v -run PE .; go test -run XXX -bench PE
// -benchmem .), and not adopted:
//
//   - Hostile input: it never returns on hello-x64.exe with the wLength
//     of its first StringTable set to 0 (3.5 KiB): its version walk
//     does not advance. The 2948th of 3000 seeded mutations of that file
//     hit it too (TestPEMutations; 20 s of go fuzzing with FuzzParse's
//     checks did not). A TLS callback array aimed at 16 MiB of non-zero
//     bytes cost it 227 ms and 98 MB (the array is read to its zero
//     entry); here 0.2 ms and 7 KB (TestPEHostile, with TestHostile's
//     cases).
//   - Results: the imphash, the version strings and the section names
//     agree with pefile 2023.2.7 on hello-{x64,x86,arm64}.exe,
//     imports-x64.exe and the corpus PE, but long section names stay
//     "/4" there (debug/pe and this reader read the COFF string table).
//     It does name ordinal imports of oleaut32, ws2_32 and wsock32 from
//     pefile's tables (its ordlookup.go), where Imphash here gives "".
//   - Speed: parsing the corpus's 1.6 MB Go program (imports, resources,
//     TLS; every other directory off) takes 22 us and 234 allocs here,
//     119 us and 714 allocs there from memory, 209 us mapped
//     (BenchmarkPEParse). Scoring a 2 MB PE: 0.80 ms and 308 allocs here,
//     0.94 ms and 644 allocs with Parse on it with the spool mapped, 2.0
//     ms and 2.2 MB a file with the spool read into memory (go test -run
//     XXX -bench Score2MBPE -benchmem ./userspace/files, Parse swapped in
//     a throwaway patch; BenchmarkScorePE2MB there is the same
//     comparison).
//   - It needs the whole file in memory (NewBytes) or mapped (NewFile);
//     here 64 KiB of pages serve a file of any size.
package pefile

import (
	"encoding/binary"
	"io"
	"strconv"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/pager"
)

// Bounds on the work Parse does on one untrusted file.
const (
	MaxSections   = 1024     // the loader's own limit is 96 (XP) to 65535
	MaxVersionRes = 64 << 10 // VS_VERSIONINFO: wLength is 16 bits anyway
	MaxResEntries = 4096     // entries looked at in one resource directory
	MaxImportDLLs = 1024     // import descriptors
	MaxImports    = 16384    // imported functions in all
	maxName       = 0x200    // bytes of a DLL or function name (pefile's limit)
	maxLongName   = 256      // bytes of a section name from the string table
	maxOptional   = 240      // bytes of the optional header used (PE32+ with 16 directories)
)

// Data directory indexes.
const (
	DirImport   = 1
	DirResource = 2
	DirSecurity = 4 // the certificate table: a file offset, not an RVA
	DirTLS      = 9
)

// File is what a PE file says about itself.
type File struct {
	// From the COFF file header.
	Machine         uint16
	NumSections     int // NumberOfSections, at most MaxSections
	TimeDateStamp   uint32
	Characteristics uint16

	// Headers reports that the optional header and the section table
	// were read; everything below is zero without them.
	Headers       bool
	PE32Plus      bool   // the optional header's magic is PE32+
	EntryPoint    uint32 // AddressOfEntryPoint (an RVA)
	FileAlignment uint32
	SizeOfHeaders uint32
	Subsystem     uint16
	// Dirs are the data directories the header declares (at most 16,
	// and only those the optional header has room for).
	Dirs     []DataDir
	Sections []Section

	// Imports are the import descriptors, in order, each with its
	// functions; ImportsCut reports that MaxImports ended the walk.
	Imports    []Import
	ImportsCut bool
	// Version is the first sound VS_VERSIONINFO resource, nil if none.
	Version *Version
	// TLSCallbacks: the TLS directory names a callback array, code that
	// runs before the entry point.
	TLSCallbacks bool

	p    *pager.Pager
	dirs [16]DataDir // all 16, zero past the declared ones
}

// DataDir is one entry of the optional header's data directory.
type DataDir struct{ VirtualAddress, Size uint32 }

// Section is one section header. Name is the header's name, or for a
// "/n" name the one the COFF string table holds at n (as link.exe and
// MinGW write long names), the "/n" itself when that cannot be read.
type Section struct {
	Name            string
	VirtualSize     uint32
	VirtualAddress  uint32
	RawSize         uint32 // SizeOfRawData
	RawOffset       uint32 // PointerToRawData
	Characteristics uint32
}

// Section characteristics.
const (
	ScnCode    = 0x00000020
	ScnExecute = 0x20000000
	ScnWrite   = 0x80000000
)

// Parse reads the PE image in the size bytes of r; nil when it has no
// DOS header pointing at a PE signature.
func Parse(r io.ReaderAt, size int64) *File {
	p := pager.New(r, size)
	dos := p.Bytes(0, 64)
	if dos == nil || dos[0] != 'M' || dos[1] != 'Z' {
		return nil
	}
	lfanew := int64(binary.LittleEndian.Uint32(dos[60:]))
	nt := p.Bytes(lfanew, 24)
	if nt == nil || string(nt[:4]) != "PE\x00\x00" {
		return nil
	}
	le := binary.LittleEndian
	f := &File{
		p:               p,
		Machine:         le.Uint16(nt[4:]),
		NumSections:     min(int(le.Uint16(nt[6:])), MaxSections),
		TimeDateStamp:   le.Uint32(nt[8:]),
		Characteristics: le.Uint16(nt[22:]),
	}
	symtab, nsyms := le.Uint32(nt[12:]), le.Uint32(nt[16:])
	optSize := int(le.Uint16(nt[20:]))
	// The optional header's fields we use are in its first 240 bytes; the
	// section table follows all of it, however long it says it is.
	opt := p.Bytes(lfanew+24, min(optSize, maxOptional))
	table := p.Bytes(lfanew+24+int64(optSize), 40*f.NumSections)
	if opt == nil || table == nil {
		return f // a truncated file: keep what the file header said
	}
	f.Headers = true
	if len(opt) >= 2 {
		f.PE32Plus = le.Uint16(opt) == 0x20b
		dirOff, countOff := 96, 92
		if f.PE32Plus {
			dirOff, countOff = 112, 108
		}
		if len(opt) >= 20 {
			f.EntryPoint = le.Uint32(opt[16:])
		}
		if len(opt) >= 70 {
			f.FileAlignment = le.Uint32(opt[36:])
			f.SizeOfHeaders = le.Uint32(opt[60:])
			f.Subsystem = le.Uint16(opt[68:])
		}
		if len(opt) >= countOff+4 {
			n := min(int(le.Uint32(opt[countOff:])), 16)
			for i := 0; i < n && dirOff+8*i+8 <= len(opt); i++ {
				d := opt[dirOff+8*i:]
				f.dirs[i] = DataDir{le.Uint32(d), le.Uint32(d[4:])}
				f.Dirs = f.dirs[:i+1]
			}
		}
	}
	f.Sections = make([]Section, f.NumSections)
	for i := range f.Sections {
		s := table[40*i:]
		f.Sections[i] = Section{
			Name:            f.sectionName(s[:8], symtab, nsyms),
			VirtualSize:     le.Uint32(s[8:]),
			VirtualAddress:  le.Uint32(s[12:]),
			RawSize:         le.Uint32(s[16:]),
			RawOffset:       le.Uint32(s[20:]),
			Characteristics: le.Uint32(s[36:]),
		}
	}
	f.readImports()
	f.readVersion()
	f.readTLS()
	return f
}

// sectionName reads a section header's name: up to the first NUL, or a
// long name from the COFF string table (after the symbols).
func (f *File) sectionName(raw []byte, symtab, nsyms uint32) string {
	name := cstring(raw)
	if len(name) < 2 || name[0] != '/' || symtab == 0 {
		return name
	}
	n, err := strconv.ParseUint(name[1:], 10, 32)
	if err != nil || n < 4 {
		return name
	}
	table := int64(symtab) + 18*int64(nsyms)
	l := f.p.Bytes(table, 4)
	if l == nil || uint64(binary.LittleEndian.Uint32(l)) <= n {
		return name
	}
	// Up to a NUL, at most to the table's end.
	s, _ := f.p.CString(table+int64(n), int(min(uint64(binary.LittleEndian.Uint32(l))-n, maxLongName)))
	if len(s) == 0 {
		return name
	}
	return string(s)
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// Offset maps an RVA to a file offset the way the loader (and pefile)
// do: raw pointers are rounded down to 512 when the file alignment is
// at least that; RVAs before the first section are in the headers. ok
// is false for an RVA the file does not hold (in a section's zero-filled
// tail, or in no section).
func (f *File) Offset(rva uint32) (off int64, ok bool) {
	for _, s := range f.Sections {
		size := max(s.VirtualSize, s.RawSize)
		if rva >= s.VirtualAddress && uint64(rva) < uint64(s.VirtualAddress)+uint64(size) {
			d := rva - s.VirtualAddress
			if d >= s.RawSize {
				return 0, false // in the zero-filled tail: not in the file
			}
			ptr := s.RawOffset
			if f.FileAlignment >= 0x200 {
				ptr &^= 0x1ff
			}
			return int64(ptr) + int64(d), true
		}
	}
	if len(f.Sections) == 0 || rva < f.SizeOfHeaders {
		return int64(rva), true
	}
	return 0, false
}

// at reads n bytes at an RVA (nil when not all in the file).
func (f *File) at(rva uint32, n int) []byte {
	off, ok := f.Offset(rva)
	if !ok {
		return nil
	}
	return f.p.Bytes(off, n)
}

// Dir returns data directory i, zero when the header does not declare it.
func (f *File) Dir(i int) DataDir {
	if i < 0 || i >= len(f.Dirs) {
		return DataDir{}
	}
	return f.Dirs[i]
}

// readTLS reads IMAGE_TLS_DIRECTORY.AddressOfCallBacks.
func (f *File) readTLS() {
	d := f.Dir(DirTLS)
	if d.VirtualAddress == 0 {
		return
	}
	off, width := uint32(12), 4 // IMAGE_TLS_DIRECTORY32.AddressOfCallBacks
	if f.PE32Plus {
		off, width = 24, 8
	}
	b := f.at(d.VirtualAddress+off, width)
	for _, c := range b {
		if c != 0 {
			f.TLSCallbacks = true
			return
		}
	}
}
