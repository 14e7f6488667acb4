package mime

import (
	"bytes"
	"crypto/sha256"
	"strconv"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/mailtest"
	"github.com/edgesensor/edgesensor/userspace/files/smtp"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// bdatSession sends msg with BDAT in chunks of n bytes (CHUNKING, RFC
// 3030), the last one LAST.
func bdatSession(msg []byte, n int) (client, server []byte) {
	c := []byte("EHLO c\r\nMAIL FROM:<a@example.org> BODY=BINARYMIME\r\nRCPT TO:<b@example.org>\r\n")
	s := []byte("220 mx ESMTP\r\n250-mx\r\n250-CHUNKING\r\n250 BINARYMIME\r\n250 ok\r\n250 ok\r\n")
	for len(msg) > 0 {
		k := min(n, len(msg))
		last := ""
		if k == len(msg) {
			last = " LAST"
		}
		c = append(c, "BDAT "+strconv.Itoa(k)+last+"\r\n"...)
		c = append(c, msg[:k]...)
		s = append(s, "250 ok\r\n"...)
		msg = msg[k:]
	}
	return append(c, "QUIT\r\n"...), append(s, "221 bye\r\n"...)
}

// An encoded attached message sent with BDAT: the executable inside it
// comes out with its own hash, in every ordering of the two directions;
// a gap in a chunk, inside the executable's base64, cuts it.
func TestEncodedOverBDAT(t *testing.T) {
	pe := fakePE(20000)
	sum := sha256.Sum256(pe)
	msg := wrapEncoded(innerMsg("tool.exe", pe), "base64")
	client, server := bdatSession(msg, 4096)
	for name, evs := range mailtest.Orderings(client, server, 9) {
		s := &testSink{t: t}
		var st Stats
		p := smtp.New(New(s, Options{}, &st), smtp.Options{}, nil)
		mailtest.Feed(p, evs)
		p.Close()
		s.checkClosed()
		f := s.byName("tool.exe")
		if sha256.Sum256(f.data) != sum || f.cut != transfer.Whole || f.meta.MailFrom != "a@example.org" {
			t.Errorf("%s: tool.exe %d bytes cut %q", name, len(f.data), f.cut)
		}
		if st.Encoded != 1 {
			t.Errorf("%s: stats %+v", name, st)
		}
	}

	// 300 bytes lost in the middle of the executable's base64: the chunk
	// count keeps SMTP in sync; the attached message's stream is not.
	at := bytes.Index(client, []byte("Content-Type: application/octet-stream; name=after.bin")) - 3000
	s := &testSink{t: t}
	var st Stats
	p := smtp.New(New(s, Options{}, &st), smtp.Options{}, nil)
	mailtest.Feed(p, []mailtest.Ev{mailtest.Sv(string(server)), mailtest.Cl(string(client[:at])),
		{Client: true, Gap: 300}, mailtest.Cl(string(client[at+300:]))})
	p.Close()
	s.checkClosed()
	f := s.byName("tool.exe")
	if f.cut != transfer.CutGap || f.wire != 300 || len(f.data) >= len(pe) || !bytes.HasPrefix(pe, f.data) {
		t.Errorf("gap: tool.exe %d bytes cut %q wire %d", len(f.data), f.cut, f.wire)
	}
	if a := s.byName("after.bin"); string(a.data) != "after" {
		t.Errorf("gap: after.bin %q %q", a.data, a.cut)
	}
}
