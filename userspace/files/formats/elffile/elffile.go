// Package elffile reads ELF executables and objects once into a bounded
// model that both the metadata (ECS file.elf.*) and the static analyzers
// read: the header, the program headers' interpreter and dynamic
// segment, and what the section table says of symbols and packers.
//
// debug/elf is not used: it reads every table whole whatever its size,
// and refuses a file whose section table is broken although the kernel
// never reads that table, so an analyzer built on it is blind to a
// binary that corrupts it on purpose. Here headers are read through a
// 64 KiB page cache with count bounds, the program headers are read
// whether or not the section table is sound, and Parse never panics.
package elffile

import (
	"debug/elf"
	"encoding/binary"
	"io"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/pager"
)

// Bounds on the work Parse does on one untrusted file.
const (
	MaxSections = 1 << 16 // section headers read
	MaxProgs    = 1 << 16 // program headers read
	maxInterp   = 256     // bytes of PT_INTERP read
	maxName     = 16      // bytes of a section name compared
)

// File is what an ELF file says about itself. A file with an unknown
// class or byte order has only Class or ByteOrder zero and nothing else.
type File struct {
	Class     elf.Class // ELFCLASS32 or ELFCLASS64; 0 when unknown
	ByteOrder elf.Data  // ELFDATA2LSB or ELFDATA2MSB; 0 when unknown
	OSABI     elf.OSABI
	Type      elf.Type
	Machine   elf.Machine
	Entry     uint64

	// SectionsRead reports that the section table and its names were
	// read (as far as a .symtab, when there is one).
	SectionsRead bool
	// Symtab: a section is named .symtab (the binary is not stripped).
	Symtab bool
	// UPXSection: a section's name starts with UPX or .UPX.
	UPXSection bool

	// Interp is the program interpreter (PT_INTERP, the last one), at
	// most 256 bytes, NULs trimmed; Dynamic, a PT_DYNAMIC segment.
	Interp  string
	Dynamic bool
}

// Parse reads the ELF file in the size bytes of r; nil when it does not
// start with the ELF magic.
func Parse(r io.ReaderAt, size int64) *File {
	p := pager.New(r, size)
	h := p.Bytes(0, 64)
	if h == nil {
		h = p.Bytes(0, 52)
	}
	if h == nil || string(h[:4]) != elf.ELFMAG {
		return nil
	}
	f := &File{}
	var bo binary.ByteOrder
	switch elf.Data(h[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		bo = binary.LittleEndian
	case elf.ELFDATA2MSB:
		bo = binary.BigEndian
	default:
		return f
	}
	f.ByteOrder = elf.Data(h[elf.EI_DATA])
	is64 := elf.Class(h[elf.EI_CLASS]) == elf.ELFCLASS64
	if !is64 && elf.Class(h[elf.EI_CLASS]) != elf.ELFCLASS32 || is64 && len(h) < 64 {
		return f
	}
	f.Class = elf.Class(h[elf.EI_CLASS])
	f.OSABI = elf.OSABI(h[elf.EI_OSABI])
	f.Type = elf.Type(bo.Uint16(h[16:]))
	f.Machine = elf.Machine(bo.Uint16(h[18:]))
	t := table{p: p, bo: bo, is64: is64}
	var shstrndx int
	if is64 {
		f.Entry = bo.Uint64(h[24:])
		t.phoff = int64(bo.Uint64(h[32:]) & (1<<62 - 1))
		t.shoff = int64(bo.Uint64(h[40:]) & (1<<62 - 1))
		t.phentsize, t.phnum = int(bo.Uint16(h[54:])), int(bo.Uint16(h[56:]))
		t.shentsize, t.shnum, shstrndx = int(bo.Uint16(h[58:])), int(bo.Uint16(h[60:])), int(bo.Uint16(h[62:]))
	} else {
		f.Entry = uint64(bo.Uint32(h[24:]))
		t.phoff, t.shoff = int64(bo.Uint32(h[28:])), int64(bo.Uint32(h[32:]))
		t.phentsize, t.phnum = int(bo.Uint16(h[42:])), int(bo.Uint16(h[44:]))
		t.shentsize, t.shnum, shstrndx = int(bo.Uint16(h[46:])), int(bo.Uint16(h[48:])), int(bo.Uint16(h[50:]))
	}
	// Extended numbering: past 0xfeff sections (or 0xffff segments) the
	// header holds a marker and section 0 the real counts.
	if t.shoff != 0 && (t.shnum == 0 || shstrndx == int(elf.SHN_XINDEX) || t.phnum == 0xffff) {
		if s0, ok := t.section(0); ok {
			if t.shnum == 0 {
				t.shnum = int(min(s0.size, MaxSections))
			}
			if shstrndx == int(elf.SHN_XINDEX) {
				shstrndx = int(s0.link)
			}
			if t.phnum == 0xffff {
				t.phnum = int(min(uint64(s0.info), MaxProgs))
			}
		}
	}
	f.readProgs(&t)
	f.readSections(&t, shstrndx)
	return f
}

// table reads the header tables.
type table struct {
	p                *pager.Pager
	bo               binary.ByteOrder
	is64             bool
	phoff, shoff     int64
	phentsize, phnum int
	shentsize, shnum int
	scratch          [64]byte
}

type sectionHeader struct {
	name       uint32
	off, size  uint64
	link, info uint32
}

// section reads section header i.
func (t *table) section(i int) (s sectionHeader, ok bool) {
	need := 40
	if t.is64 {
		need = 64
	}
	if t.shentsize < need {
		return s, false
	}
	b := t.scratch[:need]
	if t.p.Read(t.shoff+int64(i)*int64(t.shentsize), b) != need {
		return s, false
	}
	bo := t.bo
	if t.is64 {
		return sectionHeader{name: bo.Uint32(b), off: bo.Uint64(b[24:]) & (1<<62 - 1), size: bo.Uint64(b[32:]) & (1<<62 - 1),
			link: bo.Uint32(b[40:]), info: bo.Uint32(b[44:])}, true
	}
	return sectionHeader{name: bo.Uint32(b), off: uint64(bo.Uint32(b[16:])), size: uint64(bo.Uint32(b[20:])),
		link: bo.Uint32(b[24:]), info: bo.Uint32(b[28:])}, true
}

// readSections looks at every section's name for .symtab and UPX.
func (f *File) readSections(t *table, shstrndx int) {
	if t.shoff == 0 || t.shnum == 0 || shstrndx >= t.shnum {
		return
	}
	str, ok := t.section(shstrndx)
	if !ok {
		return
	}
	var name [maxName]byte
	f.SectionsRead = true
	for i := range t.shnum {
		s, ok := t.section(i)
		if !ok {
			// A table cut short: what came before a .symtab stands.
			f.SectionsRead = f.Symtab
			return
		}
		if uint64(s.name) >= str.size {
			continue
		}
		n := t.p.Read(int64(str.off)+int64(s.name), name[:])
		nm := name[:n]
		for j, c := range nm {
			if c == 0 {
				nm = nm[:j]
				break
			}
		}
		switch {
		case string(nm) == ".symtab":
			f.Symtab = true
		case len(nm) >= 3 && string(nm[:3]) == "UPX", len(nm) >= 4 && string(nm[:4]) == ".UPX":
			f.UPXSection = true
		}
	}
}

// readProgs reads the program headers for PT_INTERP and PT_DYNAMIC.
func (f *File) readProgs(t *table) {
	need := 32
	if t.is64 {
		need = 56
	}
	// e_phoff 0 is read too: the spec calls it "no table", but Linux's
	// loader reads phnum headers from wherever e_phoff points.
	if t.phnum == 0 || t.phentsize < need {
		return
	}
	bo := t.bo
	b := t.scratch[:need]
	for i := range min(t.phnum, MaxProgs) {
		if t.p.Read(t.phoff+int64(i)*int64(t.phentsize), b) != need {
			return
		}
		var off, filesz uint64
		if t.is64 {
			off, filesz = bo.Uint64(b[8:]), bo.Uint64(b[32:])
		} else {
			off, filesz = uint64(bo.Uint32(b[4:])), uint64(bo.Uint32(b[16:]))
		}
		switch elf.ProgType(bo.Uint32(b)) {
		case elf.PT_INTERP:
			buf := make([]byte, min(filesz, maxInterp))
			if off < 1<<62 {
				buf = buf[:t.p.Read(int64(off), buf)]
			} else {
				buf = buf[:0]
			}
			for len(buf) > 0 && buf[len(buf)-1] == 0 {
				buf = buf[:len(buf)-1]
			}
			f.Interp = string(buf)
		case elf.PT_DYNAMIC:
			f.Dynamic = true
		}
	}
}
