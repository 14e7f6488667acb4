package imap

import (
	"strconv"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// bigMsg is a message of 1000 bytes, fetched in pieces of 256 as
// desktop clients fetch large messages.
var bigMsg = func() string {
	h := "From: alice@corp.example\r\nSubject: pieces\r\nContent-Type: application/octet-stream\r\n\r\n"
	return h + strings.Repeat("0123456789abcdef", 64)[:1000-len(h)]
}()

// piecesOf writes the client's piece requests and the server's pieces of
// message seq (UID 7), with the size at the start when withSize.
func piecesOf(seq string, msg string, piece int, withSize bool, tag int) []ev {
	var evs []ev
	if withSize {
		evs = append(evs, cl("s"+seq+" UID FETCH 7 (UID RFC822.SIZE FLAGS)\r\n"),
			sv("* "+seq+" FETCH (UID 7 RFC822.SIZE "+strconv.Itoa(len(msg))+" FLAGS (\\Seen))\r\ns"+seq+" OK done\r\n"))
	}
	for off := 0; off < len(msg); off += piece {
		t := "p" + strconv.Itoa(tag) + "x" + strconv.Itoa(off)
		evs = append(evs, cl(t+" UID FETCH 7 (UID BODY.PEEK[]<"+strconv.Itoa(off)+"."+strconv.Itoa(piece)+">)\r\n"),
			sv("* "+seq+" FETCH (UID 7 BODY[]<"+strconv.Itoa(off)+"> "+litOf(msg[off:min(off+piece, len(msg))])+")\r\n"+t+" OK done\r\n"))
	}
	return evs
}

func TestPieces(t *testing.T) {
	// 1000 bytes in pieces of 256: the last is short.
	t.Run("short last piece", func(t *testing.T) {
		each(t, Options{}, script(selectINBOX, piecesOf("1", bigMsg, 256, false, 1)), func(t *testing.T, sink *recSink, st *Stats) {
			want(t, sink, []string{bigMsg}, []transfer.Cut{transfer.Whole}, "INBOX")
			if st.Partials != 1 || st.Pieces != 3 || st.Offsets != 0 {
				t.Errorf("stats %+v", *st)
			}
		})
	})
	// 1000 bytes in pieces of 250: the last is as long as asked for; the
	// size read earlier says it is the end.
	t.Run("size known", func(t *testing.T) {
		each(t, Options{}, script(selectINBOX, piecesOf("1", bigMsg, 250, true, 1)), func(t *testing.T, sink *recSink, st *Stats) {
			want(t, sink, []string{bigMsg}, []transfer.Cut{transfer.Whole}, "INBOX")
		})
	})
	// Pieces of 250 without the size: the client asks once more and
	// gets an empty string, shorter than asked.
	t.Run("empty last piece", func(t *testing.T) {
		evs := script(selectINBOX, piecesOf("1", bigMsg, 250, false, 1), []ev{
			cl("q UID FETCH 7 (UID BODY.PEEK[]<1000.250>)\r\n"),
			sv("* 1 FETCH (UID 7 BODY[]<1000> \"\")\r\nq OK done\r\n"),
		})
		each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
			want(t, sink, []string{bigMsg}, []transfer.Cut{transfer.Whole}, "INBOX")
		})
	})
	// Two messages one after the other, each in pieces.
	t.Run("two messages", func(t *testing.T) {
		evs := script(selectINBOX, piecesOf("1", bigMsg, 300, false, 1), piecesOf("2", msg1, 64, false, 2))
		each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
			want(t, sink, []string{bigMsg, msg1}, []transfer.Cut{transfer.Whole, transfer.Whole}, "INBOX")
		})
	})
	// The client stops after two pieces and fetches another message:
	// the first is not final.
	t.Run("abandoned", func(t *testing.T) {
		first := piecesOf("1", bigMsg, 256, false, 1)[:4]
		evs := script(selectINBOX, first, piecesOf("2", msg1, 4096, false, 2))
		each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
			want(t, sink, []string{bigMsg[:512], msg1}, []transfer.Cut{transfer.CutNotFinal, transfer.Whole}, "INBOX")
		})
	})
	// A piece that does not follow on is held until the one before it
	// comes; the last piece never comes: the message ends with the
	// connection, not whole.
	t.Run("out of order", func(t *testing.T) {
		p := piecesOf("1", bigMsg, 256, false, 1)
		evs := script(selectINBOX, p[:2], p[4:6], p[2:4])
		each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
			want(t, sink, []string{bigMsg[:768]}, []transfer.Cut{transfer.CutEnded}, "INBOX")
			if st.Offsets != 0 || st.Pieces != 2 {
				t.Errorf("stats %+v", *st)
			}
		})
	})
	// Without the client's requests (one direction seen) and without a
	// size, a message in pieces cannot be called whole.
	t.Run("server side only", func(t *testing.T) {
		var evs []ev
		for _, e := range script(selectINBOX, piecesOf("1", bigMsg, 256, false, 1)) {
			if !e.Client {
				evs = append(evs, e)
			}
		}
		each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
			if len(sink.Msgs) != 1 || string(sink.Msgs[0].Data) != bigMsg || sink.Msgs[0].Cut != transfer.CutEnded {
				t.Errorf("messages %+v", sink.Msgs)
			}
		})
	})
	// A gap inside a piece: the joined message is incomplete.
	t.Run("gap", func(t *testing.T) {
		sink := newSink(t)
		p := New(sink, Options{}, nil)
		feed(p, script(selectINBOX))
		p.Data(true, []byte("a UID FETCH 7 (BODY.PEEK[]<0.256>)\r\n"))
		p.Data(false, []byte("* 1 FETCH (BODY[]<0> {256}\r\n"+bigMsg[:100]))
		p.Gap(false, 156)
		p.Data(false, []byte(")\r\na OK\r\n"))
		p.Data(true, []byte("b UID FETCH 7 (BODY.PEEK[]<256.256>)\r\n"))
		p.Data(false, []byte("* 1 FETCH (BODY[]<256> {10}\r\n"+bigMsg[256:266]+")\r\nb OK\r\n"))
		p.Close()
		sink.CheckClosed()
		if len(sink.Msgs) != 1 || sink.Msgs[0].Cut != transfer.CutGap || sink.Msgs[0].Gaps != 156 {
			t.Errorf("messages %+v", sink.Msgs)
		}
	})
}

// Two piece requests under way at once: which one a short piece answers
// is not known, so only the size could call it whole.
func TestPiecesPipelined(t *testing.T) {
	evs := script(selectINBOX, []ev{
		cl("a FETCH 1 (BODY.PEEK[]<0.100>)\r\nb FETCH 2 (BODY.PEEK[]<0.4096>)\r\n"),
		sv("* 1 FETCH (BODY[]<0> " + litOf(bigMsg[:100]) + ")\r\na OK\r\n"),
		sv("* 2 FETCH (BODY[]<0> " + litOf(msg1) + ")\r\nb OK\r\n"),
	})
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		// Message 1's piece is as long as asked: it waits, and is not
		// final once message 2 starts. Message 2's piece is shorter than
		// the one request still under way (a was answered): whole.
		want(t, sink, []string{bigMsg[:100], msg1}, []transfer.Cut{transfer.CutNotFinal, transfer.Whole}, "INBOX")
	})
	// Both answered before either tagged OK: neither is called whole.
	evs = script(selectINBOX, []ev{
		cl("a FETCH 1 (BODY.PEEK[]<0.100>)\r\nb FETCH 2 (BODY.PEEK[]<0.4096>)\r\n"),
		sv("* 1 FETCH (BODY[]<0> " + litOf(bigMsg[:60]) + ")\r\n* 2 FETCH (BODY[]<0> " + litOf(msg1) + ")\r\na OK\r\nb OK\r\n"),
	})
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{bigMsg[:60], msg1}, []transfer.Cut{transfer.CutNotFinal, transfer.CutEnded}, "INBOX")
	})
}

// Pieces as quoted strings: measured like literals, and bounded by
// MaxLiteral.
func TestQuotedPieces(t *testing.T) {
	q := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
	m := "Subject: quoted pieces of a messag" // 34 bytes; a quoted string holds no CRLF
	evs := script(selectINBOX, []ev{
		cl("a FETCH 1 (BODY.PEEK[]<0.10>)\r\n"),
		sv("* 1 FETCH (BODY[]<0> " + q(m[:10]) + ")\r\na OK\r\n"),
		cl("b FETCH 1 (BODY.PEEK[]<10.30>)\r\n"),
		sv("* 1 FETCH (BODY[]<10> " + q(m[10:]) + ")\r\nb OK\r\n"),
	})
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{m}, []transfer.Cut{transfer.Whole}, "INBOX")
	})
	each(t, Options{MaxLiteral: 20}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{m[:20]}, []transfer.Cut{transfer.CutLimit}, "INBOX")
		if st.Limit != 1 {
			t.Errorf("stats %+v", *st)
		}
	})
}

// EXPUNGE renumbers the messages: a structure kept by number is dropped.
func TestExpungeForgetsStructures(t *testing.T) {
	evs := script(selectINBOX, []ev{
		cl("a FETCH 2 (BODYSTRUCTURE)\r\n"),
		sv("* 2 FETCH (BODYSTRUCTURE " + mixedStructure + ")\r\na OK\r\n"),
		sv("* 1 EXPUNGE\r\n"),
		cl("b FETCH 1 (BODY.PEEK[2])\r\n"),
		sv("* 1 FETCH (BODY[2] " + litOf("TVqQ\r\n") + ")\r\nb OK\r\n"),
	})
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		if st.PartsGuessed != 1 || len(sink.Msgs) != 1 || strings.Contains(string(sink.Msgs[0].Data), "tool.exe") {
			t.Errorf("after EXPUNGE: stats %+v", *st)
		}
	})
}
