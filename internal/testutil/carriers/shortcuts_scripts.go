// Carriers that start a program themselves: Windows shortcuts, HTML
// applications and PowerShell scripts.

package carriers

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unicode/utf16"
)

// LNK is a Windows shortcut whose target is the ID list path target
// (e.g. `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`),
// run with args, showing icon, minimised when hidden.
func LNK(target, args, icon string, hidden bool) []byte {
	var b bytes.Buffer
	flags := uint32(0x01 | 0x80) // HasLinkTargetIDList | IsUnicode
	if args != "" {
		flags |= 0x20
	}
	if icon != "" {
		flags |= 0x40
	}
	h := make([]byte, 76)
	binary.LittleEndian.PutUint32(h, 0x4C)
	copy(h[4:], []byte{0x01, 0x14, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46})
	binary.LittleEndian.PutUint32(h[20:], flags)
	binary.LittleEndian.PutUint32(h[24:], 0x20) // FILE_ATTRIBUTE_ARCHIVE
	show := uint32(1)
	if hidden {
		show = 7
	}
	binary.LittleEndian.PutUint32(h[60:], show)
	b.Write(h)
	// ID list: a volume item, then one file entry per path element.
	var ids bytes.Buffer
	parts := strings.Split(target, `\`)
	if len(parts) > 0 && len(parts[0]) == 2 && parts[0][1] == ':' {
		item := []byte{0, 0, 0x2F}
		item = append(item, parts[0]+`\`...)
		item = append(item, make([]byte, 20-len(item))...)
		binary.LittleEndian.PutUint16(item, uint16(len(item)))
		ids.Write(item)
		parts = parts[1:]
	}
	for i, p := range parts {
		typ := byte(0x31) // directory
		if i == len(parts)-1 {
			typ = 0x32 // file
		}
		item := make([]byte, 14)
		item[2] = typ
		item = append(item, p...)
		item = append(item, 0)
		if len(item)%2 == 1 {
			item = append(item, 0)
		}
		binary.LittleEndian.PutUint16(item, uint16(len(item)))
		ids.Write(item)
	}
	ids.Write([]byte{0, 0}) // terminal ID
	binary.Write(&b, binary.LittleEndian, uint16(ids.Len()))
	b.Write(ids.Bytes())
	str := func(s string) {
		u := utf16.Encode([]rune(s))
		binary.Write(&b, binary.LittleEndian, uint16(len(u)))
		binary.Write(&b, binary.LittleEndian, u)
	}
	if args != "" {
		str(args)
	}
	if icon != "" {
		str(icon)
	}
	b.Write([]byte{0, 0, 0, 0}) // terminal block
	return b.Bytes()
}

// HTA is an HTML application that shows a message.
func HTA() []byte {
	return []byte(`<html><head><title>Invoice</title>
<HTA:APPLICATION ID="inv" APPLICATIONNAME="Invoice" WINDOWSTATE="minimize"/>
<script language="VBScript">
Sub Window_OnLoad
  MsgBox "edgesensor test sample"
  window.close
End Sub
</script></head><body></body></html>
`)
}

// PowerShellCradle is a script in the shape of a download cradle that
// fetches from a documentation address and runs nothing of its own.
func PowerShellCradle() []byte {
	return []byte("$u = 'http://example.test/a.txt'\r\n" +
		"$s = (New-Object Net.WebClient).DownloadString($u)\r\n" +
		"IEX ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('V3JpdGUtSG9zdCBoaQ==')))\r\n")
}
