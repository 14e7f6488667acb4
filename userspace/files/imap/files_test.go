package imap

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/mailtest"
	"github.com/edgesensor/edgesensor/userspace/files/mime"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// zfiles keeps the files the MIME extractor opens, to follow messages
// through the extractor down to their attachments.
type zfiles struct {
	t     testing.TB
	files []*zfile
}

type zfile struct {
	s      *zfiles
	meta   transfer.Meta
	data   []byte
	gaps   int64
	wire   int64
	cut    transfer.Cut
	closes int
}

func (s *zfiles) Open(m *transfer.Meta) transfer.File {
	f := &zfile{s: s, meta: *m}
	s.files = append(s.files, f)
	return f
}

func (f *zfile) Write(p []byte) bool {
	if f.closes > 0 {
		f.s.t.Errorf("%s: Write after Close", f.meta.Name)
	}
	f.data = append(f.data, p...)
	return true
}
func (f *zfile) Gap(n int64)     { f.gaps += n }
func (f *zfile) WireGap(n int64) { f.wire += n }
func (f *zfile) Close(cut transfer.Cut) {
	f.closes++
	f.cut = cut
}

// check fails unless every file was closed once.
func (s *zfiles) check() {
	s.t.Helper()
	for _, f := range s.files {
		if f.closes != 1 {
			s.t.Errorf("%s closed %d times", f.meta.Name, f.closes)
		}
	}
}

// named returns the file called name, or nil.
func (s *zfiles) named(name string) *zfile {
	for _, f := range s.files {
		if f.meta.Name == name {
			return f
		}
	}
	return nil
}

func (s *zfiles) names() string {
	var n []string
	for _, f := range s.files {
		n = append(n, f.meta.Name+"("+string(f.cut)+")")
	}
	return strings.Join(n, ", ")
}

// runFiles feeds events to a parser over a MIME extractor.
func runFiles(t testing.TB, opts Options, evs []ev) (*zfiles, *Parser, *Stats, *mime.Stats) {
	t.Helper()
	files := &zfiles{t: t}
	var ms mime.Stats
	st := new(Stats)
	p := New(mime.New(files, mime.Options{}, &ms), opts, st)
	feed(p, evs)
	p.Close()
	files.check()
	return files, p, st, &ms
}

// fakePE is an MZ header whose e_lfanew points at a PE signature, then
// bytes that are not text: enough for the typer, harmless.
func fakePE(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	copy(b, "MZ")
	b[0x3c], b[0x3d], b[0x3e], b[0x3f] = 0x80, 0, 0, 0
	copy(b[0x80:], "PE\x00\x00")
	return b
}

// peMessage carries pe as a base64 attachment named name.
func peMessage(name string, pe []byte) string {
	return "From: alice@corp.example\r\nSubject: invoice\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n" +
		"Content-Type: application/x-msdownload; name=\"" + name + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		mailtest.B64Lines(pe) + "--b--\r\n"
}

// A PE inside a base64 message/rfc822 inside a multipart/mixed, fetched
// with BODY[]: it comes out whole with its own hash.
func TestEncodedAttachedMessageFetched(t *testing.T) {
	pe := fakePE(30000)
	sum := sha256.Sum256(pe)
	msg := "From: bob@corp.example\r\nSubject: fwd\r\nContent-Type: multipart/mixed; boundary=out\r\n\r\n--out\r\n" +
		"Content-Type: text/plain\r\n\r\nforwarded\r\n--out\r\n" +
		"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		mailtest.B64Lines([]byte(peMessage("tool.exe", pe))) + "--out--\r\n"
	evs := script(selectINBOX, []ev{cl("a3 FETCH 1 (BODY.PEEK[])\r\n"), sv("* 1 FETCH (BODY[] " + litOf(msg) + ")\r\na3 OK\r\n")})
	for name, v := range variants(evs) {
		files, _, _, ms := runFiles(t, Options{}, v)
		f := files.named("tool.exe")
		if f == nil || sha256.Sum256(f.data) != sum || f.cut != transfer.Whole || f.meta.Subject != "fwd" || f.meta.Mailbox != "INBOX" {
			t.Fatalf("%s: files %s", name, files.names())
		}
		if ms.Encoded != 1 {
			t.Errorf("%s: mime stats %+v", name, *ms)
		}
	}
	// A gap inside the attached message's base64: the PE is cut.
	last := string(evs[len(evs)-1].Data)
	i := strings.Index(last, "--out--") - 2000
	gapped := append(evs[:len(evs)-1:len(evs)-1], sv(last[:i]), ev{Gap: 100}, sv(last[i+100:]))
	files, _, _, _ := runFiles(t, Options{}, gapped)
	if f := files.named("tool.exe"); f == nil || f.cut != transfer.CutGap || f.wire != 100 || len(f.data) >= len(pe) {
		t.Errorf("gap: files %s", files.names())
	}
}
