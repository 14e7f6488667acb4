package smtp

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

const greet = "220 mx.example ESMTP\r\n"

// session is a client and a server stream.
type session struct{ client, server string }

// each runs a session in every ordering and calls check on the result.
func (s session) each(t *testing.T, opts Options, check func(t *testing.T, sink *recSink, st *Stats)) {
	t.Helper()
	for name, evs := range orderings([]byte(s.client), []byte(s.server), 7) {
		t.Run(name, func(t *testing.T) {
			sink, _, st := run(t, opts, evs)
			check(t, sink, st)
		})
	}
	t.Run("byte by byte", func(t *testing.T) {
		evs := append(bytewise(false, []byte(s.server)), bytewise(true, []byte(s.client))...)
		sink, _, st := run(t, opts, evs)
		check(t, sink, st)
	})
}

// one checks that the sink got exactly one whole message.
func one(t *testing.T, sink *recSink, data, from string, rcpt ...string) *recMsg {
	t.Helper()
	if len(sink.Msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(sink.Msgs))
	}
	m := sink.Msgs[0]
	if string(m.Data) != data {
		t.Errorf("message %q, want %q", m.Data, data)
	}
	if m.Meta.MailFrom != from || !slices.Equal(m.Meta.RcptTo, rcpt) {
		t.Errorf("envelope %q -> %q, want %q -> %q", m.Meta.MailFrom, m.Meta.RcptTo, from, rcpt)
	}
	if m.Meta.Protocol != transfer.SMTP || !m.Meta.Upload {
		t.Errorf("meta %+v", m.Meta)
	}
	return m
}

func TestPipelining(t *testing.T) {
	s := session{
		client: "EHLO c.example\r\n" +
			"MAIL FROM:<a@x.example> SIZE=30 BODY=8BITMIME\r\n" +
			"RCPT TO:<b@y.example>\r\nRCPT TO:<bad@y.example>\r\nRCPT TO:<c@y.example> NOTIFY=NEVER\r\nDATA\r\n" +
			"Subject: hi\r\n\r\nbody\r\n.\r\n" +
			"MAIL FROM:<>\r\nRCPT TO:<d@y.example>\r\nDATA\r\n" +
			"Subject: two\r\n\r\n2\r\n.\r\nQUIT\r\n",
		server: greet + "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n" +
			"250 ok\r\n250 ok\r\n550 no such user\r\n250 ok\r\n354 go on\r\n250 queued\r\n" +
			"250 ok\r\n250 ok\r\n354 go on\r\n250 queued\r\n221 bye\r\n",
	}
	s.each(t, Options{}, func(t *testing.T, sink *recSink, st *Stats) {
		if len(sink.Msgs) != 2 {
			t.Fatalf("%d messages, want 2", len(sink.Msgs))
		}
		m := sink.Msgs[0]
		if string(m.Data) != "Subject: hi\r\n\r\nbody\r\n" || m.Cut != transfer.Whole {
			t.Errorf("first message %q cut %q", m.Data, m.Cut)
		}
		// The refused recipient is dropped: its reply precedes the 354.
		if m.Meta.MailFrom != "a@x.example" || !slices.Equal(m.Meta.RcptTo, []string{"b@y.example", "c@y.example"}) {
			t.Errorf("first envelope %q -> %q", m.Meta.MailFrom, m.Meta.RcptTo)
		}
		m = sink.Msgs[1]
		if string(m.Data) != "Subject: two\r\n\r\n2\r\n" || m.Meta.MailFrom != "" || !slices.Equal(m.Meta.RcptTo, []string{"d@y.example"}) {
			t.Errorf("second message %q %q -> %q", m.Data, m.Meta.MailFrom, m.Meta.RcptTo)
		}
		if st.Accepted != 2 || st.Commands != 10 || st.Misguessed != 0 || st.Malformed != 0 {
			t.Errorf("stats %+v", *st)
		}
	})
}

func TestRSET(t *testing.T) {
	s := session{
		client: "HELO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRSET\r\nMAIL FROM:<c@x>\r\nRCPT TO:<d@x>\r\nDATA\r\nS: 1\r\n\r\nx\r\n.\r\nQUIT\r\n",
		server: greet + "250 hi\r\n250 ok\r\n250 ok\r\n250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n",
	}
	s.each(t, Options{}, func(t *testing.T, sink *recSink, st *Stats) {
		one(t, sink, "S: 1\r\n\r\nx\r\n", "c@x", "d@x")
	})
}

func TestRejectedDATA(t *testing.T) {
	// The server refuses DATA: the client's next bytes are commands,
	// there is no message.
	s := session{
		client: "EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nRSET\r\nQUIT\r\n",
		server: greet + "250 hi\r\n250 ok\r\n550 no\r\n554 no valid recipients\r\n250 ok\r\n221 bye\r\n",
	}
	s.each(t, Options{}, func(t *testing.T, sink *recSink, st *Stats) {
		if len(sink.Msgs) != 0 {
			t.Errorf("%d messages, want none", len(sink.Msgs))
		}
		if st.Commands != 6 || st.Malformed != 0 || st.Guessed != 0 {
			t.Errorf("stats %+v", *st)
		}
	})
}

func TestRejectedMessage(t *testing.T) {
	// A message the server refuses after its end still crossed the wire.
	s := session{
		client: "EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nX: y\r\n\r\nvirus\r\n.\r\nQUIT\r\n",
		server: greet + "250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n554 5.7.1 rejected\r\n221 bye\r\n",
	}
	s.each(t, Options{}, func(t *testing.T, sink *recSink, st *Stats) {
		one(t, sink, "X: y\r\n\r\nvirus\r\n", "a@x", "b@x")
		if st.Rejected != 1 || st.Accepted != 0 {
			t.Errorf("stats %+v", *st)
		}
	})
}

func TestBDAT(t *testing.T) {
	c1 := "Subject: b\r\n\r\n.\r\n"   // a lone dot is content in BDAT
	c2 := "..not stuffed\r\nDATA\r\n" // nor is anything else
	c3 := "tail with no line end"     // chunks need not end lines
	s := session{
		client: "EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n" +
			"BDAT " + strconv.Itoa(len(c1)) + "\r\n" + c1 + "BDAT " + strconv.Itoa(len(c2)) + "\r\n" + c2 +
			"BDAT 0\r\nBDAT " + strconv.Itoa(len(c3)) + " LAST\r\n" + c3 +
			"MAIL FROM:<e@x>\r\nRCPT TO:<f@x>\r\nBDAT 0 LAST\r\nQUIT\r\n",
		server: greet + "250-hi\r\n250 CHUNKING\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 queued\r\n" +
			"250 ok\r\n250 ok\r\n250 queued\r\n221 bye\r\n",
	}
	s.each(t, Options{}, func(t *testing.T, sink *recSink, st *Stats) {
		if len(sink.Msgs) != 2 {
			t.Fatalf("%d messages, want 2", len(sink.Msgs))
		}
		m := sink.Msgs[0]
		if string(m.Data) != c1+c2+c3 || m.Cut != transfer.Whole || m.Meta.MailFrom != "a@x" {
			t.Errorf("message %q cut %q from %q", m.Data, m.Cut, m.Meta.MailFrom)
		}
		if m := sink.Msgs[1]; len(m.Data) != 0 || m.Cut != transfer.Whole || m.Meta.MailFrom != "e@x" {
			t.Errorf("empty message %q cut %q from %q", m.Data, m.Cut, m.Meta.MailFrom)
		}
		if st.BDATChunks != 5 || st.Accepted != 2 || st.Commands != 11 || st.Malformed != 0 {
			t.Errorf("stats %+v", *st)
		}
	})
}

func TestBDATLimitSkips(t *testing.T) {
	evs := []ev{sv(greet + "250 hi\r\n250 ok\r\n250 ok\r\n"),
		cl("EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 1000 LAST\r\n0123456789"),
		cl(strings.Repeat("z", 990) + "QUIT\r\n")}
	sink := newSink(t)
	st := new(Stats)
	p := New(sink, Options{MaxMessage: 5}, st)
	p.Data(false, evs[0].Data)
	if skip := p.Data(true, evs[1].Data); skip != 990 {
		t.Fatalf("skip %d, want 990", skip)
	}
	p.Data(true, []byte("QUIT\r\n")) // the caller dropped the 990 bytes
	p.Close()
	sink.CheckClosed()
	if len(sink.Msgs) != 1 || string(sink.Msgs[0].Data) != "01234" || sink.Msgs[0].Cut != transfer.CutLimit {
		t.Fatalf("messages %+v", sink.Msgs)
	}
	if st.Commands != 5 || st.Limit != 1 {
		t.Errorf("stats %+v", *st)
	}
}

func TestDotStuffing(t *testing.T) {
	// The client stuffs: "..x" is ".x", ".." is ".", "..." is "..".
	wire := "S: d\r\n\r\n..x\r\n..\r\n...\r\n.\tTab\r\nmid.dle\r\n\r\n..\r\n.\r\n"
	want := "S: d\r\n\r\n.x\r\n.\r\n..\r\n\tTab\r\nmid.dle\r\n\r\n.\r\n"
	s := session{
		client: "EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n" + wire + "QUIT\r\n",
		server: greet + "250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n",
	}
	s.each(t, Options{}, func(t *testing.T, sink *recSink, st *Stats) {
		one(t, sink, want, "a@x", "b@x")
		if st.Commands != 5 {
			t.Errorf("stats %+v", *st)
		}
	})
}

// dataSession is a session whose DATA section the test feeds itself.
func dataStart(p *Parser) {
	p.Data(false, []byte(greet+"250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n"))
	p.Data(true, []byte("EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"))
}

func TestDotAtEveryBoundary(t *testing.T) {
	// Every split point of a DATA section with stuffed dots, bare LF and
	// the end of data: each must give the same message.
	wire := "A: 1\r\n\r\n..\r\n.x\nbare\n..y\r\n\r\n.\r\nQUIT\r\n"
	want := "A: 1\r\n\r\n.\r\nx\nbare\n.y\r\n\r\n"
	for i := 0; i <= len(wire); i++ {
		for j := i; j <= len(wire); j++ {
			sink := newSink(t)
			st := new(Stats)
			p := New(sink, Options{}, st)
			dataStart(p)
			p.Data(true, []byte(wire[:i]))
			p.Data(true, []byte(wire[i:j]))
			p.Data(true, []byte(wire[j:]))
			p.Close()
			sink.CheckClosed()
			if len(sink.Msgs) != 1 || string(sink.Msgs[0].Data) != want || sink.Msgs[0].Cut != transfer.Whole || st.Commands != 5 {
				t.Fatalf("split %d,%d: %q %+v", i, j, sink.Msgs[0].Data, *st)
			}
		}
	}
}

func TestCRLFDotCRLFByteByByte(t *testing.T) {
	wire := "A: 1\r\n\r\nbody\r\n.\r\nQUIT\r\n"
	sink := newSink(t)
	st := new(Stats)
	p := New(sink, Options{}, st)
	dataStart(p)
	for i := range len(wire) {
		p.Data(true, []byte{wire[i]})
		if i == len(wire)-len("QUIT\r\n")-1 && (len(sink.Msgs) != 1 || sink.Msgs[0].Closed != 1) {
			t.Fatalf("message not closed at the end-of-data line")
		}
	}
	p.Close()
	if string(sink.Msgs[0].Data) != "A: 1\r\n\r\nbody\r\n" || sink.Msgs[0].Cut != transfer.Whole || st.Commands != 5 {
		t.Fatalf("%q %q %+v", sink.Msgs[0].Data, sink.Msgs[0].Cut, *st)
	}
}

func TestSTARTTLS(t *testing.T) {
	hello := "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03MAIL FROM:<x@y>\r\n"
	s := session{
		client: "EHLO c\r\nSTARTTLS\r\n" + hello,
		server: greet + "250-hi\r\n250 STARTTLS\r\n220 go ahead\r\n\x16\x03\x03\x00\x7a\x02RCPT",
	}
	for name, evs := range orderings([]byte(s.client), []byte(s.server), 3) {
		sink := newSink(t)
		st := new(Stats)
		p := New(sink, Options{}, st)
		feed(p, evs)
		if !p.Done() || st.StartTLS != 1 || st.Commands != 2 || st.Malformed != 0 || len(sink.Msgs) != 0 {
			t.Errorf("%s: done %v stats %+v", name, p.Done(), *st)
		}
	}
	// Refused: the session goes on in clear.
	s = session{
		client: "EHLO c\r\nSTARTTLS\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nA: b\r\n\r\n.\r\n",
		server: greet + "250-hi\r\n250 STARTTLS\r\n454 not now\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n",
	}
	s.each(t, Options{}, func(t *testing.T, sink *recSink, st *Stats) {
		one(t, sink, "A: b\r\n\r\n", "a@x", "b@x")
		if st.StartTLS != 0 {
			t.Errorf("stats %+v", *st)
		}
	})
}

func TestAUTHNotKept(t *testing.T) {
	const plain = "AGFsaWNlAHMzY3JldC1wYXNzd29yZA=="
	const user, pass = "YWxpY2U=", "czNjcmV0LXBhc3N3b3Jk"
	s := session{
		client: "EHLO c\r\nAUTH PLAIN " + plain + "\r\nAUTH LOGIN\r\n" + user + "\r\n" + pass + "\r\n" +
			"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nA: b\r\n\r\n.\r\nQUIT\r\n",
		server: greet + "250-hi\r\n250 AUTH PLAIN LOGIN\r\n535 bad\r\n334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 ok\r\n" +
			"250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n",
	}
	secrets := []string{plain, user, pass}
	s.each(t, Options{}, func(t *testing.T, sink *recSink, st *Stats) {
		m := one(t, sink, "A: b\r\n\r\n", "a@x", "b@x")
		out := string(m.Data) + m.Meta.MailFrom + strings.Join(m.Meta.RcptTo, "")
		for _, sec := range secrets {
			if strings.Contains(out, sec) {
				t.Errorf("credential %q in the output", sec)
			}
		}
		if st.Commands != 7 || st.Malformed != 0 {
			t.Errorf("stats %+v", *st)
		}
	})
	// Fed byte by byte, no more than one byte of a credential is ever
	// stored (it is dropped on the byte that shows it is not a command).
	sink := newSink(t)
	p := New(sink, Options{}, nil)
	p.Data(false, []byte(s.server))
	for i := range len(s.client) {
		p.Data(true, []byte{s.client[i]})
		for _, sec := range secrets {
			if bytes.Contains(p.cl.buf, []byte(sec[:2])) {
				t.Fatalf("after byte %d the line buffer holds %q", i, p.cl.buf)
			}
		}
	}
	p.Close()
	one(t, sink, "A: b\r\n\r\n", "a@x", "b@x")
}

func TestGapInDATA(t *testing.T) {
	body := "A: b\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 20)
	head := "EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"
	server := greet + "250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n"
	sink, _, st := run(t, Options{}, []ev{
		sv(server), cl(head + body[:50]), {Client: true, Gap: 100}, cl(body[150:] + ".\r\nQUIT\r\n"),
	})
	m := one(t, sink, body[:50]+body[150:], "a@x", "b@x")
	if m.Gaps != 100 || m.Cut != transfer.CutGap || st.Commands != 5 || st.Gaps != 1 {
		t.Errorf("gaps %d cut %q stats %+v", m.Gaps, m.Cut, *st)
	}

	// The gap ate the end of data: the message ends, cut, at the next
	// command that cannot be content after a gap.
	sink, _, st = run(t, Options{MaxMessage: 1000}, []ev{
		sv(server), cl(head + body[:50]), {Client: true, Gap: int64(len(body) - 50 + 2)},
		cl("\r\nQUIT\r\n"), cl(strings.Repeat("more\r\n", 200)),
	})
	if len(sink.Msgs) != 1 || sink.Msgs[0].Cut != transfer.CutGap || string(sink.Msgs[0].Data) != body[:50]+"\r\n" ||
		st.LostEnds != 1 || st.Limit != 0 {
		t.Errorf("messages %d stats %+v", len(sink.Msgs), *st)
	}
	// Without such a command, it runs to the limit.
	sink, _, st = run(t, Options{MaxMessage: 1000}, []ev{
		sv(server), cl(head + body[:50]), {Client: true, Gap: int64(len(body) - 50 + 2)},
		cl("\r\n"), cl(strings.Repeat("more\r\n", 200)),
	})
	if len(sink.Msgs) != 1 || sink.Msgs[0].Cut != transfer.CutLimit || st.Limit != 1 {
		t.Errorf("messages %d stats %+v", len(sink.Msgs), *st)
	}
}

func TestGapInCommands(t *testing.T) {
	// A gap in the commands: lines are skipped up to a known command;
	// pairing is given up, so DATA's outcome is guessed from the client.
	sink, _, st := run(t, Options{}, []ev{
		sv(greet + "250 hi\r\n"), cl("EHLO c\r\nMAIL FROM:<a@x>\r\nRC"), {Client: true, Gap: 7},
		cl("x>\r\nDATA\r\nA: b\r\n\r\nmsg\r\n.\r\nQUIT\r\n"),
		sv("250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n"),
	})
	one(t, sink, "A: b\r\n\r\nmsg\r\n", "a@x")
	if st.Desync != 1 || st.Resync != 1 || st.Unpaired != 1 || st.Guessed != 1 || st.Commands != 4 {
		t.Errorf("stats %+v", *st)
	}
	// Guessed "commands" when the line after DATA is one.
	sink, _, st = run(t, Options{}, []ev{
		sv(greet), {Gap: 10}, cl("EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nRSET\r\nQUIT\r\n"),
	})
	if len(sink.Msgs) != 0 || st.Guessed != 1 || st.Commands != 6 {
		t.Errorf("messages %d stats %+v", len(sink.Msgs), *st)
	}
}

func TestClientOnly(t *testing.T) {
	// No server direction at all: DATA's reply never comes; the client
	// ending settles it.
	sink, _, st := run(t, Options{}, []ev{
		cl("EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nA: b\r\n\r\nm\r\n.\r\nQUIT\r\n"), {Client: true, End: true},
	})
	one(t, sink, "A: b\r\n\r\nm\r\n", "a@x", "b@x")
	if st.Guessed != 1 || st.Commands != 5 {
		t.Errorf("stats %+v", *st)
	}
}

func TestHoldBounded(t *testing.T) {
	// The client far ahead: the hold fills and the message starts.
	big := "A: b\r\n\r\n" + strings.Repeat("x", 100) + "\r\n"
	big = big + strings.Repeat(strings.Repeat("y", 70)+"\r\n", 2000)
	sink := newSink(t)
	st := new(Stats)
	p := New(sink, Options{MaxHold: 1000}, st)
	p.Data(true, []byte("EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"))
	for i := 0; i < len(big); i += 100 {
		p.Data(true, []byte(big[i:min(i+100, len(big))]))
		if len(p.hold) > 1000 {
			t.Fatalf("hold %d bytes", len(p.hold))
		}
	}
	if len(sink.Msgs) != 1 || st.Guessed != 1 {
		t.Fatalf("messages %d stats %+v", len(sink.Msgs), *st)
	}
	p.Data(true, []byte(".\r\n"))
	p.Data(false, []byte(greet+"250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n"))
	p.Close()
	one(t, sink, big, "a@x", "b@x")
	if st.Misguessed != 0 || st.Accepted != 1 {
		t.Errorf("stats %+v", *st)
	}
}

func TestNotSMTP(t *testing.T) {
	for name, evs := range map[string][]ev{
		"http client": {cl("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		"http server": {sv("HTTP/1.1 200 OK\r\n")},
		"tls client":  {cl("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03")},
		"tls server":  {sv("\x16\x03\x03\x00\x5a\x02")},
		"split word":  {cl("GE"), cl("T / HTTP/1.1\r\n")},
		"after greet": {sv(greet), cl("hello there\r\n")},
	} {
		sink := newSink(t)
		st := new(Stats)
		p := New(sink, Options{}, st)
		feed(p, evs)
		if !p.Done() || st.NotSMTP != 1 {
			t.Errorf("%s: done %v stats %+v", name, p.Done(), *st)
		}
	}
	// SMTP is not given up.
	sink := newSink(t)
	p := New(sink, Options{}, nil)
	feed(p, []ev{sv(greet), cl("EH"), cl("LO x\r\n")})
	if p.Done() {
		t.Error("SMTP taken for something else")
	}
}

func TestLimits(t *testing.T) {
	var rc strings.Builder
	var rs strings.Builder
	for i := range 5 {
		rc.WriteString("RCPT TO:<r" + string(rune('0'+i)) + "@x>\r\n")
		rs.WriteString("250 ok\r\n")
	}
	long := "NOOP " + strings.Repeat("n", 200) + "\r\n"
	s := session{
		client: "EHLO c\r\n" + long + "MAIL FROM:<a@x>\r\n" + rc.String() + "DATA\r\n" + strings.Repeat("z", 500) + "\r\n.\r\nQUIT\r\n",
		server: greet + "250 hi\r\n500 too long\r\n250 ok\r\n" + rs.String() + "354 go\r\n250 ok\r\n221 bye\r\n",
	}
	s.each(t, Options{MaxRecipients: 3, MaxLine: 100, MaxMessage: 300}, func(t *testing.T, sink *recSink, st *Stats) {
		if len(sink.Msgs) != 1 {
			t.Fatalf("%d messages", len(sink.Msgs))
		}
		m := sink.Msgs[0]
		if !slices.Equal(m.Meta.RcptTo, []string{"r0@x", "r1@x", "r2@x"}) || m.Cut != transfer.CutLimit || len(m.Data) != 300 {
			t.Errorf("rcpt %q cut %q len %d", m.Meta.RcptTo, m.Cut, len(m.Data))
		}
		if st.RcptDropped != 2 || st.LongLines != 1 || st.Malformed != 1 || st.Limit != 1 || st.Commands != 9 {
			t.Errorf("stats %+v", *st)
		}
	})
}

func TestUnfinishedMessage(t *testing.T) {
	sink, _, _ := run(t, Options{}, []ev{
		sv(greet + "250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
		cl("EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nA: b\r\n\r\nhalf"),
	})
	m := one(t, sink, "A: b\r\n\r\nhalf", "a@x", "b@x")
	if m.Cut != transfer.CutEnded {
		t.Errorf("cut %q", m.Cut)
	}
}
