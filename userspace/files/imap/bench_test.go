package imap

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

type nullSink struct{ n int64 }

func (s *nullSink) OpenMessage(*transfer.Meta) transfer.Message { return s }
func (s *nullSink) Write(p []byte)                              { s.n += int64(len(p)) }
func (s *nullSink) Gap(int64)                                   {}
func (s *nullSink) Close(transfer.Cut)                          {}

// BenchmarkLiteral10MB fetches a 10 MB message as one literal, in
// 1448-byte pieces as TCP would bring it.
func BenchmarkLiteral10MB(b *testing.B) {
	line := []byte("TVqQAAMAAAAEAAAA//8AAIsAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n")
	var msg bytes.Buffer
	msg.WriteString("Subject: big\r\n\r\n")
	for msg.Len() < 10<<20 {
		msg.Write(line)
	}
	body := msg.Bytes()
	head := []byte(greet + "a1 OK\r\n* 1 FETCH (UID 7 FLAGS (\\Seen) BODY[] {" + strconv.Itoa(len(body)) + "}\r\n")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		sink := &nullSink{}
		p := New(sink, Options{}, nil)
		p.Data(true, []byte("a1 SELECT INBOX\r\n"))
		p.Data(false, head)
		for i := 0; i < len(body); i += 1448 {
			p.Data(false, body[i:min(i+1448, len(body))])
		}
		p.Data(false, []byte(")\r\n"))
		p.Close()
		if sink.n != int64(len(body)) {
			b.Fatalf("%d bytes out of %d", sink.n, len(body))
		}
	}
}

// BenchmarkCompressFetch8MB fetches an 8 MB message over COMPRESS=DEFLATE:
// the inflater's cost beside BenchmarkLiteral10MB's plain one.
func BenchmarkCompressFetch8MB(b *testing.B) {
	// A base64 attachment: random 6-bit symbols, as compressible as one.
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	r := rand.New(rand.NewPCG(1, 2))
	var msg bytes.Buffer
	msg.WriteString("Subject: big\r\n\r\n")
	for msg.Len() < 8<<20 {
		for range 76 {
			msg.WriteByte(b64[r.IntN(64)])
		}
		msg.WriteString("\r\n")
	}
	evs := compressSession(b, "a3 FETCH 1 (BODY.PEEK[])\r\n", "* 1 FETCH (BODY[] "+litOf(msg.String())+")\r\na3 OK\r\n")
	b.SetBytes(int64(msg.Len()))
	b.ReportAllocs()
	for b.Loop() {
		p := New(&nullSink{}, Options{}, nil)
		feed(p, evs)
		p.Close()
	}
}
