package analyzers

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"
)

// buildELF writes an x86-64 ET_EXEC with program headers only (no
// section headers, so stripped): PT_LOAD, then PT_INTERP when interp is
// set, PT_DYNAMIC when dynamic, and extra bytes at the end.
func buildELF(interp string, dynamic bool, extra []byte) []byte {
	le := binary.LittleEndian
	h := make([]byte, 64)
	copy(h, "\x7fELF\x02\x01\x01")
	le.PutUint16(h[16:], 2)    // ET_EXEC
	le.PutUint16(h[18:], 0x3E) // x86-64
	le.PutUint32(h[20:], 1)
	le.PutUint64(h[24:], 0x401000)
	le.PutUint64(h[32:], 64) // phoff
	le.PutUint16(h[52:], 64)
	le.PutUint16(h[54:], 56)
	type ph struct {
		typ       uint32
		off, size uint64
	}
	phs := []ph{{1, 0, 0}}
	dataOff := uint64(64 + 56*3)
	if interp != "" {
		phs = append(phs, ph{3, dataOff, uint64(len(interp) + 1)})
	}
	if dynamic {
		phs = append(phs, ph{2, dataOff, 0})
	}
	le.PutUint16(h[56:], uint16(len(phs)))
	b := bytes.NewBuffer(h)
	total := dataOff + uint64(len(interp)) + 1 + uint64(len(extra))
	phs[0].size = total
	for _, p := range phs {
		e := make([]byte, 56)
		le.PutUint32(e[0:], p.typ)
		le.PutUint32(e[4:], 5)
		le.PutUint64(e[8:], p.off)
		le.PutUint64(e[16:], 0x400000+p.off)
		le.PutUint64(e[32:], p.size)
		le.PutUint64(e[40:], p.size)
		b.Write(e)
	}
	b.Write(make([]byte, int(dataOff)-b.Len()))
	b.WriteString(interp + "\x00")
	b.Write(extra)
	return b.Bytes()
}

func TestELF(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"glibc", buildELF("/lib64/ld-linux-x86-64.so.2", true, nil), ""},
		{"arm glibc", buildELF("/lib/ld-linux-armhf.so.3", true, nil), ""},
		{"musl", buildELF("/lib/ld-musl-x86_64.so.1", true, nil), ""},
		{"android", buildELF("/system/bin/linker64", true, nil), ""},
		{"odd interp", buildELF("/tmp/.x/ld.so", true, nil), "elf.odd_interpreter"},
		{"static stripped", buildELF("", false, nil), "elf.static_stripped"},
		{"upx", buildELF("", false, []byte("\x00UPX!\x0d\x0a")), "elf.packed_upx,elf.static_stripped"},
	}
	for _, tc := range tests {
		if got := analyzeAs(t, tc.b, "x", Limits{}); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	// The test binary itself: built by Go, with its symbol table.
	if b, err := os.ReadFile(os.Args[0]); err == nil {
		if got := analyzeAs(t, b, "static.test", Limits{}); got != "" {
			t.Errorf("test binary: %q", got)
		}
	}
}

func FuzzELF(f *testing.F) {
	f.Add(buildELF("/lib64/ld-linux-x86-64.so.2", true, nil))
	f.Add(buildELF("", false, []byte("UPX!")))
	f.Fuzz(func(t *testing.T, b []byte) {
		analyzeAs(t, b, "f", Limits{MaxRead: 1 << 20})
	})
}
