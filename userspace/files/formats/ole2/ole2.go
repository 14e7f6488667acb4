// Package ole2 reads OLE2 compound files (MS-CFB), the container of
// legacy Office documents (doc, xls, ppt), MSI packages and OOXML's
// vbaProject.bin, just far enough for the sensor's needs: the directory,
// bounded reads of its streams, and the summary information property
// sets (MS-OLEPS). Every sector number, chain and size is a claim:
// chains are walked with step bounds, so a looping FAT ends, the
// directory is read up to MaxDirs entries, and streams up to a cap.
//
// # Why not github.com/richardlehane/mscfb
//
// mscfb v1.0.9 (Apache-2.0) was weighed against this reader in
// scripts/libeval (cd scripts/libeval; go test -v -run OLE2 .; go test
// -run XXX -bench OLE2 -benchmem .) and not adopted:
//
//   - Results: the same entries and stream bytes on lo-memo.doc,
//     lo-sheet.xls and written files with mini and regular streams and
//     nested storages (TestOLE2Results).
//   - It refuses a whole file for one broken pointer: a right sibling
//     pointing back ("traversal counter overflow"), a directory or mini
//     stream chain that loops, a DIFAT count past the FAT's; the file's
//     Macros storage then goes unseen, where Walk here visits each entry
//     once and reports what it reached (TestOLE2Hostile). Of 3000 seeded
//     mutations of a file holding a macro project it read 2649 and saw
//     the Macros storage in 2610; this reader 2940 and 2852
//     (TestOLE2Mutations). 20 s of go fuzzing with FuzzOpen's checks
//     found nothing in it.
//   - The directory is read without a cap: a 6 MB file of 48000 entries
//     cost 122 ms and 44 MB there, 1.7 ms and 2.3 MB here (MaxDirs).
//   - It is faster on an honest document: opening lo-memo.doc and
//     reading both property streams takes 7.7 us and 4 KB there, 20 us
//     and 18 KB here (BenchmarkOLE2; the 4 KiB pages of the pager are
//     most of it). 12 us a document is far below what scoring a file
//     costs (BenchmarkScore2MBPE, 0.8 ms): no reason to trade the above.
package ole2

import (
	"encoding/binary"
	"io"
	"unicode/utf16"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/pager"
)

const (
	endOfChain = 0xFFFFFFFE
	maxRegSect = 0xFFFFFFFA // larger sector numbers are markers
	maxFATs    = 1 << 14    // FAT sectors known (64 Mi sectors at 512 B)
	maxChain   = 1 << 20

	// MaxDirs is how many directory entries are read at most.
	MaxDirs = 4096
)

// Magic is the signature a compound file starts with.
const Magic = "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"

// File is an opened compound file: its directory, and what is needed
// to read its streams.
type File struct {
	p         *pager.Pager
	ss        int64 // sector size
	fatSecs   []uint32
	miniFAT   uint32
	cutoff    uint32
	rootStart uint32
	rootSize  uint64
	Dirs      []Dir // every entry, in directory order

	// The mini stream's sector chain and the mini FAT's, walked on the
	// first read of a small stream.
	miniRead        bool
	rootSecs, mfats []uint32
}

// Dir is one directory entry.
type Dir struct {
	Name               string
	Type               byte // TypeStorage, TypeStream, TypeRoot
	left, right, child uint32
	start              uint32
	Size               uint64
}

// Entry types.
const (
	TypeStorage = 1
	TypeStream  = 2
	TypeRoot    = 5
)

// Open reads the header and the directory of the size bytes of r; nil
// when r is not a compound file or its header is broken.
func Open(r io.ReaderAt, size int64) *File {
	p := pager.New(r, size)
	h := p.Bytes(0, 512)
	if h == nil || string(h[:8]) != Magic {
		return nil
	}
	le := binary.LittleEndian
	c := &File{p: p, miniFAT: le.Uint32(h[60:]), cutoff: le.Uint32(h[56:])}
	switch le.Uint16(h[30:]) {
	case 9:
		c.ss = 512
	case 12:
		c.ss = 4096
	default:
		return nil
	}
	nFAT := min(int(le.Uint32(h[44:])), maxFATs)
	for i := 0; i < 109 && len(c.fatSecs) < nFAT; i++ {
		c.fatSecs = append(c.fatSecs, le.Uint32(h[76+4*i:]))
	}
	next, per := le.Uint32(h[68:]), int(c.ss/4)-1
	for steps := 0; len(c.fatSecs) < nFAT && next <= maxRegSect && steps < maxFATs; steps++ {
		s := c.sector(next, 0, int(c.ss))
		if s == nil {
			break
		}
		for i := 0; i < per && len(c.fatSecs) < nFAT; i++ {
			c.fatSecs = append(c.fatSecs, le.Uint32(s[4*i:]))
		}
		next = le.Uint32(s[4*per:])
	}
	c.chain(le.Uint32(h[48:]), MaxDirs*128/int(c.ss)+1, func(sec uint32) bool {
		for off := int64(0); off+128 <= c.ss && len(c.Dirs) < MaxDirs; off += 128 {
			e := c.sector(sec, off, 128)
			if e == nil {
				return false
			}
			d := Dir{
				Name: dirName(e[:min(int(le.Uint16(e[64:])), 64)]), Type: e[66],
				left: le.Uint32(e[68:]), right: le.Uint32(e[72:]), child: le.Uint32(e[76:]),
				start: le.Uint32(e[116:]), Size: le.Uint64(e[120:]),
			}
			if c.ss == 512 {
				d.Size &= 0xffffffff // v3: the high half is undefined
			}
			c.Dirs = append(c.Dirs, d)
		}
		return len(c.Dirs) < MaxDirs
	})
	if len(c.Dirs) == 0 || c.Dirs[0].Type != TypeRoot {
		return nil
	}
	c.rootStart, c.rootSize = c.Dirs[0].start, c.Dirs[0].Size
	return c
}

// Walk calls f for every entry reachable from the root with the name of
// the storage holding it. Each entry is visited once, whatever the tree
// claims, so a cyclic tree ends.
func (c *File) Walk(f func(d *Dir, parent string)) {
	seen := make([]bool, len(c.Dirs))
	type item struct {
		i      uint32
		parent string
	}
	stack := []item{{c.Dirs[0].child, c.Dirs[0].Name}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if int64(it.i) >= int64(len(c.Dirs)) || seen[it.i] {
			continue
		}
		seen[it.i] = true
		d := &c.Dirs[it.i]
		f(d, it.parent)
		stack = append(stack, item{d.left, it.parent}, item{d.right, it.parent})
		if d.Type == TypeStorage {
			stack = append(stack, item{d.child, d.Name})
		}
	}
}

func dirName(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		ch := binary.LittleEndian.Uint16(b[i:])
		if ch == 0 {
			break
		}
		u = append(u, ch)
	}
	return string(utf16.Decode(u))
}

// sector returns n bytes at off in sector sec, nil when they are not all
// in the file.
func (c *File) sector(sec uint32, off int64, n int) []byte {
	if sec > maxRegSect {
		return nil
	}
	return c.p.Bytes((int64(sec)+1)*c.ss+off, n)
}

// u32 reads the little-endian word at off in sector sec.
func (c *File) u32(sec uint32, off int64) (uint32, bool) {
	if sec > maxRegSect {
		return 0, false
	}
	var b [4]byte
	if c.p.Read((int64(sec)+1)*c.ss+off, b[:]) != 4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[:]), true
}

func (c *File) fat(sec uint32) uint32 {
	per := uint32(c.ss / 4)
	if i := sec / per; int(i) < len(c.fatSecs) {
		if v, ok := c.u32(c.fatSecs[i], int64(sec%per)*4); ok {
			return v
		}
	}
	return endOfChain
}

func (c *File) chain(start uint32, most int, f func(uint32) bool) {
	for sec, i := start, 0; sec <= maxRegSect && i < most; i++ {
		if !f(sec) {
			return
		}
		sec = c.fat(sec)
	}
}

// Stream reads up to max bytes of a stream: from the mini stream when
// it is smaller than the cutoff, else from regular sectors.
func (c *File) Stream(d *Dir, max int) []byte {
	size := int(min(d.Size, uint64(max)))
	out := make([]byte, 0, size)
	if d.Size < uint64(c.cutoff) {
		// The mini stream is the root's chain, in 64-byte sectors
		// indexed by the mini FAT, itself a regular chain.
		c.readMini()
		per := uint32(c.ss / 4)
		var b [64]byte
		for mini, steps := d.start, 0; len(out) < size && mini <= maxRegSect && steps < size/64+1; steps++ {
			pos := int64(mini) * 64
			k := pos / c.ss
			if k >= int64(len(c.rootSecs)) || c.rootSecs[k] > maxRegSect {
				break
			}
			if c.p.Read((int64(c.rootSecs[k])+1)*c.ss+pos%c.ss, b[:]) != 64 {
				break
			}
			out = append(out, b[:min(64, size-len(out))]...)
			mini = endOfChain // unless the mini FAT names the next one
			if idx := int(uint32(pos/64) / per); idx < len(c.mfats) {
				if v, ok := c.u32(c.mfats[idx], int64(uint32(pos/64)%per)*4); ok {
					mini = v
				}
			}
		}
		return out
	}
	c.chain(d.start, size/int(c.ss)+1, func(s uint32) bool {
		n := min(int(c.ss), size-len(out))
		if s > maxRegSect || (int64(s)+1)*c.ss+c.ss > c.p.Size() {
			return false // the whole sector must be in the file
		}
		k := c.p.Read((int64(s)+1)*c.ss, out[len(out):len(out)+n])
		if k != n {
			return false
		}
		out = out[:len(out)+n]
		return len(out) < size
	})
	return out
}

// readMini walks the chains of the mini stream and of the mini FAT once.
func (c *File) readMini() {
	if c.miniRead {
		return
	}
	c.miniRead = true
	c.chain(c.rootStart, int(min(c.rootSize, 1<<26)/uint64(c.ss))+1, func(s uint32) bool {
		c.rootSecs = append(c.rootSecs, s)
		return true
	})
	c.chain(c.miniFAT, maxChain, func(s uint32) bool {
		c.mfats = append(c.mfats, s)
		return len(c.mfats) < 1<<12
	})
}
