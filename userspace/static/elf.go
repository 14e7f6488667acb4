package static

import (
	"bytes"
	"debug/elf"
	"io"
	"path"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/score"
)

// ELF checks: the traits of droppers and bots built to run anywhere and
// resist reading, rather than of binaries from a distribution.

// usualInterps are the dynamic loaders of glibc, musl and Android.
var usualInterps = []string{
	"/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux*.so.*", "/lib64/ld-linux-*.so.*",
	"/lib/ld-musl-*.so.1", "/system/bin/linker*", "/lib64/ld64.so.*", "/lib/ld64.so.*", "/lib/ld.so.1",
}

const elfTail = 4096 // UPX writes its "UPX!" trailer in the last bytes

func (a *run) elf(r io.ReaderAt, size int64, _ string, _ int) []score.Reason {
	n := min(size, a.lim.MaxRead)
	f, err := elf.NewFile(io.NewSectionReader(r, 0, n))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []score.Reason
	var interp string
	dynamic := false
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			b := make([]byte, min(p.Filesz, 256))
			k, _ := p.ReadAt(b, 0)
			interp = strings.TrimRight(string(b[:k]), "\x00")
		case elf.PT_DYNAMIC:
			dynamic = true
		}
	}
	if interp != "" && !usualInterp(interp) {
		out = append(out, score.Reason{Rule: "elf.odd_interpreter", Weight: 5,
			Text: "unusual program interpreter " + trunc(strings.ToValidUTF8(interp, "?"), 100)})
	}
	upx := false
	stripped := f.Section(".symtab") == nil
	for _, s := range f.Sections {
		if strings.HasPrefix(s.Name, "UPX") || strings.HasPrefix(s.Name, ".UPX") {
			upx = true
		}
	}
	head := readAll(r, n, elfTail)
	tail := readAt(r, max(0, n-elfTail), int(min(n, elfTail)))
	if bytes.Contains(head, []byte("UPX!")) || bytes.Contains(tail, []byte("UPX!")) {
		upx = true
	}
	if upx {
		out = append(out, score.Reason{Rule: "elf.packed_upx", Weight: 6, Text: "packed with UPX"})
	}
	if interp == "" && !dynamic && stripped && f.Type == elf.ET_EXEC {
		out = append(out, score.Reason{Rule: "elf.static_stripped", Weight: 3, Text: "statically linked and stripped"})
	}
	return out
}

func usualInterp(s string) bool {
	for _, p := range usualInterps {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}
