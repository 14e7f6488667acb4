package smtp

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/mime"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// holed runs a session whose client stream loses [from, to) in several
// interleavings of the two directions (each in pieces of n bytes, the
// gap where it falls) and calls check on each.
func holed(t *testing.T, client, server string, from, to int, check func(t *testing.T, sink *recSink, st *Stats)) {
	t.Helper()
	for _, n := range []int{0, 1448, 40, 7} {
		for _, serverFirst := range []bool{true, false} {
			t.Run(fmt.Sprintf("n=%d server first %v", n, serverFirst), func(t *testing.T) {
				var cs, ss []ev
				cut := func(s string, client bool) []ev {
					var out []ev
					for len(s) > 0 {
						k := len(s)
						if n > 0 {
							k = min(n, k)
						}
						out = append(out, ev{Client: client, Data: []byte(s[:k])})
						s = s[k:]
					}
					return out
				}
				cs = append(cut(client[:from], true), ev{Client: true, Gap: int64(to - from)})
				cs = append(cs, cut(client[to:], true)...)
				ss = cut(server, false)
				var evs []ev
				if serverFirst {
					evs = append(ss, cs...)
				} else {
					// Alternate, the client a little ahead.
					for i := 0; i < max(len(cs), len(ss)); i++ {
						if i < len(cs) {
							evs = append(evs, cs[i])
						}
						if i < len(ss) {
							evs = append(evs, ss[i])
						}
					}
				}
				sink, _, st := run(t, Options{}, evs)
				check(t, sink, st)
			})
		}
	}
}

const (
	twoMsgs = "EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nFrom: a@x\r\nSubject: one\r\n\r\nfirst\r\n.\r\n" +
		"MAIL FROM:<c@x>\r\nRCPT TO:<d@x>\r\nDATA\r\nFrom: c@x\r\nSubject: two\r\n\r\nsecond\r\n.\r\nQUIT\r\n"
	twoReplies = greet + "250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n221 bye\r\n"
)

// span is where the n-th occurrence (from 1) of s starts and ends.
func span(h, s string, n int) (int, int) {
	off := 0
	for range n - 1 {
		off += strings.Index(h[off:], s) + 1
	}
	i := off + strings.Index(h[off:], s)
	return i, i + len(s)
}

func TestHoleOverMAIL(t *testing.T) {
	from, to := span(twoMsgs, "MAIL FROM:<a@x>\r\n", 1)
	holed(t, twoMsgs, twoReplies, from+2, to, func(t *testing.T, sink *recSink, st *Stats) {
		if len(sink.Msgs) != 2 {
			t.Fatalf("%d messages", len(sink.Msgs))
		}
		// The envelope lost its sender; the message itself is whole.
		if m := sink.Msgs[0]; string(m.Data) != "From: a@x\r\nSubject: one\r\n\r\nfirst\r\n" || m.Cut != transfer.Whole || m.Meta.MailFrom != "" {
			t.Errorf("first %q cut %q from %q", m.Data, m.Cut, m.Meta.MailFrom)
		}
		if m := sink.Msgs[1]; string(m.Data) != "From: c@x\r\nSubject: two\r\n\r\nsecond\r\n" || m.Cut != transfer.Whole || m.Meta.MailFrom != "c@x" {
			t.Errorf("second %q cut %q from %q", m.Data, m.Cut, m.Meta.MailFrom)
		}
		if st.Desync != 1 || st.Resync != 1 || st.LostStarts != 0 {
			t.Errorf("stats %+v", *st)
		}
	})
}

// A gap over DATA: the message that follows is found (the server said
// 354, or its first line is a header field), opened with the gap first
// (its start may be lost) and run to its end; the next one is whole.
func TestHoleOverDATA(t *testing.T) {
	cases := []struct {
		name string
		at   func() (int, int)
	}{
		{"DATA line", func() (int, int) { return span(twoMsgs, "DATA\r\n", 1) }},
		{"DATA and the first line", func() (int, int) {
			a, _ := span(twoMsgs, "DATA\r\n", 1)
			_, b := span(twoMsgs, "From: a@x\r\n", 1)
			return a + 1, b - 3
		}},
		{"RCPT to mid-header", func() (int, int) {
			a, _ := span(twoMsgs, "RCPT TO:<b@x>", 1)
			_, b := span(twoMsgs, "Subject: o", 1)
			return a, b
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			from, to := c.at()
			holed(t, twoMsgs, twoReplies, from, to, func(t *testing.T, sink *recSink, st *Stats) {
				if len(sink.Msgs) != 2 {
					t.Fatalf("%d messages, stats %+v", len(sink.Msgs), *st)
				}
				// What follows the line that told the message goes on,
				// up to its end (or to a reply that says it ended).
				if m := sink.Msgs[0]; m.Gaps < 1 || m.Cut != transfer.CutGap || !strings.Contains("Subject: one\r\n\r\nfirst\r\n", string(m.Data)) {
					t.Errorf("first: gaps %d cut %q data %q", m.Gaps, m.Cut, m.Data)
				}
				if m := sink.Msgs[1]; string(m.Data) != "From: c@x\r\nSubject: two\r\n\r\nsecond\r\n" || m.Cut != transfer.Whole {
					t.Errorf("second %q cut %q", m.Data, m.Cut)
				}
				if st.LostStarts != 1 {
					t.Errorf("stats %+v", *st)
				}
			})
		})
	}
	// The whole message went with the gap: its end of data, after a 354
	// not paired with a DATA seen, still tells it was there.
	a, _ := span(twoMsgs, "DATA\r\n", 1)
	_, b := span(twoMsgs, "first\r\n", 1)
	holed(t, twoMsgs, twoReplies, a, b, func(t *testing.T, sink *recSink, st *Stats) {
		if len(sink.Msgs) != 2 || sink.Msgs[0].Cut != transfer.CutGap || sink.Msgs[1].Cut != transfer.Whole {
			t.Errorf("%d messages, stats %+v", len(sink.Msgs), *st)
		}
	})
}

// Through the MIME extractor: a message whose start was lost is one file
// whose head was lost, and the messages around it give their files.
func TestHoleOverDATAFiles(t *testing.T) {
	files := &fileSink{}
	p := New(mime.New(files, mime.Options{}, nil), Options{}, nil)
	a, b := span(twoMsgs, "DATA\r\n", 1)
	p.Data(false, []byte(twoReplies))
	p.Data(true, []byte(twoMsgs[:a]))
	p.Gap(true, int64(b-a))
	p.Data(true, []byte(twoMsgs[b:]))
	p.Close()
	if len(files.metas) != 2 || !files.metas[0].HeadLost || files.cuts[0] != transfer.CutGap ||
		files.metas[0].MailFrom != "a@x" || files.metas[1].HeadLost || files.cuts[1] != transfer.Whole || files.metas[1].Subject != "two" {
		t.Errorf("files %+v cuts %q", files.metas, files.cuts)
	}
}

// A gap over a BDAT command line: the chunk's bytes are passed over, the
// next BDAT is found though it follows the chunk mid-line, and the
// message is cut with what was lost; a message opened by a BDAT with no
// MAIL since a gap starts with a gap.
func TestHoleInBDAT(t *testing.T) {
	c1, c2 := strings.Repeat("a", 300)+"\r\nno line end", strings.Repeat("b", 200)
	client := "EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n" +
		"BDAT " + strconv.Itoa(len(c1)) + "\r\n" + c1 + "BDAT " + strconv.Itoa(len(c2)) + " LAST\r\n" + c2 +
		"MAIL FROM:<e@x>\r\nRCPT TO:<f@x>\r\nBDAT 5 LAST\r\nhelloQUIT\r\n"
	server := greet + "250 hi\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 queued\r\n250 ok\r\n250 ok\r\n250 queued\r\n221 bye\r\n"
	from, _ := span(client, "BDAT 3", 1)
	holed(t, client, server, from+2, from+7, func(t *testing.T, sink *recSink, st *Stats) {
		if len(sink.Msgs) != 2 {
			t.Fatalf("%d messages, stats %+v", len(sink.Msgs), *st)
		}
		m := sink.Msgs[0]
		if m.Cut != transfer.CutGap || string(m.Data) != c2 || m.Gaps != int64(len(c1)+len("BDAT 312\r\n")) {
			t.Errorf("first: cut %q data %d bytes gaps %d (want %d)", m.Cut, len(m.Data), m.Gaps, len(c1)+len("BDAT 312\r\n"))
		}
		if m := sink.Msgs[1]; string(m.Data) != "hello" || m.Cut != transfer.Whole || m.Meta.MailFrom != "e@x" {
			t.Errorf("second %q cut %q", m.Data, m.Cut)
		}
	})
	// The gap took MAIL and the first chunk: the LAST chunk opens a
	// message, which cannot be whole.
	from, _ = span(client, "MAIL FROM:<a@x>", 1)
	to, _ := span(client, "BDAT 2", 1)
	holed(t, client, server, from, to, func(t *testing.T, sink *recSink, st *Stats) {
		if len(sink.Msgs) != 2 || sink.Msgs[0].Cut != transfer.CutGap || sink.Msgs[0].Gaps == 0 || string(sink.Msgs[0].Data) != c2 ||
			sink.Msgs[1].Cut != transfer.Whole || st.LostStarts != 1 {
			t.Errorf("%d messages, stats %+v", len(sink.Msgs), *st)
		}
	})
}

// A gap that took the end of data: the server's reply, which comes only
// after it, ends the message (cut) and the next transaction is whole.
func TestLostEndOfDataReply(t *testing.T) {
	sink, _, st := run(t, Options{}, []ev{
		sv(greet + "250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
		cl("EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nSubject: x\r\n\r\nbody"), {Client: true, Gap: 7},
		sv("250 queued\r\n"),
		cl("MAIL FROM:<c@x>\r\nRCPT TO:<d@x>\r\nDATA\r\nSubject: y\r\n\r\ntwo\r\n.\r\n"),
		sv("250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n"),
	})
	if len(sink.Msgs) != 2 || sink.Msgs[0].Cut != transfer.CutGap || string(sink.Msgs[1].Data) != "Subject: y\r\n\r\ntwo\r\n" ||
		sink.Msgs[1].Cut != transfer.Whole || st.LostEnds != 1 {
		t.Errorf("%d messages, stats %+v", len(sink.Msgs), *st)
	}
}

// fileSink records the files the MIME extractor opens.
type fileSink struct {
	metas []transfer.Meta
	cuts  []transfer.Cut
}

func (s *fileSink) Open(m *transfer.Meta) transfer.File {
	s.metas = append(s.metas, *m)
	s.cuts = append(s.cuts, "?")
	return &fileRec{s: s, i: len(s.cuts) - 1}
}

type fileRec struct {
	s *fileSink
	i int
}

func (f *fileRec) Write([]byte) bool      { return true }
func (f *fileRec) Gap(int64)              {}
func (f *fileRec) Close(cut transfer.Cut) { f.s.cuts[f.i] = cut }
