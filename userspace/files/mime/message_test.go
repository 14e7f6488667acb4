package mime

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/mailtest"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

var b64Lines = mailtest.B64Lines

// payload is n bytes that are not text.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// nestedMsg is a multipart/alternative holding a text part and a
// multipart/mixed with an HTML part and a base64 attachment.
func nestedMsg() ([]byte, []byte) {
	pdf := payload(3000)
	return crlf(`Received: from x by y; Mon, 1 Jan 2026 00:00:00 +0000
From: "Alice A." <alice@example.org>
To: bob@example.org,
 "Carol, C." <carol@example.org>
Cc: dave@example.org
Subject: =?UTF-8?B?UXVhcnRlcmx5IOKCrA==?= =?ISO-8859-1?Q?r=E9sum=E9?=
Message-ID: <abc.123@example.org>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt"

This is the preamble.
--alt
Content-Type: text/plain; charset=utf-8

plain body
-- 
signature
--alt
Content-Type: multipart/mixed;
	boundary=mix

--mix
Content-Type: text/html

<p>html</p>
--mix
Content-Type: application/pdf; name="doc.pdf"
Content-Disposition: attachment
Content-Transfer-Encoding: base64

` + b64Lines(pdf) + `--mix--
epilogue of mix
--alt--
epilogue
`), pdf
}

func TestNested(t *testing.T) {
	msg, pdf := nestedMsg()
	s, st := run(t, msg, Options{}, whole, transfer.Whole)
	if len(s.files) != 3 {
		t.Fatalf("files %s", s.names())
	}
	want := []struct{ name, typ, transfer, data string }{
		{"", "text/plain", "7bit", "plain body\r\n-- \r\nsignature"},
		{"", "text/html", "7bit", "<p>html</p>"},
		{"doc.pdf", "application/pdf", "base64", string(pdf)},
	}
	for i, w := range want {
		f := s.files[i]
		if f.meta.Name != w.name || f.meta.ContentType != w.typ || f.meta.Transfer != w.transfer || string(f.data) != w.data || f.cut != transfer.Whole {
			t.Errorf("file %d: %q %q %q cut %q data %.60q, want %q %q %q %.60q", i, f.meta.Name, f.meta.ContentType, f.meta.Transfer, f.cut, f.data, w.name, w.typ, w.transfer, w.data)
		}
		m := f.meta
		if !slices.Equal(m.From, []string{"alice@example.org"}) ||
			!slices.Equal(m.To, []string{"bob@example.org", "carol@example.org"}) ||
			!slices.Equal(m.Cc, []string{"dave@example.org"}) ||
			m.Subject != "Quarterly €résumé" || m.MessageID != "abc.123@example.org" {
			t.Errorf("file %d: from %q to %q cc %q subject %q id %q", i, m.From, m.To, m.Cc, m.Subject, m.MessageID)
		}
	}
	if st.Parts != 4 || st.Files != 3 || st.MissingBoundary != 0 {
		t.Errorf("stats %+v", *st)
	}
}

// TestSplits writes messages in every way: one piece, byte by byte (so
// every delimiter is split at every position), two pieces cut at every
// position, random pieces. The files must not change.
func TestSplits(t *testing.T) {
	nested, _ := nestedMsg()
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"nested", nested},
		{"qp", qpMsg},
		{"lookalikes", lookalikeMsg},
		{"rfc822", attachedMsg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, _ := run(t, tc.msg, Options{}, whole, transfer.Whole)
			want := ref.dump()
			if got, _ := run(t, tc.msg, Options{}, bytewise, transfer.Whole); got.dump() != want {
				t.Fatalf("byte by byte:\n%s\nwant\n%s", got.dump(), want)
			}
			for i := 1; i < len(tc.msg); i++ {
				first := true
				split := func(int) int {
					if first {
						first = false
						return i
					}
					return 1 << 62
				}
				if got, _ := run(t, tc.msg, Options{}, split, transfer.Whole); got.dump() != want {
					t.Fatalf("cut at %d (%q|%q):\n%s\nwant\n%s", i, tc.msg[max(i-10, 0):i], tc.msg[i:min(i+10, len(tc.msg))], got.dump(), want)
				}
			}
			for seed := range uint64(20) {
				if got, _ := run(t, tc.msg, Options{}, random(seed, 40), transfer.Whole); got.dump() != want {
					t.Fatalf("seed %d:\n%s\nwant\n%s", seed, got.dump(), want)
				}
			}
		})
	}
}

// attachedMsg forwards a message (message/rfc822) that has an attachment.
var attachedMsg = crlf(`From: outer@example.org
To: someone@example.org
Subject: outer
Content-Type: multipart/mixed; boundary="out"

--out
Content-Type: text/plain

see attached
--out
Content-Type: message/rfc822
Content-Disposition: attachment; filename="fwd.eml"

From: inner@example.org
Subject: inner
Content-Type: multipart/mixed; boundary="in"

--in
Content-Type: text/plain

inner text
--in
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="inner.bin"
Content-Transfer-Encoding: base64

` + b64Lines([]byte("inner attachment bytes")) + `--in--
--out--
`)

func TestAttachedMessage(t *testing.T) {
	s, st := run(t, attachedMsg, Options{}, whole, transfer.Whole)
	if got := s.names(); got != "(text/plain), (text/plain), inner.bin(application/octet-stream)" {
		t.Fatalf("files %s", got)
	}
	f := s.byName("inner.bin")
	if string(f.data) != "inner attachment bytes" || f.cut != transfer.Whole {
		t.Errorf("inner.bin %q cut %q", f.data, f.cut)
	}
	if string(s.files[1].data) != "inner text" {
		t.Errorf("inner text %q", s.files[1].data)
	}
	// Meta comes from the top-level header, not the attached one.
	if f.meta.Subject != "outer" || !slices.Equal(f.meta.From, []string{"outer@example.org"}) {
		t.Errorf("meta %q %q", f.meta.Subject, f.meta.From)
	}
	if st.Parts != 5 { // text, message, its text and attachment... and the message's own entity
		t.Errorf("parts %d", st.Parts)
	}
}

// qpMsg has a quoted-printable part with soft breaks, escapes, a soft
// break followed by blanks, trailing blanks to drop, and malformed
// escapes to keep.
var qpMsg = crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n" +
	"Content-Type: text/plain; charset=iso-8859-1\n" +
	"Content-Transfer-Encoding: quoted-printable\n\n" +
	"caf=E9 =3D soft=\n" +
	"break, trailing blanks  \t\n" +
	"soft with blanks= \t\n" +
	"end=3d lower, =ZZ bad, =4 half, tail=\n" +
	"\n--b\n" +
	"Content-Type: application/octet-stream; name=\"x.bin\"\n" +
	"Content-Transfer-Encoding: Quoted-Printable\n\n" +
	"=00=01=FF=\n" +
	"=0D=0A\n" +
	"--b--\n")

func TestQuotedPrintable(t *testing.T) {
	s, st := run(t, qpMsg, Options{}, whole, transfer.Whole)
	if len(s.files) != 2 {
		t.Fatalf("files %s", s.names())
	}
	want := "caf\xe9 = softbreak, trailing blanks\r\nsoft with blanksend= lower, =ZZ bad, =4 half, tail"
	if got := string(s.files[0].data); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := s.files[1].data; !bytes.Equal(got, []byte{0, 1, 0xff, '\r', '\n'}) || s.files[1].meta.Transfer != "quoted-printable" {
		t.Errorf("x.bin %q %q", got, s.files[1].meta.Transfer)
	}
	if st.QPMalformed != 1 {
		t.Errorf("QPMalformed %d", st.QPMalformed)
	}
}

// lookalikeMsg has lines that look like delimiters but are not, transport
// padding after real ones, a close delimiter with text after it, and
// LF-only line ends in the second part.
var lookalikeMsg = []byte("Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
	"--b \t\r\n" +
	"Content-Type: text/plain\r\n\r\n" +
	"--bX\r\n--b-\r\n--b x\r\n-- b\r\n--\r\n-\r\n--b-x--\r\n\r\n" +
	"--b\n" +
	"Content-Type: text/plain\n\n" +
	"lf only\n-x\n\n" +
	"--b-- trailing words\r\n" +
	"--b\r\nContent-Type: text/plain\r\n\r\nepilogue, not a part\r\n")

func TestLookalikes(t *testing.T) {
	s, _ := run(t, lookalikeMsg, Options{}, whole, transfer.Whole)
	if len(s.files) != 2 {
		t.Fatalf("files %s", s.names())
	}
	if got, want := string(s.files[0].data), "--bX\r\n--b-\r\n--b x\r\n-- b\r\n--\r\n-\r\n--b-x--\r\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := string(s.files[1].data), "lf only\n-x\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestInnermostBoundaryFirst(t *testing.T) {
	// The inner boundary starts with the outer one (against RFC 2046,
	// but it happens): "--a--x" must be read as the inner delimiter.
	msg := crlf(`Content-Type: multipart/mixed; boundary="a"

--a
Content-Type: multipart/mixed; boundary="a--x"

--a--x
Content-Type: text/plain

one
--a--x--
--a
Content-Type: text/plain

two
--a--
`)
	s, st := run(t, msg, Options{}, whole, transfer.Whole)
	if len(s.files) != 2 || string(s.files[0].data) != "one" || string(s.files[1].data) != "two" || st.MissingBoundary != 0 {
		t.Errorf("files %s, %q; stats %+v", s.names(), s.dump(), *st)
	}
}

// missingCloseMsg has no close delimiter; its last part is base64.
func missingCloseMsg(b64 string) []byte {
	return crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nfirst\n--b\n" +
		"Content-Type: application/zip; name=a.zip\nContent-Transfer-Encoding: base64\n\n" + b64)
}

func TestMissingClose(t *testing.T) {
	msg := missingCloseMsg(b64Lines([]byte("zip bytes")))
	s, st := run(t, msg, Options{}, whole, transfer.Whole)
	if len(s.files) != 2 || s.files[0].cut != transfer.Whole || s.files[1].cut != transfer.Whole || string(s.files[1].data) != "zip bytes" {
		t.Fatalf("%s", s.dump())
	}
	if st.MissingBoundary != 1 {
		t.Errorf("MissingBoundary %d", st.MissingBoundary)
	}
	// The message cut: the open part takes its cut, the closed one not.
	s, st = run(t, msg, Options{}, whole, transfer.CutEnded)
	if s.files[0].cut != transfer.Whole || s.files[1].cut != transfer.CutEnded || st.MissingBoundary != 0 {
		t.Errorf("cuts %q %q, MissingBoundary %d", s.files[0].cut, s.files[1].cut, st.MissingBoundary)
	}
	// Base64 ending on a lone sextet lost bits: corrupt.
	s, st = run(t, missingCloseMsg("QUJDR\r\n"), Options{}, whole, transfer.Whole)
	if f := s.files[1]; f.cut != transfer.CutCorrupt || string(f.data) != "ABC" || st.Base64Malformed != 1 {
		t.Errorf("cut %q data %q stats %+v", f.cut, f.data, *st)
	}
	// "--b--" without its line end at the very end is still a close.
	msg = crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--")
	s, st = run(t, msg, Options{}, whole, transfer.Whole)
	if len(s.files) != 1 || string(s.files[0].data) != "x" || st.MissingBoundary != 0 {
		t.Errorf("%s %+v", s.dump(), *st)
	}
}

// nest wraps an attachment in depth multiparts (with a message/rfc822 at
// every third level).
func nest(depth int) []byte {
	body := "Content-Type: application/octet-stream; name=deep.bin\r\n\r\ndeep"
	for d := depth; d > 0; d-- {
		if d%3 == 0 {
			body = "Content-Type: message/rfc822\r\n\r\nSubject: level\r\n" + body
			continue
		}
		b := fmt.Sprintf("b%d", d)
		body = "Content-Type: multipart/mixed; boundary=" + b + "\r\n\r\n--" + b + "\r\n" + body + "\r\n--" + b + "--\r\n"
	}
	return []byte("From: a@example.org\r\n" + body)
}

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
