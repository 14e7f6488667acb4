package partition

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
)

func readT(b []byte) *Table { return Read(bytes.NewReader(b), int64(len(b)), 512) }

func TestMBRAndSuperfloppy(t *testing.T) {
	fat := carriers.FAT(map[string][]byte{"a.txt": []byte("a")})
	tb := readT(carriers.MBRDisk(fat, 0x01))
	if tb == nil || tb.Scheme != "mbr" || len(tb.Parts) != 1 {
		t.Fatalf("%+v", tb)
	}
	if p := tb.Parts[0]; p.Start != 128*512 || p.Size != int64(len(fat)) || p.FS != "fat" || p.Type != "mbr:0x01" {
		t.Errorf("%+v", p)
	}
	if tb := readT(fat); tb == nil || tb.Scheme != "none" || len(tb.Parts) != 1 || tb.Parts[0].FS != "fat" {
		t.Errorf("superfloppy: %+v", tb)
	}
	if tb := readT(make([]byte, 4096)); tb != nil {
		t.Errorf("zeros: %+v", tb)
	}
}

// gptDisk: a protective MBR, a GPT header at LBA 1, entries at LBA 2,
// and an NTFS boot sector in the one partition.
func gptDisk() []byte {
	d := make([]byte, 1<<20)
	e := d[446:]
	e[4] = 0xEE
	binary.LittleEndian.PutUint32(e[8:], 1)
	binary.LittleEndian.PutUint32(e[12:], 2047)
	d[510], d[511] = 0x55, 0xAA
	h := d[512:]
	copy(h, "EFI PART")
	binary.LittleEndian.PutUint64(h[72:], 2)
	binary.LittleEndian.PutUint32(h[80:], 128)
	binary.LittleEndian.PutUint32(h[84:], 128)
	p := d[1024:]
	copy(p, []byte{0xA2, 0xA0, 0xD0, 0xEB, 0xE5, 0xB9, 0x33, 0x44, 0x87, 0xC0, 0x68, 0xB6, 0xB7, 0x26, 0x99, 0xC7}) // basic data
	copy(p[16:], "partition-guid!!")
	binary.LittleEndian.PutUint64(p[32:], 64)
	binary.LittleEndian.PutUint64(p[40:], 1000)
	copy(d[64*512+3:], "NTFS    ")
	return d
}

func TestGPT(t *testing.T) {
	tb := readT(gptDisk())
	if tb == nil || tb.Scheme != "gpt" || len(tb.Parts) != 1 {
		t.Fatalf("%+v", tb)
	}
	p := tb.Parts[0]
	if p.Start != 64*512 || p.Size != 937*512 || p.FS != "ntfs" || p.Type != "gpt:EBD0A0A2-B9E5-4433-87C0-68B6B72699C7" {
		t.Errorf("%+v", p)
	}
}

// An extended partition whose chain points back at itself is read once.
func TestExtendedLoop(t *testing.T) {
	d := make([]byte, 1<<20)
	d[446+4] = 0x0F
	binary.LittleEndian.PutUint32(d[446+8:], 100)
	d[510], d[511] = 0x55, 0xAA
	ebr := d[100*512:]
	ebr[446+4] = 0x07
	binary.LittleEndian.PutUint32(ebr[446+8:], 10)
	binary.LittleEndian.PutUint32(ebr[446+12:], 20)
	ebr[462+4] = 0x05
	binary.LittleEndian.PutUint32(ebr[462+8:], 0) // the next EBR is this one
	ebr[510], ebr[511] = 0x55, 0xAA
	tb := readT(d)
	if tb == nil || len(tb.Parts) != 1 || tb.Parts[0].Start != 110*512 || tb.Parts[0].Size != 20*512 {
		t.Fatalf("%+v", tb)
	}
}

// FuzzRead: no panic, at most MaxParts volumes, all inside the disk.
func FuzzRead(f *testing.F) {
	f.Add(carriers.MBRDisk(carriers.FAT(map[string][]byte{"a": []byte("a")}), 0x06))
	f.Add(gptDisk()[:64<<10])
	f.Add(carriers.FAT(nil))
	f.Add(polyglotSeed())
	f.Fuzz(func(t *testing.T, b []byte) {
		tb := readT(b)
		if tb == nil {
			return
		}
		if len(tb.Parts) > MaxParts {
			t.Fatal(len(tb.Parts))
		}
		for _, p := range tb.Parts {
			if p.Start < 0 || p.Size <= 0 || p.Start+p.Size > int64(len(b)) {
				t.Fatalf("%+v in %d bytes", p, len(b))
			}
		}
	})
}

// A disk whose sector 0 is both a FAT boot sector (of an empty volume)
// and an MBR naming a FAT partition that holds the files: Linux reads
// the table; the volume in the partition must be walked too.
func TestBootSectorAndMBR(t *testing.T) {
	vol := carriers.FAT(map[string][]byte{"evil.lnk": []byte("L\x00\x00\x00")})
	d := carriers.MBRDisk(vol, 0x01)
	copy(d, carriers.FAT(nil)[:62]) // the jump and BIOS parameter block
	tb := readT(d)
	if tb == nil || len(tb.Parts) != 2 {
		t.Fatalf("%+v", tb)
	}
	if p := tb.Parts[1]; p.Start != 128*512 || p.FS != "fat" {
		t.Errorf("%+v", tb.Parts)
	}
}

// A primary GPT header whose CRC does not match, pointing at a decoy,
// and a valid backup at the disk's last LBA naming the real volume:
// Windows and Linux read the backup, and so does Read.
func TestGPTBackup(t *testing.T) {
	d := gptDisk() // primary (no valid CRC): entries at LBA 2, NTFS at 64
	last := int64(len(d)/512 - 1)
	b := d[last*512:]
	copy(b, "EFI PART")
	binary.LittleEndian.PutUint32(b[8:], 0x10000)
	binary.LittleEndian.PutUint32(b[12:], 92)
	binary.LittleEndian.PutUint64(b[24:], uint64(last))
	binary.LittleEndian.PutUint64(b[32:], 1)
	binary.LittleEndian.PutUint64(b[72:], uint64(last-32)) // its entries
	binary.LittleEndian.PutUint32(b[80:], 128)
	binary.LittleEndian.PutUint32(b[84:], 128)
	binary.LittleEndian.PutUint32(b[16:], crc32.ChecksumIEEE(b[:92]))
	e := d[(last-32)*512:]
	copy(e, d[1024:1040]) // basic data
	copy(e[16:], "partition-guid!!")
	binary.LittleEndian.PutUint64(e[32:], 1200)
	binary.LittleEndian.PutUint64(e[40:], 1500)
	copy(d[1200*512+3:], "NTFS    ")
	tb := readT(d)
	if tb == nil || len(tb.Parts) != 1 || tb.Parts[0].Start != 1200*512 || tb.Parts[0].FS != "ntfs" {
		t.Fatalf("%+v", tb)
	}
	// With a valid primary, the primary is read.
	h := d[512:]
	binary.LittleEndian.PutUint32(h[12:], 92)
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
	if tb := readT(d); tb == nil || len(tb.Parts) != 1 || tb.Parts[0].Start != 64*512 {
		t.Fatalf("%+v", tb)
	}
}

// The Microsoft Reserved Partition (on every GPT disk Windows
// initialises) is marked Reserved; a basic data partition is not.
func TestMSRReserved(t *testing.T) {
	d := gptDisk()
	e := d[1024+128:]
	copy(e, []byte{0x16, 0xE3, 0xC9, 0xE3, 0x5C, 0x0B, 0xB8, 0x4D, 0x81, 0x7D, 0xF9, 0x2D, 0xF0, 0x02, 0x15, 0xAE})
	copy(e[16:], "msr-partition!!!")
	binary.LittleEndian.PutUint64(e[32:], 1100)
	binary.LittleEndian.PutUint64(e[40:], 1200)
	tb := readT(d)
	if tb == nil || len(tb.Parts) != 2 || tb.Parts[0].Reserved || !tb.Parts[1].Reserved || tb.Parts[1].Type != msr {
		t.Fatalf("%+v", tb)
	}
}

// polyglotSeed: 64 KiB whose sector 0 is a FAT boot sector and an MBR
// naming a FAT partition at sector 8.
func polyglotSeed() []byte {
	d := make([]byte, 64<<10)
	fat := carriers.FAT(nil)
	copy(d, fat[:62])
	e := d[446:]
	e[4] = 0x01
	binary.LittleEndian.PutUint32(e[8:], 8)
	binary.LittleEndian.PutUint32(e[12:], 100)
	d[510], d[511] = 0x55, 0xAA
	copy(d[8*512:], fat[:512])
	return d
}

func TestPolyglotSeed(t *testing.T) {
	if tb := readT(polyglotSeed()); tb == nil || len(tb.Parts) != 2 || tb.Parts[1].FS != "fat" {
		t.Fatalf("%+v", tb)
	}
}
