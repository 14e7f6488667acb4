package imap

import (
	"bytes"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/mailtest"
	"github.com/edgesensor/edgesensor/userspace/files/mime"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// A multipart/mixed message as dovecot describes it: a text part, an
// executable attachment, and a forwarded message holding a PDF with an
// RFC 2231 file name.
const mixedStructure = `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 1 NIL NIL NIL NIL)` +
	`("application" "x-msdownload" ("name" "tool.exe") NIL NIL "base64" 1024 NIL ("attachment" ("filename" "tool.exe")) NIL NIL)` +
	`("message" "rfc822" NIL NIL NIL "7bit" 900 ("Mon, 7 Dec 2026 10:00:00 +0000" "fwd" (("Carol" NIL "carol" "corp.example")) NIL NIL NIL NIL NIL NIL "<m@x>")` +
	` (("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 20 1 NIL NIL NIL NIL)` +
	`("application" "pdf" ("name" "r.pdf") NIL "a \"quoted\" description" "base64" 500 NIL ("attachment" ("filename*" "utf-8''r%C3%A9sum%C3%A9.pdf")) NIL NIL) "mixed" ("boundary" "in") NIL NIL NIL)` +
	` 30 NIL NIL NIL NIL) "mixed" ("boundary" "out") NIL NIL NIL)`

const (
	exeHeader = "Content-Type: application/x-msdownload; name=\"tool.exe\"\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"tool.exe\"\r\n"
	pdfHeader = "Content-Type: application/pdf; name=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n"
)

func TestStructureParts(t *testing.T) {
	var parts []partHeader
	sp := structParser{b: []byte(mixedStructure)}
	root, ok := sp.node(0)
	if !ok {
		t.Fatal("does not parse")
	}
	walkStructure(root, "", true, 0, &parts)
	var nums []string
	for _, p := range parts {
		nums = append(nums, p.num)
	}
	if got := strings.Join(nums, " "); got != "1 2 3 3.1 3.2" {
		t.Fatalf("parts %q", got)
	}
	if parts[1].header != exeHeader {
		t.Errorf("part 2 header %q", parts[1].header)
	}
	if parts[4].header != pdfHeader {
		t.Errorf("part 3.2 header %q", parts[4].header)
	}
	if parts[0].header != "Content-Type: text/plain; charset=\"us-ascii\"\r\nContent-Transfer-Encoding: 7bit\r\n" {
		t.Errorf("part 1 header %q", parts[0].header)
	}

	// A message that is not multipart: its body is part 1.
	parts = nil
	sp = structParser{b: []byte(`("application" "pdf" ("name" "a.pdf") NIL NIL "base64" 100 NIL NIL NIL NIL)`)}
	root, _ = sp.node(0)
	walkStructure(root, "", true, 0, &parts)
	if len(parts) != 1 || parts[0].num != "1" || !strings.HasPrefix(parts[0].header, "Content-Type: application/pdf; name=\"a.pdf\"") {
		t.Fatalf("single part %+v", parts)
	}

	// Broken or hostile structures are refused, not half-read.
	for _, bad := range []string{`(`, `("a" "b"`, `)`, strings.Repeat("(", 100) + strings.Repeat(")", 100), `("a" "b" ("n" "v) NIL)`} {
		sp := structParser{b: []byte(bad)}
		if _, ok := sp.node(0); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestPartSections(t *testing.T) {
	exe := "TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n"
	pdf := "JVBERi0xLjQK\r\n"
	bin := "MZ\x90\x00\x03\x00binary"
	evs := script(selectINBOX, []ev{
		cl("a3 UID FETCH 7 (UID BODYSTRUCTURE)\r\n"),
		sv("* 1 FETCH (UID 7 BODYSTRUCTURE " + mixedStructure + ")\r\na3 OK done\r\n"),
		cl("a4 UID FETCH 7 (UID BODY.PEEK[2])\r\n"),
		sv("* 1 FETCH (UID 7 BODY[2] " + litOf(exe) + ")\r\na4 OK done\r\n"),
		cl("a5 UID FETCH 7 (UID BODY.PEEK[3.2] BINARY.PEEK[2])\r\n"),
		sv("* 1 FETCH (UID 7 BODY[3.2] " + litOf(pdf) + " BINARY[2] ~" + litOf(bin) + ")\r\na5 OK done\r\n"),
		// The structure and the part in one response, message 2.
		cl("a6 FETCH 2 (BODYSTRUCTURE BODY.PEEK[1])\r\n"),
		sv(`* 2 FETCH (BODYSTRUCTURE ("application" "pdf" ("name" "a.pdf") NIL NIL "base64" 100 NIL NIL NIL NIL) BODY[1] ` + litOf(pdf) + ")\r\na6 OK done\r\n"),
		// Another mailbox: message 1 there is another message.
		cl("a7 SELECT Archive\r\n"),
		sv("* 1 EXISTS\r\na7 OK [READ-WRITE] done\r\n"),
		cl("a8 FETCH 1 (BODY.PEEK[2])\r\n"),
		sv("* 1 FETCH (BODY[2] " + litOf(exe) + ")\r\na8 OK done\r\n"),
	})
	binHeader := "Content-Type: application/x-msdownload; name=\"tool.exe\"\r\n" +
		"Content-Disposition: attachment; filename=\"tool.exe\"\r\nContent-Transfer-Encoding: binary\r\n"
	guessed := "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		wantMsgs := []string{
			exeHeader + "\r\n" + exe,
			pdfHeader + "\r\n" + pdf,
			binHeader + "\r\n" + bin,
			"Content-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + pdf,
			guessed + "\r\n" + exe,
		}
		if len(sink.Msgs) != len(wantMsgs) {
			t.Fatalf("%d messages, want %d", len(sink.Msgs), len(wantMsgs))
		}
		for i, w := range wantMsgs {
			if m := sink.Msgs[i]; string(m.Data) != w || m.Cut != transfer.Whole {
				t.Errorf("message %d (%s):\n got  %q\n want %q", i, m.Cut, m.Data, w)
			}
		}
		if st.Structures != 2 || st.Parts != 5 || st.PartsGuessed != 1 || st.StructBad != 0 || st.Malformed != 0 {
			t.Errorf("stats %+v", *st)
		}
	})
}

// fileRec records the files the MIME extractor opens.
type fileRec struct {
	files []*recFile
}

type recFile struct {
	meta transfer.Meta
	data bytes.Buffer
	cut  transfer.Cut
}

func (r *fileRec) Open(m *transfer.Meta) transfer.File {
	f := &recFile{meta: *m}
	r.files = append(r.files, f)
	return f
}

func (f *recFile) Write(p []byte) bool    { f.data.Write(p); return true }
func (f *recFile) Gap(n int64)            {}
func (f *recFile) Close(cut transfer.Cut) { f.cut = cut }

// TestPartSectionThroughMIME: the part reaches the file sink decoded and
// named, as a client fetching attachments one by one would download it.
func TestPartSectionThroughMIME(t *testing.T) {
	payload := append([]byte("MZ\x90\x00"), bytes.Repeat([]byte{0xe8, 0x00, 0x41}, 700)...)
	wire := mailtest.B64Lines(payload)
	rec := &fileRec{}
	p := New(mime.New(rec, mime.Options{}, nil), Options{}, nil)
	feed(p, script(selectINBOX, []ev{
		cl("a3 UID FETCH 7 (UID BODYSTRUCTURE)\r\n"),
		sv("* 1 FETCH (UID 7 BODYSTRUCTURE " + mixedStructure + ")\r\na3 OK done\r\n"),
		cl("a4 UID FETCH 7 (UID BODY.PEEK[2.MIME] BODY.PEEK[2])\r\n"),
		sv("* 1 FETCH (UID 7 BODY[2.MIME] " + litOf(exeHeader+"\r\n") + " BODY[2] " + litOf(wire) + ")\r\na4 OK done\r\n"),
	}))
	p.Close()
	if len(rec.files) != 1 {
		t.Fatalf("%d files, want 1", len(rec.files))
	}
	f := rec.files[0]
	if f.meta.Name != "tool.exe" || f.meta.Protocol != transfer.IMAP || f.meta.Mailbox != "INBOX" || f.meta.Transfer != "base64" {
		t.Errorf("meta %+v", f.meta)
	}
	if !bytes.Equal(f.data.Bytes(), payload) || f.cut != transfer.Whole {
		t.Errorf("file: %d bytes (want %d), cut %q", f.data.Len(), len(payload), f.cut)
	}
}

// The message's senders and subject reach a part fetched on its own:
// from an ENVELOPE, or from a header section the client read.
func TestPartMailContext(t *testing.T) {
	env := `("Mon, 7 Dec 2026 10:00:00 +0000" "=?utf-8?q?Rechnung_f=C3=BCr_Sie?=" (("Alice" NIL "alice" "corp.example"))` +
		` (("Alice" NIL "alice" "corp.example")) NIL (("Bob" NIL "bob" "corp.example")(NIL NIL "team" NIL)(NIL NIL "x" "y.example")(NIL NIL NIL NIL))` +
		` NIL NIL NIL "<m1@corp.example>")`
	hdr := "From: Alice <alice@corp.example>\r\nSubject: =?utf-8?q?Rechnung_f=C3=BCr?=\r\n =?utf-8?q?_Sie?=\r\nTo: bob@corp.example,\r\n\tx@y.example\r\n" +
		"Message-ID: <m1@corp.example>\r\nX-Other: not kept\r\n\r\n"
	part := "TVqQAAMAAAAEAAAA\r\n"
	for name, first := range map[string]string{
		"ENVELOPE": "* 1 FETCH (UID 7 ENVELOPE " + env + " BODYSTRUCTURE " + mixedStructure + ")\r\n",
		"HEADER.FIELDS": "* 1 FETCH (UID 7 BODYSTRUCTURE " + mixedStructure + " BODY[HEADER.FIELDS (FROM TO SUBJECT MESSAGE-ID X-OTHER)] " +
			litOf(hdr) + ")\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			rec := &fileRec{}
			st := new(Stats)
			p := New(mime.New(rec, mime.Options{}, nil), Options{}, st)
			feed(p, script(selectINBOX, []ev{
				cl("a3 UID FETCH 7 (UID ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT MESSAGE-ID X-OTHER)])\r\n"),
				sv(first + "a3 OK done\r\n"),
				cl("a4 UID FETCH 7 (UID BODY.PEEK[2])\r\n"),
				sv("* 1 FETCH (UID 7 BODY[2] " + litOf(part) + ")\r\na4 OK done\r\n"),
			}))
			p.Close()
			if len(rec.files) != 1 {
				t.Fatalf("%d files", len(rec.files))
			}
			m := rec.files[0].meta
			if m.Name != "tool.exe" || strings.Join(m.From, ",") != "alice@corp.example" ||
				strings.Join(m.To, ",") != "bob@corp.example,x@y.example" || m.Subject != "Rechnung für Sie" || m.MessageID != "m1@corp.example" {
				t.Errorf("meta: name %q from %q to %q subject %q id %q", m.Name, m.From, m.To, m.Subject, m.MessageID)
			}
			if st.Contexts != 1 || st.StructBad != 0 {
				t.Errorf("stats %+v", *st)
			}
		})
	}
}
