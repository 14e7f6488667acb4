package intel

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
)

// hexLen is the line length of a hash kind, used to presize its table.
var hexLen = map[Kind]int64{SHA256: 64, SHA1: 40, MD5: 32}

// loadLines reads one value per line, with an optional threat level after
// it; "#" starts a comment at the start of a line or after whitespace (so
// a "#" inside a value, as in a URL fragment, is not one).
func (f *fileLoad) loadLines() error {
	fh, err := os.Open(f.src.Path)
	if err != nil {
		return err
	}
	defer fh.Close()
	if n, ok := hexLen[f.src.Kind]; ok {
		if fi, err := fh.Stat(); err == nil {
			f.b.grow(f.src.Kind, int(fi.Size()/(n+1)))
		}
	}
	return f.readLines(fh)
}

func (f *fileLoad) readLines(fh *os.File) error {
	sc := bufio.NewScanner(bufio.NewReaderSize(fh, 256<<10))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Bytes()
		if line == 1 {
			text = bytes.TrimPrefix(text, []byte("\xef\xbb\xbf")) // UTF-8 BOM from Windows editors
		}
		value, level, err := splitLine(text)
		if err != nil {
			f.bad(line, err)
			continue
		}
		if value == nil {
			continue
		}
		if err := f.add(f.src.Kind, value, level); err != nil {
			f.bad(line, fmt.Errorf("%s %q: %w", f.src.Kind, clip(value), err))
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", line+1, err)
	}
	return nil
}

// splitLine returns the value (nil for a blank or comment line) and the
// entry's level (-1 for none).
func splitLine(text []byte) ([]byte, int, error) {
	for i, c := range text {
		if c == '#' && (i == 0 || isSpace(text[i-1])) {
			text = text[:i]
			break
		}
	}
	// Split by hand: bytes.Fields would allocate once per line, a
	// million times for a large feed.
	text = bytes.TrimFunc(text, isSpaceRune)
	if len(text) == 0 {
		return nil, -1, nil
	}
	i := bytes.IndexFunc(text, isSpaceRune)
	if i < 0 {
		return text, -1, nil
	}
	value, rest := text[:i], bytes.TrimLeftFunc(text[i:], isSpaceRune)
	if bytes.IndexFunc(rest, isSpaceRune) >= 0 {
		return nil, -1, fmt.Errorf("%d fields, want a value and an optional threat level", len(bytes.Fields(text)))
	}
	n, err := parseLevel(rest)
	return value, n, err
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' }

// clip shortens a value quoted in an error message.
func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

func isSpaceRune(r rune) bool { return r < 0x80 && isSpace(byte(r)) }
