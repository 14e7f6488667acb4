package imap

import (
	"strconv"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/mime"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// plain is a message with nothing in it that reads as IMAP.
const plain = "From: alice@corp.example\r\nTo: bob@corp.example\r\nSubject: report\r\nContent-Type: application/pdf; name=r.pdf\r\n\r\n" +
	"%PDF-1.4 line one\r\nline two\r\nline three\r\n"

// A gap over the announcement of a FETCH literal: the message is
// reported (its start lost: a gap first, cut), the lines of its literal
// are passed over, and the next message is whole.
func TestHoleOverLiteralHeader(t *testing.T) {
	head := "* 1 FETCH (UID 4 BODY[] {" + strconv.Itoa(len(plain)) + "}\r\n"
	after := ")\r\n* 2 FETCH (UID 5 BODY[] " + litOf(msg1) + ")\r\na3 OK Fetch completed.\r\n"
	server := head + plain + after
	cases := []struct {
		name     string
		from, to int
		certain  bool
	}{
		{"in the spec", strings.Index(head, "{") + 2, len(head) + 20, true},
		{"after the item", strings.Index(head, "{"), len(head) + 5, true},
		{"the whole line", 0, len(head) + 30, false},
		{"line end and the literal's start", len(head) - 2, len(head) + 10, false},
	}
	for _, c := range cases {
		for vname, evs := range variants(script(selectINBOX, []ev{
			cl("a3 FETCH 1:2 (UID BODY.PEEK[])\r\n"),
			sv(server[:c.from]), {Gap: int64(c.to - c.from)}, sv(server[c.to:]),
		})) {
			sink, _, st := run(t, Options{}, evs)
			if len(sink.Msgs) != 2 {
				t.Fatalf("%s %s: %d messages", c.name, vname, len(sink.Msgs))
			}
			lost := sink.Msgs[0]
			if len(lost.Data) != 0 || lost.Gaps == 0 || lost.Cut != transfer.CutGap || lost.Meta.Mailbox != "INBOX" || st.LostMessages != 1 {
				t.Errorf("%s %s: lost message %q gaps %d cut %q stats %+v", c.name, vname, lost.Data, lost.Gaps, lost.Cut, *st)
			}
			if m := sink.Msgs[1]; string(m.Data) != msg1 || m.Cut != transfer.Whole {
				t.Errorf("%s %s: next message cut %q", c.name, vname, m.Cut)
			}
			if st.Resync != 1 {
				t.Errorf("%s %s: stats %+v", c.name, vname, *st)
			}
		}
	}
	// No message under way: a gap in other lines reports nothing.
	sink, _, st := run(t, Options{}, script(selectINBOX, []ev{
		cl("a3 FETCH 1:2 (UID BODY.PEEK[])\r\n"),
		sv("* 1 FETCH (FLAGS (\\Seen))\r\n* 3 EXI"), {Gap: 7}, sv("ENT\r\n* 2 FETCH (BODY[] " + litOf(plain) + ")\r\na3 OK\r\n"),
	}))
	if len(sink.Msgs) != 1 || st.LostMessages != 0 {
		t.Errorf("%d messages, stats %+v", len(sink.Msgs), *st)
	}
	// Nor when no FETCH for messages was under way.
	sink, _, st = run(t, Options{}, script(selectINBOX, []ev{
		cl("a3 FETCH 1:2 (FLAGS)\r\n"),
		sv("* 1 FETCH (FLAGS (\\Seen)"), {Gap: 30}, sv("junk\r\nmore junk\r\n* 2 FETCH (FLAGS ())\r\na3 OK\r\n"),
	}))
	if len(sink.Msgs) != 0 || st.LostMessages != 0 || st.Resync != 1 {
		t.Errorf("%d messages, stats %+v", len(sink.Msgs), *st)
	}
}

// Lines of a message that look like responses to a lax reader ("* Note",
// "* 3 items") do not end the seeking.
func TestStrictResyncLines(t *testing.T) {
	for _, l := range []string{"* Note this\r\n", "* 3 items left\r\n", "* OKAY\r\n", "a1 OKAY then\r\n", "* FETCHES\r\n"} {
		if strictResponseStart([]byte(l)) {
			t.Errorf("%q taken for a response", l)
		}
	}
	for _, l := range []string{"* 3 FETCH (FLAGS ())\r\n", "* 12 EXISTS\r\n", "* OK [UIDNEXT 9]\r\n", "a3 OK done\r\n", "A0001 NO\r\n", "* BYE\r\n"} {
		if !strictResponseStart([]byte(l)) {
			t.Errorf("%q not taken for a response", l)
		}
	}
}

// A gap over an APPEND's literal announcement reports the upload.
func TestHoleOverAPPEND(t *testing.T) {
	cmd := "a5 APPEND Sent (\\Seen) {" + strconv.Itoa(len(plain)) + "}\r\n"
	client := cmd + plain + "\r\na6 NOOP\r\n"
	sink, _, st := run(t, Options{}, script(selectINBOX, []ev{
		cl(client[:16]), {Client: true, Gap: int64(len(cmd) - 16 + 4)}, cl(client[len(cmd)+4:]),
		sv("+ Ready\r\na5 OK Append completed.\r\na6 OK\r\n"),
	}))
	if len(sink.Msgs) != 1 || !sink.Msgs[0].Meta.Upload || sink.Msgs[0].Meta.Mailbox != "Sent" || sink.Msgs[0].Cut != transfer.CutGap ||
		sink.Msgs[0].Gaps != int64(len(cmd)+4) || st.LostMessages != 1 {
		t.Errorf("%d messages, stats %+v", len(sink.Msgs), *st)
	}
}

// Through the MIME extractor: the lost message is a file whose head was
// lost; the next is typed as usual.
func TestLostMessageFile(t *testing.T) {
	files := &lostFileSink{}
	p := New(mime.New(files, mime.Options{}, nil), Options{}, nil)
	head := "* 1 FETCH (BODY[] {" + strconv.Itoa(len(plain)) + "}\r\n"
	feed(p, script(selectINBOX, []ev{
		cl("a3 FETCH 1:2 BODY[]\r\n"),
		sv(head[:15]), {Gap: int64(len(head) - 15 + 10)}, sv(plain[10:] + ")\r\n* 2 FETCH (BODY[] " + litOf(plain) + ")\r\na3 OK\r\n"),
	}))
	p.Close()
	if len(files.metas) != 2 || !files.metas[0].HeadLost || files.cuts[0] != transfer.CutGap || files.metas[0].Mailbox != "INBOX" ||
		files.metas[1].Name != "r.pdf" || files.cuts[1] != transfer.Whole {
		t.Errorf("files %+v cuts %q", files.metas, files.cuts)
	}
}

// lostFileSink records the files the MIME extractor opens.
type lostFileSink struct {
	metas []transfer.Meta
	cuts  []transfer.Cut
}

func (s *lostFileSink) Open(m *transfer.Meta) transfer.File {
	s.metas = append(s.metas, *m)
	s.cuts = append(s.cuts, "?")
	return &lostFileRec{s: s, i: len(s.cuts) - 1}
}

type lostFileRec struct {
	s *lostFileSink
	i int
}

func (f *lostFileRec) Write([]byte) bool      { return true }
func (f *lostFileRec) Gap(int64)              {}
func (f *lostFileRec) Close(cut transfer.Cut) { f.s.cuts[f.i] = cut }

// Unfinished lines both ways hold one line per direction (MaxLine at
// most), beside the parser's state and what it keeps by message number.
func TestFootprintBoundedByOneLine(t *testing.T) {
	p := New(newSink(t), Options{}, nil)
	idle := p.Footprint()
	feed(p, selectINBOX)
	base := p.Footprint()
	t.Logf("new parser %d bytes, after login and SELECT %d", idle, base)
	bound := base + 2*p.opt.MaxLine
	for i := range 2000 {
		p.Data(true, []byte("a"+strconv.Itoa(i)+" NOOP "+strings.Repeat("n", 100)))
		p.Data(false, []byte("* OK "+strings.Repeat("o", 100)))
		if i%2 == 0 {
			p.Data(true, []byte("\r\n"))
			p.Data(false, []byte("\r\n"))
		}
		if fp := p.Footprint(); fp > bound {
			t.Fatalf("line %d: Footprint %d, bound %d", i, fp, bound)
		}
	}
	for range 200 {
		p.Data(false, []byte(strings.Repeat("x", 1000)))
		p.Data(true, []byte(strings.Repeat("y", 1000)))
		if fp := p.Footprint(); fp > bound {
			t.Fatalf("endless lines: Footprint %d, bound %d", fp, bound)
		}
	}
	t.Logf("endless lines: %d bytes", p.Footprint())
	p.Close()
}
