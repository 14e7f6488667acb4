package filetype

import (
	"bytes"
	"encoding/binary"
)

// The carriers of today's malware, since Office macros from the internet
// are blocked: disk images that mount with a double click (ISO, UDF,
// VHD, VHDX), shortcuts (LNK, .url), installers and packages (MSI, deb,
// rpm, APPX/MSIX), Java, OneNote, CHM, and scripts (HTA, PowerShell,
// VBScript, JScript, WSF, batch, shell, Python). Each rule reads only
// the head and never indexes past it.

// DeepHeadSize is the head Detect reads when the first HeadSize bytes
// are the empty system area of a disk image: ISO 9660 and UDF put their
// volume descriptors at 32 KiB (sector 16 of 2048 bytes), UDF's
// recognition sequence over the sectors after it.
const DeepHeadSize = 0x8000 + 4*0x800

// WantsDeeper reports whether a full HeadSize head says nothing yet and
// may be a disk image: everything after the first sector is zero (an
// ISO's system area; a hybrid ISO's boot sector may fill the first), or
// a GPT header follows a boot sector (a hybrid ISO for USB sticks). The
// sink then waits for DeepHeadSize bytes before typing.
func WantsDeeper(head []byte) bool {
	if len(head) < HeadSize {
		return false
	}
	if string(head[512:520]) == "EFI PART" {
		return true
	}
	for _, c := range head[512:HeadSize] {
		if c != 0 {
			return false
		}
	}
	return true
}

// sniffImage finds ISO 9660 and UDF volume descriptors in a deep head.
func sniffImage(head []byte) kind {
	const vd = 0x8000
	if len(head) < vd+6 {
		return kNone
	}
	if string(head[vd+1:vd+6]) == "CD001" {
		return kISO
	}
	// UDF: BEA01, then NSR02 or NSR03, in consecutive sectors.
	if string(head[vd+1:vd+6]) != "BEA01" {
		return kNone
	}
	for off := vd + 0x800; off+6 <= len(head) && off < vd+4*0x800; off += 0x800 {
		switch string(head[off+1 : off+6]) {
		case "NSR02", "NSR03":
			return kUDF
		}
	}
	return kNone
}

var (
	lnkCLSID      = []byte{0x01, 0x14, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46}
	oneNoteGUID   = []byte{0xE4, 0x52, 0x5C, 0x7B, 0x8C, 0xD8, 0xA7, 0x4D, 0xAE, 0xB1, 0x53, 0x78, 0xD0, 0x29, 0x96, 0xD3}
	debHead       = []byte("!<arch>\ndebian-binary")
	internetShort = []byte("[internetshortcut]")
)

// sniffCarrier types the binary carriers by their magic, before the
// library (which calls a Java class a Mach-O and knows none of the rest).
func sniffCarrier(head []byte) kind {
	switch {
	case len(head) >= 76 && binary.LittleEndian.Uint32(head) == 0x4C && bytes.Equal(head[4:20], lnkCLSID):
		return kLNK
	case len(head) >= 16 && bytes.Equal(head[:16], oneNoteGUID):
		return kOneNote
	case len(head) >= 8 && string(head[:4]) == "ITSF" && binary.LittleEndian.Uint32(head[4:]) == 3:
		return kCHM
	case len(head) >= 8 && string(head[:8]) == "vhdxfile":
		return kVHDX
	case len(head) >= 8 && string(head[:8]) == "conectix":
		return kVHD // a dynamic VHD's copy of its footer
	case bytes.HasPrefix(head, debHead):
		return kDEB
	case len(head) >= 6 && head[0] == 0xED && head[1] == 0xAB && head[2] == 0xEE && head[3] == 0xDB && head[4] >= 3 && head[4] <= 4:
		return kRPM
	case len(head) >= 8 && binary.BigEndian.Uint32(head) == 0xCAFEBABE:
		// A fat Mach-O shares the magic and counts its architectures
		// next (a handful); a class file has its version there, minor
		// then major (45 for Java 1.1 up to the 70s).
		if major := binary.BigEndian.Uint16(head[6:]); major >= 45 && major <= 90 && binary.BigEndian.Uint32(head[4:]) > 32 {
			return kClass
		}
	}
	return kNone
}

// scriptExt are the script kinds a name gives text content.
var scriptExt = map[extKey]kind{
	key("ps1"): kPowerShell, key("psm1"): kPowerShell,
	key("vbs"): kVBScript, key("vbe"): kVBScript,
	key("js"): kJScript, key("jse"): kJScript,
	key("wsf"): kWSF, key("wsh"): kWSF,
	key("bat"): kBatch, key("cmd"): kBatch,
	key("sh"): kShell, key("bash"): kShell,
	key("py"): kPython, key("pyw"): kPython,
	key("hta"): kHTA,
}

// webScript: the types a web page's own scripts are served as. A .js
// served so is part of a page, not a download; served as anything else
// (octet-stream, an attachment, a mail part) it is a script to run.
func webScript(claimed string) bool {
	var buf [96]byte
	switch string(claimType(claimed, &buf)) {
	case "text/javascript", "application/javascript", "application/x-javascript",
		"application/ecmascript", "text/ecmascript":
		return true
	}
	return false
}

// sniffScript types text content as a script: by what it says first (an
// HTA's application tag, a shebang, a batch file's @echo off, a WSF
// job), else by its name. The reason says which.
func sniffScript(head []byte, ext extKey, hasExt bool, claimed string) (kind, string) {
	h := bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF})
	h = bytes.TrimLeft(h, " \t\r\n")
	if bytes.HasPrefix(h, []byte("#!")) {
		line := h[2:]
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i]
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] == '/' {
			return shebangKind(line), "content: shebang #!" + string(line[:min(len(line), 40)])
		}
	}
	first := head[:min(len(head), 1024)]
	switch {
	case indexFold(head, "<hta:application") >= 0:
		return kHTA, kinds[kHTA].reason
	case len(h) >= 9 && bytes.EqualFold(h[:9], []byte("@echo off")):
		return kBatch, "content: batch file (@echo off)"
	case indexFold(first, "<job") >= 0 && indexFold(first, "<script") >= 0:
		return kWSF, "content: Windows Script File (<job> with <script>)"
	case len(h) >= len(internetShort) && bytes.EqualFold(h[:len(internetShort)], internetShort) ||
		indexFold(first, "\n"+string(internetShort)) >= 0:
		return kURL, kinds[kURL].reason
	}
	if !hasExt {
		return kNone, ""
	}
	k, ok := scriptExt[ext]
	if !ok || k == kJScript && webScript(claimed) {
		return kNone, ""
	}
	return k, "name: ." + string(bytes.TrimRight(ext[:], "\x00")) + ", text content"
}

// indexFold finds pat (whose first byte is not a letter) in b, ignoring
// ASCII case, without allocating: every text head is looked at.
func indexFold(b []byte, pat string) int {
	for off := 0; off+len(pat) <= len(b); {
		i := bytes.IndexByte(b[off:len(b)-len(pat)+1], pat[0])
		if i < 0 {
			return -1
		}
		if bytes.EqualFold(b[off+i:off+i+len(pat)], []byte(pat)) {
			return off + i
		}
		off += i + 1
	}
	return -1
}

// shebangKind names the interpreter of a shebang line ("/usr/bin/env
// python3 -u" is Python).
func shebangKind(line []byte) kind {
	f := bytes.Fields(line)
	prog := f[0]
	if bytes.HasSuffix(prog, []byte("/env")) && len(f) > 1 {
		prog = f[1]
		if bytes.Equal(prog, []byte("-S")) && len(f) > 2 {
			prog = f[2]
		}
	}
	if i := bytes.LastIndexByte(prog, '/'); i >= 0 {
		prog = prog[i+1:]
	}
	switch {
	case bytes.HasPrefix(prog, []byte("python")):
		return kPython
	case bytes.HasPrefix(prog, []byte("pwsh")), bytes.HasPrefix(prog, []byte("powershell")):
		return kPowerShell
	}
	return kShell
}

// namedImages: a name makes a disk image of content that is not clearly
// another type (a fixed VHD and a DMG say what they are only at their
// end; an ISO whose head is not empty may hide its descriptors further).
var namedImages = map[extKey]bool{
	key("iso"): true, key("img"): true, key("udf"): true, key("vhd"): true, key("vhdx"): true, key("dmg"): true,
}

// appxExt: a zip so named is an APPX/MSIX package even when its manifest
// lies past the head.
var appxExt = map[extKey]bool{key("appx"): true, key("msix"): true}
