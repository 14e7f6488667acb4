package mime

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// smtpData cuts the message out of an SMTP client stream: from after the
// "DATA" command line to the "\r\n.\r\n" that ends it (the CRLF before
// the dot is the message's last line end), dot-unstuffed.
func smtpData(t *testing.T, stream []byte) []byte {
	t.Helper()
	i := bytes.Index(stream, []byte("DATA\r\n"))
	if i < 0 {
		t.Fatal("no DATA command")
	}
	rest := stream[i+len("DATA\r\n"):]
	j := bytes.Index(rest, []byte("\r\n.\r\n"))
	if j < 0 {
		t.Fatal("no end of data")
	}
	data := rest[:j+2]
	var out []byte
	for line := range bytes.Lines(data) {
		if bytes.HasPrefix(line, []byte("..")) {
			line = line[1:]
		}
		out = append(out, line...)
	}
	return out
}

func TestCorpusSMTP(t *testing.T) {
	conns := testutil.TCPConns(t, "../../../testdata/corpus/smtp_attach.pcap")
	truth := testutil.ReadTruth(t, "../../../testdata/corpus/smtp_attach.truth.json")
	if len(conns) != 1 || len(truth.Files) != 2 {
		t.Fatalf("%d connections, %d truth files", len(conns), len(truth.Files))
	}
	msg := smtpData(t, conns[0].ToServer)
	for seed := range uint64(8) {
		split := random(seed, 4000)
		if seed == 0 {
			split = whole
		}
		s, st := run(t, msg, Options{}, split, transfer.Whole)
		for _, want := range truth.Files {
			f := s.byName(want.Name)
			sum := sha256.Sum256(f.data)
			if got := hex.EncodeToString(sum[:]); got != want.SHA256 || int64(len(f.data)) != want.Size {
				t.Errorf("seed %d: %s: sha256 %s size %d, want %s size %d", seed, want.Name, got, len(f.data), want.SHA256, want.Size)
			}
			if f.cut != transfer.Whole || f.meta.Transfer != "base64" || f.meta.ContentType != "application/octet-stream" {
				t.Errorf("%s: cut %q transfer %q type %q", want.Name, f.cut, f.meta.Transfer, f.meta.ContentType)
			}
			m := f.meta
			if !slices.Equal(m.From, []string{"alice@corp.example"}) || !slices.Equal(m.To, []string{"bob@corp.example"}) ||
				m.Subject != "quarterly numbers" || m.MessageID != "20261123004615.013110@vm" {
				t.Errorf("%s: from %q to %q subject %q id %q", want.Name, m.From, m.To, m.Subject, m.MessageID)
			}
			if m.MailFrom != "env@example.org" || !slices.Equal(m.RcptTo, []string{"rcpt@example.org"}) || m.Protocol != transfer.SMTP || !m.Upload || m.Size != -1 {
				t.Errorf("%s: envelope not copied: %+v", want.Name, m)
			}
		}
		// The text body is a leaf too; the line end before the delimiter is the
		// delimiter's.
		if len(s.files) != 3 || s.files[0].meta.ContentType != "text/plain" || string(s.files[0].data) != "This is a test mailing" {
			t.Errorf("seed %d: files %s; first %.40q", seed, s.names(), s.files[0].data)
		}
		if st.Files != 3 || st.Base64Malformed != 0 || st.MissingBoundary != 0 {
			t.Errorf("stats %+v", *st)
		}
	}
}
