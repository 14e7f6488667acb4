package tlswire

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	mrand "math/rand"
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

func TestStreamReorderDuplicatesOverlaps(t *testing.T) {
	data := make([]byte, 5000)
	for i := range data {
		data[i] = byte(i * 31)
	}
	s := NewStream(1 << 16)
	base := uint32(0xfffff000) // wraps during the stream
	add := func(a, b int) { s.Add(base+uint32(a), data[a:b]) }
	add(1000, 2000) // first seen: not the start
	add(3000, 5000)
	if got := s.Contiguous(); !bytes.Equal(got, data[1000:2000]) {
		t.Fatal("contiguous data should run from the lowest byte seen so far")
	}
	add(0, 1500)    // earlier than the first seen: the stream rebases
	add(500, 800)   // duplicate
	add(1900, 3100) // overlap on both sides
	if gap, _ := s.Gaps(); gap {
		t.Error("gap reported after everything arrived")
	}
	if got := s.Contiguous(); !bytes.Equal(got, data) {
		t.Fatalf("reassembled %d bytes, want the %d sent", len(got), len(data))
	}
	// A retransmission with different bytes does not replace the first copy.
	bad := append([]byte(nil), data[100:200]...)
	bad[0] ^= 0xff
	s.Add(base+100, bad)
	if s.Conflicts != 1 || !bytes.Equal(s.Contiguous(), data) {
		t.Errorf("conflicting retransmission: conflicts %d", s.Conflicts)
	}
}

func TestStreamLimitAndGaps(t *testing.T) {
	s := NewStream(1000)
	s.Add(10, make([]byte, 100))
	s.Add(500, make([]byte, 800)) // crosses the limit
	if s.Len() != 1000 || s.Overflow != 290 {
		t.Errorf("len %d overflow %d", s.Len(), s.Overflow)
	}
	if gap, n := s.Gaps(); !gap || n != 500-110 {
		t.Errorf("gap %v %d", gap, n)
	}
	s.Add(5, make([]byte, 5)) // before the start, would need 5 more bytes past the limit
	if s.Overflow != 295 {
		t.Errorf("rebase past the limit: overflow %d", s.Overflow)
	}
}

func TestStreamPinned(t *testing.T) {
	s := NewStream(100)
	s.Add(1000, []byte("hello"))
	s.Pin()
	s.Add(990, []byte("0123456789AB")) // reaches 2 bytes into the stream
	s.Add(900, []byte("way before"))
	if got := string(s.Contiguous()); got != "hello" || s.Conflicts != 1 {
		t.Errorf("pinned stream %q conflicts %d", got, s.Conflicts)
	}
}

func record(typ byte, body []byte) []byte {
	return append([]byte{typ, 3, 3, byte(len(body) >> 8), byte(len(body))}, body...)
}

func msg(typ byte, body []byte) []byte {
	return append([]byte{typ, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

func TestReaderSplitsRecordsAndMessages(t *testing.T) {
	m1, m2, m3 := msg(2, []byte("server hello")), msg(11, bytes.Repeat([]byte("c"), 3000)), msg(14, nil)
	// m1 and the start of m2 in one record, the rest of m2 and m3 in the next.
	all := append(append(append([]byte{}, m1...), m2...), m3...)
	cut := len(m1) + 100
	stream := append(record(22, all[:cut]), record(22, all[cut:])...)
	stream = append(stream, record(20, []byte{1})...)
	stream = append(stream, record(22, []byte("encrypted finished"))...)
	var got []Message
	var r Reader
	// Feed it in small pieces, as segments arrive.
	for n := 1; n <= len(stream); n += 7 {
		r.Feed(stream[:n], func(m Message) { got = append(got, Message{m.Type, append([]byte(nil), m.Body...)}) })
	}
	r.Feed(stream, func(m Message) { got = append(got, Message{m.Type, append([]byte(nil), m.Body...)}) })
	if len(got) != 3 || got[0].Type != 2 || got[1].Type != 11 || len(got[1].Body) != 3000 || got[2].Type != 14 {
		t.Fatalf("messages: %d", len(got))
	}
	if !r.CCS || !r.Encrypted || r.Err != nil {
		t.Errorf("after CCS: ccs %v encrypted %v err %v", r.CCS, r.Encrypted, r.Err)
	}
	var bad Reader
	bad.Feed([]byte("GET / HTTP/1.1\r\n"), func(Message) {})
	if bad.Err != ErrNotTLS {
		t.Errorf("plain text: %v", bad.Err)
	}
	var alert Reader
	alert.Feed(record(21, []byte{2, 40}), func(Message) {})
	if len(alert.Alerts) != 1 || AlertName(alert.Alerts[0].Description) != "handshake_failure" {
		t.Errorf("alert %+v", alert.Alerts)
	}
}

// buildClientHello writes a ClientHello with cryptobyte, field by field.
func buildClientHello(ext func(*cryptobyte.Builder)) []byte {
	var b cryptobyte.Builder
	b.AddUint16(0x0303)
	b.AddBytes(make([]byte, 32))
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 32)) })
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, c := range []uint16{0x0a0a, 0x1301, 0x1302, 0xc02b} {
			b.AddUint16(c)
		}
	})
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
	b.AddUint16LengthPrefixed(ext)
	return b.BytesOrPanic()
}

func addExt(b *cryptobyte.Builder, typ uint16, body func(*cryptobyte.Builder)) {
	b.AddUint16(typ)
	b.AddUint16LengthPrefixed(body)
}

func TestParseClientHello(t *testing.T) {
	body := buildClientHello(func(b *cryptobyte.Builder) {
		addExt(b, 0x2a2a, func(*cryptobyte.Builder) {})
		addExt(b, ExtServerName, func(b *cryptobyte.Builder) {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				b.AddUint8(0)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte("public.example")) })
			})
		})
		addExt(b, ExtALPN, func(b *cryptobyte.Builder) {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				for _, p := range []string{"h2", "http/1.1"} {
					b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(p)) })
				}
			})
		})
		addExt(b, ExtSupportedVersions, func(b *cryptobyte.Builder) {
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(0x3a3a); b.AddUint16(0x0304); b.AddUint16(0x0303) })
		})
		addExt(b, ExtKeyShare, func(b *cryptobyte.Builder) {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				b.AddUint16(0x11ec)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 1216)) })
				b.AddUint16(29)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 32)) })
			})
		})
		addExt(b, ExtPreSharedKey, func(b *cryptobyte.Builder) { b.AddBytes([]byte{0, 0}) })
		addExt(b, ExtEncryptedClientHello, func(b *cryptobyte.Builder) { b.AddUint8(0) })
	})
	var ch ClientHello
	if err := ParseClientHello(body, &ch); err != nil {
		t.Fatal(err)
	}
	if string(ch.ServerName) != "public.example" || len(ch.ALPN) != 2 || string(ch.ALPN[1]) != "http/1.1" {
		t.Errorf("sni %q alpn %q", ch.ServerName, ch.ALPN)
	}
	if len(ch.Extensions) != 7 || ch.Extensions[0] != 0x2a2a || len(ch.Ciphers) != 4 || ch.SessionIDLen != 32 {
		t.Errorf("extensions %v ciphers %v", ch.Extensions, ch.Ciphers)
	}
	if len(ch.KeyShareGroups) != 2 || GroupName(ch.KeyShareGroups[0]) != "X25519MLKEM768" {
		t.Errorf("key shares %v", ch.KeyShareGroups)
	}
	if !ch.PSKOffered || !ch.ECH || !ch.ECHOuter || len(ch.SupportedVersions) != 3 {
		t.Errorf("psk %v ech %v versions %v", ch.PSKOffered, ch.ECH, ch.SupportedVersions)
	}
	// Every truncation fails cleanly.
	for i := 0; i < len(body); i++ {
		var c ClientHello
		ParseClientHello(body[:i], &c)
	}
	// A length that points past the end is an error, not a panic.
	bad := append([]byte(nil), body...)
	bad[2+32] = 200 // session id length
	if err := ParseClientHello(bad, &ch); err == nil {
		t.Error("session id past the end accepted")
	}
}

func TestParseServerHelloAndRetry(t *testing.T) {
	build := func(random []byte) []byte {
		var b cryptobyte.Builder
		b.AddUint16(0x0303)
		b.AddBytes(random)
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {})
		b.AddUint16(0x1302)
		b.AddUint8(0)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			addExt(b, ExtSupportedVersions, func(b *cryptobyte.Builder) { b.AddUint16(0x0304) })
			addExt(b, ExtKeyShare, func(b *cryptobyte.Builder) { b.AddUint16(23) })
		})
		return b.BytesOrPanic()
	}
	var sh ServerHello
	if err := ParseServerHello(build(make([]byte, 32)), &sh); err != nil || sh.HelloRetry || sh.Version() != 0x0304 ||
		sh.Cipher != 0x1302 || sh.KeyShareGroup != 23 {
		t.Fatalf("server hello %+v %v", sh, err)
	}
	if err := ParseServerHello(build(helloRetryRandom), &sh); err != nil || !sh.HelloRetry {
		t.Errorf("HelloRetryRequest not recognised")
	}
}

func TestCertificateLeaf(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mk := func(tmpl *x509.Certificate, parent *x509.Certificate, signer *ecdsa.PrivateKey) []byte {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	now := time.Now()
	self := &x509.Certificate{SerialNumber: big.NewInt(0xabc), Subject: pkix.Name{CommonName: "10.0.0.1"},
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour),
		DNSNames: []string{"a.example"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}}
	der := mk(self, self, key)
	var b cryptobyte.Builder
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(der) })
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(der) })
	})
	leaf, ok := ParseCertificateMessage(b.BytesOrPanic())
	if !ok || !leaf.SelfSigned || leaf.SubjectCN != "10.0.0.1" || leaf.Serial != "ABC" || leaf.ChainLength != 2 {
		t.Fatalf("leaf %+v", leaf)
	}
	if len(leaf.SANs) != 2 || leaf.PublicKeySize != 256 || len(leaf.SHA256) != 64 || !leaf.NotAfter.Before(now) {
		t.Errorf("leaf details %+v", leaf)
	}
	// Issued by another key: not self-signed even with the same names.
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "10.0.0.1"}, IsCA: true,
		BasicConstraintsValid: true, NotBefore: now, NotAfter: now.Add(time.Hour)}
	signed := mk(&x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "10.0.0.1"},
		NotBefore: now, NotAfter: now.Add(time.Hour)}, ca, otherKey)
	if l := DescribeLeaf(signed); l.SelfSigned {
		t.Error("a certificate signed by another key called self-signed")
	}
	if l := DescribeLeaf([]byte("not a certificate")); l.Error == "" || l.SHA1 == "" {
		t.Errorf("garbage: %+v", l)
	}
}

// checkSpans: sorted, merged (neither overlapping nor touching), inside data.
func checkSpans(t *testing.T, s *Stream) {
	t.Helper()
	for i, sp := range s.spans {
		if sp.start >= sp.end || sp.end > len(s.data) || i > 0 && s.spans[i-1].end >= sp.start {
			t.Fatalf("spans %v (data %d)", s.spans, len(s.data))
		}
	}
}

// insert against a bitmap: random ranges in random order leave exactly
// the filled positions covered.
func TestStreamSpansMatchBitmap(t *testing.T) {
	rng := mrand.New(mrand.NewSource(3))
	for round := 0; round < 2000; round++ {
		var s Stream
		var filled [200]bool
		for k := rng.Intn(12); k >= 0; k-- {
			a := rng.Intn(190)
			b := a + 1 + rng.Intn(10)
			s.insert(span{a, b})
			for i := a; i < b; i++ {
				filled[i] = true
			}
			s.data = make([]byte, 200)
			checkSpans(t, &s)
			var got [200]bool
			for _, sp := range s.spans {
				for i := sp.start; i < sp.end; i++ {
					got[i] = true
				}
			}
			if got != filled {
				t.Fatalf("round %d: spans %v do not cover what was inserted", round, s.spans)
			}
		}
	}
}

func FuzzStream(f *testing.F) {
	f.Add([]byte{0, 0, 0, 10, 5, 'h', 'e', 'l', 'l', 'o'})
	f.Fuzz(func(t *testing.T, ops []byte) {
		s := NewStream(4096)
		for len(ops) >= 6 {
			seq := uint32(ops[0])<<24 | uint32(ops[1])<<16 | uint32(ops[2])<<8 | uint32(ops[3])
			n := int(ops[4])
			ops = ops[5:]
			n = min(n, len(ops))
			s.Add(seq, ops[:n])
			ops = ops[n:]
			if s.Len() > 4096 || len(s.Contiguous()) > s.Len() {
				t.Fatalf("stream over its limit: %d", s.Len())
			}
			checkSpans(t, s)
		}
	})
}

func FuzzReader(f *testing.F) {
	f.Add(append(record(22, msg(1, []byte("hello"))), record(20, []byte{1})...))
	f.Fuzz(func(t *testing.T, stream []byte) {
		var r Reader
		n := 0
		r.Feed(stream, func(m Message) {
			n++
			if len(m.Body) > MaxMessage {
				t.Fatal("message over the limit")
			}
		})
		if len(r.hs) > MaxMessage+4+MaxRecord {
			t.Fatal("handshake buffer over its limit")
		}
	})
}

func FuzzClientHello(f *testing.F) {
	f.Add(buildClientHello(func(b *cryptobyte.Builder) {
		addExt(b, ExtServerName, func(b *cryptobyte.Builder) {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				b.AddUint8(0)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte("x.example")) })
			})
		})
	}))
	var ch ClientHello
	f.Fuzz(func(t *testing.T, body []byte) {
		if ParseClientHello(body, &ch) == nil && len(ch.Ciphers)*2 > len(body) {
			t.Fatal("more ciphers than bytes")
		}
	})
}

func FuzzServerHello(f *testing.F) {
	f.Add(append([]byte{3, 3}, make([]byte, 40)...))
	var sh ServerHello
	f.Fuzz(func(t *testing.T, body []byte) { ParseServerHello(body, &sh) })
}

func FuzzCertificate(f *testing.F) {
	f.Add([]byte{0, 0, 6, 0, 0, 3, 1, 2, 3})
	f.Fuzz(func(t *testing.T, body []byte) { ParseCertificateMessage(body) })
}

// TLS 1.3 after a HelloRetryRequest: HRR, a middlebox ChangeCipherSpec,
// then the real ServerHello, all in the clear. Once told TLS 1.3, the
// reader reads past the CCS; TLS 1.2 stops there, and an alert after it is
// encrypted, not an alert.
func TestReaderAfterChangeCipherSpec(t *testing.T) {
	stream := append(record(22, msg(2, []byte("hrr"))), record(20, []byte{1})...)
	stream = append(stream, record(22, msg(2, []byte("real sh")))...)
	for _, tls13 := range []bool{false, true} {
		var r Reader
		var got []string
		r.Feed(stream, func(m Message) {
			got = append(got, string(m.Body))
			r.TLS13 = tls13 // as the pipeline does on the first ServerHello
		})
		if want := map[bool]int{false: 1, true: 2}[tls13]; len(got) != want {
			t.Errorf("tls13 %v: messages %q, want %d", tls13, got, want)
		}
	}
	var r Reader
	r.Feed(append(append(record(22, msg(2, []byte("sh"))), record(20, []byte{1})...), record(21, []byte{0x8d, 0x3f})...), func(Message) {})
	if len(r.Alerts) != 0 || !r.Encrypted {
		t.Errorf("TLS 1.2 encrypted alert read as %v (encrypted %v)", r.Alerts, r.Encrypted)
	}
}

// An encrypted record's header is enough: the reader is past the
// plaintext at once, however little of the body came (the data plane,
// which sees only headers, marks it so too), by Feed and by Write.
func TestReaderEncryptedAtItsHeader(t *testing.T) {
	stream := append(record(22, msg(2, []byte("sh"))), record(20, []byte{1})...)
	stream = append(stream, record(23, make([]byte, 900))[:5+20]...)
	var fed Reader
	fed.Feed(stream, func(Message) {})
	var written Reader
	for off := 0; off < len(stream); off += 3 {
		written.Write(stream[off:min(off+3, len(stream))], func(Message) {})
	}
	for name, r := range map[string]*Reader{"Feed": &fed, "Write": &written} {
		if !r.Encrypted || r.Err != nil || r.Records != 3 {
			t.Errorf("%s: encrypted %v err %v records %d, want encrypted at the third record's header", name, r.Encrypted, r.Err, r.Records)
		}
	}
}

// Write, fed the same bytes in pieces of any size, gives what Feed gives
// on the whole: records of 1 byte, records split at every byte, a CCS or
// an alert before the hello, record versions 3.0 to 3.255.
func TestReaderWriteAnySplit(t *testing.T) {
	hello := msg(1, bytes.Repeat([]byte("h"), 700))
	sh := msg(2, []byte("server hello"))
	var tiny []byte // the hello in 1-byte records, versions varying
	for i, b := range hello {
		r := record(22, []byte{b})
		r[2] = byte(i)
		tiny = append(tiny, r...)
	}
	cases := map[string][]byte{
		"records of 1 byte": tiny,
		"ccs first":         append(record(20, []byte{1}), record(22, hello)...),
		"alert first":       append(record(21, []byte{1, 0}), record(22, hello)...),
		"two messages":      append(record(22, hello), record(22, sh)...),
	}
	collect := func(got *[]Message) func(Message) {
		return func(m Message) { *got = append(*got, Message{m.Type, append([]byte(nil), m.Body...)}) }
	}
	for name, stream := range cases {
		var want []Message
		var whole Reader
		whole.Feed(stream, collect(&want))
		if len(want) == 0 || want[0].Type != 1 || len(want[0].Body) != 700 || whole.Encrypted {
			t.Fatalf("%s: Feed gives %d messages, encrypted %v", name, len(want), whole.Encrypted)
		}
		for _, step := range []int{1, 2, 5, 10, 38, 1000} {
			var got []Message
			var r Reader
			for off := 0; off < len(stream); off += step {
				r.Write(stream[off:min(off+step, len(stream))], collect(&got))
			}
			if len(got) != len(want) || r.Err != nil {
				t.Fatalf("%s, %d-byte writes: %d messages, err %v", name, step, len(got), r.Err)
			}
			for i := range got {
				if got[i].Type != want[i].Type || !bytes.Equal(got[i].Body, want[i].Body) {
					t.Fatalf("%s, %d-byte writes: message %d differs", name, step, i)
				}
			}
			if r.Footprint() > MaxMessage+MaxRecord+64<<10 {
				t.Errorf("%s: footprint %d", name, r.Footprint())
			}
		}
	}
}

// FuzzReaderWrite: any bytes, cut anywhere, read by Write as by Feed.
func FuzzReaderWrite(f *testing.F) {
	f.Add(append(record(22, msg(1, []byte("hello"))), record(23, []byte("x"))...), uint8(3))
	f.Add(append(record(20, []byte{1}), record(22, msg(1, []byte("hi")))...), uint8(1))
	f.Fuzz(func(t *testing.T, stream []byte, step uint8) {
		n := int(step%64) + 1
		var a, b Reader
		var ma, mb int
		a.Feed(stream, func(Message) { ma++ })
		for off := 0; off < len(stream); off += n {
			b.Write(stream[off:min(off+n, len(stream))], func(Message) { mb++ })
		}
		if ma != mb || (a.Err == nil) != (b.Err == nil) || a.Encrypted != b.Encrypted || len(a.Alerts) != len(b.Alerts) {
			t.Fatalf("Feed: %d messages err %v enc %v; Write: %d err %v enc %v", ma, a.Err, a.Encrypted, mb, b.Err, b.Encrypted)
		}
	})
}
