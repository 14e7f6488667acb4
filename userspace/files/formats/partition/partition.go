// Package partition reads the partition table of a disk (the virtual
// disk of a VHD/VHDX, a raw .img): MBR with its extended partition
// chain, or GPT behind a protective MBR; a disk whose first sector is
// itself a volume boot sector (a "superfloppy") is one volume. Each
// volume's file system is named from its boot sector (FAT, NTFS, exFAT)
// for the file system readers.
//
// Bounded: at most MaxParts volumes, MaxLogical extended boot records
// (loop-checked), GPT entries of at most 4 KiB; volumes that lie outside
// the disk are dropped (counted in Table.Dropped). Read never panics.
package partition

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/guid"
	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/pager"
)

// Bounds on one untrusted table.
const (
	MaxParts   = 128
	MaxLogical = 64
)

// Part is one volume.
type Part struct {
	Start, Size int64  // bytes on the disk
	Type        string // "mbr:0x07", "gpt:<type GUID>", "none"
	FS          string // "fat", "ntfs", "exfat", "" when not known
	// Reserved: the Microsoft Reserved Partition every Windows GPT disk
	// has, without a file system: not a volume Windows mounts. (A
	// partition whose first sector is zeros is not: NTFS mounts from its
	// backup boot sector.)
	Reserved bool
}

// msr is the Microsoft Reserved Partition's type.
const msr = "gpt:E3C9E316-0B5C-4DB8-817D-F92DF00215AE"

// Table is what Read found.
type Table struct {
	Scheme    string // "mbr", "gpt", "none" (a volume without a table)
	Parts     []Part
	Dropped   int  // entries lying outside the disk
	Truncated bool // a bound stopped the read
}

// Read reads the table of the disk in the size bytes of r, whose
// logical sectors are sector bytes; nil when sector 0 is neither a
// partition table nor a volume.
func Read(r io.ReaderAt, size int64, sector int) *Table {
	if sector != 512 && sector != 4096 {
		sector = 512
	}
	s0 := pager.ReadAt(r, size, 0, sector)
	if len(s0) < 512 {
		return nil
	}
	ss := int64(sector)
	if fs := FS(s0); fs != "" {
		// A boot sector that is also a valid MBR naming volumes: Linux
		// (and Windows) read the table, a tool that tries the boot
		// sector first reads one volume. Both are walked.
		whole := Part{Start: 0, Size: size, Type: "none", FS: fs}
		if t := mbr(r, size, ss, s0); t != nil && len(t.Parts) > 0 {
			if len(t.Parts) >= MaxParts {
				t.Parts, t.Truncated = t.Parts[:MaxParts-1], true
			}
			t.Parts = append([]Part{whole}, t.Parts...)
			return t
		}
		return &Table{Scheme: "none", Parts: []Part{whole}}
	}
	return mbr(r, size, ss, s0)
}

// mbr reads the MBR in sector 0 (s0); nil when it is not one.
func mbr(r io.ReaderAt, size, ss int64, s0 []byte) *Table {
	if s0[510] != 0x55 || s0[511] != 0xAA {
		return nil
	}
	t := &Table{Scheme: "mbr"}
	for i := 0; i < 4; i++ {
		e := s0[446+16*i:]
		if e[0] != 0 && e[0] != 0x80 {
			return nil // not a partition table
		}
		typ := e[4]
		lba, n := int64(binary.LittleEndian.Uint32(e[8:])), int64(binary.LittleEndian.Uint32(e[12:]))
		switch typ {
		case 0:
		case 0xEE:
			return gpt(r, size, ss)
		case 0x05, 0x0F, 0x85:
			t.extended(r, size, ss, lba)
		default:
			t.add(r, size, lba*ss, n*ss, fmt.Sprintf("mbr:0x%02x", typ))
		}
	}
	return t
}

// extended follows the chain of extended boot records: each holds one
// logical volume (relative to itself) and a link to the next (relative
// to the extended partition's start).
func (t *Table) extended(r io.ReaderAt, size, ss, base int64) {
	seen := map[int64]bool{}
	for ebr, k := base, 0; ; k++ {
		if k >= MaxLogical {
			t.Truncated = true
			return
		}
		if seen[ebr] {
			return
		}
		seen[ebr] = true
		b := pager.ReadAt(r, size, ebr*ss, 512)
		if len(b) < 512 || b[510] != 0x55 || b[511] != 0xAA {
			return
		}
		e1, e2 := b[446:], b[462:]
		if e1[4] != 0 {
			lba, n := int64(binary.LittleEndian.Uint32(e1[8:])), int64(binary.LittleEndian.Uint32(e1[12:]))
			t.add(r, size, (ebr+lba)*ss, n*ss, fmt.Sprintf("mbr:0x%02x", e1[4]))
		}
		if e2[4] == 0 {
			return
		}
		ebr = base + int64(binary.LittleEndian.Uint32(e2[8:]))
	}
}

func (t *Table) add(r io.ReaderAt, size, start, n int64, typ string) {
	if n <= 0 || start <= 0 || start >= size {
		t.Dropped++
		return
	}
	if len(t.Parts) >= MaxParts {
		t.Truncated = true
		return
	}
	n = min(n, size-start) // a volume cut by the disk's end: read what is there
	fs := FS(pager.ReadAt(r, size, start, 512))
	t.Parts = append(t.Parts, Part{Start: start, Size: n, Type: typ, FS: fs, Reserved: fs == "" && typ == msr})
}

// gpt reads the GUID partition table (UEFI 2.10, 5.3) at LBA 1. When
// the header's CRC does not match and the backup header (at its
// AlternateLBA, else the last LBA) does, the backup is read: Windows and
// Linux do, and a decoy primary must not hide it. Otherwise a header is
// read whatever its CRC: a volume it points at is the sender's content
// either way.
func gpt(r io.ReaderAt, size, ss int64) *Table {
	h := pager.ReadAt(r, size, ss, int(ss))
	if len(h) < 92 || string(h[:8]) != "EFI PART" {
		return nil
	}
	if !gptHeaderOK(h) {
		alt := int64(binary.LittleEndian.Uint64(h[32:]) & (1<<40 - 1))
		for _, lba := range []int64{alt, size/ss - 1} {
			if b := pager.ReadAt(r, size, lba*ss, int(ss)); lba > 1 && len(b) >= 92 && string(b[:8]) == "EFI PART" && gptHeaderOK(b) {
				h = b
				break
			}
		}
	}
	t := &Table{Scheme: "gpt"}
	lba := int64(binary.LittleEndian.Uint64(h[72:]) & (1<<40 - 1))
	n := int64(binary.LittleEndian.Uint32(h[80:]))
	es := int64(binary.LittleEndian.Uint32(h[84:]))
	if es < 128 || es > 4096 || es%8 != 0 {
		return t
	}
	if n > 1024 {
		n, t.Truncated = 1024, true
	}
	tab := pager.ReadAt(r, size, lba*ss, int(n*es))
	for i := int64(0); (i+1)*es <= int64(len(tab)); i++ {
		e := tab[i*es:]
		if bytes.Equal(e[:16], make([]byte, 16)) {
			continue
		}
		first, last := int64(binary.LittleEndian.Uint64(e[32:])&(1<<40-1)), int64(binary.LittleEndian.Uint64(e[40:])&(1<<40-1))
		if last < first {
			t.Dropped++
			continue
		}
		t.add(r, size, first*ss, (last-first+1)*ss, "gpt:"+guid.String(e[:16]))
	}
	return t
}

// gptHeaderOK checks a GPT header's CRC-32 (over HeaderSize bytes, the
// CRC field zeroed).
func gptHeaderOK(h []byte) bool {
	n := int(binary.LittleEndian.Uint32(h[12:]))
	if n < 92 || n > len(h) {
		return false
	}
	b := append([]byte(nil), h[:n]...)
	clear(b[16:20])
	return crc32.ChecksumIEEE(b) == binary.LittleEndian.Uint32(h[16:])
}

// FS names the file system whose boot sector b is: "fat" (a BIOS
// parameter block Windows would mount), "ntfs", "exfat", or "".
func FS(b []byte) string {
	if len(b) < 512 {
		return ""
	}
	switch {
	case string(b[3:11]) == "NTFS    ":
		return "ntfs"
	case string(b[3:11]) == "EXFAT   ":
		return "exfat"
	}
	if b[0] != 0xEB && b[0] != 0xE9 {
		return ""
	}
	bps := binary.LittleEndian.Uint16(b[11:])
	spc := b[13]
	if bps < 512 || bps > 4096 || bps&(bps-1) != 0 || spc == 0 || spc&(spc-1) != 0 || b[16] == 0 ||
		binary.LittleEndian.Uint16(b[14:]) == 0 {
		return ""
	}
	return "fat"
}
