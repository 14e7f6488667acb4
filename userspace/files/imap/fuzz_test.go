package imap

import (
	"strconv"
	"strings"
	"testing"
)

// fuzzDrive feeds client and server to p as cuts says: each byte of cuts
// picks a direction and a piece size, and some bytes turn the piece into
// a gap or end the direction. It checks the parser's buffers stay within
// their bounds after every call and that skips stay within the stream.
func fuzzDrive(t *testing.T, p *Parser, client, server, cuts []byte, bound int) {
	streams := [2][]byte{server, client}
	var skip [2]int64
	var ended [2]bool
	for i := 0; !p.Done() && (len(streams[0]) > 0 || len(streams[1]) > 0); i++ {
		var d byte = byte(i)
		if len(cuts) > 0 {
			d = cuts[i%len(cuts)] ^ byte(i/len(cuts))
		}
		dir := int(d & 1)
		if len(streams[dir]) == 0 {
			dir ^= 1
		}
		s := streams[dir]
		n := min(1+int(d>>1)*int(d>>1), len(s))
		switch {
		case d%29 == 5:
			p.Gap(dir == 1, int64(n))
		case d%31 == 7 && !ended[dir]:
			ended[dir] = true
			p.End(dir == 1)
			n = 0
		default:
			b := s[:n]
			k := min(skip[dir], int64(len(b)))
			b, skip[dir] = b[k:], skip[dir]-k
			if len(b) > 0 {
				lit := &p.s.lit
				if dir == 1 {
					lit = &p.c.lit
				}
				sk := p.Data(dir == 1, b)
				if sk < 0 || (sk > 0 && lit.active) {
					t.Fatalf("skip %d", sk)
				}
				skip[dir] += sk
			}
		}
		streams[dir] = s[n:]
		if got := p.buffered(); got > bound {
			t.Fatalf("holding %d bytes, bound %d", got, bound)
		}
		ch := &p.chain
		if ch.heldN > p.opt.MaxPieceHold || ch.heldCap() > p.opt.MaxPieceHold || len(ch.held) > maxSegments || len(ch.tail) > maxTail || len(p.c.pending) > maxPending {
			t.Fatalf("pieces held %d in %d runs, tail %d, pending %d", ch.heldN, len(ch.held), len(ch.tail), len(p.c.pending))
		}
		var held int64
		for i, sg := range ch.held {
			held += int64(len(sg.data))
			if sg.off < ch.next || i > 0 && ch.held[i-1].end() > sg.off || sg.gap == 0 && len(sg.data) == 0 {
				t.Fatalf("held runs out of order: next %d, %+v", ch.next, ch.held)
			}
		}
		if held != ch.heldN {
			t.Fatalf("held %d, counted %d", held, ch.heldN)
		}
	}
}

func FuzzIMAP(f *testing.F) {
	seeds := []struct{ client, server string }{
		{"a1 LOGIN alice {5+}\r\nsecre\r\na2 SELECT INBOX\r\na3 FETCH 1 (BODY.PEEK[] RFC822.SIZE)\r\n",
			greet + "a1 OK\r\n* 2 EXISTS\r\na2 OK\r\n* 1 FETCH (UID 7 RFC822.SIZE 9 BODY[] {9}\r\nA: b\r\n\r\nx FLAGS (\\Seen))\r\na3 OK\r\n"},
		{"a1 APPEND Sent {10}\r\nA: b\r\n\r\nxy\r\na2 EXAMINE {3}\r\nBox\r\n",
			greet + "+ go\r\na1 OK\r\na2 OK\r\n* 1 FETCH (BODY[]<0> {4}\r\nabcd BINARY[] ~{2}\r\n\x00\x01 BODY[] \"q\\\"\" BODY[1] NIL)\r\n"},
		{"a1 AUTHENTICATE PLAIN\r\nAGFsaWNl\r\na2 STARTTLS\r\n\x16\x03\x01",
			greet + "+ \r\na1 OK\r\na2 OK go\r\n\x16\x03\x03"},
		{"a1 SELECT INBOX\r\na2 UID FETCH 7 (BODYSTRUCTURE)\r\na3 FETCH 1 (BODY.PEEK[2] BINARY.PEEK[3.2])\r\n",
			greet + "a1 OK\r\n* 1 FETCH (UID 7 BODYSTRUCTURE " + mixedStructure + ")\r\na2 OK\r\n" +
				"* 1 FETCH (BODY[2] {8}\r\nTVqQAAMA BINARY[3.2] ~{3}\r\n%PD)\r\na3 OK\r\n"},
		{"a1 UID FETCH 7 (RFC822.SIZE)\r\na2 UID FETCH 7 (BODY.PEEK[]<0.8>)\r\na3 UID FETCH 7 (BODY.PEEK[]<8.8>)\r\n",
			greet + "* 1 FETCH (UID 7 RFC822.SIZE 12)\r\na1 OK\r\n* 1 FETCH (UID 7 BODY[]<0> {8}\r\nA: b\r\n\r\n)\r\na2 OK\r\n" +
				"* 1 FETCH (UID 7 BODY[]<8> {4}\r\nxyz\n)\r\na3 OK\r\n* 1 FETCH (BODY[]<12> \"\")\r\n"},
		{"a1 FETCH 1 (ENVELOPE BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])\r\na2 FETCH 1 (BODY.PEEK[1])\r\n",
			greet + "* 1 FETCH (ENVELOPE (\"d\" \"s\" ((\"A\" NIL \"a\" \"b.c\")) NIL NIL ((NIL NIL \"g\" NIL)(NIL NIL NIL NIL)) NIL NIL NIL \"<i>\")" +
				" BODY[HEADER.FIELDS (FROM SUBJECT)] {30}\r\nFrom: a@b.c\r\nSubject: x\r\n y\r\n\r\n)\r\na1 OK\r\n* 1 FETCH (BODY[1] {4}\r\nTVqQ)\r\na2 OK\r\n"},
		{"a1 FETCH 1 (BODYSTRUCTURE)\r\n", greet + "* 1 FETCH (BODYSTRUCTURE ((\"text\" {3}\r\na)b NIL) \"mixed\") BODY[HEADER.FIELDS (A)] {2}\r\nab)\r\n"},
		// Resynchronisation after a gap over a literal's announcement.
		{"a3 FETCH 1:2 (UID BODY.PEEK[])\r\na4 APPEND Sent (\\Seen) {12}\r\nSubject: x\r\n\r\na5 NOOP\r\n",
			greet + "* 1 FETCH (UID 4 BODY[] {20}\r\nSubject: a\r\n\r\nbody\r\n)\r\n* Note\r\n* 2 FETCH (UID 5 BODY[] {3}\r\nabc)\r\na3 OK\r\n+ go\r\na4 OK\r\n"},
	}
	// Pieces out of order and overlapping, one disagreeing.
	var pc, ps strings.Builder
	ps.WriteString(greet)
	for i, sp := range [][2]int{{8, 8}, {4, 8}, {0, 6}, {12, 8}, {2, 3}} {
		m := "A: b\r\n\r\nxyzw0123"
		tag := "p" + strconv.Itoa(i)
		pc.WriteString(tag + " UID FETCH 7 (UID BODY.PEEK[]<" + strconv.Itoa(sp[0]) + "." + strconv.Itoa(sp[1]) + ">)\r\n")
		if i == 4 {
			m = "A: c" + m[4:]
		}
		ps.WriteString("* 1 FETCH (UID 7 BODY[]<" + strconv.Itoa(sp[0]) + "> " + litOf(m[min(sp[0], len(m)):min(sp[0]+sp[1], len(m))]) + ")\r\n" + tag + " OK\r\n")
	}
	seeds = append(seeds, struct{ client, server string }{pc.String(), ps.String()})
	// COMPRESS: both directions deflated after the OK, one flush a line.
	zc, zs := newDeflater(f), newDeflater(f)
	zclient := "a1 COMPRESS DEFLATE\r\n" + string(zc.chunk("a2 SELECT INBOX\r\n")) + string(zc.chunk("a3 FETCH 1 (BODY.PEEK[])\r\n"))
	zserver := greet + "a1 OK DEFLATE active\r\n" + string(zs.chunk("a2 OK\r\n")) + string(zs.chunk("* 1 FETCH (BODY[] {9}\r\nA: b\r\n\r\nx)\r\na3 OK\r\n"))
	seeds = append(seeds, struct{ client, server string }{zclient, zserver})
	for i, s := range seeds {
		f.Add([]byte(s.client), []byte(s.server), []byte{byte(i), 3, 200, 17, 9, 64})
	}
	last := seeds[len(seeds)-1]
	f.Add([]byte(last.client), []byte(last.server), []byte{40, 1, 40, 1, 5, 64, 1, 64})
	f.Fuzz(func(t *testing.T, client, server, cuts []byte) {
		opts := Options{MaxLine: 128, MaxLiteral: 64}
		if len(cuts) > 0 && cuts[0]&0x80 != 0 {
			opts = Options{}
		}
		sink := &recSink{Fail: func(s string) { t.Fatal(s) }}
		p := New(sink, opts, nil)
		// Lines stored in each direction, a mailbox name, a quoted item.
		fuzzDrive(t, p, client, server, cuts, 3*p.opt.MaxLine+1024+maxHeaderKept)
		p.Close()
		sink.CheckClosed()
		// Closed, the parser gives its COMPRESS slot back and ends its
		// inflaters' coroutines.
		if n := compressedConns.Load(); n != 0 {
			t.Fatalf("%d COMPRESS slots held after Close", n)
		}
		for _, z := range []*inflater{p.c.z, p.s.z} {
			if z != nil && z.stop != nil {
				t.Fatal("an inflater not stopped after Close")
			}
		}
		for _, m := range sink.Msgs {
			// A part section carries its rebuilt header and mail context too.
			if int64(len(m.Data))+m.Gaps > max(p.opt.MaxLiteral, int64(p.opt.MaxLine))+maxPartHeader+int64(len(contextFields))*(maxEnvValue+16)+100 {
				t.Fatalf("message of %d bytes", len(m.Data))
			}
		}
	})
}

// FuzzStructure: any BODYSTRUCTURE parses or is refused within its
// bounds, and the rebuilt headers stay bounded and one field a line.
func FuzzStructure(f *testing.F) {
	f.Add([]byte(mixedStructure))
	f.Add([]byte(`("application" "pdf" ("name" "a.pdf") NIL NIL "base64" 100 NIL NIL NIL NIL)`))
	f.Add([]byte(`(("text" "plain" NIL NIL NIL "7bit" 1 1)("message" "rfc822" NIL NIL NIL "7bit" 1 NIL ("a" "b" NIL NIL NIL "x" 1 NIL ("inline" ("filename" "a\\"b"))) 1) "mixed")`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := New(&recSink{Fail: func(s string) { t.Fatal(s) }}, Options{}, nil)
		for seq := uint32(0); seq < 3; seq++ {
			p.structure(seq, b)
		}
		if p.structs.bytes > maxStructBytes || p.structs.len() > maxStructMsgs {
			t.Fatalf("kept %d bytes for %d messages", p.structs.bytes, p.structs.len())
		}
		for _, e := range p.structs.m {
			parts := e.v
			if len(parts) > maxStructParts {
				t.Fatalf("%d parts", len(parts))
			}
			for _, ph := range parts {
				if len(ph.header) > maxPartHeader {
					t.Fatalf("header of %d bytes", len(ph.header))
				}
				for _, line := range strings.Split(strings.TrimSuffix(ph.header, "\r\n"), "\r\n") {
					if strings.ContainsAny(line, "\r\n") || !strings.Contains(line, ": ") {
						t.Fatalf("header line %q", line)
					}
				}
			}
		}
	})
}
