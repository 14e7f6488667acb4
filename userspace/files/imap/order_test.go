package imap

import (
	"crypto/sha256"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// stored is a non-final stored deflate block of s (RFC 1951 3.2.4), at
// a byte boundary: its bytes are s as they are, after 5 bytes of header.
func stored(s string) string {
	n := len(s)
	return string([]byte{0, byte(n), byte(n >> 8), ^byte(n), ^byte(n >> 8)}) + s
}

// The server's OK to COMPRESS fed before the client's COMPRESS (the
// client's direction held back, a hole filled late): the server's
// compressed bytes are read as plain. A hostile server's stored blocks
// read as plain almost as they inflate, a block header landing inside a
// literal: the message read is not the client's. Only counted: stopping
// when the late command comes would let a server that sends its OK
// ahead silence the rest (TestCompressOKAhead).
func TestCompressOKBeforeCommand(t *testing.T) {
	body := "Subject: x\r\n\r\n0123456789abcdefghijklmnopqrstuvwxyz"
	// The client inflates "\r\n* 1 FETCH (BODY[] {n}\r\n"+body+")\r\na3 OK\r\n";
	// read as plain, the literal takes the second block's header.
	ok := "a2 OK DEFLATE active\r\n"
	first := stored("\r\n* 1 FETCH (BODY[] " + litOf(body)[:len(litOf(body))-len(body)+20])
	second := stored(body[20:] + ")\r\na3 OK\r\n")
	evs := script(selectINBOX[:3], []ev{sv(ok + first), cl("a2 COMPRESS DEFLATE\r\n"), sv(second)})
	sink, _, st := run(t, Options{}, evs)
	if st.CompressOrder != 1 {
		t.Errorf("stats %+v", *st)
	}
	t.Run("no whole message", func(t *testing.T) {
		t.Skip("known: a COMPRESS answered before the command is fed is read as plain; stored blocks can make a whole message of the wrong bytes")
		for _, m := range sink.Msgs {
			if m.Cut == transfer.Whole {
				t.Errorf("a whole message of %q", m.Data)
			}
		}
	})
}

// A server that says OK ahead to the tag the client will use for
// COMPRESS (tags are sequential) does not make the parser give up: the
// real answer is followed and what comes compressed is extracted. A
// client that uses one tag for all its commands is followed too.
func TestCompressOKAhead(t *testing.T) {
	pe := fakePE(5000)
	msg := peMessage("tool.exe", pe)
	c, s := newDeflater(t), newDeflater(t)
	ahead := script(selectINBOX[:2], []ev{sv("a1 OK\r\na2 OK\r\n"), cl("a2 COMPRESS DEFLATE\r\n"), sv("a2 OK DEFLATE active\r\n"),
		{Client: true, Data: c.chunk("a3 FETCH 1 (BODY.PEEK[])\r\n")},
		{Data: s.chunk("* 1 FETCH (BODY[] " + litOf(msg) + ")\r\na3 OK\r\n")}})
	oneTag := script(selectINBOX[:2], []ev{sv("a1 OK\r\n"), cl("a1 NOOP\r\n"), sv("a1 OK\r\n"),
		cl("a1 COMPRESS DEFLATE\r\n"), sv("a1 OK DEFLATE active\r\n")})
	files, _, st, _ := runFiles(t, Options{}, ahead)
	if f := files.named("tool.exe"); f == nil || sha256.Sum256(f.data) != sha256.Sum256(pe) || f.cut != transfer.Whole || st.CompressOrder != 1 {
		t.Errorf("ahead: files %s, stats %+v", files.names(), *st)
	}
	_, p, st := run(t, Options{}, oneTag)
	if p.Done() || st.CompressOrder != 0 || st.Compress != 1 {
		t.Errorf("one tag: done %v, stats %+v", p.Done(), *st)
	}
}
