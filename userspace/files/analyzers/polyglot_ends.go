package analyzers

import (
	"bytes"
	"encoding/binary"
	"io"

	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

// Where each kind of picture ends, by walking its structure, and the
// window the walks read through.

// pictureEnd finds where the picture's structure ends (or breaks).
func pictureEnd(w *window, picture string) int64 {
	switch picture {
	case filetype.KindJPEG:
		return jpegEnd(w)
	case filetype.KindPNG:
		return pngEnd(w)
	case filetype.KindGIF:
		return gifEnd(w)
	case filetype.KindBMP:
		return bmpEnd(w)
	case filetype.KindWebP:
		return riffEnd(w)
	case filetype.KindICO:
		return icoEnd(w)
	case filetype.KindHEIF:
		return bmffEnd(w)
	}
	// TIFF: its strips may lie anywhere the offsets say; a zip is found
	// from its end all the same.
	return -1
}

// icoEnd: the end of the furthest image the directory names (ICONDIR,
// then 16-byte entries with each image's size and offset).
func icoEnd(w *window) int64 {
	h := w.at(0, 6)
	if h == nil {
		return -1
	}
	n := int64(binary.LittleEndian.Uint16(h[4:]))
	end := 6 + 16*n
	for i := int64(0); i < n; i++ {
		e := w.at(6+16*i, 16)
		if e == nil {
			return -1
		}
		end = max(end, int64(binary.LittleEndian.Uint32(e[12:]))+int64(binary.LittleEndian.Uint32(e[8:])))
	}
	if n == 0 || end > w.size {
		return -1
	}
	return end
}

// bmffEnd walks the top-level boxes (ISO/IEC 14496-12: a 32-bit size,
// or 1 and a 64-bit one, or 0 for "to the end of the file") to the first
// that is no box: where the picture ends.
func bmffEnd(w *window) int64 {
	pos := int64(0)
	for n := 0; pos < w.size && n < 1<<16; n++ {
		h := w.at(pos, 8)
		if h == nil {
			return pos
		}
		for _, c := range h[4:8] {
			if c < 0x20 || c > 0x7e {
				return pos // no box type: the structure breaks here
			}
		}
		size := int64(binary.BigEndian.Uint32(h))
		switch size {
		case 0:
			return w.size
		case 1:
			l := w.at(pos+8, 8)
			if l == nil {
				return pos
			}
			size = int64(binary.BigEndian.Uint64(l) & (1<<62 - 1))
			if size < 16 {
				return pos
			}
		default:
			if size < 8 {
				return pos
			}
		}
		if size > w.size-pos {
			return pos
		}
		pos += size
	}
	return pos
}

// jpegEnd walks the markers (ITU T.81 B.1.1.2): a segment's length after
// each marker but SOI, EOI, RSTn and TEM; after SOS the entropy-coded
// data, where 0xFF is followed by 0x00 (stuffing), RSTn or fill bytes,
// until a marker. Progressive pictures have many scans, each read so.
// A marker where none can be ends the picture there (the break).
func jpegEnd(w *window) int64 {
	pos := int64(2)
	for pos < w.size {
		b := w.at(pos, 2)
		if b == nil {
			return -1
		}
		if b[0] != 0xFF {
			return pos
		}
		m := b[1]
		if m == 0xFF { // fill byte before a marker
			pos++
			continue
		}
		switch {
		case m == 0xD9:
			return pos + 2
		case m == 0x01 || m >= 0xD0 && m <= 0xD7:
			pos += 2
			continue
		case m == 0x00 || m == 0xD8:
			return pos
		}
		l := w.at(pos+2, 2)
		if l == nil {
			return -1
		}
		n := int64(binary.BigEndian.Uint16(l))
		if n < 2 {
			return pos
		}
		pos += 2 + n
		if m == 0xDA {
			if pos = entropyEnd(w, pos); pos < 0 {
				return -1
			}
		}
	}
	return -1
}

// entropyEnd finds the marker that ends entropy-coded data from pos.
func entropyEnd(w *window, pos int64) int64 {
	for pos < w.size {
		b := w.from(pos, w.size)
		if len(b) == 0 {
			return -1 // the file reads shorter than its size (a spool read failed)
		}
		i := bytes.IndexByte(b, 0xFF)
		if i < 0 {
			pos += int64(len(b))
			continue
		}
		pos += int64(i)
		n := w.at(pos+1, 1)
		if n == nil {
			return -1
		}
		switch x := n[0]; {
		case x == 0x00 || x >= 0xD0 && x <= 0xD7:
			pos += 2
		case x == 0xFF:
			pos++
		default:
			return pos
		}
	}
	return -1
}

// pngEnd walks the chunks (length, type, data, CRC) to IEND.
func pngEnd(w *window) int64 {
	pos := int64(8)
	for pos+12 <= w.size {
		h := w.at(pos, 8)
		if h == nil {
			return -1
		}
		n := int64(binary.BigEndian.Uint32(h))
		if n > 1<<31-1 || pos+12+n > w.size {
			return pos // no chunk this long: the structure breaks here
		}
		pos += 12 + n
		if string(h[4:8]) == "IEND" {
			return pos
		}
	}
	return -1
}

// gifEnd walks the blocks (GIF89a: header, logical screen, colour
// table, then extensions and images as sub-block chains) to the trailer.
func gifEnd(w *window) int64 {
	h := w.at(0, 13)
	if h == nil {
		return -1
	}
	pos := int64(13)
	if h[10]&0x80 != 0 {
		pos += 3 << (h[10]&7 + 1)
	}
	for pos < w.size {
		b := w.at(pos, 1)
		if b == nil {
			return -1
		}
		switch b[0] {
		case 0x3B:
			return pos + 1
		case 0x21: // extension: label, sub-blocks
			pos = subBlocks(w, pos+2)
		case 0x2C: // image: descriptor, local colour table, LZW code size, sub-blocks
			d := w.at(pos, 10)
			if d == nil {
				return -1
			}
			pos += 10
			if d[9]&0x80 != 0 {
				pos += 3 << (d[9]&7 + 1)
			}
			pos = subBlocks(w, pos+1)
		default:
			return pos
		}
		if pos < 0 {
			return -1
		}
	}
	return -1
}

func subBlocks(w *window, pos int64) int64 {
	for pos < w.size {
		b := w.at(pos, 1)
		if b == nil {
			return -1
		}
		pos += 1 + int64(b[0])
		if b[0] == 0 {
			return pos
		}
	}
	return -1
}

// bmpEnd: the file size the header declares, or the end of the pixel
// rows when that is further (a header declaring less than its pixels
// is not what a viewer reads by). Compressed pixels: the declared size.
func bmpEnd(w *window) int64 {
	h := w.at(0, 34)
	if h == nil {
		return -1
	}
	end := int64(binary.LittleEndian.Uint32(h[2:]))
	off := int64(binary.LittleEndian.Uint32(h[10:]))
	if binary.LittleEndian.Uint32(h[14:]) >= 40 {
		width := int64(int32(binary.LittleEndian.Uint32(h[18:])))
		height := int64(int32(binary.LittleEndian.Uint32(h[22:])))
		bpp := int64(binary.LittleEndian.Uint16(h[28:]))
		comp := binary.LittleEndian.Uint32(h[30:])
		if height < 0 {
			height = -height
		}
		if (comp == 0 || comp == 3) && width > 0 && width < 1<<20 && height < 1<<20 && bpp > 0 && bpp <= 32 {
			end = max(end, off+(width*bpp+31)/32*4*height)
		}
	}
	if end < 26 || end > w.size {
		return -1
	}
	return end
}

// riffEnd: the RIFF chunk's declared size, padded to even.
func riffEnd(w *window) int64 {
	h := w.at(0, 8)
	if h == nil {
		return -1
	}
	n := int64(binary.LittleEndian.Uint32(h[4:]))
	end := 8 + n + n&1
	if end > w.size {
		return -1
	}
	return end
}

// window reads r through one 64 KiB buffer: the walks above read a few
// bytes at a time, and each would otherwise be a system call (a spool
// file). Reads past size fail.
type window struct {
	r    io.ReaderAt
	size int64
	buf  []byte
	off  int64
	n    int
}

const windowSize = 64 << 10

// at returns the n bytes at off (valid until the next call), nil when
// they are not all within size.
func (w *window) at(off int64, n int) []byte {
	if off < 0 || n <= 0 || n > windowSize || off+int64(n) > w.size {
		return nil
	}
	if off < w.off || off+int64(n) > w.off+int64(w.n) {
		w.fill(off)
		if w.n < n {
			return nil
		}
	}
	i := int(off - w.off)
	return w.buf[i : i+n]
}

// from returns the bytes from off to at most stop that the window holds
// (filling it at off when it holds none).
func (w *window) from(off, stop int64) []byte {
	if off < 0 || off >= stop || off >= w.size {
		return nil
	}
	if off < w.off || off >= w.off+int64(w.n) {
		w.fill(off)
	}
	i := int(off - w.off)
	j := min(w.n, int(min(stop, w.size)-w.off))
	if i >= j {
		return nil
	}
	return w.buf[i:j]
}

func (w *window) fill(off int64) {
	if w.buf == nil {
		w.buf = make([]byte, windowSize)
	}
	n := int(min(int64(windowSize), w.size-off))
	k, _ := w.r.ReadAt(w.buf[:n], off)
	w.off, w.n = off, k
}
