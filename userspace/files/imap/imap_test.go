package imap

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

const greet = "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] Dovecot ready.\r\n"

// msg1 is a message whose body holds what would confuse a parser that
// did not follow the literal by count.
const msg1 = "Return-Path: <alice@corp.example>\r\nFrom: alice@corp.example\r\nTo: bob@corp.example\r\n" +
	"Subject: numbers\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n" +
	")\r\n* 2 FETCH (BODY[] {5}\r\nabcde)\r\na3 OK Fetch completed.\r\n\"quoted\" {12}\r\nend\r\n"

func litOf(s string) string { return "{" + strconv.Itoa(len(s)) + "}\r\n" + s }

// selectINBOX logs in and selects INBOX, dovecot style.
var selectINBOX = []ev{
	sv(greet),
	cl("a1 LOGIN alice \"s3cr3t-pa55\"\r\n"),
	sv("a1 OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS] Logged in\r\n"),
	cl("a2 SELECT INBOX\r\n"),
	sv("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n" +
		"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n" +
		"* 2 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1700000000] UIDs valid\r\n* OK [UIDNEXT 9] Predicted next UID\r\n" +
		"a2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n"),
}

func script(evs ...[]ev) []ev {
	var out []ev
	for _, e := range evs {
		out = append(out, e...)
	}
	return out
}

// variants of a time-ordered script: as is, each event byte by byte, each
// cut at random points, and runs of one direction merged into one call.
func variants(evs []ev) map[string][]ev {
	r := rand.New(rand.NewPCG(1, 2))
	var bw, rc, merged []ev
	for _, e := range evs {
		if e.Data == nil {
			bw, rc = append(bw, e), append(rc, e)
		} else {
			bw = append(bw, bytewise(e.Client, e.Data)...)
			for d := e.Data; len(d) > 0; {
				n := min(1+r.IntN(40), len(d))
				rc = append(rc, ev{Client: e.Client, Data: d[:n]})
				d = d[n:]
			}
		}
		if k := len(merged) - 1; k >= 0 && e.Data != nil && merged[k].Data != nil && merged[k].Client == e.Client {
			merged[k].Data = append(bytes.Clone(merged[k].Data), e.Data...)
		} else {
			merged = append(merged, e)
		}
	}
	return map[string][]ev{"as is": evs, "byte by byte": bw, "random cuts": rc, "merged": merged}
}

// each runs a script in every variant.
func each(t *testing.T, opts Options, evs []ev, check func(t *testing.T, sink *recSink, st *Stats)) {
	t.Helper()
	for name, v := range variants(evs) {
		t.Run(name, func(t *testing.T) {
			sink, _, st := run(t, opts, v)
			check(t, sink, st)
		})
	}
}

// want checks the messages' bytes, cuts and mailboxes.
func want(t *testing.T, sink *recSink, msgs []string, cuts []transfer.Cut, mailbox string) {
	t.Helper()
	if len(sink.Msgs) != len(msgs) {
		t.Fatalf("%d messages, want %d", len(sink.Msgs), len(msgs))
	}
	for i, m := range sink.Msgs {
		if string(m.Data) != msgs[i] {
			t.Errorf("message %d: %q, want %q", i, m.Data, msgs[i])
		}
		if m.Cut != cuts[i] {
			t.Errorf("message %d: cut %q, want %q", i, m.Cut, cuts[i])
		}
		if m.Meta.Protocol != transfer.IMAP || m.Meta.Mailbox != mailbox {
			t.Errorf("message %d: meta %+v", i, m.Meta)
		}
	}
}

var whole = []transfer.Cut{transfer.Whole, transfer.Whole, transfer.Whole}

func TestFetchBodyLiteral(t *testing.T) {
	evs := script(selectINBOX, []ev{
		cl("a3 UID FETCH 7 (UID RFC822.SIZE FLAGS BODY.PEEK[])\r\n"),
		sv("* 1 FETCH (UID 7 RFC822.SIZE " + strconv.Itoa(len(msg1)) + " FLAGS (\\Seen) BODY[] " + litOf(msg1) + ")\r\n" +
			"a3 OK Fetch completed (0.001 + 0.000 secs).\r\n"),
		cl("a4 LOGOUT\r\n"),
		sv("* BYE Logging out\r\na4 OK Logout completed.\r\n"),
	})
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{msg1}, whole, "INBOX")
		if sink.Msgs[0].Meta.Upload {
			t.Error("a fetched message is not an upload")
		}
		if st.Commands != 4 || st.Fetches != 1 || st.Messages != 1 || st.Malformed != 0 || st.Literals != 1 {
			t.Errorf("stats %+v", *st)
		}
	})
}

func TestSeveralFetchesOnePacket(t *testing.T) {
	m2 := "Subject: two\r\n\r\nsecond\r\n"
	evs := script(selectINBOX, []ev{
		cl("a3 FETCH 1:2 (FLAGS BODY[])\r\n"),
		sv("* 1 FETCH (FLAGS (\\Seen) BODY[] " + litOf(msg1) + ")\r\n* 2 FETCH (BODY[] " + litOf(m2) + " FLAGS (\\Seen \\Answered))\r\n" +
			"* 3 EXISTS\r\na3 OK done\r\n"),
	})
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{msg1, m2}, whole, "INBOX")
		if st.Fetches != 2 || st.Messages != 2 || st.Malformed != 0 {
			t.Errorf("stats %+v", *st)
		}
	})
}

func TestRFC822AndBinary(t *testing.T) {
	bin := "Subject: b\r\n\r\n\x00\x01\x02\xff binary\r\n"
	evs := script(selectINBOX, []ev{
		cl("a3 FETCH 1 RFC822\r\n"),
		sv("* 1 FETCH (RFC822 " + litOf(msg1) + ")\r\na3 OK done\r\n"),
		cl("a4 FETCH 2 (BINARY.PEEK[])\r\n"),
		sv("* 2 FETCH (BINARY[] ~" + litOf(bin) + ")\r\na4 OK done\r\n"),
	})
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{msg1, bin}, whole, "INBOX")
	})
}

func TestSectionsSkippedOrGuessed(t *testing.T) {
	hdr := "From: a\r\nTo: b\r\n\r\n"
	evs := script(selectINBOX, []ev{
		cl("a3 FETCH 1 (BODY.PEEK[HEADER] BODY.PEEK[HEADER.FIELDS (FROM TO)] BODY.PEEK[1.2] RFC822.TEXT BODY.PEEK[2.MIME])\r\n"),
		sv("* 1 FETCH (BODY[HEADER] " + litOf(hdr) + " BODY[HEADER.FIELDS (FROM TO)] " + litOf(hdr) +
			" BODY[1.2] " + litOf("QUJD\r\n") + " RFC822.TEXT " + litOf("text\r\n") + " BODY[2.MIME] \"Content-Type: x\" BINARY[2] ~" + litOf("\x00\x01") +
			" BODY[]<100> " + litOf("middle") + ")\r\n" + "* 2 FETCH (BODY[] " + litOf(msg1) + ")\r\na3 OK done\r\n"),
	})
	// BODY[1.2] and BINARY[2] come without a BODYSTRUCTURE: taken as
	// base64 and as decoded bytes, with the From and To the header
	// sections before them gave.
	p12 := "From: a\r\nTo: b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD\r\n"
	b2 := "From: a\r\nTo: b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\x01"
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{p12, b2, msg1}, []transfer.Cut{"", "", ""}, "INBOX")
		if st.HeaderText != 2 || st.Contexts != 2 || st.Parts != 2 || st.PartsGuessed != 2 || st.Sections != 0 || st.PiecesDropped != 1 || st.Malformed != 0 {
			t.Errorf("stats %+v", *st)
		}
	})
}

func TestSkipReturned(t *testing.T) {
	sink := newSink(t)
	st := new(Stats)
	p := New(sink, Options{}, st)
	feed(p, script(selectINBOX))
	if skip := p.Data(false, []byte("* 1 FETCH (BODY[TEXT] {100}\r\n0123456789")); skip != 90 {
		t.Fatalf("skip %d, want 90", skip)
	}
	p.Data(false, []byte(" UID 4)\r\n* 2 FETCH (BODY[] "+litOf(msg1)+")\r\n"))
	p.Close()
	sink.CheckClosed()
	want(t, sink, []string{msg1}, whole, "INBOX")
	if st.Skipped != 90 || st.Malformed != 0 {
		t.Errorf("stats %+v", *st)
	}
}

func TestPartial(t *testing.T) {
	full := strconv.Itoa(len(msg1))
	evs := script(selectINBOX, []ev{
		cl("a3 FETCH 1:3 (RFC822.SIZE BODY.PEEK[]<0.2048>)\r\n"),
		// Whole: RFC822.SIZE, before or after, says so.
		sv("* 1 FETCH (RFC822.SIZE " + full + " BODY[]<0> " + litOf(msg1) + ")\r\n"),
		sv("* 2 FETCH (BODY[]<0> " + litOf(msg1) + " RFC822.SIZE " + full + ")\r\n"),
		// Truncated by the range.
		sv("* 3 FETCH (BODY[]<0> " + litOf(msg1[:40]) + " RFC822.SIZE " + full + ")\r\n"),
		// No size, but shorter than the 2048 bytes asked for: all there is.
		sv("* 4 FETCH (BODY[]<0> " + litOf(msg1) + ")\r\na3 OK done\r\n"),
	})
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{msg1, msg1, msg1[:40], msg1},
			[]transfer.Cut{transfer.Whole, transfer.Whole, transfer.CutNotFinal, transfer.Whole}, "INBOX")
		if st.Partials != 4 {
			t.Errorf("stats %+v", *st)
		}
	})
}

func TestQuotedAndNil(t *testing.T) {
	evs := script(selectINBOX, []ev{
		cl("a3 FETCH 1:2 BODY[]\r\n"),
		sv("* 1 FETCH (BODY[] \"Subject: \\\"q\\\" \\\\ x\")\r\n* 2 FETCH (BODY[] NIL UID 3)\r\na3 OK done\r\n"),
	})
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{`Subject: "q" \ x`}, whole, "INBOX")
		if st.Quoted != 1 || st.Nil != 1 || st.Malformed != 0 {
			t.Errorf("stats %+v", *st)
		}
	})
}

func TestBodyStructureBeforeBody(t *testing.T) {
	// Nested lists, quoted strings with parentheses and escapes, and a
	// literal inside BODYSTRUCTURE, before the message item.
	bs := "BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL)" +
		"(\"application\" \"pdf\" (\"name\" " + litOf("rep)rt (1).pdf") + ") NIL \"desc \\\"(\\\"\" \"base64\" 100 NIL NIL NIL NIL)" +
		" \"mixed\" (\"boundary\" \"b)1\") NIL NIL NIL)"
	evs := script(selectINBOX, []ev{
		cl("a3 FETCH 1 (BODYSTRUCTURE ENVELOPE BODY.PEEK[])\r\n"),
		sv("* 1 FETCH (UID 5 " + bs + " ENVELOPE (\"Mon, 1 Jan 2026\" " + litOf("subj {3}") + " NIL NIL NIL NIL NIL NIL NIL \"<id@x>\") BODY[] " +
			litOf(msg1) + ")\r\na3 OK done\r\n"),
	})
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{msg1}, whole, "INBOX")
		if st.Literals != 3 || st.Malformed != 0 {
			t.Errorf("stats %+v", *st)
		}
	})
}

func TestAppend(t *testing.T) {
	up := "From: bob\r\nSubject: sent\r\n\r\nhello\r\n"
	up2 := "Subject: second\r\n\r\n2\r\n"
	evs := script(selectINBOX, []ev{
		// LITERAL+: no continuation request.
		cl("a3 APPEND Sent (\\Seen) \"01-Jan-2026 10:00:00 +0000\" {" + strconv.Itoa(len(up)) + "+}\r\n" + up + "\r\n"),
		sv("a3 OK [APPENDUID 1 5] Append completed.\r\n"),
		// Synchronising, with the mailbox as a literal too, two messages
		// (MULTIAPPEND).
		cl("a4 APPEND " + litOf("Drafts") + " " + "{" + strconv.Itoa(len(up2)) + "}\r\n"),
		sv("+ OK\r\n"),
		cl(up2 + " (\\Draft) " + litOf(up) + "\r\n"),
		sv("a4 OK done\r\n"),
	})
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		if len(sink.Msgs) != 3 {
			t.Fatalf("%d messages", len(sink.Msgs))
		}
		for i, w := range []struct{ data, box string }{{up, "Sent"}, {up2, "Drafts"}, {up, "Drafts"}} {
			m := sink.Msgs[i]
			if string(m.Data) != w.data || m.Meta.Mailbox != w.box || !m.Meta.Upload || m.Cut != transfer.Whole {
				t.Errorf("append %d: %q in %q upload %v cut %q", i, m.Data, m.Meta.Mailbox, m.Meta.Upload, m.Cut)
			}
		}
		if st.Appends != 3 || st.Commands != 4 || st.Malformed != 0 {
			t.Errorf("stats %+v", *st)
		}
	})
}

func TestSTARTTLS(t *testing.T) {
	hello := "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03a5 FETCH 1 BODY[]\r\n"
	evs := []ev{sv(greet), cl("a1 CAPABILITY\r\n"), sv("* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK done\r\n"),
		cl("a2 STARTTLS\r\n"), sv("a2 OK Begin TLS negotiation now.\r\n"), cl(hello), sv("\x16\x03\x03\x00\x7a\x02")}
	for name, v := range variants(evs) {
		sink := newSink(t)
		st := new(Stats)
		p := New(sink, Options{}, st)
		feed(p, v)
		if !p.Done() || st.StartTLS != 1 || st.Commands != 2 {
			t.Errorf("%s: done %v stats %+v", name, p.Done(), *st)
		}
	}
	// The server's stream fed first: the client's TLS bytes settle it.
	sink := newSink(t)
	p := New(sink, Options{}, nil)
	p.Data(false, []byte(greet+"* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK done\r\na2 OK Begin TLS\r\n\x16\x03\x03\x00\x7a\x02"))
	p.Data(true, []byte("a1 CAPABILITY\r\na2 STARTTLS\r\n"+hello))
	if !p.Done() {
		t.Error("server first: not done")
	}
	// Refused: the session goes on.
	evs = script([]ev{sv(greet), cl("a2 STARTTLS\r\n"), sv("a2 BAD not now\r\n")}, selectINBOX[1:],
		[]ev{cl("a3 FETCH 1 BODY[]\r\n"), sv("* 1 FETCH (BODY[] " + litOf(msg1) + ")\r\n")})
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{msg1}, whole, "INBOX")
	})
}

func TestMailboxTracked(t *testing.T) {
	m2 := "Subject: 2\r\n\r\n"
	evs := []ev{sv(greet),
		cl("b1 SELECT \"Archive/2026 \\\"Q1\\\"\"\r\n"), sv("b1 OK [READ-WRITE] done\r\n"),
		cl("b2 FETCH 1 BODY[]\r\n"), sv("* 1 FETCH (BODY[] " + litOf(msg1) + ")\r\nb2 OK done\r\n"),
		cl("b3 EXAMINE " + litOf("Sent Items") + "\r\n"), sv("b3 OK [READ-ONLY] done\r\n"),
		cl("b4 FETCH 1 BODY[]\r\n"), sv("* 1 FETCH (BODY[] " + litOf(m2) + ")\r\nb4 OK done\r\n"),
		cl("b5 SELECT Nope\r\n"), sv("b5 NO [NONEXISTENT] Mailbox doesn't exist: Nope\r\n"),
		cl("b6 FETCH 1 BODY[]\r\n"), sv("* 1 FETCH (BODY[] " + litOf(m2) + ")\r\nb6 BAD No mailbox selected\r\n"),
	}
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		if len(sink.Msgs) != 3 {
			t.Fatalf("%d messages", len(sink.Msgs))
		}
		for i, box := range []string{`Archive/2026 "Q1"`, "Sent Items", ""} {
			if got := sink.Msgs[i].Meta.Mailbox; got != box {
				t.Errorf("message %d in %q, want %q", i, got, box)
			}
		}
	})
}

func TestLiteralOverLimit(t *testing.T) {
	big := strings.Repeat("x", 1000)
	evs := script(selectINBOX, []ev{
		cl("a3 FETCH 1:2 BODY[]\r\n"),
		sv("* 1 FETCH (BODY[] " + litOf(big) + " UID 9)\r\n* 2 FETCH (BODY[] " + litOf(msg1[:90]) + ")\r\na3 OK done\r\n"),
	})
	each(t, Options{MaxLiteral: 100}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{big[:100], msg1[:90]}, []transfer.Cut{transfer.CutLimit, transfer.Whole}, "INBOX")
		if st.Limit != 1 || st.Malformed != 0 || st.Fetches != 2 {
			t.Errorf("stats %+v", *st)
		}
	})
}

func TestGapInLiteral(t *testing.T) {
	head := "* 1 FETCH (BODY[] {" + strconv.Itoa(len(msg1)) + "}\r\n"
	sink, _, st := run(t, Options{}, script(selectINBOX, []ev{
		cl("a3 FETCH 1:2 BODY[]\r\n"),
		sv(head + msg1[:30]), {Gap: 50}, sv(msg1[80:] + ")\r\n* 2 FETCH (BODY[] " + litOf(msg1) + ")\r\n"),
	}))
	if len(sink.Msgs) != 2 {
		t.Fatalf("%d messages", len(sink.Msgs))
	}
	m := sink.Msgs[0]
	if string(m.Data) != msg1[:30]+msg1[80:] || m.Gaps != 50 || m.Cut != transfer.CutGap {
		t.Errorf("gapped message %q gaps %d cut %q", m.Data, m.Gaps, m.Cut)
	}
	if string(sink.Msgs[1].Data) != msg1 || sink.Msgs[1].Cut != transfer.Whole || st.Desync != 0 || st.Malformed != 0 {
		t.Errorf("next message %q cut %q stats %+v", sink.Msgs[1].Data, sink.Msgs[1].Cut, *st)
	}
}

func TestGapInLine(t *testing.T) {
	// The framing is lost: lines are skipped up to a response start; the
	// literal announced in the lost line is not followed.
	sink, _, st := run(t, Options{}, script(selectINBOX, []ev{
		cl("a3 FETCH 1:2 BODY[]\r\n"),
		sv("* 1 FETCH (UID 3 BO"), {Gap: 10}, sv("DY[] ...\r\nline of the lost literal\r\n"),
		sv("* 2 FETCH (BODY[] " + litOf(msg1) + ")\r\na3 OK done\r\n"),
		cl("a4 NO"), {Client: true, Gap: 3}, cl("P\r\nlost\r\na5 FETCH 1 BODY[]\r\n"),
	}))
	// The lost literal is reported: a FETCH for messages was under way
	// and lines were passed over.
	want(t, sink, []string{"", msg1}, []transfer.Cut{transfer.CutGap, transfer.Whole}, "INBOX")
	if st.Desync != 2 || st.Resync != 2 || st.Commands != 4 || st.LostMessages != 1 || sink.Msgs[0].Gaps != int64(10+19+len("DY[] ...\r\nline of the lost literal\r\n")) {
		t.Errorf("gaps %d stats %+v", sink.Msgs[0].Gaps, *st)
	}
}

func TestCredentialsNotKept(t *testing.T) {
	const pass, sasl = "s3cr3t-pa55", "AGFsaWNlAHMzY3JldC1wYXNz"
	evs := []ev{sv(greet),
		cl("a1 LOGIN alice " + litOf(pass) + "\r\n"), sv("a1 NO bad\r\n"),
		cl("a2 LOGIN {5}\r\n"), sv("+ OK\r\n"), cl("alice \"" + pass + "\"\r\n"), sv("a2 NO bad\r\n"),
		cl("a3 AUTHENTICATE PLAIN\r\n"), sv("+ \r\n"), cl(sasl + "\r\n"), sv("a3 OK done\r\n"),
		cl("a4 SELECT INBOX\r\n"), sv("a4 OK done\r\n"),
		cl("a5 FETCH 1 BODY[]\r\n"), sv("* 1 FETCH (BODY[] " + litOf(msg1) + ")\r\n"),
	}
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{msg1}, whole, "INBOX")
		if st.Commands != 5 || st.Malformed != 0 {
			t.Errorf("stats %+v", *st)
		}
	})
	// Byte by byte: no more of a credential than a SASL line's first
	// bytes (until it shows it is not a command) is ever stored.
	sink := newSink(t)
	p := New(sink, Options{}, nil)
	for _, e := range bytewiseAll(evs) {
		feed(p, []ev{e})
		if bytes.Contains(p.c.seg.buf, []byte(pass[:2])) || bytes.Contains(p.c.seg.buf, []byte(sasl[len(sasl)-4:])) {
			t.Fatalf("the line buffer holds %q", p.c.seg.buf)
		}
	}
	p.Close()
	want(t, sink, []string{msg1}, whole, "INBOX")
}

func bytewiseAll(evs []ev) []ev {
	var out []ev
	for _, e := range evs {
		out = append(out, bytewise(e.Client, e.Data)...)
	}
	return out
}

func TestIdle(t *testing.T) {
	evs := script(selectINBOX, []ev{
		cl("a3 IDLE\r\n"), sv("+ idling\r\n* 3 EXISTS\r\n"), cl("DONE\r\n"), sv("a3 OK Idle completed\r\n"),
		cl("a4 FETCH 3 BODY[]\r\n"), sv("* 3 FETCH (BODY[] " + litOf(msg1) + ")\r\na4 OK done\r\n"),
	})
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{msg1}, whole, "INBOX")
		if st.Commands != 4 || st.Malformed != 0 {
			t.Errorf("stats %+v", *st)
		}
	})
}

func TestLongLines(t *testing.T) {
	// A line longer than MaxLine is followed (its literal too) but its
	// items are not read; the next response is.
	long := "* 1 FETCH (UID 1 X-LONG \"" + strings.Repeat("y", 300) + "\" BODY[] " + litOf(msg1) + ")\r\n"
	evs := script(selectINBOX, []ev{
		cl("a3 UID FETCH " + strings.Repeat("1,", 200) + "2 BODY[]\r\n"),
		sv(long + "* 2 FETCH (BODY[] " + litOf(msg1) + ")\r\na3 OK done\r\n"),
	})
	each(t, Options{MaxLine: 200}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{msg1}, whole, "INBOX")
		if st.LongLines != 2 || st.Commands != 3 {
			t.Errorf("stats %+v", *st)
		}
	})
}

func TestNotIMAP(t *testing.T) {
	for name, evs := range map[string][]ev{
		"smtp server": {sv("220 mx ESMTP\r\n")},
		"http client": {cl("GET / HTTP/1.1\r\n")},
		"tls client":  {cl("\x16\x03\x01\x00\xa5\x01")},
		"pop3 server": {sv("+OK POP3 ready\r\n")},
		"bad command": {sv(greet), cl("a1 HELLO\r\n")},
		"split":       {sv(greet), cl("a1 HEL"), cl("LO x\r\n")},
	} {
		sink := newSink(t)
		st := new(Stats)
		p := New(sink, Options{}, st)
		feed(p, evs)
		if !p.Done() || st.NotIMAP != 1 {
			t.Errorf("%s: done %v stats %+v", name, p.Done(), *st)
		}
	}
}

func TestUnfinished(t *testing.T) {
	sink, _, _ := run(t, Options{}, script(selectINBOX, []ev{
		cl("a3 FETCH 1 BODY[]\r\n"), sv("* 1 FETCH (BODY[] {500}\r\n" + msg1[:20]),
	}))
	want(t, sink, []string{msg1[:20]}, []transfer.Cut{transfer.CutEnded}, "INBOX")
}

func TestOrderings(t *testing.T) {
	// Each direction whole, one after the other: the messages are the
	// same; the mailbox is known only when the SELECT comes first.
	evs := script(selectINBOX, []ev{
		cl("a3 FETCH 1:2 (UID BODY.PEEK[])\r\n"),
		sv("* 1 FETCH (UID 1 BODY[] " + litOf(msg1) + ")\r\n* 2 FETCH (UID 2 BODY[] " + litOf(msg1[:50]) + ")\r\na3 OK done\r\n"),
		cl("a4 LOGOUT\r\n"), sv("* BYE\r\na4 OK\r\n"),
	})
	var client, server []byte
	for _, e := range evs {
		if e.Client {
			client = append(client, e.Data...)
		} else {
			server = append(server, e.Data...)
		}
	}
	for name, box := range map[string]string{"client first": "INBOX", "server first": ""} {
		o := orderings(client, server, 5)[name]
		sink, _, st := run(t, Options{}, o)
		want(t, sink, []string{msg1, msg1[:50]}, whole, box)
		if st.Commands != 4 || st.Fetches != 2 || st.Malformed != 0 {
			t.Errorf("%s: stats %+v", name, *st)
		}
	}
}

func TestSASLThenSplitCommand(t *testing.T) {
	// After AUTHENTICATE, a command split inside its tag is still seen.
	sink, _, st := run(t, Options{}, []ev{sv(greet),
		cl("a1 AUTHENTICATE PLAIN\r\n"), sv("+ \r\n"), cl("AGFsaWNl"), cl("AHBhc3M=\r\n"), sv("a1 OK\r\n"),
		cl("a2 SEL"), cl("ECT INBOX\r\n"), sv("a2 OK\r\n"),
		cl("a3 FETCH 1 BODY[]\r\n"), sv("* 1 FETCH (BODY[] " + litOf(msg1) + ")\r\n"),
	})
	want(t, sink, []string{msg1}, whole, "INBOX")
	if st.Commands != 3 || st.Malformed != 0 {
		t.Errorf("stats %+v", *st)
	}
}
