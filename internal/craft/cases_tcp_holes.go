package craft

import (
	"bytes"
	"fmt"
)

// lateRetransmission: the first response segment (the HTTP header and
// the file's first bytes) is lost and retransmitted only after 1 MiB of
// later data; the client holds that 1 MiB out of order (a 4 MiB window),
// SACKing it. Linux delivers all of it once the hole is filled. Truth:
// the file whole.
func lateRetransmission(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	var held []byte
	return b.download(st, func(c *Conn, d, off int, data []byte) Action {
		if d != Down {
			return Deliver
		}
		if off == 0 {
			held = data
			return Skip
		}
		if held != nil && off >= 1<<20 {
			c.SendAt(Down, 0, held, false)
			held = nil
		}
		return Deliver
	})
}

// headerHoleKeepalive: on the keep-alive connection, the first segment
// of the fourth response (archive.zip: its HTTP header and the zip's
// first bytes) never reaches the capture; the client got it (its ACKs
// cover it). The sensor cannot have that file, but must say so and find
// the next response: the request that follows, and the next "HTTP/1.1"
// status line, mark where it starts. Truth: archive.zip incomplete with
// cut "gap" (bytes missing on the wire; the name is the request's), every
// other file of the connection whole.
func headerHoleKeepalive(b *builder) error {
	st, err := b.source("http_keepalive")
	if err != nil {
		return err
	}
	const victim = "archive.zip"
	at, ok := responseOffset(st, "GET /"+victim+" ")
	if !ok {
		return fmt.Errorf("http_keepalive has no request for %s", victim)
	}
	var kept []FileTruth
	for _, f := range b.truth.Files {
		if f.Name != victim {
			kept = append(kept, f)
		}
	}
	b.truth.Files = kept
	b.truth.Incomplete = []IncompleteFile{{Name: victim, Cut: "gap"}}
	return b.download(st, func(c *Conn, d, off int, data []byte) Action {
		if d == Down && off == at {
			return Unseen
		}
		return Deliver
	})
}

// responseOffset is the server stream offset of the response to the
// request that starts with prefix.
func responseOffset(st *Stream, prefix string) (int, bool) {
	off, found := 0, false
	for _, t := range st.Turns {
		if t.Up {
			found = bytes.HasPrefix(t.Data, []byte(prefix))
			continue
		}
		if found {
			return off, true
		}
		off += len(t.Data)
	}
	return 0, false
}

// urgentByte: one byte is inserted into the body on the wire, in a
// segment with URG set and the urgent pointer at that byte. Linux (like
// BSD) takes the urgent pointer as pointing one past the urgent byte
// (tcp_check_urg, tcp_stdurg off) and, unless the application set
// SO_OOBINLINE (curl does not), keeps that byte out of band: recv skips
// it (tcp_recvmsg, urg_hole). The application stream is the original
// file. Truth: the file whole (a sensor that cannot follow may instead
// flag the file; counted as tcp_urgent).
func urgentByte(b *builder) error {
	st, err := b.source("http_exe")
	if err != nil {
		return err
	}
	b.counter("tcp_urgent")
	const at = 700_001 // wire offset of the urgent byte in the response
	wire := st.Clone()
	for i, t := range wire.Turns {
		if !t.Up {
			d := append(append(append([]byte(nil), t.Data[:at]...), '!'), t.Data[at:]...)
			wire.Turns[i].Data = d
			break
		}
	}
	return b.download(wire, func(c *Conn, d, off int, data []byte) Action {
		if d != Down || at < off || at >= off+len(data) {
			return Deliver
		}
		c.Emit(Down, Seg{Off: off, Data: data, Flags: ACK | PSH | URG, Urg: uint16(at - off + 1)})
		return Replaced
	})
}

// httpHeaders: responses of src carry n more header fields of about
// size bytes each, before the blank line that ends the header (every
// response when every is 0, else the every-th only). Real clients accept
// header blocks of this size: Chrome up to 256 KiB, curl 300 KiB (and
// any number of lines within), Go's Transport 10 MB. A sensor's limits
// must be at least as generous, paid from its memory budget. Truth: the
// files whole.
func httpHeaders(src string, n, size, every int) func(b *builder) error {
	return func(b *builder) error {
		st, err := b.source(src)
		if err != nil {
			return err
		}
		w := st.Clone()
		k := 0
		for i, t := range w.Turns {
			if t.Up || !bytes.HasPrefix(t.Data, []byte("HTTP/1.1 ")) {
				continue
			}
			if k++; every != 0 && k != every {
				continue
			}
			end := bytes.Index(t.Data, []byte("\r\n\r\n"))
			if end < 0 {
				return fmt.Errorf("%s: response without a whole header", src)
			}
			var extra []byte
			for j := 0; j < n; j++ {
				line := fmt.Sprintf("\r\nX-Extra-%03d: ", j)
				extra = append(extra, line...)
				extra = append(extra, bytes.Repeat([]byte{'v'}, max(size-len(line), 1))...)
			}
			d := append(append(append([]byte(nil), t.Data[:end]...), extra...), t.Data[end:]...)
			w.Turns[i].Data = d
		}
		return b.download(w, nil)
	}
}

// smtpHoleMessageStart: the session sends its mail twice (MAIL, RCPT,
// DATA, message, then the same transaction again). The capture misses
// the first transaction's MAIL FROM and DATA commands and the start of
// its message, up to past the first attachment's part header; the server
// got them all (its ACKs and 250/354 replies say so). The sensor cannot
// name or rebuild the first mail's cut attachment but must report it cut
// and find the second transaction. Truth: the second mail's two
// attachments whole; an incomplete file with cut "gap" whose name is
// unknowable ("").
func smtpHoleMessageStart(b *builder) error {
	st, err := b.source("smtp_attach")
	if err != nil {
		return err
	}
	var mail, quit int = -1, -1
	for i, t := range st.Turns {
		if t.Up && bytes.HasPrefix(t.Data, []byte("MAIL FROM:")) && mail < 0 {
			mail = i
		}
		if t.Up && bytes.HasPrefix(t.Data, []byte("QUIT")) {
			quit = i
		}
	}
	if mail < 0 || quit < mail {
		return fmt.Errorf("smtp_attach: no MAIL FROM ... QUIT")
	}
	two := &Stream{Client: st.Client, Server: st.Server}
	two.Turns = append(two.Turns, st.Turns[:quit]...)
	two.Turns = append(two.Turns, st.Turns[mail:quit]...)
	two.Turns = append(two.Turns, st.Turns[quit:]...)

	// Stream offsets of what the capture misses: the first MAIL FROM,
	// the first DATA, and the first message up to 2 KiB past its first
	// attachment's file name.
	type rng struct{ from, to int }
	var miss []rng
	off := 0
	for i, t := range two.Turns[:quit] {
		if !t.Up {
			continue
		}
		switch {
		case i == mail, bytes.Equal(t.Data, []byte("DATA\r\n")):
			miss = append(miss, rng{off, off + len(t.Data)})
		case len(t.Data) > 1<<16:
			fn := bytes.Index(t.Data, []byte("filename="))
			if fn < 0 {
				return fmt.Errorf("smtp_attach: no attachment file name in the message")
			}
			miss = append(miss, rng{off, off + fn + 2048})
		}
		off += len(t.Data)
	}
	b.truth.Incomplete = []IncompleteFile{{Name: "", Cut: "gap"}}
	return b.download(two, func(c *Conn, d, off int, data []byte) Action {
		if d != Up {
			return Deliver
		}
		for _, m := range miss {
			if off < m.to && off+len(data) > m.from {
				return Unseen
			}
		}
		return Deliver
	})
}
