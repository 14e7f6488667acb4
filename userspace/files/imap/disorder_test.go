package imap

import (
	"crypto/sha256"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// span is a piece of a message: [off, off+n).
type span struct{ off, n int }

// piecesAt fetches the given spans of msg (message 1, UID 7), each its
// own request and response (UID first, as dovecot answers UID FETCH); a
// span past the end comes back short. withSize reads the size first.
func piecesAt(msg string, spans []span, withSize bool) []ev {
	var evs []ev
	if withSize {
		evs = append(evs, cl("s UID FETCH 7 (UID RFC822.SIZE)\r\n"),
			sv("* 1 FETCH (UID 7 RFC822.SIZE "+strconv.Itoa(len(msg))+")\r\ns OK done\r\n"))
	}
	for i, s := range spans {
		t := "p" + strconv.Itoa(i)
		o, n := strconv.Itoa(s.off), strconv.Itoa(s.n)
		evs = append(evs, cl(t+" UID FETCH 7 (UID BODY.PEEK[]<"+o+"."+n+">)\r\n"),
			sv("* 1 FETCH (UID 7 BODY[]<"+o+"> "+litOf(msg[min(s.off, len(msg)):min(s.off+s.n, len(msg))])+")\r\n"+t+" OK done\r\n"))
	}
	return evs
}

// Pieces in any order, overlapping or not, join into the message when
// they cover it: whole at its size, or at the end a short piece told.
func TestPiecesDisordered(t *testing.T) {
	for _, tc := range []struct {
		name     string
		spans    []span
		withSize bool
	}{
		{"reversed", []span{{768, 256}, {512, 256}, {256, 256}, {0, 256}}, false},
		{"reversed with size", []span{{750, 250}, {500, 250}, {250, 250}, {0, 250}}, true},
		{"start last", []span{{256, 256}, {768, 256}, {512, 256}, {0, 256}}, false},
		{"overlapping", []span{{0, 300}, {200, 300}, {450, 300}, {700, 400}}, false},
		{"overlapping out of order", []span{{600, 500}, {300, 400}, {0, 350}}, false},
		{"refetched", []span{{0, 256}, {256, 256}, {0, 256}, {256, 256}, {512, 256}, {768, 256}}, false},
		{"held overlaps held", []span{{500, 300}, {400, 300}, {700, 400}, {0, 450}}, false},
	} {
		evs := script(selectINBOX, piecesAt(bigMsg, tc.spans, tc.withSize))
		each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
			want(t, sink, []string{bigMsg}, whole, "INBOX")
			if st.PieceConflicts+st.PieceLimit+st.Offsets != 0 {
				t.Errorf("%s: stats %+v", tc.name, *st)
			}
		})
	}
}

// Random orders and overlaps of pieces of a PE's message, through the
// MIME extractor: the PE comes out with its own hash.
func TestPiecesDisorderedPE(t *testing.T) {
	pe := fakePE(60000)
	msg := peMessage("tool.exe", pe)
	r := rand.New(rand.NewPCG(7, 8))
	for round := range 20 {
		var spans []span
		for off := 0; off < len(msg); {
			n := 1000 + r.IntN(9000)
			spans = append(spans, span{off, n})
			if r.IntN(3) == 0 && off > 0 {
				spans = append(spans, span{max(off-r.IntN(3000), 0), n}) // an overlap
			}
			off += n
		}
		r.Shuffle(len(spans), func(i, j int) { spans[i], spans[j] = spans[j], spans[i] })
		files, _, st, _ := runFiles(t, Options{}, script(selectINBOX, piecesAt(msg, spans, r.IntN(2) == 0)))
		f := files.named("tool.exe")
		if f == nil || sha256.Sum256(f.data) != sha256.Sum256(pe) || f.cut != transfer.Whole {
			t.Fatalf("round %d: files %s stats %+v", round, files.names(), *st)
		}
	}
}

// Pieces that overlap with other bytes than what came first: which
// copy the client kept is not known, so the message is cut.
func TestPiecesConflict(t *testing.T) {
	other := []byte(bigMsg)
	other[450] ^= 1
	other2 := []byte(bigMsg)
	other2[600] ^= 1
	for name, evs := range map[string][]ev{
		// Against the bytes written.
		"written": script(selectINBOX, piecesAt(bigMsg, []span{{0, 500}}, false), piecesAt(string(other), []span{{400, 600}}, false)),
		// Against the bytes held.
		"held": script(selectINBOX, piecesAt(bigMsg, []span{{0, 300}, {500, 300}}, false), piecesAt(string(other2), []span{{400, 600}}, false)),
	} {
		sink, _, st := run(t, Options{}, evs)
		if len(sink.Msgs) != 1 || sink.Msgs[0].Cut != transfer.CutConflict || st.PieceConflicts != 1 {
			t.Errorf("%s: %d messages, stats %+v", name, len(sink.Msgs), *st)
		}
	}
	// Another UID under the same message number (after the piece): not
	// the same message. (A UID FETCH of UID 8 is not joined at all:
	// TestPiecesOtherUIDAsked.)
	uid8 := []ev{cl("q FETCH 1 (BODY.PEEK[]<500.500> UID)\r\n"),
		sv("* 1 FETCH (BODY[]<500> " + litOf(bigMsg[500:]) + " UID 8)\r\nq OK\r\n")}
	sink, _, st := run(t, Options{}, script(selectINBOX, piecesAt(bigMsg, []span{{0, 500}}, false), uid8))
	if len(sink.Msgs) != 1 || sink.Msgs[0].Cut != transfer.CutConflict || st.PieceConflicts != 1 {
		t.Errorf("uid: %d messages, stats %+v", len(sink.Msgs), *st)
	}
}

// Held bytes are bounded: past MaxPieceHold the pieces are dropped and
// the message, if it is not completed in order, is cut at the limit.
func TestPiecesHoldBound(t *testing.T) {
	spans := []span{{256, 256}, {512, 256}, {768, 256}, {0, 256}}
	evs := script(selectINBOX, piecesAt(bigMsg, spans, false))
	sink, p, st := run(t, Options{MaxPieceHold: 600}, evs)
	if len(sink.Msgs) != 1 || sink.Msgs[0].Cut != transfer.CutLimit || st.PieceLimit != 1 || string(sink.Msgs[0].Data) != bigMsg[:768] {
		t.Errorf("%d messages, stats %+v", len(sink.Msgs), *st)
	}
	if p.chain.heldN != 0 || p.chain.active {
		t.Errorf("chain left %+v", p.chain)
	}
	// Many small runs apart: bounded by maxSegments.
	var many []span
	for i := 1; i < 3*maxSegments; i += 2 {
		many = append(many, span{i * 4, 4})
	}
	_, _, st = run(t, Options{}, script(selectINBOX, piecesAt(bigMsg, many, false)))
	if st.PieceLimit != 1 {
		t.Errorf("runs: stats %+v", *st)
	}
	// Overlapping further back than kept: the piece is not joined.
	long := bigMsg + string(make([]byte, 2*maxTail))
	sink, _, st = run(t, Options{}, script(selectINBOX, piecesAt(long, []span{{0, 2 * maxTail}, {10, 100}, {2 * maxTail, len(long)}}, false)))
	if len(sink.Msgs) != 1 || sink.Msgs[0].Cut != transfer.Whole || st.Offsets != 1 {
		t.Errorf("far back: stats %+v", *st)
	}
}

// A gap in a held piece: the message, joined, is cut.
func TestPiecesHeldGap(t *testing.T) {
	evs := script(selectINBOX, []ev{
		cl("a UID FETCH 7 (UID BODY.PEEK[]<500.500>)\r\n"),
		sv("* 1 FETCH (UID 7 BODY[]<500> {500}\r\n" + bigMsg[500:600]), {Gap: 100}, sv(bigMsg[700:] + ")\r\na OK\r\n"),
	}, piecesAt(bigMsg, []span{{0, 500}, {1000, 500}}, false))
	sink, _, _ := run(t, Options{}, evs)
	if len(sink.Msgs) != 1 || sink.Msgs[0].Cut != transfer.CutGap || sink.Msgs[0].Gaps != 100 || len(sink.Msgs[0].Data) != 900 {
		t.Errorf("messages %+v", sink.Msgs)
	}
}

// The chain is one message: in another mailbox the same number is
// another message.
func TestPiecesOtherMailbox(t *testing.T) {
	evs := script(selectINBOX, piecesAt(bigMsg, []span{{0, 500}}, false),
		[]ev{cl("m SELECT Archive\r\n"), sv("m OK\r\n")}, piecesAt(bigMsg, []span{{500, 500}}, false))
	sink, _, st := run(t, Options{}, evs)
	if len(sink.Msgs) != 1 || sink.Msgs[0].Cut != transfer.CutNotFinal || len(sink.Msgs[0].Data) != 500 || st.PiecesDropped != 1 {
		t.Errorf("%d messages, stats %+v", len(sink.Msgs), *st)
	}
}

// A piece at an offset past what a message may hold is not joined (its
// offset arithmetic stays far from overflowing).
func TestPiecesFarOffset(t *testing.T) {
	evs := script(selectINBOX, piecesAt(bigMsg, []span{{0, 500}}, false), []ev{
		cl("f UID FETCH 7 (UID BODY.PEEK[]<288230376151711744.100>)\r\n"),
		sv("* 1 FETCH (UID 7 BODY[]<288230376151711744> {10}\r\n0123456789)\r\nf OK\r\n"),
	}, piecesAt(bigMsg, []span{{500, 600}}, false))
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{bigMsg}, whole, "INBOX")
		if st.Offsets != 1 {
			t.Errorf("stats %+v", *st)
		}
	})
}

// Footprint counts the held pieces and the tail kept to check overlaps,
// within their bounds.
func TestPiecesFootprint(t *testing.T) {
	big := string(fakePE(3 << 20))
	p := New(newSink(t), Options{}, nil)
	feed(p, selectINBOX)
	base := p.Footprint()
	var spans []span
	for off := 1 << 20; off > 1<<16; off -= 1 << 16 { // all but the one after the first
		spans = append(spans, span{off, 1 << 16})
	}
	feed(p, piecesAt(big, append([]span{{0, 1 << 16}}, spans...), false))
	fp := p.Footprint()
	t.Logf("idle %d, holding %d bytes: %d", base, p.chain.heldN, fp)
	if p.chain.heldN == 0 || int64(fp-base) < p.chain.heldN+maxTail || int64(fp-base) > 2*DefaultMaxPieceHold+2*maxTail {
		t.Errorf("Footprint %d (idle %d), held %d", fp, base, p.chain.heldN)
	}
	p.Close()
}
