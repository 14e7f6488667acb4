package static

import (
	"debug/pe"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/score"
)

// PE checks. debug/pe parses the headers; everything taken from them
// (sizes, offsets, RVAs) is treated as a claim and checked against the
// bounded reader before use.

const (
	scnCode    = 0x00000020
	scnExecute = 0x20000000
	scnWrite   = 0x80000000

	packedEntropy = 7.2     // bits per byte; compressed or encrypted code
	packedMinSize = 4 << 10 // entropy of a smaller section says little
	overlayBig    = 1 << 20
	maxEntropyRd  = 16 << 20 // bytes of one section read for entropy

	dirSecurity = 4
	dirTLS      = 9
)

func (a *run) pe(r io.ReaderAt, size int64, _ string, _ int) []score.Reason {
	n := min(size, a.lim.MaxRead)
	f, err := pe.NewFile(io.NewSectionReader(r, 0, n))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []score.Reason
	add := func(rule string, w int, format string, args ...any) {
		out = append(out, score.Reason{Rule: rule, Weight: w, Text: fmt.Sprintf(format, args...)})
	}

	var entry uint32
	var dirs []pe.DataDirectory
	is64 := false
	switch oh := f.OptionalHeader.(type) {
	case *pe.OptionalHeader32:
		entry, dirs = oh.AddressOfEntryPoint, oh.DataDirectory[:min(int(oh.NumberOfRvaAndSizes), 16)]
	case *pe.OptionalHeader64:
		entry, dirs, is64 = oh.AddressOfEntryPoint, oh.DataDirectory[:min(int(oh.NumberOfRvaAndSizes), 16)], true
	}

	// Section layout: the largest section, the end of raw data (overlay
	// start), UPX names, W+X, and whether the entry point is in code.
	var largest *pe.Section
	var rawEnd int64
	entryInCode := false
	upx := ""
	for _, s := range f.Sections {
		if largest == nil || s.Size > largest.Size {
			largest = s
		}
		if end := int64(s.Offset) + int64(s.Size); s.Size > 0 && end > rawEnd {
			rawEnd = end
		}
		if strings.HasPrefix(s.Name, "UPX") || s.Name == ".UPX0" || s.Name == ".UPX1" {
			upx = s.Name
		}
		exec := s.Characteristics&(scnExecute|scnCode) != 0
		if s.Characteristics&scnExecute != 0 && s.Characteristics&scnWrite != 0 {
			add("pe.wx_section", 5, "section %q is both writable and executable", s.Name)
		}
		vsize := max(s.VirtualSize, s.Size)
		if exec && entry >= s.VirtualAddress && uint64(entry) < uint64(s.VirtualAddress)+uint64(vsize) {
			entryInCode = true
		}
	}
	if upx != "" {
		add("pe.packed_upx", 6, "UPX packer section %q", upx)
	}
	if entry != 0 && !entryInCode {
		add("pe.entry_outside_code", 6, "entry point 0x%x is outside every executable section", entry)
	}
	for _, s := range f.Sections {
		exec := s.Characteristics&(scnExecute|scnCode) != 0
		if s.Size < packedMinSize || !(exec || s == largest) {
			continue
		}
		if e := entropyAt(r, int64(s.Offset), min(int64(s.Size), maxEntropyRd, n-int64(s.Offset))); e > packedEntropy {
			add("pe.packed_section", 6, "section %q has entropy %.2f bits/byte: packed or encrypted", s.Name, e)
			break
		}
	}

	if syms, err := f.ImportedSymbols(); err == nil {
		out = append(out, importReasons(syms)...)
	}
	if tlsCallbacks(f, r, n, dirs, is64) {
		add("pe.tls_callbacks", 3, "TLS callbacks run code before the entry point")
	}

	// The certificate table sits after the sections and is addressed by
	// file offset: it is not overlay.
	overlay := size - rawEnd
	signed := len(dirs) > dirSecurity && dirs[dirSecurity].Size > 0
	if signed && int64(dirs[dirSecurity].VirtualAddress) >= rawEnd {
		overlay -= int64(dirs[dirSecurity].Size)
	}
	if rawEnd > 0 && overlay > 0 && (overlay > overlayBig || overlay > size/2) {
		add("pe.overlay", 3, "%d bytes appended after the last section", overlay)
	}
	if signed {
		// A mitigating fact only: nothing here checks the signature.
		add("pe.signed", 0, "Authenticode signature present (not verified)")
	}
	return out
}

// entropyAt is the Shannon entropy (bits per byte) of n bytes at off.
func entropyAt(r io.ReaderAt, off, n int64) float64 {
	if n <= 0 || off < 0 {
		return 0
	}
	var hist [256]int64
	buf := make([]byte, 64<<10)
	total := int64(0)
	for total < n {
		k, err := r.ReadAt(buf[:min(int64(len(buf)), n-total)], off+total)
		for _, c := range buf[:k] {
			hist[c]++
		}
		total += int64(k)
		if err != nil || k == 0 {
			break
		}
	}
	return entropy(hist[:], total)
}

func entropy(hist []int64, total int64) float64 {
	if total == 0 {
		return 0
	}
	h := 0.0
	for _, c := range hist {
		if c > 0 {
			p := float64(c) / float64(total)
			h -= p * math.Log2(p)
		}
	}
	return h
}

// tlsCallbacks reports whether the TLS directory names a callback array
// (AddressOfCallBacks non-zero): code that runs before the entry point,
// a classic anti-debug and unpacking trick.
func tlsCallbacks(f *pe.File, r io.ReaderAt, n int64, dirs []pe.DataDirectory, is64 bool) bool {
	if len(dirs) <= dirTLS || dirs[dirTLS].VirtualAddress == 0 {
		return false
	}
	rva := dirs[dirTLS].VirtualAddress
	off, width := int64(12), 4 // IMAGE_TLS_DIRECTORY32.AddressOfCallBacks
	if is64 {
		off, width = 24, 8
	}
	for _, s := range f.Sections {
		if rva < s.VirtualAddress || rva-s.VirtualAddress >= s.Size {
			continue
		}
		pos := int64(s.Offset) + int64(rva-s.VirtualAddress) + off
		if pos < 0 || pos+int64(width) > n {
			return false
		}
		b := make([]byte, width)
		if _, err := r.ReadAt(b, pos); err != nil {
			return false
		}
		if width == 8 {
			return binary.LittleEndian.Uint64(b) != 0
		}
		return binary.LittleEndian.Uint32(b) != 0
	}
	return false
}

// importReasons looks for import sets that together mean one technique.
// syms are debug/pe's "Function:dll" strings.
func importReasons(syms []string) []score.Reason {
	have := map[string]bool{}
	for _, s := range syms {
		fn, _, _ := strings.Cut(s, ":")
		// Ignore the ANSI/wide suffix: both spellings do the same thing.
		fn = strings.TrimSuffix(strings.TrimSuffix(fn, "A"), "W")
		have[strings.ToLower(fn)] = true
	}
	all := func(names ...string) bool {
		for _, n := range names {
			if !have[strings.ToLower(n)] {
				return false
			}
		}
		return true
	}
	anyOf := func(names ...string) string {
		for _, n := range names {
			if have[strings.ToLower(n)] {
				return n
			}
		}
		return ""
	}
	var out []score.Reason
	switch {
	case all("VirtualAllocEx", "WriteProcessMemory", "CreateRemoteThread"):
		out = append(out, score.Reason{Rule: "pe.imports_injection", Weight: 7,
			Text: "imports VirtualAllocEx, WriteProcessMemory and CreateRemoteThread: process injection"})
	case anyOf("NtUnmapViewOfSection", "ZwUnmapViewOfSection") != "" && all("SetThreadContext", "ResumeThread"):
		out = append(out, score.Reason{Rule: "pe.imports_injection", Weight: 7,
			Text: "imports NtUnmapViewOfSection, SetThreadContext and ResumeThread: process hollowing"})
	}
	if have["setwindowshookex"] && anyOf("GetAsyncKeyState", "GetKeyState") != "" {
		out = append(out, score.Reason{Rule: "pe.imports_keylogger", Weight: 6,
			Text: "imports SetWindowsHookEx with key state polling: keylogging"})
	}
	if n := anyOf("IsDebuggerPresent", "CheckRemoteDebuggerPresent", "NtQueryInformationProcess"); n != "" {
		out = append(out, score.Reason{Rule: "pe.imports_antidebug", Weight: 3,
			Text: "imports " + n + ": debugger detection"})
	}
	return out
}
