// File system volumes: FAT12 and NTFS.

package carriers

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
)

// FAT is a FAT12 volume (512-byte sectors; clusters of 512 bytes, larger
// when the files take more than 2 MiB; labelled EDGESENSOR) holding files in its root directory, each with a long
// (VFAT) name and a generated 8.3 one, as Windows writes them. It mounts
// on Linux and Windows and reads with mtools.
func FAT(files map[string][]byte) []byte {
	const bps = 512
	names := sortedNames(files)
	// Clusters of 512 bytes, larger when the files need more than FAT12
	// counts (4084).
	spc, clusters := 1, 0
	for {
		clusters = 0
		for _, n := range names {
			clusters += (len(files[n]) + spc*bps - 1) / (spc * bps)
		}
		clusters = max(clusters+16, 64)
		if clusters <= 4000 || spc == 128 {
			break
		}
		spc *= 2
	}
	cs := spc * bps
	const reserved, nfats, rootEnts = 1, 2, 512
	fatSecs := ((clusters+2)*3/2 + bps) / bps
	rootSecs := rootEnts * 32 / bps
	total := reserved + nfats*fatSecs + rootSecs + clusters*spc
	img := make([]byte, total*bps)
	b := img[:bps]
	copy(b, []byte{0xEB, 0x3C, 0x90})
	copy(b[3:], "MSDOS5.0")
	binary.LittleEndian.PutUint16(b[11:], bps)
	b[13] = byte(spc)
	binary.LittleEndian.PutUint16(b[14:], reserved)
	b[16] = nfats
	binary.LittleEndian.PutUint16(b[17:], rootEnts)
	binary.LittleEndian.PutUint16(b[19:], uint16(total))
	b[21] = 0xF8
	binary.LittleEndian.PutUint16(b[22:], uint16(fatSecs))
	binary.LittleEndian.PutUint16(b[24:], 63)
	binary.LittleEndian.PutUint16(b[26:], 255)
	b[36] = 0x80
	b[38] = 0x29
	binary.LittleEndian.PutUint32(b[39:], 0x12345678)
	copy(b[43:], "EDGESENSOR ")
	copy(b[54:], "FAT12   ")
	b[510], b[511] = 0x55, 0xAA
	fat := make([]byte, fatSecs*bps)
	set := func(c, v int) { // FAT12: two entries in three bytes
		o := c + c/2
		if c&1 == 0 {
			fat[o] = byte(v)
			fat[o+1] = fat[o+1]&0xF0 | byte(v>>8)&0x0F
		} else {
			fat[o] = fat[o]&0x0F | byte(v<<4)
			fat[o+1] = byte(v >> 4)
		}
	}
	set(0, 0xFF8)
	set(1, 0xFFF)
	dataStart := (reserved + nfats*fatSecs + rootSecs) * bps
	var dir bytes.Buffer
	label := make([]byte, 32)
	copy(label, "EDGESENSOR ")
	label[11] = 0x08
	dir.Write(label)
	next := 2
	for i, n := range names {
		body := files[n]
		first := 0
		if k := (len(body) + cs - 1) / cs; k > 0 {
			first = next
			for j := 0; j < k; j++ {
				if j == k-1 {
					set(next+j, 0xFFF)
				} else {
					set(next+j, next+j+1)
				}
			}
			copy(img[dataStart+(next-2)*cs:], body)
			next += k
		}
		dir.Write(fatDirEntries(n, i+1, first, len(body)))
	}
	copy(img[(reserved+nfats*fatSecs)*bps:], dir.Bytes())
	for i := 0; i < nfats; i++ {
		copy(img[(reserved+i*fatSecs)*bps:], fat)
	}
	return img
}

// fatDirEntries are the long name entries and the 8.3 entry of a file.
func fatDirEntries(name string, seq, first, size int) []byte {
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i+1:]
	}
	up := func(s string, n int) string {
		s = strings.ToUpper(strings.Map(func(r rune) rune {
			if r > 0x7E || strings.ContainsRune(` .+,;=[]"*/:<>?\|`, r) {
				return -1
			}
			return r
		}, s))
		return s[:min(len(s), n)]
	}
	tail := "~" + string(rune('0'+seq%10))
	short := []byte(fmt.Sprintf("%-8s%-3s", up(base, 8-len(tail))+tail, up(ext, 3)))
	var sum byte
	for _, c := range short {
		sum = (sum>>1 | sum<<7) + c
	}
	u := utf16.Encode([]rune(name))
	u = append(u, 0)
	for len(u)%13 != 0 {
		u = append(u, 0xFFFF)
	}
	var out bytes.Buffer
	parts := len(u) / 13
	for p := parts; p >= 1; p-- {
		e := make([]byte, 32)
		e[0] = byte(p)
		if p == parts {
			e[0] |= 0x40
		}
		e[11], e[13] = 0x0F, sum
		for j, o := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
			binary.LittleEndian.PutUint16(e[o:], u[(p-1)*13+j])
		}
		out.Write(e)
	}
	e := make([]byte, 32)
	copy(e, short)
	e[11] = 0x20
	binary.LittleEndian.PutUint16(e[26:], uint16(first))
	binary.LittleEndian.PutUint32(e[28:], uint32(size))
	out.Write(e)
	return out.Bytes()
}

// NTFS is a small NTFS volume (512-byte clusters and sectors, 1 KiB
// records) holding files ("dir/sub/name" makes the directories): an MFT
// of 32 + len(files) + directories records ($MFT, $Volume with the label
// EDGESENSOR, the root directory, one record per file, then one per
// directory), files under 600 bytes resident in their record, the
// others in clusters after the MFT. Records carry update sequence
// fixups. It has what a reader of the MFT walks, not the rest of a
// volume Windows mounts (no $Bitmap, $LogFile, directory index).
func NTFS(files map[string][]byte) []byte {
	const cs, rs, mftLCN = 512, 1024, 16
	names := sortedNames(files)
	dirs := map[string]int{"": 5} // directory path -> record
	var dirNames []string
	for _, n := range names {
		for i := range len(n) {
			if d := n[:i]; n[i] == '/' && dirs[d] == 0 {
				dirs[d] = 32 + len(names) + len(dirNames)
				dirNames = append(dirNames, d)
			}
		}
	}
	nrec := 32 + len(names) + len(dirNames)
	dataLCN := mftLCN + nrec*rs/cs
	clusters := dataLCN
	for _, n := range names {
		if len(files[n]) >= 600 {
			clusters += (len(files[n]) + cs - 1) / cs
		}
	}
	v := make([]byte, (clusters+1)*cs)
	b := v[:512]
	copy(b, []byte{0xEB, 0x52, 0x90})
	copy(b[3:], "NTFS    ")
	binary.LittleEndian.PutUint16(b[11:], 512)
	b[13] = 1
	b[21] = 0xF8
	binary.LittleEndian.PutUint64(b[40:], uint64(len(v)/512-1))
	binary.LittleEndian.PutUint64(b[48:], mftLCN)
	binary.LittleEndian.PutUint64(b[56:], mftLCN)
	b[64] = 0xF6 // records of 2^10 bytes
	b[68] = 0xF4
	b[510], b[511] = 0x55, 0xAA
	attr := func(typ uint32, body []byte, nonres bool) []byte {
		var a []byte
		if nonres {
			a = make([]byte, 64)
			a[8] = 1
			binary.LittleEndian.PutUint16(a[32:], 64)
		} else {
			a = make([]byte, 24)
			binary.LittleEndian.PutUint32(a[16:], uint32(len(body)))
			binary.LittleEndian.PutUint16(a[20:], 24)
		}
		binary.LittleEndian.PutUint32(a, typ)
		a = append(a, body...)
		for len(a)%8 != 0 {
			a = append(a, 0)
		}
		binary.LittleEndian.PutUint32(a[4:], uint32(len(a)))
		return a
	}
	fileName := func(name string, parent uint64) []byte {
		n := utf16le(name)
		fn := make([]byte, 66, 66+len(n))
		binary.LittleEndian.PutUint64(fn, parent|1<<48)
		fn[64], fn[65] = byte(len(n)/2), 3 // Win32 and DOS
		return attr(0x30, append(fn, n...), false)
	}
	nonres := func(size int, lcn, count int) []byte {
		runs := []byte{0x32, byte(count), byte(count >> 8), byte(lcn), byte(lcn >> 8), byte(lcn >> 16), 0}
		a := attr(0x80, runs, true)
		binary.LittleEndian.PutUint64(a[24:], uint64(count-1))
		binary.LittleEndian.PutUint64(a[40:], uint64(count*cs))
		binary.LittleEndian.PutUint64(a[48:], uint64(size))
		binary.LittleEndian.PutUint64(a[56:], uint64(size))
		return a
	}
	record := func(n int, flags uint16, as ...[]byte) {
		r := v[mftLCN*cs+n*rs:][:rs]
		copy(r, "FILE")
		binary.LittleEndian.PutUint16(r[4:], 48)
		binary.LittleEndian.PutUint16(r[6:], 3)
		binary.LittleEndian.PutUint16(r[16:], 1)
		binary.LittleEndian.PutUint16(r[18:], 1)
		binary.LittleEndian.PutUint16(r[20:], 56)
		binary.LittleEndian.PutUint16(r[22:], flags)
		binary.LittleEndian.PutUint32(r[44:], uint32(n))
		p := 56
		for _, a := range as {
			p += copy(r[p:], a)
		}
		binary.LittleEndian.PutUint32(r[p:], 0xFFFFFFFF)
		binary.LittleEndian.PutUint32(r[24:], uint32(p+8))
		binary.LittleEndian.PutUint32(r[28:], rs)
		r[48], r[49] = 1, 0 // the update sequence number, then the bytes it replaces
		for i := 1; i < 3; i++ {
			end := i*512 - 2
			r[48+2*i], r[49+2*i] = r[end], r[end+1]
			r[end], r[end+1] = 1, 0
		}
	}
	record(0, 1, fileName("$MFT", 5), nonres(nrec*rs, mftLCN, nrec*rs/cs))
	record(3, 1, fileName("$Volume", 5), attr(0x60, utf16le("EDGESENSOR"), false))
	record(5, 3, fileName(".", 5))
	// split is a path's parent directory record and base name.
	split := func(n string) (uint64, string) {
		i := strings.LastIndexByte(n, '/')
		if i < 0 {
			return 5, n
		}
		return uint64(dirs[n[:i]]), n[i+1:]
	}
	for _, d := range dirNames {
		parent, base := split(d)
		record(dirs[d], 3, fileName(base, parent))
	}
	next := dataLCN
	for i, n := range names {
		body := files[n]
		parent, base := split(n)
		if len(body) < 600 {
			record(32+i, 1, fileName(base, parent), attr(0x80, body, false))
			continue
		}
		k := (len(body) + cs - 1) / cs
		copy(v[next*cs:], body)
		record(32+i, 1, fileName(base, parent), nonres(len(body), next, k))
		next += k
	}
	return v
}
