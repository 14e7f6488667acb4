package quic

import (
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/tlswire"
)

func readHex(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/quic/" + name)
	if err != nil {
		t.Fatal(err)
	}
	out, err := hex.DecodeString(strings.Join(strings.Fields(string(b)), ""))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// RFC 9001 Appendix A.1: the keys derived from DCID 8394c8f03e515708.
func TestInitialKeysRFC9001(t *testing.T) {
	dcid, _ := hex.DecodeString("8394c8f03e515708")
	c, s, err := InitialKeys(V1, dcid)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(c.iv[:]); got != "fa044b2f42a3fd3b46fb255c" {
		t.Errorf("client iv %s", got)
	}
	if got := hex.EncodeToString(s.iv[:]); got != "0ac1493ca1905853b0bba03e" {
		t.Errorf("server iv %s", got)
	}
	c2, _, _ := InitialKeys(V2, dcid)
	if got := hex.EncodeToString(c2.iv[:]); got != "91f73e2351d8fa91660e909f" {
		t.Errorf("v2 client iv %s", got)
	}
}

// The RFC sample packets, both versions, both directions: they decrypt,
// the direction is proved by the keys, and the CRYPTO streams hold the
// hellos.
func TestSamplePackets(t *testing.T) {
	want, _ := hex.DecodeString(strings.Join(strings.Fields(string(mustRead(t, "rfc9001-a2-client-crypto.hex"))), ""))
	for _, tc := range []struct {
		name           string
		client, server string
		version        uint32
	}{
		{"v1", "rfc9001-a2-client-initial.hex", "rfc9001-a3-server-initial.hex", V1},
		{"v2", "rfc9369-a2-client-initial.hex", "rfc9369-a3-server-initial.hex", V2},
	} {
		c := NewConn()
		if d := c.Datagram(readHex(t, tc.client)); d != FromClient {
			t.Fatalf("%s: client Initial direction %d (decrypted %d, failed %d)", tc.name, d, c.Decrypted, c.Undecryptable)
		}
		if d := c.Datagram(readHex(t, tc.server)); d != FromServer {
			t.Fatalf("%s: server Initial direction %d", tc.name, d)
		}
		if c.Version != tc.version {
			t.Errorf("%s: version %x", tc.name, c.Version)
		}
		ch, ok := c.Hello(FromClient)
		if !ok || ch.Type != tlswire.MsgClientHello {
			t.Fatalf("%s: no ClientHello", tc.name)
		}
		// The A.2 CRYPTO frame: type 06, offset 00, length 40f1, then the hello.
		if !bytes.Equal(append([]byte{1, 0, 0, 0xed}, ch.Body...), want[4:]) {
			t.Errorf("%s: ClientHello differs from the RFC's", tc.name)
		}
		var hello tlswire.ClientHello
		if err := tlswire.ParseClientHello(ch.Body, &hello); err != nil || string(hello.ServerName) != "example.com" {
			t.Errorf("%s: SNI %q %v", tc.name, hello.ServerName, err)
		}
		sh, ok := c.Hello(FromServer)
		var shp tlswire.ServerHello
		if !ok || sh.Type != tlswire.MsgServerHello || tlswire.ParseServerHello(sh.Body, &shp) != nil || shp.Cipher != 0x1301 {
			t.Errorf("%s: ServerHello %v %+v", tc.name, ok, shp)
		}
	}
}

func mustRead(t testing.TB, name string) []byte {
	b, err := os.ReadFile("../../testdata/quic/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Browsers split the ClientHello over several Initials and shuffle, repeat
// and pad the CRYPTO frames: reassembly must not care.
func TestCryptoReassemblyOutOfOrder(t *testing.T) {
	c := NewConn()
	hello := bytes.Repeat([]byte("abcdefgh"), 300)
	msg := append([]byte{1, 0, byte(len(hello) >> 8), byte(len(hello))}, hello...)
	pieces := [][2]int{{1000, 2404}, {0, 500}, {400, 1200}, {0, 100}, {2000, 2404}}
	for _, p := range pieces {
		c.Crypto[FromClient].Add(uint32(p[0]), msg[p[0]:p[1]])
	}
	m, ok := c.Hello(FromClient)
	if !ok || !bytes.Equal(m.Body, hello) {
		t.Fatalf("reassembled %v", ok)
	}
}

func TestTamperedPacketDoesNotDecrypt(t *testing.T) {
	p := readHex(t, "rfc9001-a2-client-initial.hex")
	p[len(p)-1] ^= 1
	c := NewConn()
	if d := c.Datagram(p); d != Unknown || c.Decrypted != 0 {
		t.Errorf("tampered packet: direction %d", d)
	}
	if _, ok := c.Hello(FromClient); ok {
		t.Error("a hello from a packet that did not authenticate")
	}
}

func FuzzDatagram(f *testing.F) {
	f.Add(readHex(f, "rfc9001-a2-client-initial.hex"))
	f.Add(readHex(f, "rfc9369-a2-client-initial.hex"))
	f.Add(readHex(f, "rfc9001-a3-server-initial.hex"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := NewConn()
		c.Datagram(b)
		c.Datagram(b)
		if c.Crypto[0].Len() > MaxCrypto || c.Crypto[1].Len() > MaxCrypto {
			t.Fatal("CRYPTO stream over its limit")
		}
		c.Hello(FromClient)
	})
}

func FuzzCryptoFrames(f *testing.F) {
	f.Add([]byte{0x06, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o', 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00})
	f.Add([]byte{0x1c, 0x01, 0x00, 0x03, 'b', 'y', 'e'})
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 0
		CryptoFrames(b, func(off uint64, data []byte) {
			total += len(data)
			if off > maxCryptoOffset {
				t.Fatalf("offset %d passed", off)
			}
		})
		if total > len(b) {
			t.Fatal("more CRYPTO data than input")
		}
	})
}

func BenchmarkInitialHandshake(b *testing.B) {
	client := readHex(b, "rfc9001-a2-client-initial.hex")
	server := readHex(b, "rfc9001-a3-server-initial.hex")
	b.ReportAllocs()
	for b.Loop() {
		c := NewConn()
		c.Datagram(client)
		c.Datagram(server)
		m, _ := c.Hello(FromClient)
		var ch tlswire.ClientHello
		tlswire.ParseClientHello(m.Body, &ch)
	}
}
