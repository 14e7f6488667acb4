package filetype

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// PEMeta is what a PE file says about itself. The comments give the ECS
// field each goes to; fields marked "no ECS field" need a custom one.
type PEMeta struct {
	Architecture     string    // file.pe.architecture: "x86", "x64", "arm64", "arm", "ia64", "unknown"
	Company          string    // file.pe.company: CompanyName
	Product          string    // file.pe.product: ProductName
	OriginalFileName string    // file.pe.original_file_name: OriginalFilename
	FileVersion      string    // file.pe.file_version: FileVersion (else VS_FIXEDFILEINFO as a.b.c.d)
	Description      string    // file.pe.description: FileDescription
	Imphash          string    // file.pe.imphash (file.pe.import_hash too): pefile's algorithm, "" if no imports
	InternalName     string    // no ECS field: InternalName
	LegalCopyright   string    // no ECS field: LegalCopyright
	ProductVersion   string    // no ECS field: ProductVersion
	CompileTime      time.Time // no ECS field: COFF TimeDateStamp (UTC); zero when 0 (Go, some reproducible builds put a hash there)
	Subsystem        string    // no ECS field: "console", "windows", "native", "efi-application"...
	DLL              bool      // no ECS field: IMAGE_FILE_DLL
	PE32Plus         bool      // no ECS field: 64-bit optional header
	Sections         int       // no ECS field: number of sections
}

type peSection struct {
	va, vsize, rawSize, rawPtr uint32
}

// peFile holds the parsed headers; everything else is read on demand
// through the pager.
type peFile struct {
	p             *pager
	plus          bool
	fileAlign     uint32
	sizeOfHeaders uint32
	sections      []peSection
	dirs          [16]struct{ rva, size uint32 }
}

var peMachines = map[uint16]string{
	0x14c: "x86", 0x8664: "x64", 0xaa64: "arm64", 0x1c0: "arm", 0x1c4: "arm", 0x200: "ia64",
	0xa641: "arm64", // ARM64EC
}

var peSubsystems = map[uint16]string{
	1: "native", 2: "windows", 3: "console", 5: "os2-console", 7: "posix-console",
	9: "windows-ce", 10: "efi-application", 11: "efi-boot-driver", 12: "efi-runtime-driver",
	13: "efi-rom", 14: "xbox", 16: "windows-boot-application",
}

func peMetadata(r io.ReaderAt, size int64) *PEMeta {
	pf, m := parsePE(newPager(r, size))
	if pf != nil {
		pf.versionInfo(m)
		m.Imphash = pf.imphash()
	}
	return m
}

// parsePE reads the DOS header, the NT headers and the section table.
func parsePE(p *pager) (*peFile, *PEMeta) {
	dos := p.bytes(0, 64)
	if dos == nil || dos[0] != 'M' || dos[1] != 'Z' {
		return nil, nil
	}
	lfanew := int64(binary.LittleEndian.Uint32(dos[60:]))
	nt := p.bytes(lfanew, 24)
	if nt == nil || string(nt[:4]) != "PE\x00\x00" {
		return nil, nil
	}
	machine := binary.LittleEndian.Uint16(nt[4:])
	nsec := int(binary.LittleEndian.Uint16(nt[6:]))
	stamp := binary.LittleEndian.Uint32(nt[8:])
	optSize := int(binary.LittleEndian.Uint16(nt[20:]))
	chars := binary.LittleEndian.Uint16(nt[22:])
	nsec = min(nsec, maxPESections)
	m := &PEMeta{Architecture: "unknown", DLL: chars&0x2000 != 0, Sections: nsec}
	if a, ok := peMachines[machine]; ok {
		m.Architecture = a
	}
	if stamp != 0 {
		m.CompileTime = time.Unix(int64(stamp), 0).UTC()
	}
	pf := &peFile{p: p}
	if 24+optSize+40*nsec > maxPEHeaders {
		return nil, m
	}
	rest := p.bytes(lfanew+24, optSize+40*nsec)
	if rest == nil {
		// A truncated file: keep what the file header said.
		return nil, m
	}
	opt := rest[:optSize]
	if len(opt) >= 2 {
		magic := binary.LittleEndian.Uint16(opt)
		pf.plus = magic == 0x20b
		m.PE32Plus = pf.plus
		dirOff, countOff := 96, 92
		if pf.plus {
			dirOff, countOff = 112, 108
		}
		if len(opt) >= 70 {
			pf.fileAlign = binary.LittleEndian.Uint32(opt[36:])
			pf.sizeOfHeaders = binary.LittleEndian.Uint32(opt[60:])
			sub := binary.LittleEndian.Uint16(opt[68:])
			if s, ok := peSubsystems[sub]; ok {
				m.Subsystem = s
			} else if sub != 0 {
				m.Subsystem = fmt.Sprintf("unknown(%d)", sub)
			}
		}
		if len(opt) >= countOff+4 {
			n := min(int(binary.LittleEndian.Uint32(opt[countOff:])), 16)
			for i := 0; i < n && dirOff+8*i+8 <= len(opt); i++ {
				d := opt[dirOff+8*i:]
				pf.dirs[i].rva = binary.LittleEndian.Uint32(d)
				pf.dirs[i].size = binary.LittleEndian.Uint32(d[4:])
			}
		}
	}
	for i := range nsec {
		s := rest[optSize+40*i:]
		pf.sections = append(pf.sections, peSection{
			vsize:   binary.LittleEndian.Uint32(s[8:]),
			va:      binary.LittleEndian.Uint32(s[12:]),
			rawSize: binary.LittleEndian.Uint32(s[16:]),
			rawPtr:  binary.LittleEndian.Uint32(s[20:]),
		})
	}
	return pf, m
}

// offset maps an RVA to a file offset the way the loader (and pefile)
// do: raw pointers are rounded down to 512 when the file alignment is
// at least that; RVAs before the first section are in the headers.
func (pf *peFile) offset(rva uint32) (int64, bool) {
	for _, s := range pf.sections {
		size := max(s.vsize, s.rawSize)
		if rva >= s.va && uint64(rva) < uint64(s.va)+uint64(size) {
			d := rva - s.va
			if d >= s.rawSize {
				return 0, false // in the zero-filled tail: not in the file
			}
			ptr := s.rawPtr
			if pf.fileAlign >= 0x200 {
				ptr &^= 0x1ff
			}
			return int64(ptr) + int64(d), true
		}
	}
	if len(pf.sections) == 0 || rva < pf.sizeOfHeaders {
		return int64(rva), true
	}
	return 0, false
}

// at reads n bytes at an RVA (nil when not all in the file).
func (pf *peFile) at(rva uint32, n int) []byte {
	off, ok := pf.offset(rva)
	if !ok {
		return nil
	}
	return pf.p.bytes(off, n)
}
