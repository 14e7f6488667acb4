package craft

import (
	"bytes"
	"fmt"
)

// The TLS cases split, re-frame or surround the handshakes of the TLS
// corpus captures. The hello bytes a server's TLS library reads are the
// original ones (or a padded hello whose fingerprints are computed
// here), so the truth is the source's SNI, JA3, JA3S and JA4.

// shortName names a TLS source in case names.
func shortName(src string) string {
	return map[string]string{"tls_curl13": "curl13", "tls_curl12": "curl12", "tls_go_pq": "gopq",
		"tls_openssl_nosni": "nosni"}[src]
}

func tlsCases() []Case {
	var cs []Case
	for _, src := range tlsSources {
		src := src
		add := func(kind, what string, f func(b *builder, st *Stream) error) {
			cs = append(cs, Case{Name: "tls_" + kind + "_" + shortName(src), What: what + " (" + src + ")",
				build: func(b *builder) error {
					st, err := b.source(src)
					if err != nil {
						return err
					}
					return f(b, st)
				}})
		}
		for _, n := range []int{1, 5, 10} {
			add(fmt.Sprintf("seg%d", n), fmt.Sprintf("both hello flights in %d-byte TCP segments", n), tlsSegments(n))
		}
		add("tiny_first", "the ClientHello's first TCP segment one byte long, then full segments", tlsTinyFirst)
		for _, n := range []int{1, 10, 38} {
			add(fmt.Sprintf("rec%d", n), fmt.Sprintf("both hello flights re-framed into %d-byte TLS records", n), tlsRecords(n))
		}
		add("ccs_first", "a change_cipher_spec record before the ClientHello record, in the same segment", tlsPrefix(Record{Type: recCCS, Body: []byte{1}}))
		add("alert_first", "a warning alert record (user_canceled) before the ClientHello record, in the same segment", tlsPrefix(Record{Type: recAlert, Body: []byte{1, 90}}))
		for _, v := range []uint16{0x0300, 0x0302, 0x03ff} {
			add(fmt.Sprintf("recver_%04x", v), fmt.Sprintf("record-layer version 0x%04x on both hellos' records", v), tlsRecordVersion(v))
		}
		add("big_hello", "a 64 KiB ClientHello (padding extension) in four records and many segments", tlsBigHello)
		add("decoy_badcsum", "a decoy ClientHello (other SNI and cipher) in bad-checksum segments before the real one", tlsDecoyBadCsum)
		add("decoy_overlap", "a decoy hello piece queued out of order, replaced by a longer real segment with the same start", tlsDecoyOverlap)
		add("decoy_inorder", "a decoy hello piece queued out of order, covered by the real hello arriving in order", tlsDecoyInorder)
	}
	return cs
}

// helloTurns are the indexes of the client's first flight and the
// server's first flight.
func helloTurns(st *Stream) (client, server int, err error) {
	if len(st.Turns) < 2 || !st.Turns[0].Up || st.Turns[1].Up {
		return 0, 0, fmt.Errorf("stream does not open with a client flight and a server flight")
	}
	return 0, 1, nil
}

// tlsSegments: the client's and the server's first flights go out in
// n-byte segments (each acknowledged as a receiver does). Linux hands the
// TLS library the same bytes whatever the segmentation. Truth: the
// source's handshake.
func tlsSegments(n int) func(b *builder, st *Stream) error {
	return func(b *builder, st *Stream) error {
		ci, si, err := helloTurns(st)
		if err != nil {
			return err
		}
		c := b.connFor(st, b.cap)
		c.Handshake()
		for i, t := range st.Turns {
			d := Down
			if t.Up {
				d = Up
			}
			if i == ci || i == si {
				c.SendSized(d, t.Data, n)
			} else {
				c.Send(d, t.Data)
			}
		}
		c.Close(Up)
		return finish(c)
	}
}

// tlsTinyFirst: the ClientHello's first segment carries one byte (the
// record's content type), the rest follows in full segments. Truth: the
// source's handshake.
func tlsTinyFirst(b *builder, st *Stream) error {
	c := b.connFor(st, b.cap)
	c.Handshake()
	c.SendSized(Up, st.Turns[0].Data[:1], 1)
	c.Send(Up, st.Turns[0].Data[1:])
	c.Play(st.Turns[1:])
	c.Close(Up)
	return finish(c)
}

// withFlights replays st after rewriting its first client and server
// flights.
func (b *builder) withFlights(st *Stream, rewrite func(flight []byte, client bool) ([]byte, error)) error {
	ci, si, err := helloTurns(st)
	if err != nil {
		return err
	}
	w := st.Clone()
	for _, i := range []int{ci, si} {
		if w.Turns[i].Data, err = rewrite(w.Turns[i].Data, i == ci); err != nil {
			return err
		}
	}
	c := b.connFor(w, b.cap)
	c.Replay(w)
	return finish(c)
}

// tlsRecords: the handshake messages that open each first flight are
// re-framed into n-byte records (RFC 8446 5.1 and RFC 5246 6.2.1 allow a
// handshake message to span any number of records; OpenSSL, Go and NSS
// reassemble them). The handshake bytes, hence the fingerprints, do not
// change. Truth: the source's handshake.
func tlsRecords(n int) func(b *builder, st *Stream) error {
	return func(b *builder, st *Stream) error {
		return b.withFlights(st, func(f []byte, _ bool) ([]byte, error) { return Reframe(f, n, 0) })
	}
}

// tlsPrefix: a record of another type goes before the ClientHello record
// in the same segment. A server may refuse it (RFC 8446 5 lets a
// change_cipher_spec be dropped only after the first ClientHello), a
// lenient one reads on; either way the hello is the one sent, and the
// sensor must not be blinded by the record in front. The server flight is
// the real one. Truth: the source's handshake.
func tlsPrefix(r Record) func(b *builder, st *Stream) error {
	return func(b *builder, st *Stream) error {
		return b.withFlights(st, func(f []byte, client bool) ([]byte, error) {
			if !client {
				return f, nil
			}
			r.Version = uint16(f[1])<<8 | uint16(f[2])
			return append(MarshalRecords([]Record{r}), f...), nil
		})
	}
}

// setRecordVersion sets the version of the handshake records opening a
// flight.
func setRecordVersion(flight []byte, v uint16) ([]byte, error) {
	rs, tail := ParseRecords(flight)
	if len(tail) != 0 {
		return nil, fmt.Errorf("flight ends inside a record")
	}
	for i := range rs {
		if rs[i].Type != recHandshake {
			break
		}
		rs[i].Version = v
	}
	return MarshalRecords(rs), nil
}

// tlsRecordVersion: the hello records carry record-layer version v
// (0x0300 SSL 3.0, 0x0302, 0x03ff). TLS 1.3 says the field MUST be
// ignored (RFC 8446 5.1); OpenSSL checks only the major version of the
// first record. JA3 and JA4 use the hello's own version fields, not the
// record's. Truth: the source's handshake.
func tlsRecordVersion(v uint16) func(b *builder, st *Stream) error {
	return func(b *builder, st *Stream) error {
		return b.withFlights(st, func(f []byte, _ bool) ([]byte, error) { return setRecordVersion(f, v) })
	}
}

// bigHelloBody is the hello body size of tls_big_hello: with its 4-byte
// header the message is 64 KiB, within Go's limit (maxHandshake 65536
// body bytes) and OpenSSL's.
const bigHelloBody = 64<<10 - 4

// tlsBigHello: the ClientHello is padded (RFC 7685 padding extension,
// grown or added) to a 64 KiB message, sent in four 16 KiB records over
// many segments; the server's real flight answers. The padding extension
// is in JA3's and JA4's extension lists, so where it had to be added the
// fingerprints change: they are computed here from the padded hello
// (fingerprint.go, checked against tshark and the corpus in the tests).
// Truth: the source's SNI and JA3S, JA3/JA4 of the padded hello.
func tlsBigHello(b *builder, st *Stream) error {
	ch, err := clientHelloOf(st.Turns[0].Data)
	if err != nil {
		return err
	}
	if err := ch.padTo(bigHelloBody); err != nil {
		return err
	}
	b.truth.TLS[0].JA3 = ch.JA3()
	b.truth.TLS[0].JA4 = ch.JA4(false)
	return b.withFlights(st, func(f []byte, client bool) ([]byte, error) {
		if !client {
			return f, nil
		}
		return replaceClientHello(f, ch.Message())
	})
}

// decoyFlight is the client's first flight with a decoy hello of the
// same length (other SNI, other first cipher).
func decoyFlight(flight []byte) ([]byte, error) {
	ch, err := clientHelloOf(flight)
	if err != nil {
		return nil, err
	}
	d, err := replaceClientHello(flight, decoyHello(ch).Message())
	if err != nil {
		return nil, err
	}
	if len(d) != len(flight) || bytes.Equal(d, flight) {
		return nil, fmt.Errorf("decoy flight of %d bytes for a flight of %d", len(d), len(flight))
	}
	return d, nil
}

// tlsDecoyBadCsum: before each segment of the real ClientHello, a
// segment with the same sequence number carrying the decoy hello's bytes
// and a wrong TCP checksum; Linux drops it (tcp_checksum_complete).
// Truth: the real hello's SNI, JA3, JA4.
func tlsDecoyBadCsum(b *builder, st *Stream) error {
	decoy, err := decoyFlight(st.Turns[0].Data)
	if err != nil {
		return err
	}
	b.counter("tcp_csum_bad")
	c := b.connFor(st, b.cap)
	c.OnData = func(c *Conn, d, off int, data []byte) Action {
		if d == Up && off+len(data) <= len(decoy) {
			c.Emit(Up, Seg{Off: off, Data: decoy[off : off+len(data)], Csum: CsumBadTCP})
		}
		return Deliver
	}
	c.Replay(st)
	return finish(c)
}

// helloSplit is where the decoy cases cut the hello: after the record
// header, the handshake header and the version, so the random, the
// cipher suites and the SNI lie in the part a decoy replaces.
const helloSplit = 11

// decoyEnd is the end of the part a decoy covers: past the SNI (or the
// cipher suites when there is none), within the first segment after the
// split.
func decoyEnd(flight []byte, mss int) int {
	end := len(flight)
	if sni := sniOf(flight); sni != "" {
		if i := bytes.Index(flight, []byte(sni)); i > 0 {
			end = i + len(sni) + 8
		}
	}
	return min(end, helloSplit+mss-8, len(flight)-1)
}

func sniOf(flight []byte) string {
	ch, err := clientHelloOf(flight)
	if err != nil {
		return ""
	}
	return ch.SNI()
}

// sendFlightFrom sends flight[from:] as real segments of direction Up.
func sendFlightFrom(c *Conn, flight []byte, from, mss int) {
	for off := from; off < len(flight); off += mss {
		c.SendAt(Up, off, flight[off:min(off+mss, len(flight))], true)
	}
}

// tlsDecoyOverlap: the hello's first bytes are held back; a short decoy
// segment for the bytes after them (the decoy hello's random, ciphers
// and SNI) arrives out of order and is queued; the real segment with the
// same start and longer follows (Linux replaces the queued one:
// tcp_data_queue_ofo, same seq and covering); then the held-back start.
// Truth: the real hello's SNI, JA3, JA4.
func tlsDecoyOverlap(b *builder, st *Stream) error {
	flight := st.Turns[0].Data
	decoy, err := decoyFlight(flight)
	if err != nil {
		return err
	}
	c := b.connFor(st, b.cap)
	c.Handshake()
	end := decoyEnd(flight, 1448)
	c.Emit(Up, Seg{Off: helloSplit, Data: decoy[helloSplit:end]})
	c.SackAck(Up, [2]int{helloSplit, end})
	sendFlightFrom(c, flight, helloSplit, 1448)
	c.SendAt(Up, 0, flight[:helloSplit], true)
	c.Sent(Up, len(flight))
	c.Play(st.Turns[1:])
	c.Close(Up)
	return finish(c)
}

// tlsDecoyInorder: a decoy for the bytes after the hello's first eleven
// arrives out of order and is queued; then the real hello from its first
// byte, in order, covering it: Linux delivers the in-order data and drops
// the queued decoy it covers (tcp_ofo_queue). Truth: the real hello's
// SNI, JA3, JA4.
func tlsDecoyInorder(b *builder, st *Stream) error {
	flight := st.Turns[0].Data
	decoy, err := decoyFlight(flight)
	if err != nil {
		return err
	}
	c := b.connFor(st, b.cap)
	c.Handshake()
	end := min(len(flight), 1448) // inside the first real segment: covered whole
	c.Emit(Up, Seg{Off: helloSplit, Data: decoy[helloSplit:end]})
	c.SackAck(Up, [2]int{helloSplit, end})
	sendFlightFrom(c, flight, 0, 1448)
	c.Sent(Up, len(flight))
	c.Play(st.Turns[1:])
	c.Close(Up)
	return finish(c)
}
