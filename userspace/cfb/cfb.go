// Package cfb reads OLE2 compound files (MS-CFB) just far enough for the
// sensor's needs: the directory, and bounded reads of its streams (Office
// property sets for metadata, VBA storages for analysis). Every sector
// number, chain and size is a claim: chains are walked with step bounds,
// so a looping FAT ends, and streams are read up to a cap.
package cfb

import (
	"encoding/binary"
	"io"
	"unicode/utf16"
)

const (
	cfbEnd      = 0xFFFFFFFE
	cfbMaxReg   = 0xFFFFFFFA // larger sector numbers are markers
	cfbMaxDirs  = 4096
	cfbMaxFATs  = 1 << 14 // FAT sectors known (64 Mi sectors at 512 B)
	cfbMaxChain = 1 << 20
)

type File struct {
	r         io.ReaderAt
	size      int64
	ss        int64
	fatSecs   []uint32
	miniFAT   uint32
	cutoff    uint32
	rootStart uint32
	rootSize  uint64
	Dirs      []Dir // every entry, in directory order
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

// Open reads the header and the directory; nil when r is not a compound
// file or its header is broken.
func Open(r io.ReaderAt, size int64) *File {
	h := readAt(r, 0, 512)
	if h == nil || string(h[:8]) != "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1" {
		return nil
	}
	le := binary.LittleEndian
	c := &File{r: r, size: size, miniFAT: le.Uint32(h[60:]), cutoff: le.Uint32(h[56:])}
	switch le.Uint16(h[30:]) {
	case 9:
		c.ss = 512
	case 12:
		c.ss = 4096
	default:
		return nil
	}
	nFAT := min(int(le.Uint32(h[44:])), cfbMaxFATs)
	for i := 0; i < 109 && len(c.fatSecs) < nFAT; i++ {
		c.fatSecs = append(c.fatSecs, le.Uint32(h[76+4*i:]))
	}
	next, per := le.Uint32(h[68:]), int(c.ss/4)-1
	for steps := 0; len(c.fatSecs) < nFAT && next <= cfbMaxReg && steps < cfbMaxFATs; steps++ {
		s := c.sector(next, 0, int(c.ss))
		if s == nil {
			break
		}
		for i := 0; i < per && len(c.fatSecs) < nFAT; i++ {
			c.fatSecs = append(c.fatSecs, le.Uint32(s[4*i:]))
		}
		next = le.Uint32(s[4*per:])
	}
	c.chain(le.Uint32(h[48:]), cfbMaxDirs*128/int(c.ss)+1, func(sec uint32) bool {
		for off := int64(0); off+128 <= c.ss && len(c.Dirs) < cfbMaxDirs; off += 128 {
			e := c.sector(sec, off, 128)
			if e == nil {
				return false
			}
			d := Dir{
				Name: cfbName(e[:min(int(le.Uint16(e[64:])), 64)]), Type: e[66],
				left: le.Uint32(e[68:]), right: le.Uint32(e[72:]), child: le.Uint32(e[76:]),
				start: le.Uint32(e[116:]), Size: le.Uint64(e[120:]),
			}
			if c.ss == 512 {
				d.Size &= 0xffffffff // v3: the high half is undefined
			}
			c.Dirs = append(c.Dirs, d)
		}
		return len(c.Dirs) < cfbMaxDirs
	})
	if len(c.Dirs) == 0 || c.Dirs[0].Type != 5 {
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
		if d.Type == 1 {
			stack = append(stack, item{d.child, d.Name})
		}
	}
}

func cfbName(b []byte) string {
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

func (c *File) sector(sec uint32, off int64, n int) []byte {
	if sec > cfbMaxReg {
		return nil
	}
	return readAt(c.r, (int64(sec)+1)*c.ss+off, n)
}

func (c *File) fat(sec uint32) uint32 {
	per := uint32(c.ss / 4)
	if i := sec / per; int(i) < len(c.fatSecs) {
		if b := c.sector(c.fatSecs[i], int64(sec%per)*4, 4); b != nil {
			return binary.LittleEndian.Uint32(b)
		}
	}
	return cfbEnd
}

func (c *File) chain(start uint32, most int, f func(uint32) bool) {
	for sec, i := start, 0; sec <= cfbMaxReg && i < most; i++ {
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
		var root, mfat []uint32
		c.chain(c.rootStart, int(min(c.rootSize, 1<<26)/uint64(c.ss))+1, func(s uint32) bool {
			root = append(root, s)
			return true
		})
		c.chain(c.miniFAT, cfbMaxChain, func(s uint32) bool {
			mfat = append(mfat, s)
			return len(mfat) < 1<<12
		})
		per := uint32(c.ss / 4)
		for mini, steps := d.start, 0; len(out) < size && mini <= cfbMaxReg && steps < size/64+1; steps++ {
			pos := int64(mini) * 64
			k := pos / c.ss
			if k >= int64(len(root)) {
				break
			}
			b := c.sector(root[k], pos%c.ss, 64)
			if b == nil {
				break
			}
			out = append(out, b[:min(64, size-len(out))]...)
			mini = cfbEnd // unless the mini FAT names the next one
			if idx := int(uint32(pos/64) / per); idx < len(mfat) {
				if e := c.sector(mfat[idx], int64(uint32(pos/64)%per)*4, 4); e != nil {
					mini = binary.LittleEndian.Uint32(e)
				}
			}
		}
		return out
	}
	c.chain(d.start, size/int(c.ss)+1, func(s uint32) bool {
		b := c.sector(s, 0, int(c.ss))
		if b == nil {
			return false
		}
		out = append(out, b[:min(int(c.ss), size-len(out))]...)
		return len(out) < size
	})
	return out
}

// readAt reads exactly n bytes at off, or nothing.
func readAt(r io.ReaderAt, off int64, n int) []byte {
	if off < 0 || n <= 0 {
		return nil
	}
	b := make([]byte, n)
	if k, _ := r.ReadAt(b, off); k < n {
		return nil
	}
	return b
}
