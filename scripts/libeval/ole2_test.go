package libeval

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/richardlehane/mscfb"

	"github.com/edgesensor/edgesensor/userspace/files/formats/ole2"
)

const streamCap = 1 << 16 // bytes read of each stream, by either reader

// oleListing is what a reader reports of a compound file: "parent/name"
// of each entry reached from the root, with the SHA-256 of a stream's
// first streamCap bytes (its first 8 bytes, in hex); ok is false when
// the reader refused the file.
type oleListing struct {
	ok      bool
	entries map[string]string
	err     string
}

func (l oleListing) String() string {
	if !l.ok {
		return "refused: " + l.err
	}
	return fmt.Sprintf("%d entries, macros %v", len(l.entries), l.has("Macros"))
}

func (l oleListing) has(name string) bool {
	for k := range l.entries {
		if strings.HasSuffix(k, "/"+name) {
			return true
		}
	}
	return false
}

func sum8(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

func oursOLE(b []byte) oleListing {
	c := ole2.Open(bytes.NewReader(b), int64(len(b)))
	if c == nil {
		return oleListing{err: "not a compound file"}
	}
	l := oleListing{ok: true, entries: map[string]string{}}
	c.Walk(func(d *ole2.Dir, parent string) {
		v := "storage"
		if d.Type == ole2.TypeStream {
			v = sum8(c.Stream(d, streamCap))
		}
		l.entries[parent+"/"+d.Name] = v
	})
	return l
}

func mscfbOLE(b []byte) oleListing {
	r, err := mscfb.New(bytes.NewReader(b))
	if err != nil {
		return oleListing{err: err.Error()}
	}
	l := oleListing{ok: true, entries: map[string]string{}}
	for _, f := range r.File[1:] { // the root first
		parent := "Root Entry"
		if len(f.Path) > 0 {
			parent = f.Path[len(f.Path)-1]
		}
		v := "storage"
		if f.FileInfo().Mode().IsRegular() {
			data, _ := io.ReadAll(io.LimitReader(f, streamCap))
			v = sum8(data)
		}
		name := f.Name
		if f.Initial < 0x20 { // mscfb keeps the control character of "\x05SummaryInformation" apart
			name = string(rune(f.Initial)) + name
		}
		l.entries[parent+"/"+name] = v
	}
	return l
}

// tree is a file with regular and mini streams, nested storages (a
// macro project's) and an empty stream.
func tree(ss int) []byte {
	big := bytes.Repeat([]byte("0123456789abcdef"), 700)
	return build(ss, 4096,
		stream("small", []byte("hello mini stream")),
		stream("big", big),
		storage("Macros", storage("VBA", stream("Module1", bytes.Repeat([]byte{'m'}, 100)), stream("dir", big[:5000]))),
		stream("empty", nil),
	)
}

// Same results: the fixtures (what python3-olefile 0.46 lists) and the
// writer's files, as each reader lists them.
func TestOLE2Results(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"lo-memo.doc", fixture(t, "lo-memo.doc")},
		{"lo-sheet.xls", fixture(t, "lo-sheet.xls")},
		{"built, 512-byte sectors", tree(512)},
		{"built, 4096-byte sectors", tree(4096)},
	} {
		o, m := oursOLE(c.b), mscfbOLE(c.b)
		t.Logf("%-26s ole2: %-24s mscfb: %s, same listing and streams: %v", c.name, o, m, reflect.DeepEqual(o, m))
		if !o.ok {
			t.Errorf("%s: the sensor's reader refused it", c.name)
		}
	}
}

// oleDirEntry is the offset of directory entry i of a written file.
func oleDirEntry(b []byte, i int) int {
	ss := 1 << binary.LittleEndian.Uint16(b[30:])
	return (int(binary.LittleEndian.Uint32(b[48:]))+1)*ss + 128*i
}

// oleFATEntry is the offset of sector sec's FAT entry in a written file.
func oleFATEntry(b []byte, sec uint32) int {
	ss := 1 << binary.LittleEndian.Uint16(b[30:])
	return (int(binary.LittleEndian.Uint32(b[76:]))+1)*ss + 4*int(sec)
}

// oleEntry is the index of the directory entry named name.
func oleEntry(b []byte, name string) int {
	u := utf16.Encode([]rune(name))
	for i := 0; ; i++ {
		e := oleDirEntry(b, i)
		if e+128 > len(b) {
			return -1
		}
		if n := int(binary.LittleEndian.Uint16(b[e+64:])); n == 2*len(u)+2 {
			match := true
			for j, c := range u {
				match = match && binary.LittleEndian.Uint16(b[e+2*j:]) == c
			}
			if match {
				return i
			}
		}
	}
}

// The hostile variants of ole2's TestHostile (and a directory flood),
// each read by both readers in a child process with a 10 s deadline.
func TestOLE2Hostile(t *testing.T) {
	le := binary.LittleEndian
	good := tree(512)
	start := func(b []byte, name string) uint32 { return le.Uint32(b[oleDirEntry(b, oleEntry(b, name))+116:]) }
	mutate := func(b []byte, f func(b []byte)) []byte {
		b = append([]byte(nil), b...)
		f(b)
		return b
	}
	cases := []struct {
		name string
		b    []byte
	}{
		{"a right sibling points back at the first child", mutate(good, func(b []byte) {
			le.PutUint32(b[oleDirEntry(b, oleEntry(b, "empty"))+72:], 1)
		})},
		{"the directory's chain loops", mutate(good, func(b []byte) {
			d := le.Uint32(b[48:])
			le.PutUint32(b[oleFATEntry(b, d):], d)
		})},
		{"a stream's chain loops on its first sector", mutate(good, func(b []byte) {
			s := start(b, "big")
			le.PutUint32(b[oleFATEntry(b, s):], s)
		})},
		{"a stream claims 4 GiB on a looping chain", mutate(good, func(b []byte) {
			s := start(b, "big")
			le.PutUint32(b[oleFATEntry(b, s):], s)
			le.PutUint32(b[oleDirEntry(b, oleEntry(b, "big"))+120:], 0xFFFFFFFF)
		})},
		{"the mini FAT loops", mutate(good, func(b []byte) {
			s := start(b, "small")
			mf := int(le.Uint32(b[60:]))
			le.PutUint32(b[(mf+1)*512+4*int(s):], s)
			le.PutUint32(b[oleDirEntry(b, oleEntry(b, "small"))+120:], 4000)
		})},
		{"4 Gi FAT sectors and a DIFAT that loops", mutate(good, func(b []byte) {
			le.PutUint32(b[44:], 0xFFFFFFFF)
			le.PutUint32(b[68:], 0)
			le.PutUint32(b[72:], 0xFFFFFFFF)
			le.PutUint32(b[512+508:], 0)
		})},
		{"a v4 root claims 2^62 bytes of mini stream on a looping chain", func() []byte {
			b := tree(4096)
			root := le.Uint32(b[oleDirEntry(b, 0)+116:])
			le.PutUint64(b[oleDirEntry(b, 0)+120:], 1<<62)
			le.PutUint32(b[oleFATEntry(b, root):], root)
			return b
		}()},
		{"a directory of 48000 entries (6 MB)", func() []byte {
			kids := make([]node, 48000)
			for i := range kids {
				kids[i] = stream(fmt.Sprintf("s%d", i), nil)
			}
			return build(512, 4096, append([]node{storage("Macros")}, kids...)...)
		}()},
	}
	for _, c := range cases {
		var ol, ml oleListing
		o := isolated(t, "ours/"+c.name, 10*time.Second, func() string { ol = oursOLE(c.b); return ol.String() })
		m := isolated(t, "mscfb/"+c.name, 10*time.Second, func() string { ml = mscfbOLE(c.b); return ml.String() })
		t.Logf("%-64s %8d bytes\n    ole2:  %-20s %s\n    mscfb: %-20s %s", c.name, len(c.b), o, o.Note, m, m.Note)
		if !o.Returned || o.Panic != "" {
			t.Errorf("%s: the sensor's reader: %s", c.name, o)
		}
	}
}

// Seeded random mutations of a fixture and a written file, as a
// fuzzer's first inputs (see TestPEMutations).
func TestOLE2Mutations(t *testing.T) {
	const perSeed = 3000
	for _, c := range []struct {
		name string
		b    []byte
	}{{"lo-memo.doc", fixture(t, "lo-memo.doc")}, {"built", tree(512)}} {
		r := isolated(t, c.name, 5*time.Minute, func() string {
			rng := rand.New(rand.NewPCG(1, uint64(len(c.name))))
			var oursRead, libRead, oursMacros, libMacros int
			note := campaign(perSeed, func() []byte { return mutateOLE(rng, c.b) },
				func(b []byte) {
					l := oursOLE(b)
					oursRead, oursMacros = oursRead+btoi(l.ok), oursMacros+btoi(l.has("Macros"))
				}, func(b []byte) {
					l := mscfbOLE(b)
					libRead, libMacros = libRead+btoi(l.ok), libMacros+btoi(l.has("Macros"))
				})
			return fmt.Sprintf("%s; read: ole2 %d, mscfb %d; the Macros storage seen: ole2 %d, mscfb %d",
				note, oursRead, libRead, oursMacros, libMacros)
		})
		t.Logf("%s: %s", c.name, r.Note)
		if r.Panic != "" || !r.Returned {
			t.Errorf("%s: %s", c.name, r)
		}
	}
}

// mutateOLE changes 1 to 8 words of b (a copy), in the header, the
// directory and FAT sectors most of the time.
func mutateOLE(rng *rand.Rand, b []byte) []byte {
	b = append([]byte(nil), b...)
	for range 1 + rng.IntN(8) {
		i := rng.IntN(len(b) - 4)
		if rng.IntN(4) > 0 {
			i = rng.IntN(min(len(b)-4, 4096))
		}
		switch rng.IntN(3) {
		case 0:
			b[i] = byte(rng.Uint32())
		case 1:
			binary.LittleEndian.PutUint32(b[i:], []uint32{0, 0xFFFFFFFF, 0xFFFFFFFE, 1, rng.Uint32()}[rng.IntN(5)])
		case 2:
			binary.LittleEndian.PutUint32(b[i:], uint32(rng.IntN(64)))
		}
	}
	return b
}

// BenchmarkOLE2: open a document and read its two property streams.
func BenchmarkOLE2(b *testing.B) {
	body := fixture(b, "lo-memo.doc")
	props := []string{ole2.SummaryInformation, ole2.DocumentSummaryInformation}
	b.Run("ole2", func(b *testing.B) {
		b.ReportAllocs()
		r := bytes.NewReader(body)
		for b.Loop() {
			c := ole2.Open(r, int64(len(body)))
			for i := range c.Dirs {
				if d := &c.Dirs[i]; slices.Contains(props, d.Name) {
					c.Stream(d, streamCap)
				}
			}
		}
	})
	b.Run("mscfb", func(b *testing.B) {
		b.ReportAllocs()
		r := bytes.NewReader(body)
		buf := make([]byte, streamCap)
		for b.Loop() {
			m, err := mscfb.New(r)
			if err != nil {
				b.Fatal(err)
			}
			for _, f := range m.File {
				if slices.Contains(props, string(rune(f.Initial))+f.Name) {
					f.Read(buf[:min(int(f.Size), len(buf))])
				}
			}
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
