// Package vhdfile reads the virtual disk inside a VHD or VHDX file (the
// disk images Windows mounts with a double click, as it does an ISO) as
// an io.ReaderAt over the disk's sectors, for the partition table and
// file system readers to walk what attackers ship in them.
//
// VHD (Virtual Hard Disk Image Format Specification, 2006): a fixed disk
// is its sectors then a 512-byte footer; a dynamic or differencing disk
// has a copy of the footer first, a dynamic header (cxsparse) and a
// block allocation table (BAT) of 32-bit sector numbers. VHDX
// ([MS-VHDX]): a file type identifier, two headers and two region
// tables (CRC-32C checked; the one Windows would use is chosen), a BAT
// of 64-bit entries interleaved with sector bitmap entries, and metadata
// giving the virtual disk size, block size and logical sector size.
//
// Unallocated blocks read as zeros. A differencing disk's parent is not
// here: its blocks read as zeros too, and Disk.Differencing says so. A
// VHDX whose log is not empty is read after replaying the log's active
// sequence in memory, as Windows does (vhdxlog.go; Disk.LogReplayed);
// a log that cannot be replayed (no valid sequence, MaxLogBytes) is
// said by Disk.LogPending and the file read as it is. The dynamic VHD
// sector bitmaps are not read (a present block is read whole, as qemu
// does).
//
// Every table is bounded (MaxBATEntries, MaxMetadataEntries) and checked
// against the file's size; a block that lies past the end of the file
// reads as zeros and is counted (Disk.Stats.BadBlocks). Open never
// panics on any input.
package vhdfile

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/guid"
	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/pager"
)

// Bounds on one untrusted file.
const (
	// MaxBATEntries: blocks mapped (8 MiB of table in memory; with
	// VHD's 2 MiB blocks, 2 TiB of disk). Later blocks read as zeros.
	MaxBATEntries = 1 << 20
	// MaxVirtualSize: a virtual disk larger than this is cut to it (the
	// VHDX maximum is 64 TiB).
	MaxVirtualSize      = 64 << 40
	MaxMetadataEntries  = 2047 // [MS-VHDX] 2.6.1.1
	MaxRegionEntries    = 2047 // [MS-VHDX] 2.4.1
	maxBlockSize        = 256 << 20
	vhdxHeaderOffset1   = 64 << 10
	vhdxHeaderOffset2   = 128 << 10
	vhdxRegionOffset1   = 192 << 10
	vhdxRegionOffset2   = 256 << 10
	vhdxRegionTableSize = 64 << 10
)

// Kind of virtual disk file.
type Kind uint8

// Kinds.
const (
	VHDFixed Kind = iota + 1
	VHDDynamic
	VHDDifferencing
	VHDX
)

func (k Kind) String() string {
	return [...]string{"", "vhd-fixed", "vhd-dynamic", "vhd-differencing", "vhdx"}[k]
}

// Stats count what was odd or cut.
type Stats struct {
	BadBlocks   int64 // allocated blocks pointing past the end of the file (read as zeros)
	CutBlocks   int64 // allocated blocks that the file's end cuts (the rest reads as zeros)
	CutBAT      bool  // the BAT was longer than MaxBATEntries or the file: later blocks read as zeros
	CutSize     bool  // the virtual size was cut to MaxVirtualSize
	BadChecksum int   // VHDX headers or region tables whose CRC-32C did not match
}

// Disk is the virtual disk: ReadAt reads its sectors.
type Disk struct {
	Kind         Kind
	Size         int64 // virtual disk size, bytes
	SectorSize   int   // logical sector size (512, or 4096 for some VHDX)
	BlockSize    int64 // 0 for a fixed VHD
	Differencing bool  // blocks of a parent disk are not here (read as zeros)
	LogPending   bool  // VHDX log not empty and not replayed (no valid sequence, a bound)
	LogReplayed  bool  // VHDX log replayed: the disk is read as Windows would after it
	Stats        Stats

	r    io.ReaderAt
	size int64    // the file's size
	bat  []uint64 // file offset of each block, 0 when not present
	// dataEnd: for a fixed VHD, where the sectors end in the file.
	dataEnd int64
}

// Open reads the VHD or VHDX in the size bytes of r; nil when it is
// neither or too broken for Windows to mount.
func Open(r io.ReaderAt, size int64) *Disk {
	if head := pager.ReadAt(r, size, 0, 8); string(head) == "vhdxfile" {
		return openVHDX(r, size)
	}
	return openVHD(r, size)
}

// ReadAt reads the virtual disk: unallocated blocks and what lies past
// the file's end read as zeros. Reads past the disk's size return
// io.EOF.
func (d *Disk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if off >= d.Size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > d.Size-off {
		p = p[:d.Size-off]
	}
	n := 0
	for n < len(p) {
		o := off + int64(n)
		chunk := p[n:]
		var src int64 = -1
		if d.bat == nil { // fixed
			src = o
		} else {
			blk := o / d.BlockSize
			in := o % d.BlockSize
			chunk = chunk[:min(int64(len(chunk)), d.BlockSize-in)]
			if blk < int64(len(d.bat)) && d.bat[blk] != 0 {
				src = int64(d.bat[blk]) + in
			}
		}
		d.fill(chunk, src)
		n += len(chunk)
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

// fill copies the file's bytes at src into b, zeros where src < 0 or the
// file ends.
func (d *Disk) fill(b []byte, src int64) {
	clear(b)
	end := d.size
	if d.dataEnd > 0 {
		end = d.dataEnd
	}
	if src < 0 || src >= end {
		return
	}
	k := int(min(int64(len(b)), end-src))
	d.r.ReadAt(b[:k], src)
}

// --- VHD ---

// footer is the VHD footer, big-endian.
type footer struct {
	dataOffset uint64
	size       uint64
	diskType   uint32
}

func parseFooter(b []byte) (footer, bool) {
	if len(b) < 512 || string(b[:8]) != "conectix" {
		return footer{}, false
	}
	// The checksum is the one's complement of the byte sum without it.
	var sum uint32
	for i, c := range b[:512] {
		if i < 64 || i >= 68 {
			sum += uint32(c)
		}
	}
	if ^sum != binary.BigEndian.Uint32(b[64:]) {
		return footer{}, false
	}
	return footer{dataOffset: binary.BigEndian.Uint64(b[16:]), size: binary.BigEndian.Uint64(b[48:]),
		diskType: binary.BigEndian.Uint32(b[60:])}, true
}

func openVHD(r io.ReaderAt, size int64) *Disk {
	if size < 512 {
		return nil
	}
	// The footer is the last 512 bytes; a dynamic disk has its copy
	// first, which is read when the end is damaged (as Windows does not,
	// but the disk's blocks are still the attacker's content).
	f, ok := parseFooter(pager.ReadAt(r, size, size-512, 512))
	if !ok {
		if f, ok = parseFooter(pager.ReadAt(r, size, 0, 512)); !ok || f.diskType == 2 {
			return nil
		}
	}
	d := &Disk{r: r, size: size, SectorSize: 512}
	d.Size = int64(min(f.size, MaxVirtualSize))
	d.Stats.CutSize = f.size > MaxVirtualSize
	switch f.diskType {
	case 2:
		d.Kind = VHDFixed
		d.dataEnd = size - 512
		return d
	case 3:
		d.Kind = VHDDynamic
	case 4:
		d.Kind, d.Differencing = VHDDifferencing, true
	default:
		return nil
	}
	if f.dataOffset > uint64(size) {
		return nil
	}
	h := pager.ReadAt(r, size, int64(f.dataOffset), 1024)
	if len(h) < 1024 || string(h[:8]) != "cxsparse" {
		return nil
	}
	batOff := binary.BigEndian.Uint64(h[16:])
	entries := int64(binary.BigEndian.Uint32(h[28:]))
	bs := int64(binary.BigEndian.Uint32(h[32:]))
	if bs < 512 || bs > maxBlockSize || bs&(bs-1) != 0 || batOff >= uint64(size) {
		return nil
	}
	d.BlockSize = bs
	need := (d.Size + bs - 1) / bs
	if entries > need {
		entries = need // entries past the disk's end are never read
	}
	if entries > MaxBATEntries || int64(batOff)+entries*4 > size {
		d.Stats.CutBAT = true
		entries = min(entries, MaxBATEntries, (size-int64(batOff))/4)
	}
	raw := pager.ReadAt(r, size, int64(batOff), int(entries*4))
	// A block is its sector bitmap (one bit a sector, padded to a
	// sector), then its data.
	bitmap := ((bs/512+7)/8 + 511) / 512 * 512
	d.bat = make([]uint64, len(raw)/4)
	for i := range d.bat {
		s := binary.BigEndian.Uint32(raw[4*i:])
		if s == 0xFFFFFFFF {
			continue
		}
		off := int64(s)*512 + bitmap
		if off >= size {
			d.Stats.BadBlocks++
			continue
		}
		if off+bs > size {
			d.Stats.CutBlocks++
		}
		d.bat[i] = uint64(off)
	}
	return d
}

// --- VHDX ---

// The GUIDs of the regions and metadata items read ([MS-VHDX] 2.4, 2.6).
var (
	GUIDBAT           = guid.Bytes("2DC27766-F623-4200-9D64-115E9BFD4A08")
	GUIDMetadata      = guid.Bytes("8B7CA206-4790-4B9A-B8FE-575F050F886E")
	GUIDFileParams    = guid.Bytes("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
	GUIDVirtualSize   = guid.Bytes("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
	GUIDLogicalSector = guid.Bytes("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcOK checks a structure whose CRC-32C at off 4 covers b with it zeroed.
func crcOK(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	want := binary.LittleEndian.Uint32(b[4:])
	c := crc32.Update(0, castagnoli, b[:4])
	c = crc32.Update(c, castagnoli, []byte{0, 0, 0, 0})
	c = crc32.Update(c, castagnoli, b[8:])
	return c == want
}

func openVHDX(r io.ReaderAt, size int64) *Disk {
	d := &Disk{r: r, size: size, Kind: VHDX}
	// The current header: the valid one with the greater sequence number.
	var cur []byte
	var seq uint64
	for _, off := range []int64{vhdxHeaderOffset1, vhdxHeaderOffset2} {
		h := pager.ReadAt(r, size, off, 4096)
		if len(h) < 4096 || string(h[:4]) != "head" {
			continue
		}
		if !crcOK(h) {
			d.Stats.BadChecksum++
			continue
		}
		if s := binary.LittleEndian.Uint64(h[8:]); cur == nil || s > seq {
			cur, seq = h, s
		}
	}
	if cur == nil || binary.LittleEndian.Uint16(cur[66:]) != 1 {
		return nil
	}
	d.LogPending = !bytes.Equal(cur[48:64], make([]byte, 16))
	if d.LogPending {
		// Windows replays the log before it reads the file: what the
		// log writes (a BAT entry, a block's sectors) is the disk.
		if o := replayLog(r, size, cur); o != nil {
			r, size = o, o.size
			d.r, d.size = o, o.size
			d.LogPending, d.LogReplayed = false, true
		}
	}
	// The region table: the first valid copy.
	var regions []byte
	for _, off := range []int64{vhdxRegionOffset1, vhdxRegionOffset2} {
		t := pager.ReadAt(r, size, off, vhdxRegionTableSize)
		if len(t) < vhdxRegionTableSize || string(t[:4]) != "regi" {
			continue
		}
		if !crcOK(t) {
			d.Stats.BadChecksum++
			continue
		}
		regions = t
		break
	}
	if regions == nil {
		return nil
	}
	var batOff, batLen, metaOff, metaLen int64
	n := int(min(binary.LittleEndian.Uint32(regions[8:]), MaxRegionEntries))
	for i := 0; i < n; i++ {
		e := regions[16+32*i : 16+32*i+32]
		off, l := int64(binary.LittleEndian.Uint64(e[16:])&(1<<62-1)), int64(binary.LittleEndian.Uint32(e[24:]))
		switch {
		case bytes.Equal(e[:16], GUIDBAT):
			batOff, batLen = off, l
		case bytes.Equal(e[:16], GUIDMetadata):
			metaOff, metaLen = off, l
		}
	}
	if metaLen < 32 || metaOff+metaLen > size || batOff <= 0 || batOff >= size {
		return nil
	}
	if !d.metadata(pager.ReadAt(r, size, metaOff, int(min(metaLen, 1<<20)))) {
		return nil
	}
	// The BAT: payload entries, a sector bitmap entry after every
	// chunkRatio of them.
	chunkRatio := (int64(1) << 23) * int64(d.SectorSize) / d.BlockSize
	blocks := (d.Size + d.BlockSize - 1) / d.BlockSize
	total := blocks + (blocks-1)/chunkRatio
	if d.Differencing {
		total = blocks + blocks/chunkRatio + 1
	}
	avail := (min(batLen, size-batOff)) / 8
	if total > avail || total > MaxBATEntries {
		d.Stats.CutBAT = true
		total = min(total, avail, MaxBATEntries)
	}
	raw := pager.ReadAt(r, size, batOff, int(total*8))
	d.bat = make([]uint64, 0, min(blocks, total))
	for i := int64(0); i < blocks; i++ {
		j := i + i/chunkRatio
		if (j+1)*8 > int64(len(raw)) {
			break
		}
		e := binary.LittleEndian.Uint64(raw[8*j:])
		var at uint64
		// States 6 (fully present) and 7 (partially present: the rest
		// is the parent's) have data here; the others read as zeros.
		if st := e & 7; st == 6 || st == 7 {
			at = (e >> 20) << 20
			switch {
			case at == 0 || at >= uint64(size):
				d.Stats.BadBlocks++
				at = 0
			case int64(at)+d.BlockSize > size:
				d.Stats.CutBlocks++
			}
		}
		d.bat = append(d.bat, at)
	}
	return d
}

// metadata reads block size, virtual size and logical sector size.
func (d *Disk) metadata(m []byte) bool {
	if len(m) < 32 || string(m[:8]) != "metadata" {
		return false
	}
	n := int(min(binary.LittleEndian.Uint16(m[10:]), MaxMetadataEntries))
	item := func(id []byte) []byte {
		for i := 0; i < n; i++ {
			if 32+32*i+32 > len(m) {
				return nil
			}
			e := m[32+32*i:]
			if !bytes.Equal(e[:16], id) {
				continue
			}
			off, l := int64(binary.LittleEndian.Uint32(e[16:])), int64(binary.LittleEndian.Uint32(e[20:]))
			if off < 0 || off+l > int64(len(m)) {
				return nil
			}
			return m[off : off+l]
		}
		return nil
	}
	fp, vs, ls := item(GUIDFileParams), item(GUIDVirtualSize), item(GUIDLogicalSector)
	if len(fp) < 8 || len(vs) < 8 || len(ls) < 4 {
		return false
	}
	bs := int64(binary.LittleEndian.Uint32(fp))
	d.Differencing = binary.LittleEndian.Uint32(fp[4:])&2 != 0
	sz := binary.LittleEndian.Uint64(vs)
	sec := binary.LittleEndian.Uint32(ls)
	// [MS-VHDX] 2.6.2: blocks of 1 MiB to 256 MiB, a power of two;
	// sectors of 512 or 4096 bytes.
	if bs < 1<<20 || bs > maxBlockSize || bs&(bs-1) != 0 || (sec != 512 && sec != 4096) || sz == 0 {
		return false
	}
	d.BlockSize, d.SectorSize = bs, int(sec)
	d.Size = int64(min(sz, MaxVirtualSize))
	d.Stats.CutSize = sz > MaxVirtualSize
	return true
}
