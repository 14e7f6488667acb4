package analyzers

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/files/formats/pefile"
)

// A minimal PE32+ writer for tests: DOS header, PE header, optional
// header with 16 data directories, section headers, then each section's
// raw data at 0x200 alignment (virtual addresses at 0x1000 alignment),
// then the overlay.

type peSec struct {
	name  string
	chars uint32
	data  []byte
}

type peSpec struct {
	secs    []peSec
	entry   uint32 // RVA; 0 = start of the first section
	dirs    map[int][2]uint32
	overlay []byte
}

func rvaOf(secs []peSec, i int) uint32 {
	va := uint32(0x1000)
	for _, s := range secs[:i] {
		va += (uint32(len(s.data)) + 0xFFF) &^ 0xFFF
		if len(s.data) == 0 {
			va += 0x1000
		}
	}
	return va
}

func buildPE(p peSpec) []byte {
	le := binary.LittleEndian
	var b bytes.Buffer
	dos := make([]byte, 0x40)
	copy(dos, "MZ")
	le.PutUint32(dos[0x3C:], 0x40)
	b.Write(dos)
	b.WriteString("PE\x00\x00")
	coff := make([]byte, 20)
	le.PutUint16(coff[0:], 0x8664)
	le.PutUint16(coff[2:], uint16(len(p.secs)))
	le.PutUint16(coff[16:], 240)
	le.PutUint16(coff[18:], 0x0022)
	b.Write(coff)
	oh := make([]byte, 240)
	le.PutUint16(oh[0:], 0x20B)
	entry := p.entry
	if entry == 0 {
		entry = 0x1000
	}
	le.PutUint32(oh[16:], entry)
	le.PutUint64(oh[24:], 0x140000000)
	le.PutUint32(oh[32:], 0x1000)
	le.PutUint32(oh[36:], 0x200)
	le.PutUint16(oh[68:], 3)
	le.PutUint32(oh[108:], 16)
	for i, d := range p.dirs {
		le.PutUint32(oh[112+8*i:], d[0])
		le.PutUint32(oh[116+8*i:], d[1])
	}
	b.Write(oh)
	off := uint32(0x200 * ((b.Len() + 40*len(p.secs) + 0x1FF) / 0x200))
	var raw []byte
	for i, s := range p.secs {
		h := make([]byte, 40)
		copy(h, s.name)
		n := (uint32(len(s.data)) + 0x1FF) &^ 0x1FF
		le.PutUint32(h[8:], uint32(len(s.data)))
		le.PutUint32(h[12:], rvaOf(p.secs, i))
		le.PutUint32(h[16:], n)
		le.PutUint32(h[20:], off+uint32(len(raw)))
		le.PutUint32(h[36:], s.chars)
		b.Write(h)
		pad := make([]byte, n)
		copy(pad, s.data)
		raw = append(raw, pad...)
	}
	b.Write(make([]byte, int(off)-b.Len()))
	b.Write(raw)
	b.Write(p.overlay)
	return b.Bytes()
}

const (
	text  = scnCode | scnExecute | 0x40000000
	data  = 0x40 | 0x40000000 | scnWrite
	rdata = 0x40 | 0x40000000
)

func randBytes(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func analyzePE(t testing.TB, b []byte, name string) string {
	t.Helper()
	ty := filetype.Detect(b, name, "", int64(len(b)))
	return rules(Analyze(bytes.NewReader(b), int64(len(b)), ty, name, Limits{}))
}

func TestPE(t *testing.T) {
	code := bytes.Repeat([]byte{0x90, 0xC3, 0x48, 0x89}, 2048)
	tlsDir := make([]byte, 40)
	binary.LittleEndian.PutUint64(tlsDir[24:], 0x140003000)
	sig := bytes.Repeat([]byte{1}, 512)
	tests := []struct {
		name string
		spec peSpec
		want string
	}{
		{"plain", peSpec{secs: []peSec{{".text", text, code}, {".data", data, make([]byte, 512)}}}, ""},
		{"packed", peSpec{secs: []peSec{{".text", text, randBytes(8192)}}}, "pe.packed_section"},
		{"packed small", peSpec{secs: []peSec{{".text", text, randBytes(1024)}}}, ""},
		{"packed largest data", peSpec{secs: []peSec{{".text", text, code[:512]}, {".rsrc", rdata, randBytes(16384)}}}, "pe.packed_section"},
		{"wx", peSpec{secs: []peSec{{".text", text | scnWrite, code}}}, "pe.wx_section"},
		{"entry outside", peSpec{secs: []peSec{{".text", text, code}, {".data", data, code}}, entry: 0x3000}, "pe.entry_outside_code"},
		{"upx", peSpec{secs: []peSec{{"UPX0", text | scnWrite, nil}, {"UPX1", text | scnWrite, code}}, entry: 0x2000},
			"pe.packed_upx,pe.wx_section,pe.wx_section"},
		{"tls", peSpec{secs: []peSec{{".text", text, code}, {".tls", data, tlsDir}}, dirs: map[int][2]uint32{dirTLS: {0x3000, 40}}}, "pe.tls_callbacks"},
		{"tls no callbacks", peSpec{secs: []peSec{{".text", text, code}, {".tls", data, make([]byte, 40)}}, dirs: map[int][2]uint32{dirTLS: {0x3000, 40}}}, ""},
		{"overlay", peSpec{secs: []peSec{{".text", text, code}}, overlay: make([]byte, 64<<10)}, "pe.overlay"},
		{"signed", peSpec{secs: []peSec{{".text", text, code}}, dirs: map[int][2]uint32{dirSecurity: {0x2400, 512}}, overlay: sig}, "pe.signed"},
		// A signature is not overlay even when it is most of the file.
		{"signed big", peSpec{secs: []peSec{{".text", text, code[:512]}}, dirs: map[int][2]uint32{dirSecurity: {0x400, 64 << 10}}, overlay: make([]byte, 64<<10)}, "pe.signed"},
	}
	for _, tc := range tests {
		b := buildPE(tc.spec)
		if got := analyzePE(t, b, "x.exe"); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestImportReasons(t *testing.T) {
	tests := []struct {
		syms []string
		want string
	}{
		{[]string{"ExitProcess:KERNEL32.dll", "WriteFile:KERNEL32.dll"}, ""},
		{[]string{"VirtualAllocEx:KERNEL32.dll", "WriteProcessMemory:KERNEL32.dll", "CreateRemoteThread:KERNEL32.dll"}, "pe.imports_injection"},
		{[]string{"VirtualAllocEx:KERNEL32.dll", "WriteProcessMemory:KERNEL32.dll"}, ""},
		{[]string{"NtUnmapViewOfSection:ntdll.dll", "SetThreadContext:KERNEL32.dll", "ResumeThread:KERNEL32.dll"}, "pe.imports_injection"},
		{[]string{"SetWindowsHookExW:USER32.dll", "GetAsyncKeyState:USER32.dll"}, "pe.imports_keylogger"},
		{[]string{"SetWindowsHookExA:USER32.dll"}, ""},
		{[]string{"IsDebuggerPresent:KERNEL32.dll"}, "pe.imports_antidebug"},
	}
	for _, tc := range tests {
		if got := rules(importReasons(importsOf(tc.syms))); got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.syms, got, tc.want)
		}
	}
}

// importsOf makes import descriptors of "Function:DLL" strings.
func importsOf(syms []string) []pefile.Import {
	var out []pefile.Import
	for _, s := range syms {
		fn, dll, _ := strings.Cut(s, ":")
		if len(out) == 0 || out[len(out)-1].DLL != dll {
			out = append(out, pefile.Import{DLL: dll})
		}
		out[len(out)-1].Funcs = append(out[len(out)-1].Funcs, pefile.Func{Name: fn})
	}
	return out
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../filetype/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Real, benign executables must not look suspicious.
func TestPEFixtures(t *testing.T) {
	for _, name := range []string{"hello-x64.exe", "hello-x86.exe", "hello-arm64.exe"} {
		b := fixture(t, name)
		ty := filetype.Detect(b, name, "", int64(len(b)))
		for _, r := range Analyze(bytes.NewReader(b), int64(len(b)), ty, name, Limits{}) {
			if r.Weight >= 5 {
				t.Errorf("%s: %+v", name, r)
			}
		}
	}
	// The same file with its .text overwritten by random bytes is packed.
	b := fixture(t, "hello-x64.exe")
	big := buildPE(peSpec{secs: []peSec{{".text", text, randBytes(8192)}, {".rdata", rdata, b[0x400:0x600]}}})
	if got := analyzePE(t, big, "x.exe"); got != "pe.packed_section" {
		t.Errorf("random .text: %q", got)
	}
}

// bigPE is a fixture padded to 2 MB with overlay, as a sender might.
func bigPE(t testing.TB) []byte {
	b := fixture(t, "hello-x64.exe")
	return append(b, randBytes(2<<20-len(b))...)
}

func BenchmarkAnalyzePE2MB(b *testing.B) {
	pe := bigPE(b)
	ty := filetype.Detect(pe, "x.exe", "", int64(len(pe)))
	r := bytes.NewReader(pe)
	b.SetBytes(int64(len(pe)))
	for b.Loop() {
		Analyze(r, int64(len(pe)), ty, "x.exe", Limits{})
	}
}

func FuzzPE(f *testing.F) {
	f.Add(fixture(f, "hello-x64.exe"))
	f.Add(fixture(f, "hello-x86.exe"))
	f.Add(buildPE(peSpec{secs: []peSec{{".text", text, randBytes(4096)}, {".tls", data, make([]byte, 40)}}, dirs: map[int][2]uint32{dirTLS: {0x2000, 40}, dirSecurity: {0x1200, 8}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ty := filetype.Type{Kind: filetype.KindPE}
		Analyze(bytes.NewReader(b), int64(len(b)), ty, "f.exe", Limits{MaxRead: 1 << 20, MaxExpand: 1 << 20})
	})
}

// A 2 MB PE whose code section is all of it: the entropy pass reads it.
func BenchmarkAnalyzePE2MBSection(b *testing.B) {
	pe := buildPE(peSpec{secs: []peSec{{".text", text, randBytes(2 << 20)}}})
	ty := filetype.Detect(pe, "x.exe", "", int64(len(pe)))
	r := bytes.NewReader(pe)
	b.SetBytes(int64(len(pe)))
	for b.Loop() {
		Analyze(r, int64(len(pe)), ty, "x.exe", Limits{})
	}
}
