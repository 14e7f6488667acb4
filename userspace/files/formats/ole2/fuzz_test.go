package ole2

import (
	"reflect"
	"runtime"
	"testing"
	"unicode/utf8"
)

// FuzzOpen: any input opens without a panic, the same twice, within
// MaxDirs entries and 4 MiB of allocations whatever it claims; Walk
// visits each entry at most once; a stream read is no longer than the
// entry's size and the cap, and holds only the file's bytes; property
// values are valid, bounded text.
func FuzzOpen(f *testing.F) {
	for _, name := range []string{"lo-memo.doc", "lo-sheet.xls"} {
		f.Add(fixture(f, name))
	}
	f.Add(tree(512))
	f.Add(tree(4096))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		c := open(b)
		runtime.ReadMemStats(&m1)
		if c == nil {
			return
		}
		if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 4<<20 {
			t.Fatalf("Open allocated %d bytes", alloc)
		}
		if again := open(b); again == nil || !reflect.DeepEqual(c.Dirs, again.Dirs) {
			t.Fatal("not deterministic")
		}
		if len(c.Dirs) > MaxDirs || len(c.fatSecs) > maxFATs {
			t.Fatalf("%d entries, %d FAT sectors", len(c.Dirs), len(c.fatSecs))
		}
		seen := map[*Dir]bool{}
		c.Walk(func(d *Dir, _ string) {
			if seen[d] {
				t.Fatalf("%q visited twice", d.Name)
			}
			seen[d] = true
		})
		const maxRead = 1 << 14
		for i := range c.Dirs[:min(len(c.Dirs), 256)] {
			d := &c.Dirs[i]
			s := c.Stream(d, maxRead)
			if uint64(len(s)) > min(d.Size, maxRead) {
				t.Fatalf("%q: %d bytes read of %d", d.Name, len(s), d.Size)
			}
			if !fileBytes(b, s) {
				t.Fatalf("%q: bytes that are not the file's", d.Name)
			}
			if d.Name == SummaryInformation || d.Name == DocumentSummaryInformation {
				for _, v := range c.Properties(d) {
					if len(v) > 512 || !utf8.ValidString(v) {
						t.Fatalf("property %q", v)
					}
				}
			}
		}
	})
}
