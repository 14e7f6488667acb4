package smtp

import (
	"testing"
)

// fuzzDrive feeds client and server to p as cuts says: each byte of cuts
// picks a direction and a piece size, and some bytes turn the piece into
// a gap or end the direction. It checks the parser's buffers stay within
// their bounds after every call.
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
			p.Gap(dir == 1, int64(n)) // the piece goes missing
		case d%31 == 7 && !ended[dir]:
			ended[dir] = true
			p.End(dir == 1)
			n = 0
		default:
			b := s[:n]
			k := min(skip[dir], int64(len(b)))
			b, skip[dir] = b[k:], skip[dir]-k
			if len(b) > 0 {
				sk := p.Data(dir == 1, b)
				if sk < 0 {
					t.Fatalf("skip %d", sk)
				}
				skip[dir] += sk
			}
		}
		streams[dir] = s[n:]
		if got := p.buffered(); got > bound {
			t.Fatalf("holding %d bytes, bound %d", got, bound)
		}
		if p.cmds.n > p.opt.MaxPending || p.replies.n > p.opt.MaxPending {
			t.Fatalf("queues %d %d", p.cmds.n, p.replies.n)
		}
	}
}

func FuzzSMTP(f *testing.F) {
	seeds := []session{
		{"EHLO c\r\nMAIL FROM:<a@x> SIZE=9\r\nRCPT TO:<b@y>\r\nDATA\r\nA: b\r\n\r\n..x\r\n.\r\nQUIT\r\n",
			greet + "250-hi\r\n250 PIPELINING\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n"},
		{"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 5\r\nabcdeBDAT 3 LAST\r\nfghRSET\r\n",
			greet + "250 hi\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n"},
		{"EHLO c\r\nAUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nRSET\r\n",
			greet + "250 hi\r\n334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 ok\r\n250 ok\r\n250 ok\r\n554 no\r\n250 ok\r\n"},
		{"EHLO c\r\nSTARTTLS\r\n\x16\x03\x01\x00\x10",
			greet + "250 STARTTLS\r\n220 go\r\n\x16\x03\x03"},
		{"HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<b@x>\r\nDATA\r\n" + "x\n.\n" + "QUIT\r\n", "220 x\n250 x\n250 x\n250 x\n354 x\n250 x\n"},
		// Resynchronisation: a message after a lost DATA (354, a header
		// field, a lone dot), BDAT after a chunk mid-line, an end of data
		// lost before a command or a reply.
		{twoMsgs, twoReplies},
		{"EHLO c\r\nMAIL FROM:<a@x>\r\nBDAT 7\r\nabcdefgBDAT 3 LAST\r\nxyzMAIL FROM:<b@x>\r\nRCPT TO:<c@x>\r\nBDAT 1 LAST\r\nq",
			greet + "250 hi\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n"},
		{"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\nQUIT\r\n.\r\nRSET\r\n",
			greet + "250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n"},
	}
	for i, s := range seeds {
		f.Add([]byte(s.client), []byte(s.server), []byte{byte(i), 3, 200, 17, 9, 64})
	}
	// Gaps where they matter: d%29 == 5 makes a piece a gap.
	f.Add([]byte(twoMsgs), []byte(twoReplies), []byte{40, 1, 40, 1, 5, 64, 1, 64})
	f.Add([]byte(seeds[len(seeds)-2].client), []byte(seeds[len(seeds)-2].server), []byte{40, 1, 5, 1, 80, 1, 34})
	f.Fuzz(func(t *testing.T, client, server, cuts []byte) {
		opts := Options{MaxLine: 64, MaxHold: 300, MaxMessage: 1 << 12, MaxPending: 8, MaxRecipients: 3}
		if len(cuts) > 0 && cuts[0]&0x80 != 0 {
			opts = Options{}
		}
		sink := &recSink{Fail: func(s string) { t.Fatal(s) }}
		p := New(sink, opts, nil)
		fuzzDrive(t, p, client, server, cuts, p.opt.MaxHold+2*p.opt.MaxLine)
		p.Close()
		sink.CheckClosed()
		for _, m := range sink.Msgs {
			if int64(len(m.Data))+m.Gaps > p.opt.MaxMessage {
				t.Fatalf("message of %d bytes", len(m.Data))
			}
		}
	})
}
