package mime

import (
	"bytes"
	"iter"
)

// field is one header field of a block whose lines are joined by '\n'
// (line ends removed by the scanner).
type field struct {
	name []byte
	raw  []byte // the value, folded ('\n' before each continuation line)
}

// fields yields the fields of a header block in order. A field goes on
// over the lines that start with a blank (folding); lines without a
// colon, and continuation lines with no field to continue, are skipped.
func fields(buf []byte) iter.Seq[field] {
	return func(yield func(field) bool) {
		for i := 0; i < len(buf); {
			start, end := i, i
			for {
				j := bytes.IndexByte(buf[end:], '\n')
				if j < 0 {
					end, i = len(buf), len(buf)
					break
				}
				end += j
				if end+1 < len(buf) && (buf[end+1] == ' ' || buf[end+1] == '\t') {
					end++
					continue
				}
				i = end + 1
				break
			}
			line := buf[start:end]
			if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
				continue
			}
			colon := bytes.IndexByte(line, ':')
			if colon <= 0 {
				continue
			}
			name := bytes.TrimRight(line[:colon], " \t")
			if !yield(field{name: name, raw: line[colon+1:]}) {
				return
			}
		}
	}
}

// unfold returns the value unfolded (RFC 5322 2.2.3: the line breaks
// removed, the blanks kept) and trimmed, copying only when folded.
func (f field) unfold() []byte {
	if bytes.IndexByte(f.raw, '\n') < 0 {
		return bytes.TrimSpace(f.raw)
	}
	out := make([]byte, 0, len(f.raw))
	for _, c := range f.raw {
		if c != '\n' {
			out = append(out, c)
		}
	}
	return bytes.TrimSpace(out)
}

// unfoldInPlace unfolds the value over its own bytes.
func (f field) unfoldInPlace() []byte {
	w := 0
	for _, c := range f.raw {
		if c != '\n' {
			f.raw[w] = c
			w++
		}
	}
	return bytes.TrimSpace(f.raw[:w])
}
