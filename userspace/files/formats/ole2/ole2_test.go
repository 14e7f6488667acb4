package ole2

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../filetype/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func open(b []byte) *File { return Open(bytes.NewReader(b), int64(len(b))) }

// listing is what Walk reports: "parent/name" for each entry, with the
// SHA-256 of each stream (its first 8 bytes, in hex).
func listing(c *File) map[string]string {
	out := map[string]string{}
	c.Walk(func(d *Dir, parent string) {
		v := "storage"
		if d.Type == TypeStream {
			sum := sha256.Sum256(c.Stream(d, 1<<20))
			v = hex.EncodeToString(sum[:8])
		}
		out[parent+"/"+d.Name] = v
	})
	return out
}

// The fixtures' streams and hashes are what python3-olefile 0.46 reads
// (listdir, openstream).
func TestFixtures(t *testing.T) {
	for _, c := range []struct {
		file  string
		want  map[string]string
		title string
	}{
		{"lo-memo.doc", map[string]string{
			"Root Entry/\x01CompObj":                   "fadeb43f2f725c7d",
			"Root Entry/\x01Ole":                       "c36c8a4b7dee703b",
			"Root Entry/" + DocumentSummaryInformation: "4bf70144f3e3f0b6",
			"Root Entry/" + SummaryInformation:         "429e264a9c182717",
			"Root Entry/1Table":                        "bb2b2febcc7d1f7a",
			"Root Entry/WordDocument":                  "30cf48ccd5f0cafe",
		}, "Quarterly Überblick"},
		{"lo-sheet.xls", map[string]string{
			"Root Entry/\x01CompObj":                   "3b782f2ba4979fe2",
			"Root Entry/\x01Ole":                       "c36c8a4b7dee703b",
			"Root Entry/" + DocumentSummaryInformation: "4bf70144f3e3f0b6",
			"Root Entry/" + SummaryInformation:         "b795efd0b78ea4b9",
			"Root Entry/Workbook":                      "7349213f8d2019da",
		}, "Budget"},
	} {
		f := open(fixture(t, c.file))
		if f == nil {
			t.Fatalf("%s: not opened", c.file)
		}
		if got := listing(f); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.file, got, c.want)
		}
		for i := range f.Dirs {
			if f.Dirs[i].Name == SummaryInformation {
				if p := f.Properties(&f.Dirs[i]); p[2] != c.title {
					t.Errorf("%s: title %q", c.file, p[2])
				}
			}
		}
	}
}

var big = bytes.Repeat([]byte("0123456789abcdef"), 700) // 11200 bytes, past the cutoff

// tree is a file with regular and mini streams, nested storages and an
// empty stream (python3-olefile 0.46 reads it, with DEFECT_INCORRECT
// raised, as built here).
func tree(ss int) []byte {
	return build(ss, 4096,
		stream("small", []byte("hello mini stream")),
		stream("big", big),
		storage("Macros", storage("VBA", stream("Module1", bytes.Repeat([]byte{'m'}, 100)), stream("dir", big[:5000]))),
		stream("empty", nil),
	)
}

func TestBuilt(t *testing.T) {
	want := map[string][]byte{
		"Root Entry/small": []byte("hello mini stream"), "Root Entry/big": big, "Root Entry/empty": {},
		"Macros/VBA": nil, "VBA/Module1": bytes.Repeat([]byte{'m'}, 100), "VBA/dir": big[:5000], "Root Entry/Macros": nil,
	}
	for _, ss := range []int{512, 4096} {
		c := open(tree(ss))
		if c == nil {
			t.Fatalf("%d: not opened", ss)
		}
		got := map[string][]byte{}
		c.Walk(func(d *Dir, parent string) {
			var b []byte
			if d.Type == TypeStream {
				b = c.Stream(d, 1<<20)
				if n := min(len(b), 10); !bytes.Equal(c.Stream(d, 10), b[:n]) {
					t.Errorf("%d: %s: a capped read is not the stream's start", ss, d.Name)
				}
			}
			got[parent+"/"+d.Name] = b
		})
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%d: %q", ss, got)
		}
	}
}

// dirEntry returns the offset of directory entry i in a built file,
// whose directory starts at its first sector after the header.
func dirEntry(b []byte, i int) int {
	ss := 1 << binary.LittleEndian.Uint16(b[30:])
	return (int(binary.LittleEndian.Uint32(b[48:]))+1)*ss + 128*i
}

// fatEntry returns the offset of sector sec's FAT entry in a built
// file (whose first FAT sector holds it).
func fatEntry(b []byte, sec uint32) int {
	ss := 1 << binary.LittleEndian.Uint16(b[30:])
	return (int(binary.LittleEndian.Uint32(b[76:]))+1)*ss + 4*int(sec)
}

func find(c *File, name string) *Dir {
	for i := range c.Dirs {
		if c.Dirs[i].Name == name {
			return &c.Dirs[i]
		}
	}
	return nil
}

// Hostile variants of a sound file: each must end quickly, keep what is
// sound and return no byte that is not the file's.
func TestHostile(t *testing.T) {
	le := binary.LittleEndian
	good := tree(512)
	c := open(good)
	bigStart, smallStart := find(c, "big").start, find(c, "small").start
	mutate := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	for _, x := range []struct {
		what  string
		b     []byte
		check func(c *File) string
	}{
		{"a stream's chain loops on its first sector", mutate(func(b []byte) {
			le.PutUint32(b[fatEntry(b, bigStart):], bigStart)
		}), func(c *File) string {
			if s := c.Stream(find(c, "big"), 1<<20); !bytes.Equal(s, bytes.Repeat(big[:512], 22)[:len(big)]) {
				return "not the first sector repeated to the size"
			}
			return ""
		}},
		{"a stream claims 4 GiB on a looping chain", mutate(func(b []byte) {
			le.PutUint32(b[fatEntry(b, bigStart):], bigStart)
			le.PutUint32(b[dirEntry(b, 2)+120:], 0xFFFFFFFF)
		}), func(c *File) string {
			if n := len(c.Stream(find(c, "big"), 4<<20)); n != 4<<20 {
				return "read " + strconv.Itoa(n)
			}
			return ""
		}},
		{"the mini FAT loops", mutate(func(b []byte) {
			mf := int(le.Uint32(b[60:]))
			le.PutUint32(b[(mf+1)*512+4*int(smallStart):], smallStart)
			le.PutUint32(b[dirEntry(b, 1)+120:], 4000)
		}), func(c *File) string {
			if s := c.Stream(find(c, "small"), 1<<20); len(s) != 4000 || !bytes.HasPrefix(s, []byte("hello mini stream")) {
				return "read " + strconv.Itoa(len(s))
			}
			return ""
		}},
		{"a right sibling points back at the first child", mutate(func(b []byte) {
			le.PutUint32(b[dirEntry(b, 4)+72:], 1) // Macros -> small
		}), func(c *File) string {
			seen := map[*Dir]int{}
			c.Walk(func(d *Dir, _ string) { seen[d]++ })
			for d, n := range seen {
				if n != 1 {
					return d.Name + " visited " + strconv.Itoa(n) + " times"
				}
			}
			if len(seen) != len(c.Dirs)-1 {
				return strconv.Itoa(len(seen)) + " entries visited"
			}
			return ""
		}},
		{"the directory's chain loops", mutate(func(b []byte) {
			d := le.Uint32(b[48:])
			le.PutUint32(b[fatEntry(b, d):], d)
		}), func(c *File) string {
			if len(c.Dirs) != MaxDirs {
				return strconv.Itoa(len(c.Dirs)) + " entries"
			}
			return ""
		}},
		{"4 Gi FAT sectors and a DIFAT that loops", mutate(func(b []byte) {
			le.PutUint32(b[44:], 0xFFFFFFFF)
			le.PutUint32(b[68:], 0) // DIFAT at sector 0, whose last word names sector 0
			le.PutUint32(b[512+508:], 0)
		}), func(c *File) string {
			if len(c.fatSecs) > maxFATs || !bytes.Equal(c.Stream(find(c, "big"), 1<<20), big) {
				return strconv.Itoa(len(c.fatSecs)) + " FAT sectors"
			}
			return ""
		}},
		{"a v4 root claims 2^62 bytes of mini stream on a looping chain", func() []byte {
			b := tree(4096)
			root := le.Uint32(b[dirEntry(b, 0)+116:])
			le.PutUint64(b[dirEntry(b, 0)+120:], 1<<62)
			le.PutUint32(b[fatEntry(b, root):], root)
			return b
		}(), func(c *File) string {
			if s := c.Stream(find(c, "small"), 100); string(s) != "hello mini stream" || len(c.rootSecs) > 1<<26/4096+1 {
				return "small stream " + strconv.Quote(string(s)) + ", " + strconv.Itoa(len(c.rootSecs)) + " mini stream sectors"
			}
			return ""
		}},
	} {
		start := time.Now()
		c := open(x.b)
		if c == nil {
			t.Errorf("%s: not opened", x.what)
			continue
		}
		msg := x.check(c)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: %v", x.what, d)
		}
		if msg != "" {
			t.Errorf("%s: %s", x.what, msg)
		}
		for i := range c.Dirs {
			if s := c.Stream(&c.Dirs[i], 1<<16); !fileBytes(x.b, s) {
				t.Errorf("%s: %q: bytes that are not the file's", x.what, c.Dirs[i].Name)
			}
		}
	}
	for what, b := range map[string][]byte{
		"sector shift 10":     mutate(func(b []byte) { le.PutUint16(b[30:], 10) }),
		"root is a stream":    mutate(func(b []byte) { b[dirEntry(b, 0)+66] = TypeStream }),
		"not a compound file": append([]byte("\xD0\xCF\x11\xE0\x00\x00\x00\x00"), good[8:]...),
	} {
		if open(b) != nil {
			t.Errorf("%s: opened", what)
		}
	}
}

// fileBytes reports whether every 64-byte piece of s (a stream read) is
// in the file at a 64-byte aligned offset, as sectors and mini sectors
// are, a last shorter piece as the start of one: a reader returns the
// file's bytes or none.
func fileBytes(file, s []byte) bool {
	pieces := map[string]bool{}
	for at := 0; at+64 <= len(file); at += 64 {
		pieces[string(file[at:at+64])] = true
	}
	for off := 0; off < len(s); off += 64 {
		piece := s[off:min(off+64, len(s))]
		if len(piece) == 64 {
			if !pieces[string(piece)] {
				return false
			}
			continue
		}
		found := false
		for p := range pieces {
			if strings.HasPrefix(p, string(piece)) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Every prefix of a fixture opens without a panic into a directory that
// is a prefix of the full file's.
func TestTruncated(t *testing.T) {
	b := fixture(t, "lo-memo.doc")
	full := open(b)
	for n := 0; n < len(b); n += 13 {
		c := open(b[:n])
		if c == nil {
			continue
		}
		if len(c.Dirs) > len(full.Dirs) || !reflect.DeepEqual(c.Dirs, full.Dirs[:len(c.Dirs)]) {
			t.Errorf("%d bytes: %+v", n, c.Dirs)
		}
		for i := range c.Dirs {
			if s := c.Stream(&c.Dirs[i], 1<<16); !fileBytes(b[:n], s) {
				t.Errorf("%d bytes: %q: bytes that are not the file's", n, c.Dirs[i].Name)
			}
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	body := fixture(b, "lo-memo.doc")
	b.ReportAllocs()
	r := bytes.NewReader(body)
	for b.Loop() {
		c := Open(r, int64(len(body)))
		for i := range c.Dirs {
			if d := &c.Dirs[i]; d.Name == SummaryInformation || d.Name == DocumentSummaryInformation {
				c.Properties(d)
			}
		}
	}
}
