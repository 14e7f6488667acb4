package craft

import (
	"bytes"
	"testing"
)

// seedFlights adds the first client and server flights of the TLS
// sources.
func seedFlights(f *testing.F, add func(b []byte)) {
	c := corpus(f)
	for _, name := range tlsSources {
		st, _, err := c.stream(name)
		if err != nil {
			f.Fatal(err)
		}
		add(st.Turns[0].Data)
		add(st.Turns[1].Data)
	}
}

// A hello body that parses writes back to bytes that parse to the same
// hello; fingerprinting it never panics.
func FuzzParseHello(f *testing.F) {
	seedFlights(f, func(b []byte) {
		if _, body, err := firstMessage(b); err == nil {
			f.Add(body, b[5] == hsClientHello)
		}
	})
	f.Fuzz(func(t *testing.T, body []byte, client bool) {
		h, err := ParseHello(body, client)
		if err != nil {
			return
		}
		m := h.Marshal()
		h2, err := ParseHello(m, client)
		if err != nil {
			t.Fatalf("a written hello does not parse: %v", err)
		}
		if !bytes.Equal(h2.Marshal(), m) {
			t.Fatalf("write, parse, write differs")
		}
		if client {
			_, _, _ = h.JA3(), h.JA4(false), h.SNI()
		} else if len(h.Ciphers) == 1 {
			_ = h.JA3S()
		}
	})
}

// Records parse and write back to the same bytes; re-framing keeps the
// handshake bytes.
func FuzzRecords(f *testing.F) {
	seedFlights(f, func(b []byte) { f.Add(b, 7) })
	f.Add([]byte{22, 3, 1, 0, 1, 1, 21, 3, 3, 0, 2, 1, 0}, 1)
	f.Fuzz(func(t *testing.T, b []byte, size int) {
		rs, rest := ParseRecords(b)
		if got := MarshalRecords(rs); !bytes.Equal(got, b[:len(b)-len(rest)]) {
			t.Fatalf("records do not write back")
		}
		if size < 1 || size > maxRecord {
			return
		}
		out, err := Reframe(b, size, 0)
		if err != nil {
			return
		}
		hs, _, _, _ := leadingHandshake(b)
		hs2, _, _, err := leadingHandshake(out)
		if err != nil || !bytes.Equal(hs, hs2) {
			t.Fatalf("re-framing changed the handshake bytes: %v", err)
		}
	})
}

// The CRYPTO frame reader never panics.
func FuzzQUICCryptoHello(f *testing.F) {
	b, err := corpus(f).QUIC("rfc9001-a2-client-crypto")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{6, 0, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := quicCryptoHello(b); err == nil {
			_ = h.JA4(true)
		}
	})
}
