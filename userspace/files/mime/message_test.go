package mime

import (
	"bytes"
	"fmt"
	"slices"
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
