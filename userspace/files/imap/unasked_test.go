package imap

import (
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// A piece the client did not ask for at that offset, or longer than it
// asked, is not joined: a client that places what comes by its own
// request (not by the response's origin) would build another file than
// the one joined by origin. A hostile server answers <8.8> with its
// <16> bytes and <16.8> with its <8> bytes: joined by origin the file
// is whole, yet the client's bytes are swapped.
func TestPiecesUnasked(t *testing.T) {
	msg := bigMsg[:24]
	swapped := []ev{
		cl("a UID FETCH 7 (UID BODY.PEEK[]<0.8>)\r\n"),
		sv("* 1 FETCH (UID 7 RFC822.SIZE 24 BODY[]<0> " + litOf(msg[:8]) + ")\r\na OK\r\n"),
		cl("b UID FETCH 7 (UID BODY.PEEK[]<8.8>)\r\n"),
		sv("* 1 FETCH (UID 7 BODY[]<16> " + litOf(msg[16:24]) + ")\r\nb OK\r\n"),
		cl("c UID FETCH 7 (UID BODY.PEEK[]<16.8>)\r\n"),
		sv("* 1 FETCH (UID 7 BODY[]<8> \"" + msg[8:16] + "\")\r\nc OK\r\n"),
	}
	// Longer than asked: a client that appends what comes and asks on
	// from where it asked gets the overlap twice.
	longer := []ev{
		cl("a UID FETCH 7 (UID BODY.PEEK[]<0.8>)\r\n"),
		sv("* 1 FETCH (UID 7 RFC822.SIZE 24 BODY[]<0> " + litOf(msg[:12]) + ")\r\na OK\r\n"),
		cl("b UID FETCH 7 (UID BODY.PEEK[]<8.16>)\r\n"),
		sv("* 1 FETCH (UID 7 BODY[]<8> " + litOf(msg[8:24]) + ")\r\nb OK\r\n"),
	}
	longerLater := []ev{
		cl("a UID FETCH 7 (UID BODY.PEEK[]<0.8>)\r\n"),
		sv("* 1 FETCH (UID 7 RFC822.SIZE 24 BODY[]<0> " + litOf(msg[:8]) + ")\r\na OK\r\n"),
		cl("b UID FETCH 7 (UID BODY.PEEK[]<8.4>)\r\n"),
		sv("* 1 FETCH (UID 7 BODY[]<8> " + litOf(msg[8:16]) + ")\r\nb OK\r\n"),
		cl("c UID FETCH 7 (UID BODY.PEEK[]<12.12>)\r\n"),
		sv("* 1 FETCH (UID 7 BODY[]<12> " + litOf(msg[12:24]) + ")\r\nc OK\r\n"),
	}
	for name, evs := range map[string][]ev{"swapped": swapped, "longer": longer, "longer later": longerLater} {
		each(t, Options{}, script(selectINBOX, evs), func(t *testing.T, sink *recSink, st *Stats) {
			for _, m := range sink.Msgs {
				if m.Cut == transfer.Whole {
					t.Errorf("%s: a whole message of %q", name, m.Data)
				}
			}
			if st.PieceUnasked == 0 {
				t.Errorf("%s: stats %+v", name, *st)
			}
		})
	}
	// As asked, the same pieces join.
	asked := []ev{
		cl("a UID FETCH 7 (UID BODY.PEEK[]<0.8>)\r\n"),
		sv("* 1 FETCH (UID 7 RFC822.SIZE 24 BODY[]<0> " + litOf(msg[:8]) + ")\r\na OK\r\n"),
		cl("b UID FETCH 7 (UID BODY.PEEK[]<16.8>)\r\n"),
		sv("* 1 FETCH (UID 7 BODY[]<16> " + litOf(msg[16:24]) + ")\r\nb OK\r\n"),
		cl("c UID FETCH 7 (UID BODY.PEEK[]<8.8>)\r\n"),
		sv("* 1 FETCH (UID 7 BODY[]<8> \"" + msg[8:16] + "\")\r\nc OK\r\n"),
	}
	each(t, Options{}, script(selectINBOX, asked), func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{msg}, whole, "INBOX")
		if st.PieceUnasked != 0 {
			t.Errorf("asked: stats %+v", *st)
		}
	})
}

// Pieces joined with no request under way to check them against (the
// client's lines not seen, or the tagged status sent before the piece)
// make a message that is not called whole, even at its size.
func TestPiecesUncheckedNotWhole(t *testing.T) {
	var serverOnly []ev
	for _, e := range script(selectINBOX, piecesAt(bigMsg, []span{{0, 500}, {500, 500}}, true)) {
		if !e.Client {
			serverOnly = append(serverOnly, e)
		}
	}
	statusFirst := script(selectINBOX, piecesAt(bigMsg, []span{{0, 500}}, true), []ev{
		cl("b UID FETCH 7 (UID BODY.PEEK[]<500.500>)\r\n"),
		sv("b OK done\r\n* 1 FETCH (UID 7 BODY[]<500> " + litOf(bigMsg[500:]) + ")\r\n"),
	})
	for name, evs := range map[string][]ev{"server only": serverOnly, "status first": statusFirst} {
		each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
			if len(sink.Msgs) != 1 || string(sink.Msgs[0].Data) != bigMsg || sink.Msgs[0].Cut != transfer.CutNotFinal {
				t.Errorf("%s: messages %+v", name, sink.Msgs)
			}
		})
	}
}

// Held bytes are bounded by what they take, not only by their length:
// a piece ahead whose literal is cut by gaps starts a run after each,
// and each run's buffer is sized for the rest of the literal.
func TestPiecesHoldCapacity(t *testing.T) {
	const n = 1 << 20
	evs := script(selectINBOX, piecesAt(bigMsg, []span{{0, 500}}, false), []ev{
		cl("h UID FETCH 7 (UID BODY.PEEK[]<1000." + "1048576" + ">)\r\n"),
		sv("* 1 FETCH (UID 7 BODY[]<1000> {1048576}\r\n"),
	})
	left := n
	for i := 0; i < 2*maxSegments && left > 2; i++ {
		evs = append(evs, sv("x"), ev{Gap: 1})
		left -= 2
	}
	p := New(newSink(t), Options{}, nil)
	feed(p, evs)
	var caps int
	for _, s := range p.chain.held {
		caps += cap(s.data)
	}
	t.Logf("held %d bytes in %d runs, %d bytes of buffers, footprint %d", p.chain.heldN, len(p.chain.held), caps, p.chain.footprint())
	if int64(caps) > p.opt.MaxPieceHold || p.chain.footprint() > int(p.opt.MaxPieceHold)+2*maxTail {
		t.Errorf("held buffers take %d bytes, bound %d", caps, p.opt.MaxPieceHold)
	}
	p.Close()
}

// A piece asked of another UID, answered without its UID (which a UID
// FETCH answer must carry), is not joined to the message of the UID the
// earlier pieces named: the client puts it in the message it asked of.
func TestPiecesOtherUIDAsked(t *testing.T) {
	other := bigMsg[:500] + strings.Repeat("z", 500) // message UID 8, as long
	evs := script(selectINBOX, piecesAt(bigMsg, []span{{0, 500}}, true), []ev{
		cl("b UID FETCH 8 (BODY.PEEK[]<500.500>)\r\n"),
		sv("* 1 FETCH (BODY[]<500> " + litOf(other[500:]) + ")\r\nb OK\r\n"),
	})
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		for _, m := range sink.Msgs {
			if m.Cut == transfer.Whole {
				t.Errorf("a whole message of %d bytes", len(m.Data))
			}
		}
		if st.PieceUnasked != 1 {
			t.Errorf("stats %+v", *st)
		}
	})
	// Asked of its own UID, it joins.
	evs = script(selectINBOX, piecesAt(bigMsg, []span{{0, 500}}, true), []ev{
		cl("b UID FETCH 7 (BODY.PEEK[]<500.500>)\r\n"),
		sv("* 1 FETCH (BODY[]<500> " + litOf(bigMsg[500:]) + ")\r\nb OK\r\n"),
	})
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{bigMsg}, whole, "INBOX")
	})
}
