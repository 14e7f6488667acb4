package imap

import (
	"strconv"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/extract"
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
			want(t, sink, []string{bigMsg}, []extract.Cut{extract.Whole}, "INBOX")
			if st.Partials != 1 || st.Pieces != 3 || st.Offsets != 0 {
				t.Errorf("stats %+v", *st)
			}
		})
	})
	// 1000 bytes in pieces of 250: the last is as long as asked for; the
	// size read earlier says it is the end.
	t.Run("size known", func(t *testing.T) {
		each(t, Options{}, script(selectINBOX, piecesOf("1", bigMsg, 250, true, 1)), func(t *testing.T, sink *recSink, st *Stats) {
			want(t, sink, []string{bigMsg}, []extract.Cut{extract.Whole}, "INBOX")
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
			want(t, sink, []string{bigMsg}, []extract.Cut{extract.Whole}, "INBOX")
		})
	})
	// Two messages one after the other, each in pieces.
	t.Run("two messages", func(t *testing.T) {
		evs := script(selectINBOX, piecesOf("1", bigMsg, 300, false, 1), piecesOf("2", msg1, 64, false, 2))
		each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
			want(t, sink, []string{bigMsg, msg1}, []extract.Cut{extract.Whole, extract.Whole}, "INBOX")
		})
	})
	// The client stops after two pieces and fetches another message:
	// the first is not final.
	t.Run("abandoned", func(t *testing.T) {
		first := piecesOf("1", bigMsg, 256, false, 1)[:4]
		evs := script(selectINBOX, first, piecesOf("2", msg1, 4096, false, 2))
		each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
			want(t, sink, []string{bigMsg[:512], msg1}, []extract.Cut{extract.CutNotFinal, extract.Whole}, "INBOX")
		})
	})
	// A piece that does not follow on is skipped (the one after it still
	// joins); the message ends with the connection, not whole.
	t.Run("out of order", func(t *testing.T) {
		p := piecesOf("1", bigMsg, 256, false, 1)
		evs := script(selectINBOX, p[:2], p[4:6], p[2:4])
		each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
			want(t, sink, []string{bigMsg[:512]}, []extract.Cut{extract.CutEnded}, "INBOX")
			if st.Offsets != 1 || st.Pieces != 1 {
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
			if len(sink.Msgs) != 1 || string(sink.Msgs[0].Data) != bigMsg || sink.Msgs[0].Cut != extract.CutEnded {
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
		if len(sink.Msgs) != 1 || sink.Msgs[0].Cut != extract.CutGap || sink.Msgs[0].Gaps != 156 {
			t.Errorf("messages %+v", sink.Msgs)
		}
	})
}
