package elffile

import (
	"os"
	"reflect"
	"testing"
)

// FuzzParse: any input parses without a panic, the same twice, and as
// debug/elf reads it when debug/elf reads it.
func FuzzParse(f *testing.F) {
	f.Add(elf32(8, true))
	f.Add(elf32(40, false))
	f.Add(buildExec("/lib/ld-musl-x86_64.so.1", true))
	if b, err := os.ReadFile(os.Args[0]); err == nil && len(b) < 64<<20 {
		f.Add(b[:min(len(b), 8192)])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := parse(b)
		if p == nil {
			return
		}
		if !reflect.DeepEqual(p, parse(b)) {
			t.Fatal("not deterministic")
		}
		if len(p.Interp) > maxInterp {
			t.Fatalf("interpreter of %d bytes", len(p.Interp))
		}
		compareDebugELF(t, b, p)
	})
}
