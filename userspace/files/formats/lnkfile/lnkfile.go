// Package lnkfile reads Windows shortcuts (Shell Link, [MS-SHLLINK])
// into a bounded model: what the shortcut runs (its target, from the
// link info, the ID list's file entries, the environment-variable block
// or the relative path), its command-line arguments, working directory
// and icon location. A shortcut from the internet whose target is a
// script interpreter and whose arguments are a script is how much of
// today's malware starts; the analyzers read this model for that.
//
// Everything is bounded: the shortcut is read up to MaxRead bytes,
// strings to text.MaxValue, ID list items to MaxItems, and Parse never
// panics on any input.
package lnkfile

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"unicode/utf16"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/text"
)

// Bounds on one untrusted shortcut.
const (
	MaxRead  = 1 << 20 // bytes of the file read
	MaxItems = 64      // ID list items followed
	// MaxArgs is how much of the arguments is kept: more than the
	// event's value bound, so that padding that pushes a command past
	// what Explorer shows (260 characters) is still measured.
	MaxArgs = 32 << 10
)

// Link flags ([MS-SHLLINK] 2.1.1).
const (
	HasLinkTargetIDList = 1 << 0
	HasLinkInfo         = 1 << 1
	HasName             = 1 << 2
	HasRelativePath     = 1 << 3
	HasWorkingDir       = 1 << 4
	HasArguments        = 1 << 5
	HasIconLocation     = 1 << 6
	IsUnicode           = 1 << 7
	ForceNoLinkInfo     = 1 << 8
	HasExpString        = 1 << 9
)

var clsid = []byte{0x01, 0x14, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46}

// File is what a shortcut says. Strings are cleaned (valid UTF-8, no
// control characters) and bounded; empty when absent.
type File struct {
	Flags uint32
	// Target is the best-known path of what the shortcut runs: the link
	// info's local path, else the environment-variable block's, else the
	// ID list's file entries, else the relative path.
	Target string
	// TargetLinkInfo, TargetEnv, TargetIDList and RelativePath are each
	// source of a target, for the analyzers to look at all of them (a
	// crafted shortcut may say one thing in one place and run another).
	TargetLinkInfo string
	TargetEnv      string
	TargetIDList   string
	RelativePath   string
	Name           string
	WorkingDir     string
	IconLocation   string
	// Arguments is cleaned and cut to text.MaxValue; ArgsLen is the
	// length of the arguments as stored (characters), ArgsRaw the first
	// MaxArgs bytes uncleaned but valid UTF-8, for the analyzers.
	Arguments string
	ArgsLen   int
	ArgsRaw   string
	// ShowCommand: 1 normal, 3 maximized, 7 minimized (a shortcut that
	// hides the window it opens).
	ShowCommand uint32
}

// Parse reads the shortcut in the size bytes of r; nil when it does not
// start with the Shell Link header.
func Parse(r io.ReaderAt, size int64) *File {
	n := min(size, MaxRead)
	if n < 76 {
		return nil
	}
	b := make([]byte, n)
	k, _ := r.ReadAt(b, 0)
	return parse(b[:k])
}

func parse(b []byte) *File {
	if len(b) < 76 || binary.LittleEndian.Uint32(b) != 0x4C || !bytes.Equal(b[4:20], clsid) {
		return nil
	}
	f := &File{Flags: binary.LittleEndian.Uint32(b[20:]), ShowCommand: binary.LittleEndian.Uint32(b[60:])}
	off := 76
	if f.Flags&HasLinkTargetIDList != 0 {
		if off+2 > len(b) {
			return f
		}
		n := int(binary.LittleEndian.Uint16(b[off:]))
		off += 2
		end := min(off+n, len(b))
		f.TargetIDList = idListPath(b[off:end])
		off += n
	}
	if f.Flags&HasLinkInfo != 0 && f.Flags&ForceNoLinkInfo == 0 {
		if off+4 > len(b) {
			return f.finish()
		}
		n := int(binary.LittleEndian.Uint32(b[off:]))
		if n < 4 || off+n > len(b) {
			return f.finish()
		}
		f.TargetLinkInfo = linkInfoPath(b[off : off+n])
		off += n
	}
	unicode := f.Flags&IsUnicode != 0
	for _, s := range []struct {
		flag uint32
		dst  *string
	}{
		{HasName, &f.Name}, {HasRelativePath, &f.RelativePath}, {HasWorkingDir, &f.WorkingDir},
		{HasArguments, nil}, {HasIconLocation, &f.IconLocation},
	} {
		if f.Flags&s.flag == 0 {
			continue
		}
		if off+2 > len(b) {
			return f.finish()
		}
		chars := int(binary.LittleEndian.Uint16(b[off:]))
		off += 2
		size := chars
		if unicode {
			size *= 2
		}
		raw := b[off:min(off+size, len(b))]
		off += size
		v := decode(raw, unicode, MaxArgs)
		if s.dst == nil {
			f.ArgsLen, f.ArgsRaw, f.Arguments = chars, v, text.Clean(v)
		} else {
			*s.dst = text.Clean(v)
		}
	}
	// Extra data: the environment-variable block names the target too.
	for i := 0; i < 32 && off+8 <= len(b); i++ {
		size := int(binary.LittleEndian.Uint32(b[off:]))
		if size < 8 || off+size > len(b) {
			break
		}
		if sig := binary.LittleEndian.Uint32(b[off+4:]); sig == 0xA0000001 && size >= 0x314 {
			blk := b[off+8 : off+size]
			if u := decode(blk[260:260+520], true, 520); u != "" {
				f.TargetEnv = text.Clean(u)
			} else {
				f.TargetEnv = text.Clean(cstring(blk[:260]))
			}
		}
		off += size
	}
	return f.finish()
}

func (f *File) finish() *File {
	for _, t := range []string{f.TargetLinkInfo, f.TargetEnv, f.TargetIDList, f.RelativePath} {
		if t != "" {
			f.Target = t
			break
		}
	}
	return f
}

// decode reads a StringData value: UTF-16LE or the ANSI code page (read
// as Latin-1), up to max bytes of output, valid UTF-8 and cut at a NUL.
func decode(raw []byte, unicode bool, max int) string {
	var s string
	if unicode {
		u := make([]uint16, 0, len(raw)/2)
		for i := 0; i+2 <= len(raw); i += 2 {
			c := binary.LittleEndian.Uint16(raw[i:])
			if c == 0 {
				break
			}
			u = append(u, c)
		}
		s = string(utf16.Decode(u))
	} else {
		s = latin1(cstring(raw))
	}
	if len(s) > max {
		s = s[:max]
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func latin1(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			r := make([]rune, len(s))
			for j := 0; j < len(s); j++ {
				r[j] = rune(s[j])
			}
			return string(r)
		}
	}
	return s
}

// linkInfoPath reads LinkInfo's local base path and common path suffix
// (or the network share's name and suffix).
func linkInfoPath(li []byte) string {
	if len(li) < 28 {
		return ""
	}
	hdr := int(binary.LittleEndian.Uint32(li[4:]))
	flags := binary.LittleEndian.Uint32(li[8:])
	at := func(o uint32) string {
		if o == 0 || int(o) >= len(li) {
			return ""
		}
		return cstring(li[o:])
	}
	atU := func(o uint32) string {
		if o == 0 || int(o) >= len(li) {
			return ""
		}
		return decode(li[o:], true, 1024)
	}
	var base, suffix string
	if hdr >= 0x24 && len(li) >= 0x24 {
		base = atU(binary.LittleEndian.Uint32(li[28:]))
		suffix = atU(binary.LittleEndian.Uint32(li[32:]))
	}
	if base == "" && flags&1 != 0 {
		base = latin1(at(binary.LittleEndian.Uint32(li[16:])))
	}
	if suffix == "" {
		suffix = latin1(at(binary.LittleEndian.Uint32(li[24:])))
	}
	if base == "" && flags&2 != 0 {
		// CommonNetworkRelativeLink: its net name at offset 8 in it.
		if o := binary.LittleEndian.Uint32(li[20:]); o != 0 && int(o)+12 <= len(li) {
			cn := li[o:]
			if no := binary.LittleEndian.Uint32(cn[8:]); int(no) < len(cn) {
				base = latin1(cstring(cn[no:]))
			}
		}
	}
	if base != "" && suffix != "" && !strings.HasSuffix(base, `\`) {
		base += `\`
	}
	return text.Clean(base + suffix)
}

// idListPath joins the names of the ID list's drive and file entries
// (shell items of the file-system classes).
func idListPath(l []byte) string {
	var parts []string
	for i, off := 0, 0; i < MaxItems && off+2 <= len(l); i++ {
		n := int(binary.LittleEndian.Uint16(l[off:]))
		if n < 3 || off+n > len(l) {
			break
		}
		item := l[off : off+n]
		off += n
		switch typ := item[2]; {
		case typ&0x70 == 0x20 && len(item) > 4: // volume: "C:\"
			if v := cstring(item[3:]); len(v) >= 2 && v[1] == ':' {
				parts = append(parts, strings.TrimSuffix(v, `\`))
			}
		case typ&0x70 == 0x30 && len(item) > 14: // file entry: short (ANSI) name at 14
			if name := cstring(item[14:]); name != "" {
				parts = append(parts, latin1(name))
			}
		}
	}
	return text.Clean(strings.Join(parts, `\`))
}
