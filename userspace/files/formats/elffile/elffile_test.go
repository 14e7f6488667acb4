package elffile

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
)

func parse(b []byte) *File { return Parse(bytes.NewReader(b), int64(len(b))) }

// corpusELF is the corpus's tool_linux (a static Go program), cut from
// http_keepalive and checked against the capture's truth.
func corpusELF(t testing.TB) []byte {
	t.Helper()
	const dir = "../../../../testdata/corpus/"
	var want string
	for _, f := range testutil.ReadTruth(t, dir+"http_keepalive.truth.json").Files {
		if f.Name == "tool_linux" {
			want = f.SHA256
		}
	}
	for _, c := range testutil.TCPConns(t, dir+"http_keepalive.pcap") {
		s := c.ToClient
		for len(s) > 0 {
			end := bytes.Index(s, []byte("\r\n\r\n"))
			if end < 0 {
				break
			}
			n := -1
			for _, h := range strings.Split(string(s[:end]), "\r\n") {
				if k, v, _ := strings.Cut(h, ":"); strings.EqualFold(k, "content-length") {
					n = atoi(strings.TrimSpace(v))
				}
			}
			s = s[end+4:]
			if n < 0 || n > len(s) {
				break
			}
			if sum := sha256.Sum256(s[:n]); hex.EncodeToString(sum[:]) == want {
				return s[:n]
			}
			s = s[n:]
		}
	}
	t.Fatal("tool_linux not in the capture")
	return nil
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// The corpus ELF, as readelf -h/-S/-l show it: a static, stripped Go
// program.
func TestCorpus(t *testing.T) {
	f := parse(corpusELF(t))
	want := File{Class: elf.ELFCLASS64, ByteOrder: elf.ELFDATA2LSB, OSABI: elf.ELFOSABI_NONE, Type: elf.ET_EXEC,
		Machine: elf.EM_X86_64, Entry: 0x4805a0, SectionsRead: true}
	if f == nil || *f != want {
		t.Errorf("got %+v\nwant %+v", f, want)
	}
}

// The test binary itself (built by Go, with symbols or without as the
// toolchain chose): everything as debug/elf, independent code, reads it.
func TestSelf(t *testing.T) {
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Skip(err)
	}
	f := parse(b)
	if !f.SectionsRead || f.Class != elf.ELFCLASS64 {
		t.Errorf("%+v", f)
	}
	compareDebugELF(t, b, f)
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
	be.PutUint32(h[20:], 1)
	be.PutUint32(h[24:], 0x1234)
	shoff := 52 + len(strtab)
	be.PutUint32(h[32:], uint32(shoff))
	be.PutUint16(h[40:], 52)
	be.PutUint16(h[46:], 40)
	be.PutUint16(h[48:], uint16(len(names)))
	be.PutUint16(h[50:], uint16(len(names)-1))
	b := append(h, strtab...)
	for i, n := range names {
		s := make([]byte, 40)
		be.PutUint32(s, n)
		if i == len(names)-1 {
			be.PutUint32(s[4:], 3) // SHT_STRTAB
			be.PutUint32(s[16:], 52)
			be.PutUint32(s[20:], uint32(len(strtab)))
		}
		b = append(b, s...)
	}
	return b
}

// buildExec writes an x86-64 ET_EXEC with program headers PT_LOAD,
// PT_INTERP (when interp is set) and PT_DYNAMIC (when dynamic), and no
// section table.
func buildExec(interp string, dynamic bool) []byte {
	le := binary.LittleEndian
	h := make([]byte, 64)
	copy(h, "\x7fELF\x02\x01\x01")
	le.PutUint16(h[16:], 2)
	le.PutUint16(h[18:], 0x3E)
	le.PutUint32(h[20:], 1)
	le.PutUint64(h[24:], 0x401000)
	le.PutUint64(h[32:], 64)
	le.PutUint16(h[52:], 64)
	le.PutUint16(h[54:], 56)
	type ph struct {
		typ       uint32
		off, size uint64
	}
	data := uint64(64 + 56*3)
	phs := []ph{{1, 0, data + uint64(len(interp)) + 1}}
	if interp != "" {
		phs = append(phs, ph{3, data, uint64(len(interp) + 1)})
	}
	if dynamic {
		phs = append(phs, ph{2, data, 0})
	}
	le.PutUint16(h[56:], uint16(len(phs)))
	b := bytes.NewBuffer(h)
	for _, p := range phs {
		e := make([]byte, 56)
		le.PutUint32(e[0:], p.typ)
		le.PutUint64(e[8:], p.off)
		le.PutUint64(e[32:], p.size)
		le.PutUint64(e[40:], p.size)
		b.Write(e)
	}
	b.Write(make([]byte, int(data)-b.Len()))
	b.WriteString(interp + "\x00")
	return b.Bytes()
}

func TestHandmade(t *testing.T) {
	for _, syms := range []bool{false, true} {
		b := elf32(8, syms)
		f := parse(b)
		want := File{Class: elf.ELFCLASS32, ByteOrder: elf.ELFDATA2MSB, Type: elf.ET_REL, Machine: elf.EM_MIPS, Entry: 0x1234,
			SectionsRead: true, Symtab: syms}
		if *f != want {
			t.Errorf("syms %v: got %+v\nwant %+v", syms, *f, want)
		}
		compareDebugELF(t, b, f)
	}
	b := buildExec("/lib64/ld-linux-x86-64.so.2", true)
	f := parse(b)
	if f.Interp != "/lib64/ld-linux-x86-64.so.2" || !f.Dynamic || f.SectionsRead || f.Type != elf.ET_EXEC {
		t.Errorf("exec: %+v", f)
	}
	compareDebugELF(t, b, f)
}

// The kernel never reads the section table: a broken one must not hide
// the program headers (debug/elf refuses such a file whole).
func TestBrokenSectionTable(t *testing.T) {
	b := buildExec("/tmp/.x/ld.so", false)
	binary.LittleEndian.PutUint64(b[40:], 1<<40) // e_shoff
	binary.LittleEndian.PutUint16(b[58:], 64)    // e_shentsize
	binary.LittleEndian.PutUint16(b[60:], 30)    // e_shnum
	if _, err := elf.NewFile(bytes.NewReader(b)); err == nil {
		t.Fatal("debug/elf reads it: the case tests nothing")
	}
	f := parse(b)
	if f.Interp != "/tmp/.x/ld.so" || f.SectionsRead || f.Symtab {
		t.Errorf("%+v", f)
	}
	// A section table cut short after .symtab: what came before stands;
	// cut before it, the table was not read.
	b = elf32(8, true)
	be := binary.BigEndian
	sh := int(be.Uint32(b[32:]))
	strtab := append([]byte(nil), b[sh+80:sh+120]...)
	copy(b[sh+80:], b[sh+40:sh+80]) // .symtab last, .shstrtab first
	copy(b[sh+40:], strtab)
	be.PutUint16(b[50:], 1)
	be.PutUint16(b[48:], 4) // and a fourth header, cut short
	if f := parse(append(b, make([]byte, 20)...)); !f.Symtab || !f.SectionsRead {
		t.Errorf("cut after .symtab: %+v", f)
	}
	if f := parse(b[:len(b)-20]); f.Symtab || f.SectionsRead {
		t.Errorf("cut in .symtab: %+v", f)
	}
	// Extended numbering: e_shnum 0, the count in section 0's sh_size.
	b = elf32(8, true)
	be.PutUint16(b[48:], 0)
	be.PutUint32(b[sh+20:], 3)
	if f := parse(b); !f.Symtab || !f.SectionsRead {
		t.Errorf("extended numbering: %+v", f)
	}
	compareDebugELF(t, b, parse(b))
}

// compareDebugELF checks the model against debug/elf's reading, when
// debug/elf reads the file.
func compareDebugELF(t testing.TB, b []byte, f *File) {
	t.Helper()
	ref, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return
	}
	if f == nil {
		t.Fatalf("debug/elf reads a file Parse refuses")
	}
	if f.Class != ref.Class || f.ByteOrder != ref.Data || f.OSABI != ref.OSABI || f.Type != ref.Type ||
		f.Machine != ref.Machine || f.Entry != ref.Entry {
		t.Fatalf("header %+v, debug/elf %+v", f, ref.FileHeader)
	}
	interp, dynamic := "", false
	for _, p := range ref.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			buf := make([]byte, min(p.Filesz, maxInterp))
			k, _ := p.ReadAt(buf, 0)
			interp = strings.TrimRight(string(buf[:k]), "\x00")
		case elf.PT_DYNAMIC:
			dynamic = true
		}
	}
	if len(ref.Progs) <= MaxProgs && (f.Interp != interp || f.Dynamic != dynamic) {
		t.Fatalf("interp %q dynamic %v, debug/elf %q %v", f.Interp, f.Dynamic, interp, dynamic)
	}
	if f.SectionsRead && len(ref.Sections) <= MaxSections {
		upx := false
		for _, s := range ref.Sections {
			upx = upx || strings.HasPrefix(s.Name, "UPX") || strings.HasPrefix(s.Name, ".UPX")
		}
		if f.Symtab != (ref.Section(".symtab") != nil) || f.UPXSection != upx {
			t.Fatalf("symtab %v upx %v, debug/elf %v %v", f.Symtab, f.UPXSection, ref.Section(".symtab") != nil, upx)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	body := corpusELF(b)
	b.ReportAllocs()
	r := bytes.NewReader(body)
	for b.Loop() {
		Parse(r, int64(len(body)))
	}
}
