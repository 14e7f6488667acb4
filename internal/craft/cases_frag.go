package craft

import (
	"errors"
	"net/netip"
)

// The fragment cases send chosen segments of a corpus connection as IP
// fragments. A Linux receiver reassembles fragments in any order
// (ip_defrag, ipv6_frag_rcv); it drops a whole IPv4 datagram one of
// whose fragments overlaps another with other bytes (ip_frag_queue →
// IPFRAG_OVERLAP, since Linux 4.19) and a whole IPv6 one on any overlap
// (RFC 5722); it drops an IPv6 first fragment that does not hold the
// whole TCP or UDP header (RFC 8200 4.5, RFC 7112: ipv6frag_thdr_truncated).
// A dropped datagram is retransmitted by TCP later, whole.

// to6 maps a corpus endpoint (10.200.0.x) to fd00:200::x.
func to6(ap netip.AddrPort) netip.AddrPort {
	a := [16]byte{0xfd, 0x00, 0x02, 0x00}
	v4 := ap.Addr().As4()
	a[15] = v4[3]
	return netip.AddrPortFrom(netip.AddrFrom16(a), ap.Port())
}

// v6Config is cfg moved to IPv6 addresses.
func v6Config(cfg ConnConfig) ConnConfig {
	cfg.Client, cfg.Server = to6(cfg.Client), to6(cfg.Server)
	cfg.MSS = 1428
	return cfg
}

// fragmenter sends a segment's datagram as fragments.
type fragmenter struct {
	id uint32 // next IPv6 fragment identification
}

// send fragments the datagram of segment (off, data) of direction d
// into the pieces cut gives (and any extra pieces), in that order.
func (f *fragmenter) send(c *Conn, d, off int, data []byte, cut func(payload []byte) []FragPiece) error {
	ip := c.Datagram(d, Seg{Off: off, Data: data, NoDF: true})
	if ip == nil {
		return c.Err()
	}
	pieces := cut(PayloadOf(ip))
	var frags [][]byte
	var err error
	if ip[0]>>4 == 6 {
		frags, err = Frag6(ip, f.id, pieces)
		f.id++
	} else {
		frags, err = Frag4(ip, pieces)
	}
	if err != nil {
		return err
	}
	for _, fr := range frags {
		c.EmitIP(d, fr)
	}
	return nil
}

type fragCase struct {
	name, what string
	v6         bool
	src        string
	pick       func(st *Stream, d, off int) bool
	cut        func(payload []byte) []FragPiece
	lost       bool // the receiver drops the datagram: TCP retransmits it whole
	decoy      bool // the fragmented datagram carries other bytes than the real segment
	counter    string
}

// headers picks the request and the response's first segment: the
// segments that carry the HTTP headers.
func headers(_ *Stream, _, off int) bool { return off == 0 }

// firstN picks the request and the response's first n segments.
func firstN(n int) func(*Stream, int, int) bool {
	return func(_ *Stream, d, off int) bool { return d == Up && off == 0 || d == Down && off < n*1400 }
}

// clientHello picks the segments of the client's first flight.
func clientHello(st *Stream, d, off int) bool { return d == Up && off < len(st.Turns[0].Data) }

func fragCases() []Case {
	in8 := func(p []byte) []FragPiece { return Pieces(p, 8) }
	in400rev := func(p []byte) []FragPiece { return Reverse(Pieces(p, 400)) }
	overlap := func(p []byte) []FragPiece {
		ps := Pieces(p, 512)
		if len(ps) < 3 {
			return ps
		}
		decoy := FragPiece{Off: 256, Data: sumNeutral(p[256:768]), More: true}
		return append([]FragPiece{ps[0], decoy}, ps[1:]...)
	}
	fcs := []fragCase{
		// frag4_8byte: the HTTP request and the response's first segment
		// in 8-byte IPv4 fragments (the first holds 8 bytes of the TCP
		// header: Linux's IPv4 reassembly has no minimum). Truth: whole.
		{name: "frag4_8byte", what: "the HTTP request and response header segments in 8-byte IPv4 fragments",
			src: "http_exe", pick: headers, cut: in8},
		// frag4_reverse: the request and the first three response segments
		// in 400-byte IPv4 fragments, last first. Truth: whole.
		{name: "frag4_reverse", what: "the request and first response segments in IPv4 fragments sent last first",
			src: "http_exe", pick: firstN(3), cut: in400rev},
		// frag4_overlap: the response's first segment in three fragments,
		// and a fourth overlapping the first two with other bytes; Linux
		// drops the datagram (IPSTATS_MIB_REASM_OVERLAPS) and TCP resends
		// the segment unfragmented. Truth: whole.
		{name: "frag4_overlap", what: "an IPv4 fragment overlapping others with other bytes; the segment resent whole",
			src: "http_exe", pick: func(_ *Stream, d, off int) bool { return d == Down && off == 0 },
			cut: overlap, lost: true, counter: "frag_overlap"},
		// frag_tiny_first: the request and the response's first segment as
		// an 8-byte first fragment (shorter than the TCP header) and the
		// rest; IPv4 accepts it. Truth: whole.
		{name: "frag_tiny_first", what: "an IPv4 first fragment shorter than the TCP header",
			src: "http_exe", pick: headers, cut: func(p []byte) []FragPiece { return Pieces(p, 8, 1480) }},
		// frag6_8byte: as frag4_8byte over IPv6, the first fragment 24
		// bytes so that it holds the whole TCP header (RFC 8200 4.5).
		{name: "frag6_8byte", what: "the HTTP request and response header segments in 8-byte IPv6 fragments",
			v6: true, src: "http_exe", pick: headers, cut: func(p []byte) []FragPiece { return Pieces(p, 24, 8) }},
		{name: "frag6_reverse", what: "the request and first response segments in IPv6 fragments sent last first",
			v6: true, src: "http_exe", pick: firstN(3), cut: in400rev},
		// frag6_overlap: RFC 5722: any overlap drops the whole datagram.
		{name: "frag6_overlap", what: "an IPv6 fragment overlapping others with other bytes; the segment resent whole",
			v6: true, src: "http_exe", pick: func(_ *Stream, d, off int) bool { return d == Down && off == 0 },
			cut: overlap, lost: true, counter: "frag_overlap"},
		// frag6_tiny_first: the response's first segment, with decoy
		// bytes, as an IPv6 first fragment of 8 bytes (not the whole TCP
		// header) and the rest: Linux drops it (RFC 7112,
		// ipv6frag_thdr_truncated); TCP resends the real segment whole.
		{name: "frag6_tiny_first", what: "an IPv6 first fragment shorter than the TCP header (dropped), carrying decoy bytes",
			v6: true, src: "http_exe", pick: func(_ *Stream, d, off int) bool { return d == Down && off == 0 },
			cut: func(p []byte) []FragPiece { return Pieces(p, 8, 1424) }, lost: true, decoy: true, counter: "frag_tiny"},
		// frag6_tls_hello: the ClientHello in 128-byte IPv6 fragments.
		{name: "frag6_tls_hello_curl13", what: "the ClientHello in IPv6 fragments", v6: true, src: "tls_curl13",
			pick: clientHello, cut: func(p []byte) []FragPiece { return Pieces(p, 128) }},
	}
	for _, src := range tlsSources {
		// frag_tls_hello: the ClientHello in 128-byte IPv4 fragments.
		fcs = append(fcs, fragCase{name: "frag_tls_hello_" + shortName(src), what: "the ClientHello in IPv4 fragments",
			src: src, pick: clientHello, cut: func(p []byte) []FragPiece { return Pieces(p, 128) }})
	}
	var cs []Case
	for _, fc := range fcs {
		fc := fc
		cs = append(cs, Case{Name: fc.name, What: fc.what, build: fc.build})
	}
	cs = append(cs,
		Case{Name: "frag_quic_initial4", What: "the RFC 9001 A.2 QUIC client Initial in IPv4 fragments", build: quicFragments(false)},
		Case{Name: "frag_quic_initial6", What: "the RFC 9001 A.2 QUIC client Initial in IPv6 fragments, last first", build: quicFragments(true)},
	)
	return cs
}

func (fc fragCase) build(b *builder) error {
	st, err := b.source(fc.src)
	if err != nil {
		return err
	}
	if fc.counter != "" {
		b.counter(fc.counter)
	}
	cfg := b.connConfig(st)
	if fc.v6 {
		cfg = v6Config(cfg)
	}
	c := NewConn(b.cap, cfg)
	f := &fragmenter{id: b.rng.Uint32()}
	var ferr error
	c.OnData = func(c *Conn, d, off int, data []byte) Action {
		if !fc.pick(st, d, off) {
			return Deliver
		}
		sent := data
		if fc.decoy {
			sent = mangle(data)
		}
		if err := f.send(c, d, off, sent, fc.cut); err != nil {
			ferr = err
		}
		if fc.lost {
			return Lost
		}
		return Replaced
	}
	c.Replay(st)
	return errors.Join(ferr, finish(c))
}

// quicCryptoHello reads the ClientHello out of a CRYPTO frame (RFC 9000
// 19.6: type 0x06, offset and length as variable-length integers).
func quicCryptoHello(frame []byte) (*Hello, error) {
	r := frame
	varint := func() (int, bool) {
		if len(r) == 0 {
			return 0, false
		}
		n := 1 << (r[0] >> 6)
		if len(r) < n {
			return 0, false
		}
		v := int(r[0] & 0x3f)
		for _, c := range r[1:n] {
			v = v<<8 | int(c)
		}
		r = r[n:]
		return v, true
	}
	if t, ok := varint(); !ok || t != 0x06 {
		return nil, errors.New("not a CRYPTO frame")
	}
	if off, ok := varint(); !ok || off != 0 {
		return nil, errors.New("CRYPTO frame not at offset 0")
	}
	n, ok := varint()
	if !ok || len(r) < n {
		return nil, errors.New("CRYPTO frame truncated")
	}
	typ, body, err := splitMessage(r[:n])
	if err != nil {
		return nil, err
	}
	if typ != hsClientHello {
		return nil, errors.New("CRYPTO frame holds no ClientHello")
	}
	return ParseHello(body, true)
}

// quicFragments: the client Initial of RFC 9001 A.2 (UDP payload) from
// 10.200.0.1:50000 to port 443 in 256-byte fragments (IPv6: last first).
// Its keys come from its destination connection ID, so a sensor can
// decrypt it; the ClientHello inside is the CRYPTO frame the RFC prints.
// Truth: SNI example.com, JA3 and JA4 ("q") of that hello computed here,
// no ServerHello.
func quicFragments(v6 bool) func(b *builder) error {
	return func(b *builder) error {
		initial, err := b.corpus.QUIC("rfc9001-a2-client-initial")
		if err != nil {
			return err
		}
		frame, err := b.corpus.QUIC("rfc9001-a2-client-crypto")
		if err != nil {
			return err
		}
		ch, err := quicCryptoHello(frame)
		if err != nil {
			return err
		}
		client := netip.MustParseAddrPort("10.200.0.1:50000")
		server := netip.MustParseAddrPort("10.200.0.2:443")
		if v6 {
			client, server = to6(client), to6(server)
		}
		b.truth.TLS = append(b.truth.TLS, TLSTruth{ClientPort: 50000, ServerPort: 443, SNI: ch.SNI(),
			JA3: ch.JA3(), JA4: ch.JA4(true)})
		ip, err := buildUDP(ipSpec{src: client.Addr(), dst: server.Addr(), id: uint16(b.rng.Uint32())},
			client.Port(), server.Port(), initial, CsumGood)
		if err != nil {
			return err
		}
		var frags [][]byte
		if v6 {
			frags, err = Frag6(ip, b.rng.Uint32(), Reverse(Pieces(PayloadOf(ip), 256)))
		} else {
			frags, err = Frag4(ip, Pieces(PayloadOf(ip), 256))
		}
		if err != nil {
			return err
		}
		for _, f := range frags {
			fr, err := PlainEthernet(f, true)
			if err != nil {
				return err
			}
			b.cap.Frame(fr)
		}
		return nil
	}
}
