package lnkfile

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
)

func TestParseBuiltShortcut(t *testing.T) {
	ps := `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`
	b := carriers.LNK(ps, "-w hidden -c calc", `%SystemRoot%\System32\shell32.dll`, true)
	f := parse(b)
	if f == nil {
		t.Fatal("not read")
	}
	if f.Target != ps || f.TargetIDList != ps || f.Arguments != "-w hidden -c calc" || f.ArgsLen != 17 ||
		f.IconLocation != `%SystemRoot%\System32\shell32.dll` || f.ShowCommand != 7 {
		t.Errorf("%+v", f)
	}
	if parse(b[:75]) != nil || parse(append([]byte{0x4d}, b[1:]...)) != nil {
		t.Error("a short or foreign header was read")
	}
}

// The link info and the environment block name targets too, and the
// ANSI form of strings reads as the Unicode one does.
func TestParseLinkInfoAndEnvBlock(t *testing.T) {
	var b bytes.Buffer
	h := make([]byte, 76)
	binary.LittleEndian.PutUint32(h, 0x4C)
	copy(h[4:], clsid)
	binary.LittleEndian.PutUint32(h[20:], HasLinkInfo|HasArguments)
	b.Write(h)
	// LinkInfo: header 0x1C, VolumeIDAndLocalBasePath, base path and suffix.
	li := make([]byte, 0x1C)
	base := "C:\\Windows\\System32\\cmd.exe\x00"
	binary.LittleEndian.PutUint32(li[4:], 0x1C)
	binary.LittleEndian.PutUint32(li[8:], 1)
	binary.LittleEndian.PutUint32(li[16:], 0x1C)
	binary.LittleEndian.PutUint32(li[24:], uint32(0x1C+len(base)))
	li = append(li, base...)
	li = append(li, 0)
	binary.LittleEndian.PutUint32(li, uint32(len(li)))
	b.Write(li)
	binary.Write(&b, binary.LittleEndian, uint16(7))
	b.WriteString("/c calc")
	blk := make([]byte, 0x314)
	binary.LittleEndian.PutUint32(blk, 0x314)
	binary.LittleEndian.PutUint32(blk[4:], 0xA0000001)
	copy(blk[8:], "%windir%\\system32\\mshta.exe")
	for i, c := range utf16.Encode([]rune(`%windir%\system32\mshta.exe`)) {
		binary.LittleEndian.PutUint16(blk[8+260+2*i:], c)
	}
	b.Write(blk)
	b.Write(make([]byte, 4))
	f := parse(b.Bytes())
	if f == nil || f.TargetLinkInfo != `C:\Windows\System32\cmd.exe` || f.Target != f.TargetLinkInfo ||
		f.TargetEnv != `%windir%\system32\mshta.exe` || f.Arguments != "/c calc" {
		t.Errorf("%+v", f)
	}
}

// FuzzParse: any input reads without a panic, the same twice, within
// its bounds.
func FuzzParse(f *testing.F) {
	f.Add(carriers.LNK(`C:\Windows\System32\cmd.exe`, "/c calc", `\\h\s\i.ico`, true))
	f.Add(carriers.LNK(`C:\a`, strings.Repeat(" ", 400), "", false))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := parse(b)
		if p == nil {
			return
		}
		if !reflect.DeepEqual(p, parse(b)) {
			t.Fatal("not deterministic")
		}
		for _, s := range []string{p.Target, p.Arguments, p.IconLocation, p.WorkingDir, p.Name, p.TargetIDList} {
			if len(s) > 512 {
				t.Fatalf("value of %d bytes", len(s))
			}
		}
		if len(p.ArgsRaw) > MaxArgs {
			t.Fatalf("raw arguments of %d bytes", len(p.ArgsRaw))
		}
	})
}
