package mime

import (
	"bytes"
	"mime/quotedprintable"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// nullFile takes everything and keeps nothing.
type nullFile struct{ n int }

func (f *nullFile) Write(p []byte) bool { f.n += len(p); return true }
func (f *nullFile) Gap(int64)           {}
func (f *nullFile) Close(transfer.Cut)  {}

type nullSink struct{ f nullFile }

func (s *nullSink) Open(*transfer.Meta) transfer.File { return &s.f }

// benchMessage runs msg through the extractor in 4 KiB writes and checks
// the decoded size.
func benchMessage(b *testing.B, msg []byte, want int) {
	s := &nullSink{}
	x := New(s, Options{}, nil)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		s.f.n = 0
		m := x.OpenMessage(&transfer.Meta{})
		for i := 0; i < len(msg); i += 4096 {
			m.Write(msg[i:min(i+4096, len(msg))])
		}
		m.Close(transfer.Whole)
		if s.f.n < want {
			b.Fatalf("decoded %d bytes, want %d", s.f.n, want)
		}
	}
}

// BenchmarkBase64: a 10 MB attachment, base64 in 76-character lines.
func BenchmarkBase64(b *testing.B) {
	data := payload(10 << 20)
	msg := crlf("From: a@example.org\nContent-Type: multipart/mixed; boundary=b\n\n--b\n" +
		"Content-Type: application/octet-stream; name=big.bin\nContent-Transfer-Encoding: base64\n\n")
	msg = append(msg, b64Lines(data)...)
	msg = append(msg, "--b--\r\n"...)
	benchMessage(b, msg, len(data))
}

// BenchmarkQuotedPrintable: 10 MB of Latin-1 text, quoted-printable.
func BenchmarkQuotedPrintable(b *testing.B) {
	line := []byte("Caf\xe9 cr\xe8me br\xfbl\xe9e = 3 \x80, and a long line of ordinary text that gets soft breaks.\r\n")
	text := bytes.Repeat(line, (10<<20)/len(line))
	var enc bytes.Buffer
	w := quotedprintable.NewWriter(&enc)
	w.Write(text)
	w.Close()
	msg := crlf("From: a@example.org\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n")
	msg = append(msg, enc.Bytes()...)
	benchMessage(b, msg, len(text))
}

// BenchmarkIdentity: a 10 MB 8bit text part.
func BenchmarkIdentity(b *testing.B) {
	text := bytes.Repeat([]byte("an 8bit line of text, seventy-odd characters long, as mail text is.\r\n"), (10<<20)/70)
	msg := crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\n")
	msg = append(msg, text...)
	msg = append(msg, "\r\n--b--\r\n"...)
	benchMessage(b, msg, len(text))
}
