package filetype

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// The corpus ELF is a static Go program; values as readelf -h/-S show
// them (no .symtab: stripped).
func TestELFCorpus(t *testing.T) {
	f := corpus(t)["tool_linux"]
	ty := Detect(head(f.body), f.name, f.claimed, int64(len(f.body)))
	m, err := MetadataFile(writeTemp(t, f.name, f.body), ty)
	if err != nil || m.ELF == nil {
		t.Fatalf("%v %+v", err, m)
	}
	want := ELFMeta{Architecture: "x86-64", Class: "ELF64", ByteOrder: "little", Type: "exec",
		OSABI: "ELFOSABI_NONE", Entrypoint: 0x4805a0, Stripped: true, SectionsRead: true}
	if *m.ELF != want {
		t.Errorf("got %+v\nwant %+v", *m.ELF, want)
	}
}

// elf32 builds a big-endian ELF32 relocatable with sections null,
// .symtab (when syms) and .shstrtab.
func elf32(machine uint16, syms bool) []byte {
	be := binary.BigEndian
	strtab := []byte("\x00.shstrtab\x00.symtab\x00")
	names := []uint32{0, 1}
	if syms {
		names = []uint32{0, 11, 1}
	}
	h := make([]byte, 52)
	copy(h, "\x7fELF\x01\x02\x01")
	be.PutUint16(h[16:], 1) // ET_REL
	be.PutUint16(h[18:], machine)
	be.PutUint32(h[24:], 0x1234)
	shoff := 52 + len(strtab)
	be.PutUint32(h[32:], uint32(shoff))
	be.PutUint16(h[46:], 40)
	be.PutUint16(h[48:], uint16(len(names)))
	be.PutUint16(h[50:], uint16(len(names)-1))
	b := append(h, strtab...)
	for i, n := range names {
		s := make([]byte, 40)
		be.PutUint32(s, n)
		if i == len(names)-1 {
			be.PutUint32(s[16:], 52)
			be.PutUint32(s[20:], uint32(len(strtab)))
		}
		b = append(b, s...)
	}
	return b
}

func TestELFHandmade(t *testing.T) {
	for _, c := range []struct {
		syms bool
		want ELFMeta
	}{
		{false, ELFMeta{Architecture: "mips", Class: "ELF32", ByteOrder: "big", Type: "rel", OSABI: "ELFOSABI_NONE", Entrypoint: 0x1234, Stripped: true, SectionsRead: true}},
		{true, ELFMeta{Architecture: "mips", Class: "ELF32", ByteOrder: "big", Type: "rel", OSABI: "ELFOSABI_NONE", Entrypoint: 0x1234, Stripped: false, SectionsRead: true}},
	} {
		b := elf32(8, c.syms)
		m := Metadata(bytes.NewReader(b), int64(len(b)), Type{})
		if m.ELF == nil || *m.ELF != c.want {
			t.Errorf("syms %v: got %+v\nwant %+v", c.syms, m.ELF, c.want)
		}
	}
	// A section table past the end: the header alone.
	b := elf32(8, true)
	binary.BigEndian.PutUint32(b[32:], 1<<30)
	m := Metadata(bytes.NewReader(b), int64(len(b)), Type{Kind: KindELF})
	if m.ELF == nil || m.ELF.SectionsRead || m.ELF.Architecture != "mips" {
		t.Errorf("far table: %+v", m.ELF)
	}
}
