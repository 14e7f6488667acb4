package filetype

import (
	"debug/elf"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/files/formats/elffile"
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

func metaELF(f *elffile.File) *ELFMeta {
	if f == nil {
		return nil
	}
	m := &ELFMeta{}
	switch f.ByteOrder {
	case elf.ELFDATA2LSB:
		m.ByteOrder = "little"
	case elf.ELFDATA2MSB:
		m.ByteOrder = "big"
	}
	if f.Class == 0 {
		return m
	}
	m.Class = "ELF32"
	if f.Class == elf.ELFCLASS64 {
		m.Class = "ELF64"
	}
	m.OSABI = f.OSABI.String()
	switch f.Type {
	case elf.ET_REL:
		m.Type = "rel"
	case elf.ET_EXEC:
		m.Type = "exec"
	case elf.ET_DYN:
		m.Type = "dyn"
	case elf.ET_CORE:
		m.Type = "core"
	}
	if a, ok := elfArch[f.Machine]; ok {
		m.Architecture = a
	} else {
		m.Architecture = strings.ToLower(strings.TrimPrefix(f.Machine.String(), "EM_"))
	}
	m.Entrypoint = f.Entry
	m.SectionsRead = f.SectionsRead
	m.Stripped = f.SectionsRead && !f.Symtab
	return m
}
