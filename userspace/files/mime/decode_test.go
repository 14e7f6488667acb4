package mime

import (
	"bytes"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"mime/quotedprintable"
	"strings"
	"testing"
)

// b64Pieces decodes src cut into pieces by split.
func b64Pieces(src []byte, split func(int) int) ([]byte, *b64Decoder) {
	var d b64Decoder
	var out []byte
	for len(src) > 0 {
		n := min(max(split(len(src)), 1), len(src))
		buf := make([]byte, n*3/4+3)
		k := d.decode(buf, src[:n])
		out = append(out, buf[:k]...)
		src = src[n:]
	}
	var tail [3]byte
	k, _ := d.finish(tail[:])
	return append(out, tail[:k]...), &d
}

// b64Reference decodes with the standard library: characters outside
// the alphabet removed, each run between '=' decoded on its own (a '='
// ends a quantum), a lone last character dropped.
func b64Reference(src []byte) []byte {
	var out []byte
	for _, seg := range bytes.Split(src, []byte("=")) {
		var clean []byte
		for _, c := range seg {
			if b64Table[c] < 64 {
				clean = append(clean, c)
			}
		}
		if len(clean)%4 == 1 {
			clean = clean[:len(clean)-1]
		}
		dec, err := base64.RawStdEncoding.DecodeString(string(clean))
		if err != nil {
			panic(err)
		}
		out = append(out, dec...)
	}
	return out
}

func TestBase64(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		data := make([]byte, r.IntN(300))
		for k := range data {
			data[k] = byte(r.Uint32())
		}
		enc := []byte(base64.StdEncoding.EncodeToString(data))
		// Line breaks and blanks anywhere, not counted.
		var noisy []byte
		for k, c := range enc {
			if k%19 == 0 {
				noisy = append(noisy, "\r\n \t"[r.IntN(4)])
			}
			noisy = append(noisy, c)
		}
		got, d := b64Pieces(noisy, random(uint64(i), 9))
		if !bytes.Equal(got, data) || d.malformed() {
			t.Fatalf("case %d: got %x want %x (invalid %d lost %v)", i, got, data, d.invalid, d.lost)
		}
	}
	// Invalid characters are skipped and counted; '=' in the middle
	// ends a quantum and decoding goes on.
	for _, tc := range []struct {
		in, out       string
		invalid, lost bool
	}{
		{"QUJD", "ABC", false, false},
		{"QU!J*D", "ABC", true, false},
		{"QQ==QUJD", "AABC", false, false},
		{"QUI=QUJD", "ABABC", false, false},
		{"QUJDR", "ABC", false, true},
		{"QUJDRA", "ABCD", false, false}, // unpadded end
		{"Q=UJD", "P\x90", false, true},
		{"-_.~", "", true, false},
	} {
		got, d := b64Pieces([]byte(tc.in), whole)
		if string(got) != tc.out || (d.invalid > 0) != tc.invalid || d.lost != tc.lost {
			t.Errorf("%q: %q invalid %d lost %v", tc.in, got, d.invalid, d.lost)
		}
	}
}

// qpPieces decodes src line by line (as the scanner hands it: content
// and line ends apart), each line's content cut into pieces.
func qpPieces(src string, split func(int) int) (string, *qpDecoder) {
	var d qpDecoder
	var out []byte
	lines := strings.SplitAfter(src, "\r\n")
	for i, line := range lines {
		content, hasEOL := strings.CutSuffix(line, "\r\n")
		for len(content) > 0 {
			n := min(max(split(len(content)), 1), len(content))
			out = d.text(out, []byte(content[:n]))
			content = content[n:]
		}
		if hasEOL && i < len(lines)-1 {
			out = d.eol(out, "\r\n")
		}
	}
	return string(d.finish(out)), &d
}

func TestQuotedPrintableDecoder(t *testing.T) {
	// Against the standard library on what its writer produces.
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 200 {
		data := make([]byte, r.IntN(400))
		for k := range data {
			switch r.IntN(4) {
			case 0:
				data[k] = byte(r.Uint32())
			case 1:
				data[k] = " \t\r\n="[r.IntN(5)]
			default:
				data[k] = byte('a' + r.IntN(26))
			}
		}
		var enc bytes.Buffer
		w := quotedprintable.NewWriter(&enc)
		w.Binary = i%2 == 0
		w.Write(data)
		w.Close()
		want, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(enc.Bytes())))
		if err != nil {
			t.Fatal(err)
		}
		// The encoded text's last line end would be the delimiter's.
		src, cut := strings.CutSuffix(enc.String(), "\r\n")
		if cut {
			want = bytes.TrimSuffix(want, []byte("\r\n"))
		}
		got, d := qpPieces(src, random(uint64(i), 5))
		if got != string(want) || d.bad {
			t.Fatalf("case %d: %q\ngot  %q\nwant %q", i, enc.String(), got, want)
		}
	}
	for _, tc := range []struct {
		in, out string
		bad     bool
	}{
		{"a=\r\nb", "ab", false},
		{"a= \t\r\nb", "ab", false},
		{"a  \r\nb\t", "a\r\nb", false},
		{"a =20\r\n", "a  \r\n", false},
		{"=3d=3D=e9", "==\xe9", false},
		{"=G1=4=", "=G1=4", true},
		{"= x", "= x", true},
		{"tail=", "tail", false},
	} {
		got, d := qpPieces(tc.in, bytewise)
		if got != tc.out || d.bad != tc.bad {
			t.Errorf("%q: %q bad %v, want %q", tc.in, got, d.bad, tc.out)
		}
	}
}
