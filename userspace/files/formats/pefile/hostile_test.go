package pefile

import (
	"encoding/binary"
	"testing"
)

// versionFlood: the resource tree names RT_VERSION 4096 times, each
// with 8 names of 8 languages, all at one broken 64 KiB data entry.
func versionFlood(t testing.TB) []byte {
	good := fixture(t, "hello-x64.exe")
	le := binary.LittleEndian
	f := parse(good)
	last := f.Sections[len(f.Sections)-1]
	lfanew := int(le.Uint32(good[60:]))
	optSize := int(le.Uint16(good[lfanew+20:]))
	shdr := lfanew + 24 + optSize + 40*(len(f.Sections)-1)
	b := append([]byte(nil), good[:last.RawOffset+last.RawSize]...)
	rootRVA := last.VirtualAddress + last.RawSize
	var tree []byte
	const types = 4096
	nameDir := 16 + 8*types
	langDir := nameDir + 16 + 8*8
	data := langDir + 16 + 8*8
	hdr := func(ids int) []byte { h := make([]byte, 16); le.PutUint16(h[14:], uint16(ids)); return h }
	tree = append(tree, hdr(types)...)
	for range types {
		tree = le.AppendUint32(tree, 16)
		tree = le.AppendUint32(tree, 0x80000000|uint32(nameDir))
	}
	tree = append(tree, hdr(8)...)
	for i := range 8 {
		tree = le.AppendUint32(tree, uint32(i+1))
		tree = le.AppendUint32(tree, 0x80000000|uint32(langDir))
	}
	tree = append(tree, hdr(8)...)
	for i := range 8 {
		tree = le.AppendUint32(tree, uint32(i))
		tree = le.AppendUint32(tree, uint32(data))
	}
	tree = le.AppendUint32(tree, last.VirtualAddress) // data entry: RVA, size
	tree = le.AppendUint32(tree, 0xffff)
	tree = append(tree, make([]byte, 8)...)
	for len(tree)%512 != 0 {
		tree = append(tree, 0)
	}
	b = append(b, tree...)
	le.PutUint32(b[shdr+8:], last.RawSize+uint32(len(tree)))  // VirtualSize
	le.PutUint32(b[shdr+16:], last.RawSize+uint32(len(tree))) // SizeOfRawData
	le.PutUint32(b[lfanew+24+112+8*DirResource:], rootRVA)
	le.PutUint32(b[lfanew+24+112+8*DirResource+4:], uint32(len(tree)))
	return b
}
