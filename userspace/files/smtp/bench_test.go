package smtp

import (
	"bytes"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

type nullSink struct{ n int64 }

func (s *nullSink) OpenMessage(*transfer.Meta) transfer.Message { return s }
func (s *nullSink) Write(p []byte)                              { s.n += int64(len(p)) }
func (s *nullSink) Gap(int64)                                   {}
func (s *nullSink) Close(transfer.Cut)                          {}

// BenchmarkDATA10MB passes a 10 MB DATA section (76-column lines, a few
// stuffed dots) in 1448-byte pieces, as TCP would bring it.
func BenchmarkDATA10MB(b *testing.B) {
	line := []byte("TVqQAAMAAAAEAAAA//8AAIsAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n")
	var msg bytes.Buffer
	msg.WriteString("Subject: big\r\n\r\n")
	stuffed := 0
	for i := 0; msg.Len() < 10<<20; i++ {
		if i%1000 == 0 {
			msg.WriteString("..stuffed\r\n")
			stuffed++
		}
		msg.Write(line)
	}
	body := msg.Bytes()
	head := []byte("EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n")
	replies := []byte(greet + "250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		sink := &nullSink{}
		p := New(sink, Options{}, nil)
		p.Data(false, replies)
		p.Data(true, head)
		for i := 0; i < len(body); i += 1448 {
			p.Data(true, body[i:min(i+1448, len(body))])
		}
		p.Data(true, []byte(".\r\n"))
		p.Close()
		if sink.n != int64(len(body)-stuffed) {
			b.Fatalf("%d bytes out of %d", sink.n, len(body))
		}
	}
}
