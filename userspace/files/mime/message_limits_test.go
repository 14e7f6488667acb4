package mime

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

func TestDepthLimit(t *testing.T) {
	for _, tc := range []struct {
		depth, max int
		files      int
	}{{8, 8, 1}, {9, 8, 0}, {20, 8, 0}, {20, 20, 1}, {3, 2, 0}} {
		s, st := run(t, nest(tc.depth), Options{MaxDepth: tc.max}, random(1, 30), transfer.Whole)
		if len(s.files) != tc.files || tc.files == 1 && string(s.files[0].data) != "deep" {
			t.Errorf("depth %d max %d: files %s", tc.depth, tc.max, s.dump())
		}
		if hit := uint64(1 - tc.files); st.DepthLimit != hit {
			t.Errorf("depth %d max %d: DepthLimit %d", tc.depth, tc.max, st.DepthLimit)
		}
	}
}

func TestRefused(t *testing.T) {
	big := payload(100000)
	msg := crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n" +
		"Content-Type: video/mp4; name=v.mp4\nContent-Transfer-Encoding: base64\n\n" + b64Lines(big) +
		"--b\nContent-Type: application/x-msdownload; name=x.exe\nContent-Transfer-Encoding: base64\n\n" + b64Lines(big[:5000]) +
		"--b\nContent-Type: text/plain\n\n" + strings.Repeat("text line\n", 5000) +
		"--b--\n")
	s := &testSink{t: t, limit: func(m *transfer.Meta) int {
		if m.ContentType == "application/x-msdownload" {
			return -1
		}
		return 10 // after the first Write
	}}
	var st Stats
	x := New(s, Options{}, &st)
	m := x.OpenMessage(&transfer.Meta{})
	for i := 0; i < len(msg); i += 4096 {
		m.Write(msg[i:min(i+4096, len(msg))])
	}
	m.Close(transfer.Whole)
	s.checkClosed()
	if len(s.files) != 3 {
		t.Fatalf("files %s", s.names())
	}
	for _, i := range []int{0, 2} {
		if f := s.files[i]; f.writes != 1 || !f.refused || len(f.data) >= outSize+1 {
			t.Errorf("file %d: %d writes, %d bytes after refusing", i, f.writes, len(f.data))
		}
	}
	if f := s.files[1]; !bytes.Equal(f.data, big[:5000]) || f.cut != transfer.Whole {
		t.Errorf("x.exe: %d bytes cut %q", len(f.data), f.cut)
	}
	if st.Declined != 2 {
		t.Errorf("Declined %d", st.Declined)
	}
}

// gapMsg: a base64 part, then an identity part, then a base64 part.
func gapMsg() (msg []byte, a, c []byte) {
	a, c = payload(6000), payload(700)
	msg = crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n" +
		"Content-Type: application/octet-stream; name=a.bin\nContent-Transfer-Encoding: base64\n\n" + b64Lines(a) +
		"--b\nContent-Type: text/plain; name=b.txt\n\n" + strings.Repeat("0123456789\n", 100) +
		"--b\nContent-Type: application/octet-stream; name=c.bin\nContent-Transfer-Encoding: base64\n\n" + b64Lines(c) +
		"--b--\n")
	return msg, a, c
}

func TestGap(t *testing.T) {
	msg, a, c := gapMsg()
	// after finds the end of the first s in msg.
	after := func(s string) int { return bytes.Index(msg, []byte(s)) + len(s) }
	gapAt := func(i, n int) (*testSink, *Stats) {
		s := &testSink{t: t}
		var st Stats
		m := New(s, Options{}, &st).OpenMessage(&transfer.Meta{})
		m.Write(msg[:i])
		m.Gap(int64(n))
		m.Write(msg[i+n:])
		m.Close(transfer.Whole)
		s.checkClosed()
		return s, &st
	}

	// In base64: the part is cut at once, the next ones are whole.
	s, st := gapAt(after("base64\r\n\r\nAAcOFRw"), 1000)
	if len(s.files) != 3 {
		t.Fatalf("files %s", s.names())
	}
	if f := s.files[0]; f.cut != transfer.CutGap || len(f.data) > len(a) || !bytes.HasPrefix(a, f.data) || len(f.gaps) != 0 {
		t.Errorf("a.bin cut %q, %d bytes", f.cut, len(f.data))
	}
	if f := s.files[2]; f.cut != transfer.Whole || !bytes.Equal(f.data, c) {
		t.Errorf("c.bin cut %q", f.cut)
	}
	if st.Gaps != 1 || st.GapCuts != 1 {
		t.Errorf("stats %+v", *st)
	}

	// In an identity part: File.Gap, the part goes on, closed CutGap.
	s, _ = gapAt(after("name=b.txt\r\n\r\n0123"), 15)
	f := s.files[1]
	body := strings.Repeat("0123456789\r\n", 100)
	if !slices.Equal(f.gaps, []int64{15}) || f.cut != transfer.CutGap ||
		string(f.data) != body[:4]+body[19:len(body)-2] {
		t.Errorf("b.txt gaps %v cut %q data %.40q", f.gaps, f.cut, f.data)
	}
	if s.files[0].cut != transfer.Whole || s.files[2].cut != transfer.Whole || !bytes.Equal(s.files[2].data, c) {
		t.Errorf("cuts %q %q", s.files[0].cut, s.files[2].cut)
	}

	// In a header block: that part is lost, reported as a file whose
	// head was lost (no bytes, cut); the next one is whole.
	s, st = gapAt(after("--b\r\nContent-Ty"), 10)
	if len(s.files) != 3 || !s.files[0].meta.HeadLost || s.files[0].cut != transfer.CutGap || len(s.files[0].data) != 0 ||
		s.files[0].wire != 10 || s.files[1].meta.Name != "b.txt" || s.files[2].cut != transfer.Whole {
		t.Errorf("files %s", s.dump())
	}
	if st.HeadsLost != 1 {
		t.Errorf("stats %+v", *st)
	}

	// Over a delimiter: the gap ends in the next part's header, which
	// is lost; the part before was cut.
	s, _ = gapAt(bytes.Index(msg, []byte("--b\r\nContent-Type: text/plain"))-20, 30)
	if len(s.files) != 2 || s.files[0].cut != transfer.CutGap || s.files[1].meta.Name != "c.bin" {
		t.Errorf("files %s, cuts %q %q", s.names(), s.files[0].cut, s.files[1].cut)
	}
}

func TestLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=b\r\n\r\n")
	for i := range 20 {
		fmt.Fprintf(&b, "--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n", i)
	}
	b.WriteString("--b--\r\n")
	s, st := run(t, []byte(b.String()), Options{MaxParts: 5}, whole, transfer.Whole)
	if len(s.files) != 5 || string(s.files[4].data) != "part 4" || st.PartLimit != 1 || st.Parts != 20 {
		t.Errorf("files %s, stats %+v", s.names(), *st)
	}

	// A header block past MaxHeaderBytes: fields past the limit are
	// dropped (here the Content-Type), the block's end is still found.
	// Fields the extractor does not read are not kept, so they do not
	// count.
	msg := strings.Repeat("X-Pad: "+strings.Repeat("p", 2000)+"\r\n", 10) + "Subject: " + strings.Repeat("s", 2000) +
		"\r\nContent-Type: application/pdf; name=late.pdf\r\n\r\nbody"
	s, st = run(t, []byte(msg), Options{MaxHeaderBytes: 1024}, random(3, 100), transfer.Whole)
	if len(s.files) != 1 || s.files[0].meta.ContentType != "text/plain" || string(s.files[0].data) != "body" || st.HeaderLimit != 1 {
		t.Errorf("files %s, stats %+v", s.dump(), *st)
	}
	s, _ = run(t, []byte(msg), Options{}, random(3, 100), transfer.Whole)
	if s.files[0].meta.Name != "late.pdf" {
		t.Errorf("without the limit: %s", s.names())
	}

	// Meta strings are bounded.
	long := strings.Repeat("é", 1000)
	var to strings.Builder
	for i := range 100 {
		fmt.Fprintf(&to, "u%d@example.org, ", i)
	}
	msg = "Subject: " + long + "\r\nTo: " + to.String() + "\r\nContent-Type: text/plain; name=\"" + long + "\"\r\n\r\nx"
	s, _ = run(t, []byte(msg), Options{}, whole, transfer.Whole)
	m := s.files[0].meta
	if len(m.Subject) != transfer.MaxHeaderValue || len(m.Name) != transfer.MaxHeaderValue || len(m.To) != transfer.MaxAddresses || m.To[63] != "u63@example.org" {
		t.Errorf("subject %d name %d to %d", len(m.Subject), len(m.Name), len(m.To))
	}
}

func TestSinglePart(t *testing.T) {
	// Not multipart: the body is the one leaf; its last line end is
	// content.
	msg := crlf("From: Bob <bob@example.org>\nContent-Type: Application/PDF\nContent-Disposition: attachment; filename=\"a.pdf\"\n\n%PDF-1.4\nx\n")
	s, _ := run(t, msg, Options{}, bytewise, transfer.Whole)
	if len(s.files) != 1 || string(s.files[0].data) != "%PDF-1.4\r\nx\r\n" || s.files[0].meta.ContentType != "application/pdf" || s.files[0].meta.Name != "a.pdf" {
		t.Errorf("%s", s.dump())
	}
	// Headers only: no file.
	s, _ = run(t, crlf("From: a@b.c\nSubject: x\n"), Options{}, whole, transfer.Whole)
	if len(s.files) != 0 {
		t.Errorf("%s", s.dump())
	}
}

func TestEmptyParts(t *testing.T) {
	msg := crlf("Content-Type: multipart/mixed; boundary=b\n\n" +
		"--b\n--b\n" + // nothing: no part
		"--b\nContent-Type: application/x-empty; name=e1\n\n--b\n" + // headers, no body: an empty file
		"--b\nContent-Type: application/x-empty; name=e2\n\n\n--b\n" + // an empty body
		"--b\nContent-Type: application/x-cut; name=e3\n--b--\n") // a header line cut by the delimiter
	s, _ := run(t, msg, Options{}, whole, transfer.Whole)
	if s.names() != "e1(application/x-empty), e2(application/x-empty)" || len(s.files[0].data)+len(s.files[1].data) != 0 {
		t.Errorf("%s", s.dump())
	}
}

func TestBadBoundary(t *testing.T) {
	msg := crlf("Content-Type: multipart/mixed\n\n--x\nContent-Type: text/plain\n\nbody\n--x--\n")
	s, st := run(t, msg, Options{}, whole, transfer.Whole)
	if len(s.files) != 1 || s.files[0].meta.ContentType != "multipart/mixed" || st.BadBoundary != 1 {
		t.Errorf("%s %+v", s.names(), *st)
	}
}

func TestDigest(t *testing.T) {
	msg := crlf("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\nContent-Type: application/pdf; name=in.pdf\n\n%PDF\n--d--\n")
	s, _ := run(t, msg, Options{}, whole, transfer.Whole)
	if s.names() != "in.pdf(application/pdf)" {
		t.Errorf("%s", s.names())
	}
}

func TestUUEncode(t *testing.T) {
	data := []byte("uuencoded payload, more than one line of it: 0123456789abcdefghijklmnopqrstuvwxyz")
	msg := "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: application/octet-stream; name=u.bin\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n" +
		"begin 644 u.bin\r\n" + uuencode(data) + "`\r\nend\r\n--b--\r\n"
	s, st := run(t, []byte(msg), Options{}, random(5, 7), transfer.Whole)
	if len(s.files) != 1 || !bytes.Equal(s.files[0].data, data) || s.files[0].meta.Transfer != "uuencode" || st.UUMalformed != 0 {
		t.Errorf("%s %+v", s.dump(), *st)
	}
}

// uuencode encodes data in lines of 45 bytes (the classic tool's
// output, "`" for zero).
func uuencode(data []byte) string {
	enc := func(v byte) byte {
		if v == 0 {
			return '`'
		}
		return v + ' '
	}
	var b strings.Builder
	for len(data) > 0 {
		n := min(45, len(data))
		line := data[:n]
		data = data[n:]
		b.WriteByte(enc(byte(n)))
		for i := 0; i < n; i += 3 {
			var q [3]byte
			copy(q[:], line[i:])
			b.WriteByte(enc(q[0] >> 2))
			b.WriteByte(enc((q[0]<<4 | q[1]>>4) & 63))
			b.WriteByte(enc((q[1]<<2 | q[2]>>6) & 63))
			b.WriteByte(enc(q[2] & 63))
		}
		b.WriteString("\r\n")
	}
	return b.String()
}

func TestAfterClose(t *testing.T) {
	s := &testSink{t: t}
	m := New(s, Options{}, nil).OpenMessage(nil)
	m.Write([]byte("Content-Type: text/plain\r\n\r\nabc"))
	m.Close(transfer.Whole)
	m.Write([]byte("more"))
	m.Gap(3)
	m.Close(transfer.CutEnded)
	s.checkClosed()
	if len(s.files) != 1 || string(s.files[0].data) != "abc" || s.files[0].cut != transfer.Whole {
		t.Errorf("%s", s.dump())
	}
}
