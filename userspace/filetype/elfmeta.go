package filetype

import (
	"debug/elf"
	"encoding/binary"
	"io"
	"strings"
)

// ELFMeta is what an ELF header says. ECS fields in the comments.
type ELFMeta struct {
	Architecture string // file.elf.architecture: "x86-64", "aarch64", "x86", "arm"...
	Class        string // file.elf.header.class: "ELF32", "ELF64"
	ByteOrder    string // file.elf.byte_order: "little", "big"
	Type         string // file.elf.header.type: "rel", "exec", "dyn", "core"
	OSABI        string // file.elf.header.os_abi: e.g. "ELFOSABI_NONE", "ELFOSABI_LINUX"
	Entrypoint   uint64 // file.elf.header.entrypoint
	// Stripped: no .symtab section (no ECS field). Only set when the
	// section table was read; SectionsRead says so.
	Stripped     bool
	SectionsRead bool
}

var elfArch = map[elf.Machine]string{
	elf.EM_386: "x86", elf.EM_X86_64: "x86-64", elf.EM_ARM: "arm", elf.EM_AARCH64: "aarch64",
	elf.EM_MIPS: "mips", elf.EM_PPC: "powerpc", elf.EM_PPC64: "ppc64", elf.EM_RISCV: "riscv",
	elf.EM_S390: "s390", elf.EM_SPARCV9: "sparcv9", elf.EM_LOONGARCH: "loongarch",
}

// elfMetadata reads the ELF header and, bounded, the section headers and
// their names (debug/elf would read whole tables whatever their size).
func elfMetadata(r io.ReaderAt, size int64) *ELFMeta {
	p := newPager(r, size)
	h := p.bytes(0, 64)
	if h == nil {
		h = p.bytes(0, 52)
	}
	if h == nil || string(h[:4]) != "\x7fELF" {
		return nil
	}
	var bo binary.ByteOrder
	m := &ELFMeta{}
	switch h[elf.EI_DATA] {
	case byte(elf.ELFDATA2LSB):
		bo, m.ByteOrder = binary.LittleEndian, "little"
	case byte(elf.ELFDATA2MSB):
		bo, m.ByteOrder = binary.BigEndian, "big"
	default:
		return m
	}
	is64 := h[elf.EI_CLASS] == byte(elf.ELFCLASS64)
	if !is64 && h[elf.EI_CLASS] != byte(elf.ELFCLASS32) {
		return m
	}
	if is64 && len(h) < 64 {
		return m
	}
	m.Class = "ELF32"
	if is64 {
		m.Class = "ELF64"
	}
	m.OSABI = elf.OSABI(h[elf.EI_OSABI]).String()
	switch elf.Type(bo.Uint16(h[16:])) {
	case elf.ET_REL:
		m.Type = "rel"
	case elf.ET_EXEC:
		m.Type = "exec"
	case elf.ET_DYN:
		m.Type = "dyn"
	case elf.ET_CORE:
		m.Type = "core"
	}
	mach := elf.Machine(bo.Uint16(h[18:]))
	if a, ok := elfArch[mach]; ok {
		m.Architecture = a
	} else {
		m.Architecture = strings.ToLower(strings.TrimPrefix(mach.String(), "EM_"))
	}
	var shoff int64
	var shentsize, shnum, shstrndx int
	if is64 {
		m.Entrypoint = bo.Uint64(h[24:])
		shoff = int64(bo.Uint64(h[40:]) & (1<<62 - 1))
		shentsize, shnum, shstrndx = int(bo.Uint16(h[58:])), int(bo.Uint16(h[60:])), int(bo.Uint16(h[62:]))
	} else {
		m.Entrypoint = uint64(bo.Uint32(h[24:]))
		shoff = int64(bo.Uint32(h[32:]))
		shentsize, shnum, shstrndx = int(bo.Uint16(h[46:])), int(bo.Uint16(h[48:])), int(bo.Uint16(h[50:]))
	}
	need := 40
	if is64 {
		need = 64
	}
	if shoff == 0 || shnum == 0 || shnum > 4096 || shentsize < need || shstrndx >= shnum {
		return m
	}
	// (name offset, file offset, size) of a section header
	sh := func(i int) (name uint32, off, sz int64, ok bool) {
		b := p.bytes(shoff+int64(i*shentsize), need)
		if b == nil {
			return 0, 0, 0, false
		}
		if is64 {
			return bo.Uint32(b), int64(bo.Uint64(b[24:]) & (1<<62 - 1)), int64(bo.Uint64(b[32:]) & (1<<62 - 1)), true
		}
		return bo.Uint32(b), int64(bo.Uint32(b[16:])), int64(bo.Uint32(b[20:])), true
	}
	_, stroff, strsize, ok := sh(shstrndx)
	if !ok {
		return m
	}
	m.SectionsRead, m.Stripped = true, true
	for i := range shnum {
		name, _, _, ok := sh(i)
		if !ok {
			m.SectionsRead, m.Stripped = false, false
			break
		}
		if int64(name) < strsize {
			if s, _ := p.cstring(stroff+int64(name), 16); string(s) == ".symtab" {
				m.Stripped = false
				break
			}
		}
	}
	return m
}
