// Optical disc images: ISO 9660 and UDF.

package carriers

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// ISO is an ISO 9660 image (level 1 names, one directory) holding files.
// It reads with isoinfo, bsdtar and 7z, and mounts.
func ISO(files map[string][]byte) []byte {
	const sector = 2048
	names := sortedNames(files)
	// Layout: 16 system sectors, PVD, terminator, L and M path tables,
	// the root directory, then the files.
	const pvd, term, lpt, mpt, root, first = 16, 17, 18, 19, 20, 21
	lba := make([]uint32, len(names))
	next := uint32(first)
	for i, n := range names {
		lba[i] = next
		next += uint32((len(files[n]) + sector - 1) / sector)
		if len(files[n]) == 0 {
			next++
		}
	}
	img := make([]byte, int(next)*sector)
	both32 := func(b []byte, v uint32) {
		binary.LittleEndian.PutUint32(b, v)
		binary.BigEndian.PutUint32(b[4:], v)
	}
	both16 := func(b []byte, v uint16) {
		binary.LittleEndian.PutUint16(b, v)
		binary.BigEndian.PutUint16(b[2:], v)
	}
	dirRec := func(extent, size uint32, flags byte, id []byte) []byte {
		r := make([]byte, 33+len(id))
		if len(r)%2 == 1 {
			r = append(r, 0)
		}
		r[0] = byte(len(r))
		both32(r[2:], extent)
		both32(r[10:], size)
		copy(r[18:], []byte{126, 1, 1, 0, 0, 0, 0}) // 2026-01-01
		r[25] = flags
		both16(r[28:], 1)
		r[32] = byte(len(id))
		copy(r[33:], id)
		return r
	}
	// Root directory: ".", "..", the files.
	var dir bytes.Buffer
	dir.Write(dirRec(root, sector, 2, []byte{0}))
	dir.Write(dirRec(root, sector, 2, []byte{1}))
	for i, n := range names {
		dir.Write(dirRec(lba[i], uint32(len(files[n])), 0, []byte(strings.ToUpper(n)+";1")))
	}
	copy(img[root*sector:], dir.Bytes())
	for i, n := range names {
		copy(img[int(lba[i])*sector:], files[n])
	}
	// Path tables: the root only.
	pt := func(order binary.ByteOrder) []byte {
		b := make([]byte, 10)
		b[0] = 1
		order.PutUint32(b[2:], root)
		order.PutUint16(b[6:], 1)
		return b
	}
	copy(img[lpt*sector:], pt(binary.LittleEndian))
	copy(img[mpt*sector:], pt(binary.BigEndian))
	p := img[pvd*sector:]
	p[0] = 1
	copy(p[1:], "CD001")
	p[6] = 1
	copy(p[8:], pad("", 32))
	copy(p[40:], pad("EDGESENSOR_TEST", 32))
	both32(p[80:], next)
	both16(p[120:], 1)
	both16(p[124:], 1)
	both16(p[128:], sector)
	both32(p[132:], 10)
	binary.LittleEndian.PutUint32(p[140:], lpt)
	binary.BigEndian.PutUint32(p[148:], mpt)
	copy(p[156:], dirRec(root, sector, 2, []byte{0}))
	for _, o := range []int{190, 318, 446, 574, 702, 739, 776} { // set, publisher, preparer, application, files
		copy(p[o:], pad("", 128))
	}
	copy(p[574:], pad("EDGESENSOR TESTS", 128))
	for _, o := range []int{813, 830, 847, 864} {
		copy(p[o:], "0000000000000000")
	}
	p[881] = 1
	t := img[term*sector:]
	t[0] = 255
	copy(t[1:], "CD001")
	t[6] = 1
	return img
}

func pad(s string, n int) []byte {
	b := bytes.Repeat([]byte{' '}, n)
	copy(b, s)
	return b
}

// UDF is a UDF 1.02 image (2048-byte blocks, no ISO 9660 side, labelled
// EDGESENSOR) holding files in its root directory: the volume
// recognition sequence, the main volume descriptor sequence, an
// integrity descriptor, the anchor at sector 256, then the partition
// (file set descriptor, root file entry and directory, a file entry and
// the data of each file). udfinfo reads it.
func UDF(files map[string][]byte) []byte {
	const bs = 2048
	names := sortedNames(files)
	const part = 257 // the partition's first sector
	// Partition blocks: 0 FSD, 1 root FE, 2.. root directory, then one
	// FE per file, then the files' data.
	var dirData bytes.Buffer
	fid := func(chars byte, name string, icb uint32, at int) {
		id := []byte(nil)
		if name != "" {
			id = append([]byte{8}, name...)
		}
		n := (38 + len(id) + 3) &^ 3
		d := make([]byte, n)
		binary.LittleEndian.PutUint16(d[16:], 1)
		d[18], d[19] = chars, byte(len(id))
		binary.LittleEndian.PutUint32(d[20:], bs)
		binary.LittleEndian.PutUint32(d[24:], icb)
		copy(d[38:], id)
		udfTag(d, 257, uint32(2+at/bs))
		dirData.Write(d)
	}
	dirBlocks := 1 + (len(names)*(40+256))/bs
	feBlock := func(i int) uint32 { return uint32(2 + dirBlocks + i) }
	dataBlock := make([]uint32, len(names))
	next := uint32(2 + dirBlocks + len(names))
	for i, n := range names {
		dataBlock[i] = next
		next += uint32((len(files[n]) + bs - 1) / bs)
	}
	partLen := next
	fid(0x0A, "", 1, 0) // the parent: the root itself
	for i, n := range names {
		fid(0, n, feBlock(i), dirData.Len())
	}
	img := make([]byte, (part+int(partLen)+1)*bs)
	vol := func(sec int, id string) {
		copy(img[sec*bs+1:], id)
		img[sec*bs+6] = 1
	}
	vol(16, "BEA01")
	vol(17, "NSR02")
	vol(18, "TEA01")
	charspec := func(b []byte) { copy(b[1:], "OSTA Compressed Unicode") }
	dstr := func(b []byte, s string) {
		b[0] = 8
		copy(b[1:], s)
		b[len(b)-1] = byte(1 + len(s))
	}
	regid := func(b []byte, id string, suffix ...byte) {
		copy(b[1:], id)
		copy(b[24:], suffix)
	}
	d := img[32*bs : 33*bs] // primary volume descriptor
	dstr(d[24:56], "EDGESENSOR")
	binary.LittleEndian.PutUint16(d[56:], 1)
	binary.LittleEndian.PutUint16(d[58:], 1)
	binary.LittleEndian.PutUint16(d[60:], 2)
	binary.LittleEndian.PutUint16(d[62:], 2)
	binary.LittleEndian.PutUint32(d[64:], 1)
	binary.LittleEndian.PutUint32(d[68:], 1)
	dstr(d[72:200], "edgesensor-tests")
	charspec(d[200:])
	charspec(d[264:])
	regid(d[388:], "*edgesensor")
	udfTag(d[:512], 1, 32)
	d = img[33*bs : 34*bs] // partition descriptor
	binary.LittleEndian.PutUint32(d[16:], 1)
	binary.LittleEndian.PutUint16(d[20:], 1)
	regid(d[24:], "+NSR02")
	binary.LittleEndian.PutUint32(d[184:], 1) // read-only
	binary.LittleEndian.PutUint32(d[188:], part)
	binary.LittleEndian.PutUint32(d[192:], partLen)
	regid(d[196:], "*edgesensor")
	udfTag(d[:512], 5, 33)
	d = img[34*bs : 35*bs] // logical volume descriptor
	binary.LittleEndian.PutUint32(d[16:], 2)
	charspec(d[20:])
	dstr(d[84:212], "EDGESENSOR")
	binary.LittleEndian.PutUint32(d[212:], bs)
	regid(d[216:], "*OSTA UDF Compliant", 0x02, 0x01)
	binary.LittleEndian.PutUint32(d[248:], bs) // the FSD: block 0 of partition 0
	binary.LittleEndian.PutUint32(d[264:], 6)
	binary.LittleEndian.PutUint32(d[268:], 1)
	regid(d[272:], "*edgesensor")
	binary.LittleEndian.PutUint32(d[432:], bs)
	binary.LittleEndian.PutUint32(d[436:], 64) // the integrity descriptor
	copy(d[440:], []byte{1, 6, 1, 0, 0, 0})
	udfTag(d[:446], 6, 34)
	udfTag(img[35*bs:35*bs+512], 8, 35)      // terminating descriptor
	d = img[64*bs : 65*bs]                   // logical volume integrity descriptor
	binary.LittleEndian.PutUint32(d[28:], 1) // closed
	binary.LittleEndian.PutUint64(d[64:], 16+uint64(len(names)))
	binary.LittleEndian.PutUint32(d[72:], 1)
	binary.LittleEndian.PutUint32(d[76:], 46)
	binary.LittleEndian.PutUint32(d[80:], 0)       // free blocks
	binary.LittleEndian.PutUint32(d[84:], partLen) // size
	regid(d[88:], "*edgesensor")
	binary.LittleEndian.PutUint32(d[120:], uint32(len(names)))
	binary.LittleEndian.PutUint32(d[124:], 1)
	binary.LittleEndian.PutUint16(d[128:], 0x0102)
	binary.LittleEndian.PutUint16(d[130:], 0x0102)
	binary.LittleEndian.PutUint16(d[132:], 0x0102)
	udfTag(d[:134], 9, 64)
	d = img[256*bs : 257*bs] // anchor
	binary.LittleEndian.PutUint32(d[16:], 16*bs)
	binary.LittleEndian.PutUint32(d[20:], 32)
	binary.LittleEndian.PutUint32(d[24:], 16*bs)
	binary.LittleEndian.PutUint32(d[28:], 32)
	udfTag(d[:512], 2, 256)
	p := img[part*bs:]
	d = p[:bs] // file set descriptor
	binary.LittleEndian.PutUint16(d[28:], 3)
	binary.LittleEndian.PutUint16(d[30:], 3)
	binary.LittleEndian.PutUint32(d[32:], 1)
	binary.LittleEndian.PutUint32(d[36:], 1)
	charspec(d[48:])
	dstr(d[112:240], "EDGESENSOR")
	charspec(d[240:])
	dstr(d[304:336], "EDGESENSOR")
	binary.LittleEndian.PutUint32(d[400:], bs)
	binary.LittleEndian.PutUint32(d[404:], 1) // root FE at block 1
	regid(d[416:], "*OSTA UDF Compliant", 0x02, 0x01)
	udfTag(d[:512], 256, 0)
	fe := func(block uint32, ftype byte, size int, data uint32) {
		e := p[int(block)*bs : int(block+1)*bs]
		binary.LittleEndian.PutUint16(e[16+4:], 4)
		binary.LittleEndian.PutUint16(e[16+8:], 1)
		e[16+11] = ftype
		// flags: short allocation descriptors (0)
		binary.LittleEndian.PutUint32(e[36:], 0xFFFFFFFF)
		binary.LittleEndian.PutUint32(e[40:], 0xFFFFFFFF)
		binary.LittleEndian.PutUint32(e[44:], 0x14A5) // r-x for all, rw for the owner
		binary.LittleEndian.PutUint16(e[48:], 1)
		binary.LittleEndian.PutUint64(e[56:], uint64(size))
		binary.LittleEndian.PutUint64(e[64:], uint64((size+bs-1)/bs))
		binary.LittleEndian.PutUint32(e[108:], 1)
		regid(e[128:], "*edgesensor")
		ad := 0
		if size > 0 {
			binary.LittleEndian.PutUint32(e[176:], uint32(size))
			binary.LittleEndian.PutUint32(e[180:], data)
			ad = 8
		}
		binary.LittleEndian.PutUint32(e[172:], uint32(ad))
		udfTag(e[:176+ad], 261, block)
	}
	fe(1, 4, dirData.Len(), 2)
	copy(p[2*bs:], dirData.Bytes())
	for i, n := range names {
		fe(feBlock(i), 5, len(files[n]), dataBlock[i])
		copy(p[int(dataBlock[i])*bs:], files[n])
	}
	return img
}

// udfTag fills the 16-byte descriptor tag of d (ECMA-167 3/7.2): version
// 2, the CRC-16 (CCITT) of the rest of d, the checksum of the tag.
func udfTag(d []byte, id uint16, loc uint32) {
	binary.LittleEndian.PutUint16(d, id)
	binary.LittleEndian.PutUint16(d[2:], 2)
	var crc uint16
	for _, c := range d[16:] {
		crc ^= uint16(c) << 8
		for i := 0; i < 8; i++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	binary.LittleEndian.PutUint16(d[8:], crc)
	binary.LittleEndian.PutUint16(d[10:], uint16(len(d)-16))
	binary.LittleEndian.PutUint32(d[12:], loc)
	var s byte
	for i, c := range d[:16] {
		if i != 4 {
			s += c
		}
	}
	d[4] = s
}
