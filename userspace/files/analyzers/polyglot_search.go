package analyzers

import (
	"bytes"
	"encoding/binary"

	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

// The search for a payload after a picture's end or inside it: by the
// magics its tools find anywhere, each checked before the head there is
// typed.

// trailing types what follows the picture's end: at the end (after
// padding), else a payload that junk put further off and that its tools
// still find there: a PE or ELF (carved by a loader), a RAR (WinRAR
// looks for its signature as for a self-extractor's), a 7z or a zip's
// local header (7-Zip does the same).
func trailing(w *window, end int64) (int64, filetype.Type) {
	off := end
	for off < w.size && off-end < polyPad {
		b := w.at(off, 1)
		if b == nil || (b[0] != 0 && b[0] != ' ' && b[0] != '\r' && b[0] != '\n' && b[0] != '\t') {
			break
		}
		off++
	}
	if t := typeAt(w, off); t.Candidate() {
		return off, t
	}
	// All the rest: junk of any length before the payload is no cover
	// (about 1 ms a MiB; only what follows a picture's end).
	return search(w, end, w.size, len(polyMagics))
}

// search finds the first of polyMagics[:magics] from start to stop that
// Detect types as that payload. Each magic is checked further (a PE header
// where e_lfanew points, RAR's version bytes) on a second window before
// the head there is typed, so a run of decoy "MZ"s can neither use up
// the typings nor make the search quadratic: each magic's next place is
// found once per chunk, from where it was last found.
func search(w *window, start, stop int64, magics int) (int64, filetype.Type) {
	chk := &window{r: w.r, size: w.size}
	hits := 0
	for pos := start; pos < stop && hits < polyHits; {
		b := w.from(pos, stop)
		if int64(len(b)) < min(windowSize, stop-pos) {
			// The window holds the chunk's start only: read it whole.
			w.fill(pos)
			b = w.from(pos, stop)
		}
		if len(b) <= polyMagicMax {
			break // too short for a magic (or a short read)
		}
		var next [len(polyMagics)]int
		for i := range polyMagics {
			next[i] = -1
			if i < magics {
				next[i] = indexFrom(b, 0, polyMagics[i])
			}
		}
		for hits < polyHits {
			m, at := -1, len(b)
			for i, j := range next {
				if j >= 0 && j < at {
					m, at = i, j
				}
			}
			if m < 0 {
				break
			}
			p := pos + int64(at)
			next[m] = indexFrom(b, at+1, polyMagics[m])
			if !polyMagicOK(b, at, chk, p, m) {
				continue
			}
			hits++
			t := typeAt(chk, p)
			switch {
			case t.Kind == filetype.KindPE, t.Kind == filetype.KindELF, t.Kind == filetype.KindRAR, t.Kind == filetype.Kind7z,
				m == 4 && t.Candidate(): // a zip (or a docx, a jar) by its first local header
				return p, t
			}
		}
		if pos+int64(len(b)) >= stop {
			break
		}
		// A magic may straddle the chunk's end: the next chunk starts
		// before it.
		pos += int64(len(b)) - polyMagicMax
	}
	return 0, filetype.Type{}
}

// polyMagics: the payloads trailing searches for past junk. A zip's
// local header is last: a zip whose end record Go's reader refuses (or
// that is followed by more than 64 KiB) is still opened by 7-Zip from
// its local headers.
var polyMagics = [...]string{"MZ", "\x7fELF", "Rar!\x1a\x07", "7z\xbc\xaf\x27\x1c", "PK\x03\x04"}

// polyMagicMax: the longest magic's length less one.
const polyMagicMax = 5

func indexFrom(b []byte, from int, magic string) int {
	if from >= len(b) {
		return -1
	}
	i := bytes.Index(b[from:], []byte(magic))
	if i < 0 {
		return -1
	}
	return from + i
}

// polyMagicOK checks what follows magic m at p (b[i] in the chunk) as
// Detect would decide it (a PE signature within the head; RAR 4 or 5;
// an ELF class and byte order): from the chunk when it holds the bytes,
// else through w (a read: random data holds an "MZ" every 64 KiB).
func polyMagicOK(b []byte, i int, w *window, p int64, m int) bool {
	at := func(off int64, n int) []byte {
		if j := int64(i) + off; j+int64(n) <= int64(len(b)) {
			return b[j : j+int64(n)]
		}
		return w.at(p+off, n)
	}
	switch m {
	case 0:
		h := at(60, 4)
		if h == nil {
			return false
		}
		lfanew := int64(binary.LittleEndian.Uint32(h))
		if lfanew+4 > int64(filetype.HeadSize) {
			return false
		}
		sig := at(lfanew, 4)
		return sig != nil && string(sig) == "PE\x00\x00"
	case 1:
		h := at(4, 2)
		return h != nil && (h[0] == 1 || h[0] == 2) && (h[1] == 1 || h[1] == 2)
	case 2:
		h := at(6, 1)
		return h != nil && (h[0] == 0 || h[0] == 1)
	case 4:
		// Version needed (PKWARE APPNOTE 4.4.3: at most 6.3) and a
		// method of the few tools write (0 stored ... 99 AES).
		h := at(4, 6)
		if h == nil || h[1] != 0 || h[0] > 63 {
			return false
		}
		switch binary.LittleEndian.Uint16(h[4:]) {
		case 0, 8, 9, 12, 14, 93, 95, 98, 99:
			return true
		}
		return false
	}
	return at(0, 6) != nil
}

func typeAt(w *window, off int64) filetype.Type {
	n := int(min(int64(filetype.HeadSize), w.size-off))
	head := w.at(off, n)
	if head == nil {
		return filetype.Type{}
	}
	// Detect may keep nothing of head, but the window is reused: a copy.
	return filetype.Detect(append([]byte(nil), head...), "", "", w.size-off)
}
