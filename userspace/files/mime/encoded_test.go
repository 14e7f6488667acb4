package mime

import (
	"bytes"
	"crypto/sha256"
	"mime/quotedprintable"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// fakePE is an MZ header whose e_lfanew points at a PE signature, then
// bytes that are not text: enough for the typer, harmless.
func fakePE(n int) []byte {
	b := payload(n)
	copy(b, "MZ")
	b[0x3c], b[0x3d], b[0x3e], b[0x3f] = 0x80, 0, 0, 0
	copy(b[0x80:], "PE\x00\x00")
	return b
}

// innerMsg is a message with a text part and a base64 attachment.
func innerMsg(name string, att []byte) string {
	return "From: inner@example.org\nSubject: inner\nContent-Type: multipart/mixed; boundary=in\n\n--in\n" +
		"Content-Type: text/plain\n\ninner text\n--in\n" +
		"Content-Type: application/x-msdownload; name=\"" + name + "\"\nContent-Transfer-Encoding: base64\n\n" +
		b64Lines(att) + "--in--\n"
}

// encode carries msg (written with "\n") in enc, as an attachment body.
func encode(msg, enc string) string {
	raw := string(crlf(msg))
	switch enc {
	case "base64":
		return b64Lines([]byte(raw))
	case "quoted-printable":
		var b bytes.Buffer
		w := quotedprintable.NewWriter(&b)
		w.Write([]byte(raw))
		w.Close()
		return strings.ReplaceAll(b.String(), "\r\n", "\n") + "\n"
	}
	panic(enc)
}

// wrapEncoded attaches msg, encoded in enc, to an outer message, with a
// text part before it and an attachment after it.
func wrapEncoded(msg, enc string) []byte {
	return crlf("From: outer@example.org\nSubject: outer\nContent-Type: multipart/mixed; boundary=out\n\n--out\n" +
		"Content-Type: text/plain\n\nsee attached\n--out\n" +
		"Content-Type: message/rfc822; name=\"fwd.eml\"\nContent-Transfer-Encoding: " + enc + "\n\n" +
		encode(msg, enc) + "--out\n" +
		"Content-Type: application/octet-stream; name=after.bin\n\nafter\n--out--\n")
}

// An attached message carried base64 or quoted-printable: the attachment
// inside it comes out decoded, whatever the writes, with the outer
// message's senders, and what follows the attached message too.
func TestEncodedAttachedMessage(t *testing.T) {
	pe := fakePE(5000)
	sum := sha256.Sum256(pe)
	for _, enc := range []string{"base64", "quoted-printable"} {
		msg := wrapEncoded(innerMsg("tool.exe", pe), enc)
		for name, split := range map[string]func(int) int{"whole": whole, "bytewise": bytewise, "random": random(3, 300)} {
			s, st := run(t, msg, Options{}, split, transfer.Whole)
			if got := s.names(); got != "(text/plain), (text/plain), tool.exe(application/x-msdownload), after.bin(application/octet-stream)" {
				t.Fatalf("%s %s: files %s", enc, name, got)
			}
			f := s.byName("tool.exe")
			if sha256.Sum256(f.data) != sum || f.cut != transfer.Whole {
				t.Errorf("%s %s: tool.exe %d bytes cut %q", enc, name, len(f.data), f.cut)
			}
			if f.meta.Subject != "outer" || f.meta.Transfer != "base64" {
				t.Errorf("%s %s: meta %q %q", enc, name, f.meta.Subject, f.meta.Transfer)
			}
			if string(s.files[1].data) != "inner text" || string(s.byName("after.bin").data) != "after" {
				t.Errorf("%s %s: %s", enc, name, s.dump())
			}
			if st.Encoded != 1 || st.Files != 4 {
				t.Errorf("%s %s: stats %+v", enc, name, *st)
			}
		}
	}
}

// encodedNest wraps an attachment in depth attached messages, each
// carried base64 in the one around it.
func encodedNest(depth int, att []byte) []byte {
	msg := innerMsg("deep.exe", att)
	for range depth - 1 {
		msg = "Subject: level\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + encode(msg, "base64")
	}
	return crlf("From: outer@example.org\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + encode(msg, "base64"))
}

// Encoded attached messages inside encoded attached messages: bounded by
// MaxDepth like the others (each attached message and each multipart is
// a level), the deeper ones skipped and counted; the Extractor's buffers
// stay within one per level.
func TestEncodedDepth(t *testing.T) {
	pe := fakePE(3000)
	for _, tc := range []struct {
		nest, max int
		found     bool
	}{{1, 8, true}, {3, 8, true}, {3, 4, true}, {3, 3, false}, {12, 8, false}, {8, 9, true}, {8, 8, false}} {
		// The innermost message's multipart is at depth nest: it must
		// be below MaxDepth.
		s := &testSink{t: t}
		var st Stats
		x := New(s, Options{MaxDepth: tc.max}, &st)
		m := x.OpenMessage(&transfer.Meta{})
		msg := encodedNest(tc.nest, pe)
		peak := 0
		for i := 0; i < len(msg); i += 1000 {
			m.Write(msg[i:min(i+1000, len(msg))])
			peak = max(peak, m.(transfer.Footprinter).Footprint())
		}
		m.Close(transfer.Whole)
		s.checkClosed()
		var f *testFile
		for _, g := range s.files {
			if g.meta.Name == "deep.exe" {
				f = g
			}
		}
		if (f != nil) != tc.found || f != nil && (!bytes.Equal(f.data, pe) || f.cut != transfer.Whole) {
			t.Errorf("nest %d max %d: files %s", tc.nest, tc.max, s.names())
		}
		if hit := st.DepthLimit > 0; hit == tc.found {
			t.Errorf("nest %d max %d: DepthLimit %d", tc.nest, tc.max, st.DepthLimit)
		}
		levels := min(tc.nest, tc.max)
		if fp := x.Footprint(); fp > outSize+levels*(innerOutSize+64)+256 {
			t.Errorf("nest %d max %d: Extractor holds %d", tc.nest, tc.max, fp)
		}
		if peak > levels*2048+4096 {
			t.Errorf("nest %d max %d: message held %d", tc.nest, tc.max, peak)
		}
	}
}

// A gap inside an encoded attached message: the decoded bytes it stands
// for are unknown, so what is open inside is cut (with the wire bytes
// missing) and the rest of the attached message skipped; the outer
// message goes on.
func TestEncodedGap(t *testing.T) {
	pe := fakePE(6000)
	msg := wrapEncoded(innerMsg("tool.exe", pe), "base64")
	at := func(s string, frac float64) int {
		i := bytes.Index(msg, []byte(s))
		if i < 0 {
			t.Fatalf("no %q", s)
		}
		return i + int(float64(bytes.Index(msg[i:], []byte("--out\r\n")))*frac)
	}
	enc := "Content-Transfer-Encoding: base64\r\n\r\n"
	for _, tc := range []struct {
		name  string
		gapAt int
		check func(s *testSink, st *Stats) bool
	}{
		// In the attachment's base64 (the encoded message's last third):
		// tool.exe cut with the gap.
		{"in attachment", at(enc, 0.8), func(s *testSink, st *Stats) bool {
			f := s.byName("tool.exe")
			return f.cut == transfer.CutGap && f.wire == 9 && len(f.data) < len(pe) && bytes.HasPrefix(pe, f.data)
		}},
		// In the inner header: the entity is reported head lost.
		{"in inner header", at(enc, 0.01), func(s *testSink, st *Stats) bool {
			return st.HeadsLost == 1 && s.files[1].meta.HeadLost && s.files[1].wire == 9 && s.files[1].cut == transfer.CutGap
		}},
	} {
		s := &testSink{t: t}
		var st Stats
		x := New(s, Options{}, &st)
		m := x.OpenMessage(&transfer.Meta{})
		m.Write(msg[:tc.gapAt])
		m.Gap(9)
		m.Write(msg[tc.gapAt+9:])
		m.Close(transfer.Whole)
		s.checkClosed()
		if !tc.check(s, &st) {
			t.Errorf("%s: %s %+v", tc.name, s.dump(), st)
		}
		// The outer message goes on after the attached one.
		if f := s.byName("after.bin"); string(f.data) != "after" || f.cut != transfer.Whole {
			t.Errorf("%s: after.bin %q %q", tc.name, f.data, f.cut)
		}
		for _, f := range s.files {
			if f.cut == transfer.Whole && f.meta.Name == "tool.exe" {
				t.Errorf("%s: tool.exe whole", tc.name)
			}
		}
	}
}

// A message cut short inside an encoded attached message: what is open
// in it takes the cut.
func TestEncodedCut(t *testing.T) {
	pe := fakePE(6000)
	msg := wrapEncoded(innerMsg("tool.exe", pe), "base64")
	msg = msg[:bytes.Index(msg, []byte("--out\r\nContent-Type: application/octet"))-500]
	s, _ := run(t, msg, Options{}, random(5, 100), transfer.CutEnded)
	if f := s.byName("tool.exe"); f.cut != transfer.CutEnded || !bytes.HasPrefix(pe, f.data) || len(f.data) == len(pe) {
		t.Errorf("tool.exe %d bytes cut %q", len(f.data), f.cut)
	}
}
