package mime

import (
	"fmt"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// Fields the extractor does not read are not kept: a Content-Type after
// a long run of Received and DKIM lines is still read, and a flood of
// header lines that never ends costs one field.
func TestHeaderKeepsOnlyWhatIsRead(t *testing.T) {
	var b strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&b, "Received: from relay%d.example.org by mx.example.org;\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n", i)
	}
	b.WriteString("Subject: late\r\nContent-Type: application/pdf; name=late.pdf\r\nContent-Type: text/plain\r\n\r\n%PDF-1.4")
	for _, split := range []func(int) int{whole, random(5, 100)} {
		s, st := run(t, []byte(b.String()), Options{}, split, transfer.Whole)
		if len(s.files) != 1 || s.files[0].meta.Name != "late.pdf" || s.files[0].meta.ContentType != "application/pdf" ||
			s.files[0].meta.Subject != "late" || st.HeaderLimit != 0 {
			t.Errorf("files %s stats %+v", s.dump(), *st)
		}
	}
	x := New(&testSink{t: t}, Options{}, nil)
	m := x.OpenMessage(&transfer.Meta{MailFrom: "a@b.c"}).(*message)
	start := m.Footprint()
	for i := range 5000 {
		m.Write(fmt.Appendf(nil, "X-Flood-%d: %s\r\n", i, strings.Repeat("f", 100)))
		if fp := m.Footprint(); fp > start+maxFieldName+128 {
			t.Fatalf("line %d: Footprint %d, from %d", i, fp, start)
		}
	}
	m.Write([]byte("Subject: " + strings.Repeat("s", 100<<10)))
	if fp := m.Footprint(); fp > start+2*maxFieldKept {
		t.Fatalf("a long field: Footprint %d, from %d", fp, start)
	}
	m.Close(transfer.CutEnded)
	t.Logf("message: %d bytes new, extractor %d", start, x.Footprint())
}

// A gap at the start of a message (its start was lost) or in its
// header: one file reports it (Meta.HeadLost, no bytes, cut), with the
// envelope and the fields that were complete before the gap; the rest
// of the message, whose structure is unknown, gives nothing.
func TestMessageHeadLost(t *testing.T) {
	msg := "From: sender@example.org\r\nSubject: invoice\r\nTo: x@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: application/pdf; name=a.pdf\r\n\r\n%PDF-1.4\r\n--b--\r\n"
	cases := []struct {
		name          string
		at            int
		from, subject string
	}{
		{"start", 0, "", ""},
		{"in a field", strings.Index(msg, "voice"), "sender@example.org", ""},
		{"after the fields", strings.Index(msg, "To:"), "sender@example.org", "invoice"},
	}
	for _, c := range cases {
		s := &testSink{t: t}
		var st Stats
		m := New(s, Options{}, &st).OpenMessage(&transfer.Meta{Protocol: transfer.SMTP, MailFrom: "env@example.org"})
		m.Write([]byte(msg[:c.at]))
		m.Gap(300)
		m.Write([]byte(msg[c.at:]))
		m.Close(transfer.CutGap)
		s.checkClosed()
		if len(s.files) != 1 {
			t.Fatalf("%s: files %s", c.name, s.dump())
		}
		f := s.files[0]
		var from string
		if len(f.meta.From) > 0 {
			from = f.meta.From[0]
		}
		if !f.meta.HeadLost || f.cut != transfer.CutGap || f.wire != 300 || f.meta.MailFrom != "env@example.org" ||
			from != c.from || f.meta.Subject != c.subject || st.HeadsLost != 1 {
			t.Errorf("%s: lost %v cut %q wire %d from %q subject %q", c.name, f.meta.HeadLost, f.cut, f.wire, from, f.meta.Subject)
		}
	}
}
