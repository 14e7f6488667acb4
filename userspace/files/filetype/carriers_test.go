package filetype

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
)

func zipNamed(t *testing.T, names ...string) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, n := range names {
		f, err := w.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("<x/>"))
	}
	w.Close()
	return buf.Bytes()
}

// Every carrier of today's malware is typed by its content, into its
// category, with the name and claim rules of the others.
func TestDetectCarriers(t *testing.T) {
	pe := []byte("MZ\x90\x00")
	rpm := append([]byte{0xED, 0xAB, 0xEE, 0xDB, 3, 0, 0, 1}, make([]byte, 200)...)
	class := append([]byte{0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 65}, make([]byte, 64)...)
	fat := append([]byte{0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 2}, make([]byte, 64)...)
	fixedVHD := make([]byte, 64<<10) // zeros; the footer is at the end
	binary.BigEndian.PutUint32(fixedVHD[len(fixedVHD)-512:], 1)
	cases := []struct {
		name, file, claimed string
		body                []byte
		cat                 Category
		kind                string
		mismatch            bool
	}{
		{"ISO", "invoice.iso", "", carriers.ISO(map[string][]byte{"invoice.exe": pe}), DiskImage, KindISO, false},
		{"ISO any name", "download.php", "application/octet-stream", carriers.ISO(map[string][]byte{"a.exe": pe}), DiskImage, KindISO, false},
		{"ISO named jpg", "photo.jpg", "", carriers.ISO(map[string][]byte{"a.exe": pe}), DiskImage, KindISO, true},
		{"VHDX", "disk.vhdx", "", carriers.VHDX(), DiskImage, KindVHDX, false},
		{"fixed VHD by name", "disk.vhd", "", fixedVHD, DiskImage, KindNamedImage, false},
		{"zeros not named", "data.dat", "", fixedVHD, None, "", false},
		{"LNK", "invoice.pdf.lnk", "", carriers.LNK(`C:\Windows\System32\cmd.exe`, "/c calc", "", false), Shortcut, KindLNK, false},
		{"LNK named pdf", "invoice.pdf", "", carriers.LNK(`C:\Windows\System32\cmd.exe`, "/c calc", "", false), Shortcut, KindLNK, true},
		{"URL file", "site.url", "", []byte("[InternetShortcut]\r\nURL=file://198.51.100.7/share/a.exe\r\n"), Shortcut, KindURL, false},
		{"OneNote", "notes.one", "", carriers.OneNote(pe), Document, KindOneNote, false},
		{"CHM", "help.chm", "", carriers.CHM(), Document, KindCHM, false},
		{"HTA", "invoice.hta", "", carriers.HTA(), Script, KindHTA, false},
		{"HTA served as html", "page", "text/html", carriers.HTA(), Script, KindHTA, false},
		{"PowerShell by name", "update.ps1", "", carriers.PowerShellCradle(), Script, KindPowerShell, false},
		{"PowerShell named txt", "update.txt", "", carriers.PowerShellCradle(), None, "", false},
		{"VBScript", "a.vbs", "", []byte("MsgBox \"hi\"\r\n"), Script, KindVBScript, false},
		{"JScript attachment", "invoice.js", "application/octet-stream", []byte("var a = 1;\n"), Script, KindJScript, false},
		{"JScript of a web page", "app.js", "application/javascript; charset=utf-8", []byte("var a = 1;\n"), None, "", false},
		{"WSF", "run.wsf", "", []byte("<job id=\"a\"><script language=\"JScript\">WScript.Echo(1)</script></job>"), Script, KindWSF, false},
		{"batch", "run.txt", "", []byte("@echo off\r\necho hi\r\n"), Script, KindBatch, false},
		{"batch by name", "run.cmd", "", []byte("echo hi\r\n"), Script, KindBatch, false},
		{"shebang python", "tool", "", []byte("#!/usr/bin/env python3\nprint(1)\n"), Script, KindPython, false},
		{"shebang shell", "install", "", []byte("#!/bin/sh\necho hi\n"), Script, KindShell, false},
		{"shebang pwsh", "x", "", []byte("#!/usr/bin/pwsh\nWrite-Host hi\n"), Script, KindPowerShell, false},
		{"not a shebang", "notes.txt", "", []byte("#! not a path\n"), None, "", false},
		{"deb", "pkg.deb", "", []byte("!<arch>\ndebian-binary   1700000000  0     0     100644  4         `\n2.0\n"), Package, KindDEB, false},
		{"rpm", "pkg.rpm", "", rpm, Package, KindRPM, false},
		{"MSIX by manifest", "app.zip", "", zipNamed(t, "AppxManifest.xml", "AppxBlockMap.xml"), Package, KindAPPX, false},
		{"MSIX by name", "app.msix", "", zipNamed(t, "payload/a.dll"), Package, KindAPPX, false},
		{"class", "A.class", "", class, Java, KindClass, false},
		{"fat Mach-O is not a class", "tool", "", fat, Executable, KindMachO, false},
	}
	for _, c := range cases {
		got := Detect(c.body, c.file, c.claimed, int64(len(c.body)))
		if got.Category != c.cat || got.Kind != c.kind || got.Mismatch != c.mismatch {
			t.Errorf("%s: got %s/%q mismatch %v (%q), want %s/%q mismatch %v", c.name, got.Category, got.Kind,
				got.Mismatch, got.Reason, c.cat, c.kind, c.mismatch)
		}
		if got.Category != None && (got.Reason == "" || got.MIME == "") {
			t.Errorf("%s: no reason or MIME: %+v", c.name, got)
		}
	}
}

// WantsDeeper asks for the deep head only where a disk image may hide.
func TestWantsDeeper(t *testing.T) {
	iso := carriers.ISO(map[string][]byte{"a.txt": []byte("x")})
	gpt := make([]byte, HeadSize)
	copy(gpt[512:], "EFI PART")
	text := bytes.Repeat([]byte("a"), HeadSize)
	for _, c := range []struct {
		name string
		head []byte
		want bool
	}{
		{"iso", iso[:HeadSize], true}, {"hybrid gpt", gpt, true}, {"text", text, false},
		{"short", iso[:HeadSize-1], false},
	} {
		if got := WantsDeeper(c.head); got != c.want {
			t.Errorf("%s: %v", c.name, got)
		}
	}
}
