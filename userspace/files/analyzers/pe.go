package analyzers

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/files/formats"
	"github.com/edgesensor/edgesensor/userspace/files/formats/pefile"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// PE checks, on the model package pefile read (the headers, sections,
// imports and TLS pointer, each a claim checked before use), and the
// section bytes for entropy.

const (
	scnCode    = pefile.ScnCode
	scnExecute = pefile.ScnExecute
	scnWrite   = pefile.ScnWrite

	packedEntropy = 7.2     // bits per byte; compressed or encrypted code
	packedMinSize = 4 << 10 // entropy of a smaller section says little
	overlayBig    = 1 << 20
	maxEntropyRd  = 16 << 20 // bytes of one section read for entropy

	dirSecurity = pefile.DirSecurity
	dirTLS      = pefile.DirTLS
)

func (a *run) pe(d *formats.Doc, _ string, _ int) []score.Reason {
	f := d.PE
	if f == nil || !f.Headers {
		return nil
	}
	size, r := d.Size, d.R
	n := min(size, a.lim.MaxRead)
	var out []score.Reason
	add := func(rule string, w int, format string, args ...any) {
		out = append(out, score.Reason{Rule: rule, Weight: w, Text: fmt.Sprintf(format, args...)})
	}
	entry := f.EntryPoint

	// Section layout: the largest section, the end of raw data (overlay
	// start), UPX names, W+X, and whether the entry point is in code.
	largest := -1
	var rawEnd int64
	entryInCode := false
	upx := ""
	for i, s := range f.Sections {
		if largest < 0 || s.RawSize > f.Sections[largest].RawSize {
			largest = i
		}
		if end := int64(s.RawOffset) + int64(s.RawSize); s.RawSize > 0 && end > rawEnd {
			rawEnd = end
		}
		if strings.HasPrefix(s.Name, "UPX") || s.Name == ".UPX0" || s.Name == ".UPX1" {
			upx = s.Name
		}
		exec := s.Characteristics&(scnExecute|scnCode) != 0
		if s.Characteristics&scnExecute != 0 && s.Characteristics&scnWrite != 0 {
			add("pe.wx_section", 5, "section %q is both writable and executable", s.Name)
		}
		vsize := max(s.VirtualSize, s.RawSize)
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
	for i, s := range f.Sections {
		exec := s.Characteristics&(scnExecute|scnCode) != 0
		if s.RawSize < packedMinSize || !(exec || i == largest) {
			continue
		}
		if e := entropyAt(r, int64(s.RawOffset), min(int64(s.RawSize), maxEntropyRd, n-int64(s.RawOffset))); e > packedEntropy {
			add("pe.packed_section", 6, "section %q has entropy %.2f bits/byte: packed or encrypted", s.Name, e)
			break
		}
	}

	out = append(out, importReasons(f.Imports)...)
	if f.TLSCallbacks {
		add("pe.tls_callbacks", 3, "TLS callbacks run code before the entry point")
	}

	// The certificate table sits after the sections and is addressed by
	// file offset: it is not overlay.
	overlay := size - rawEnd
	sec := f.Dir(dirSecurity)
	signed := sec.Size > 0
	if signed && int64(sec.VirtualAddress) >= rawEnd {
		overlay -= int64(sec.Size)
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
	var lanes [4][256]uint32
	buf := make([]byte, 64<<10)
	total := int64(0)
	for total < n {
		k, err := r.ReadAt(buf[:min(int64(len(buf)), n-total)], off+total)
		count(&lanes, buf[:k])
		total += int64(k)
		if err != nil || k == 0 {
			break
		}
	}
	for c := range hist {
		hist[c] = int64(lanes[0][c]) + int64(lanes[1][c]) + int64(lanes[2][c]) + int64(lanes[3][c])
	}
	return entropy(hist[:], total)
}

// count adds b's bytes to four histograms, a byte to each in turn: with
// one, a run of equal bytes (zero padding, the common case in sections)
// waits on each increment's store before the next load, and counting
// took 6% of a replay's CPU; with four it is about 3x as fast
// (go test -bench Entropy ./userspace/files/analyzers). A lane's counts
// fit in 32 bits: b is at most a 64 KiB buffer and at most maxEntropyRd
// bytes are counted.
func count(l *[4][256]uint32, b []byte) {
	for len(b) >= 4 {
		l[0][b[0]]++
		l[1][b[1]]++
		l[2][b[2]]++
		l[3][b[3]]++
		b = b[4:]
	}
	for _, c := range b {
		l[0][c]++
	}
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

// importReasons looks for import sets that together mean one technique,
// among the functions imported by name.
func importReasons(imports []pefile.Import) []score.Reason {
	have := map[string]bool{}
	for _, im := range imports {
		for _, fn := range im.Funcs {
			if fn.Name == "" {
				continue
			}
			// Ignore the ANSI/wide suffix: both spellings do the same thing.
			n := strings.TrimSuffix(strings.TrimSuffix(fn.Name, "A"), "W")
			have[strings.ToLower(n)] = true
		}
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
