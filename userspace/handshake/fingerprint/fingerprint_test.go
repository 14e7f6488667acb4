package fingerprint

import (
	"os"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/edgesensor/edgesensor/userspace/handshake/tlswire"
)

// The hashes of the JA4 specification's own examples.
func TestSpecExampleHashes(t *testing.T) {
	var out [12]byte
	hash12(out[:], []byte("002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9"))
	if string(out[:]) != "8daaf6152771" {
		t.Errorf("cipher hash %s", out)
	}
	hash12(out[:], []byte("0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601"))
	if string(out[:]) != "e5627efa2ab1" {
		t.Errorf("extension hash %s", out)
	}
	hash12(out[:], []byte("0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01"))
	if string(out[:]) != "6d807ffa2a79" {
		t.Errorf("extension hash without signatures %s", out)
	}
}

// The specification's example ClientHello, as lists: the whole JA4 and
// JA4_r come out as the specification prints them.
func TestSpecExampleClientHello(t *testing.T) {
	ch := &tlswire.ClientHello{
		LegacyVersion:     0x0303,
		Ciphers:           []uint16{0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		Extensions:        []uint16{0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015},
		HasServerName:     true,
		ALPN:              [][]byte{[]byte("h2"), []byte("http/1.1")},
		SupportedVersions: []uint16{0x0a0a, 0x0304, 0x0303},
		SignatureAlgs:     []uint16{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601},
	}
	var s Scratch
	j := ClientJA4(ch, false, &s)
	if got := string(j.Hash[:]); got != "t13d1516h2_8daaf6152771_e5627efa2ab1" {
		t.Errorf("JA4 %s", got)
	}
	wantRaw := "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601"
	if string(j.Raw) != wantRaw {
		t.Errorf("JA4_r\n got %s\nwant %s", j.Raw, wantRaw)
	}
	if q := ClientJA4(ch, true, &s); q.Hash[0] != 'q' {
		t.Error("QUIC prefix")
	}
}

func TestALPNAndEdgeCases(t *testing.T) {
	cases := []struct {
		alpn [][]byte
		want string
	}{
		{nil, "00"},
		{[][]byte{{}}, "00"},
		{[][]byte{[]byte("h2")}, "h2"},
		{[][]byte{[]byte("http/1.1")}, "h1"},
		{[][]byte{[]byte("h")}, "hh"},
		{[][]byte{{0xab}}, "ab"},
		{[][]byte{{0xab, 0xcd}}, "ad"},
		{[][]byte{{0x30, 0xab}}, "3b"},
		{[][]byte{{0x30, 0x31, 0xab, 0xcd}}, "3d"},
		{[][]byte{{0x30, 0xab, 0xcd, 0x31}}, "01"},
	}
	for _, c := range cases {
		got := alpnCode(&tlswire.ClientHello{ALPN: c.alpn})
		if string(got[:]) != c.want {
			t.Errorf("ALPN %x: %s, want %s", c.alpn, got, c.want)
		}
	}
	// No ciphers, no extensions, no SNI, SSL 3.0, over 99 ciphers.
	empty := &tlswire.ClientHello{LegacyVersion: 0x0300}
	var s Scratch
	if got := ClientJA4(empty, false, &s).Fingerprint(); got != "ts3i000000_000000000000_000000000000" {
		t.Errorf("empty hello: %s", got)
	}
	many := &tlswire.ClientHello{LegacyVersion: 0x0303}
	for i := 0; i < 150; i++ {
		many.Ciphers = append(many.Ciphers, uint16(i))
	}
	many.Ciphers = append(many.Ciphers, 0x2a2a) // GREASE does not count
	if got := ClientJA4(many, false, &s).Fingerprint()[:6]; got != "t12i99" {
		t.Errorf("capped count: %s", got)
	}
	// JA3 drops GREASE everywhere; point formats are decimal.
	ch := &tlswire.ClientHello{LegacyVersion: 771, Ciphers: []uint16{0x0a0a, 4865}, Extensions: []uint16{0x1a1a, 0, 11},
		SupportedGroups: []uint16{0x2a2a, 29}, PointFormats: []byte{0}}
	if got := string(ClientJA3(ch, &s).String); got != "771,4865,0-11,29,0" {
		t.Errorf("JA3 string %q", got)
	}
}

// clientHelloOf pulls the ClientHello of a corpus capture (first client
// payload: one record, one or two segments).
func clientHelloOf(t testing.TB, name string) []byte {
	f, err := os.Open("../../../testdata/corpus/" + name + ".pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _ := pcapgo.NewReader(f)
	s := tlswire.NewStream(1 << 16)
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tcp.DstPort == 443 && len(tcp.Payload) > 0 {
			s.Add(tcp.Seq, tcp.Payload)
		}
	}
	var body []byte
	var rd tlswire.Reader
	rd.Feed(s.Contiguous(), func(m tlswire.Message) {
		if m.Type == tlswire.MsgClientHello && body == nil {
			body = append([]byte(nil), m.Body...)
		}
	})
	if body == nil {
		t.Fatal("no ClientHello")
	}
	return body
}

// ClientHello parse + JA3 + JA4, the per-handshake hot path: target 2 µs
// and at most 4 allocations (it makes none).
func BenchmarkClientHelloJA3JA4(b *testing.B) {
	body := clientHelloOf(b, "tls_go_pq")
	var ch tlswire.ClientHello
	var s Scratch
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := tlswire.ParseClientHello(body, &ch); err != nil {
			b.Fatal(err)
		}
		ClientJA3(&ch, &s)
		ClientJA4(&ch, false, &s)
	}
}

func TestHotPathAllocatesNothing(t *testing.T) {
	body := clientHelloOf(t, "tls_curl13")
	var ch tlswire.ClientHello
	var s Scratch
	tlswire.ParseClientHello(body, &ch)
	ClientJA3(&ch, &s)
	ClientJA4(&ch, false, &s)
	n := testing.AllocsPerRun(200, func() {
		tlswire.ParseClientHello(body, &ch)
		ClientJA3(&ch, &s)
		ClientJA4(&ch, false, &s)
	})
	if n > 0 {
		t.Errorf("%.1f allocations per hello", n)
	}
	if !strings.HasPrefix(ClientJA4(&ch, false, &s).Fingerprint(), "t13d") {
		t.Error("wrong hello")
	}
}
