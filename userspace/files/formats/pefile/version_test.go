package pefile

import (
	"encoding/binary"
	"testing"
)

// Two string tables: the first one's values win, the second fills gaps.
func TestVersionInfoTables(t *testing.T) {
	table := func(lang string, kv ...string) []byte {
		var kids []byte
		for i := 0; i < len(kv); i += 2 {
			kids = append(kids, verBlock16(kv[i], utf16z(kv[i+1]), 1, len(kv[i+1])+1, nil)...)
		}
		return verBlock16(lang, nil, 1, 0, kids)
	}
	sfi := verBlock16("StringFileInfo", nil, 1, 0, append(
		table("040904b0", "CompanyName", "First Corp", "ProductName", ""),
		table("040704b0", "CompanyName", "Second GmbH", "ProductName", "Zweites Produkt")...))
	fixed := make([]byte, 52)
	binary.LittleEndian.PutUint32(fixed, 0xFEEF04BD)
	binary.LittleEndian.PutUint32(fixed[8:], 5<<16|6)
	binary.LittleEndian.PutUint32(fixed[12:], 7<<16|8)
	root := verBlock16("VS_VERSION_INFO", fixed, 0, len(fixed), sfi)
	var m Version
	if !parseVersionInfo(root, &m) {
		t.Fatal("not parsed")
	}
	if m.Company != "First Corp" || m.Product != "Zweites Produkt" || m.FileVersion != "5.6.7.8" {
		t.Errorf("%+v", m)
	}
}

func utf16z(s string) []byte {
	var b []byte
	for _, r := range s + "\x00" {
		b = binary.LittleEndian.AppendUint16(b, uint16(r))
	}
	return b
}

// verBlock16 lays out a version block as the resource compiler does.
func verBlock16(key string, value []byte, typ uint16, vlen int, children []byte) []byte {
	b := make([]byte, 6)
	b = append(b, utf16z(key)...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	b = append(b, value...)
	for len(b)%4 != 0 && len(children) > 0 {
		b = append(b, 0)
	}
	b = append(b, children...)
	binary.LittleEndian.PutUint16(b, uint16(len(b)))
	binary.LittleEndian.PutUint16(b[2:], uint16(vlen))
	binary.LittleEndian.PutUint16(b[4:], typ)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
