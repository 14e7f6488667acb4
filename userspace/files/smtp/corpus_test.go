package smtp

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"slices"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// dataSection is the message of a client stream computed the simple way:
// the bytes after the first "DATA" line up to CRLF.CRLF (its first CRLF
// kept), each line's leading dot removed.
func dataSection(t *testing.T, client []byte) []byte {
	t.Helper()
	i := bytes.Index(client, []byte("\r\nDATA\r\n"))
	if i < 0 {
		t.Fatal("no DATA in the client stream")
	}
	body := client[i+len("\r\nDATA\r\n"):]
	j := bytes.Index(body, []byte("\r\n.\r\n"))
	if j < 0 {
		t.Fatal("no end of data in the client stream")
	}
	var out []byte
	for _, l := range bytes.SplitAfter(body[:j+2], []byte("\r\n")) {
		out = append(out, bytes.TrimPrefix(l, []byte("."))...)
	}
	return out
}

// attachments decodes a multipart message's base64 parts with the
// standard library: file name -> decoded bytes.
func attachments(t *testing.T, msg []byte) map[string][]byte {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q: %v", mt, err)
	}
	out := map[string][]byte{}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if part.FileName() == "" {
			continue
		}
		b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, part))
		if err != nil {
			t.Fatalf("%s: %v", part.FileName(), err)
		}
		out[part.FileName()] = b
	}
	return out
}

func TestCorpusSMTPAttach(t *testing.T) {
	conns := testutil.TCPConns(t, "../../../testdata/corpus/smtp_attach.pcap")
	if len(conns) != 1 {
		t.Fatalf("%d connections, want 1", len(conns))
	}
	c := conns[0]
	want := dataSection(t, c.ToServer)
	truth := testutil.ReadTruth(t, "../../../testdata/corpus/smtp_attach.truth.json")
	if len(truth.Files) != 2 {
		t.Fatalf("truth has %d files", len(truth.Files))
	}
	for name, evs := range orderings(c.ToServer, c.ToClient, 42) {
		t.Run(name, func(t *testing.T) {
			sink, _, st := run(t, Options{}, evs)
			if len(sink.Msgs) != 1 {
				t.Fatalf("%d messages, want 1", len(sink.Msgs))
			}
			m := sink.Msgs[0]
			if m.Meta.Protocol != transfer.SMTP || !m.Meta.Upload {
				t.Errorf("meta %+v", m.Meta)
			}
			if m.Meta.MailFrom != "alice@corp.example" || !slices.Equal(m.Meta.RcptTo, []string{"bob@corp.example"}) {
				t.Errorf("envelope %q -> %q", m.Meta.MailFrom, m.Meta.RcptTo)
			}
			if m.Cut != transfer.Whole || m.Gaps != 0 {
				t.Errorf("cut %q gaps %d", m.Cut, m.Gaps)
			}
			if !bytes.Equal(m.Data, want) {
				t.Fatalf("message differs from the DATA section: %d bytes, want %d", len(m.Data), len(want))
			}
			files := attachments(t, m.Data)
			for _, f := range truth.Files {
				b, ok := files[f.Name]
				if !ok {
					t.Errorf("%s not in the message", f.Name)
					continue
				}
				sum := sha256.Sum256(b)
				if hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(b)) != f.Size {
					t.Errorf("%s: %d bytes sha256 %x, want %d %s", f.Name, len(b), sum, f.Size, f.SHA256)
				}
				// The base64 text itself travelled in the message.
				enc := base64.StdEncoding.EncodeToString(b[:min(len(b), 57)])
				if !bytes.Contains(m.Data, []byte(enc)) {
					t.Errorf("%s: base64 %q not in the message", f.Name, enc)
				}
			}
			if st.Messages != 1 || st.Accepted != 1 || st.Rejected != 0 || st.Commands != 5 || st.Malformed != 0 {
				t.Errorf("stats %+v", *st)
			}
		})
	}
}
