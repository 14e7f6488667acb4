package analyzers

import (
	"bytes"
	"debug/elf"
	"path"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/files/formats"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// ELF checks, on the model package elffile read: the traits of droppers
// and bots built to run anywhere and resist reading, rather than of
// binaries from a distribution.

// usualInterps are the dynamic loaders of glibc, musl and Android.
var usualInterps = []string{
	"/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux*.so.*", "/lib64/ld-linux-*.so.*",
	"/lib/ld-musl-*.so.1", "/system/bin/linker*", "/lib64/ld64.so.*", "/lib/ld64.so.*", "/lib/ld.so.1",
}

const elfTail = 4096 // UPX writes its "UPX!" trailer in the last bytes

func (a *run) elf(d *formats.Doc, _ string, _ int) []score.Reason {
	f := d.ELF
	if f == nil || f.Class == 0 {
		return nil
	}
	n := min(d.Size, a.lim.MaxRead)
	var out []score.Reason
	if f.Interp != "" && !usualInterp(f.Interp) {
		out = append(out, score.Reason{Rule: "elf.odd_interpreter", Weight: 5,
			Text: "unusual program interpreter " + trunc(strings.ToValidUTF8(f.Interp, "?"), 100)})
	}
	upx := f.UPXSection
	head := readAll(d.R, n, elfTail)
	tail := readAt(d.R, max(0, n-elfTail), int(min(n, elfTail)))
	if bytes.Contains(head, []byte("UPX!")) || bytes.Contains(tail, []byte("UPX!")) {
		upx = true
	}
	if upx {
		out = append(out, score.Reason{Rule: "elf.packed_upx", Weight: 6, Text: "packed with UPX"})
	}
	// No readable .symtab is stripped, whether the section table says so
	// or is broken (the kernel never reads it).
	if f.Interp == "" && !f.Dynamic && !f.Symtab && f.Type == elf.ET_EXEC {
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
