package quic

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/handshake/tlswire"
)

func readHex(t testing.TB, name string) []byte {
	return testutil.ReadHex(t, "../../../testdata/quic/"+name)
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
		ch, ok := first(c, FromClient)
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
		sh, ok := first(c, FromServer)
		var shp tlswire.ServerHello
		if !ok || sh.Type != tlswire.MsgServerHello || tlswire.ParseServerHello(sh.Body, &shp) != nil || shp.Cipher != 0x1301 {
			t.Errorf("%s: ServerHello %v %+v", tc.name, ok, shp)
		}
	}
}

// first returns a copy of the first complete message of a direction.
func first(c *Conn, dir int) (tlswire.Message, bool) {
	var m tlswire.Message
	found := false
	c.Hellos(dir, func(msg tlswire.Message) {
		if !found {
			m, found = tlswire.Message{Type: msg.Type, Body: append([]byte(nil), msg.Body...)}, true
		}
	})
	return m, found
}

// seal builds an Initial packet of version v carrying one CRYPTO frame,
// protected with k (RFC 9001 5.3 and 5.4), padded to 1200 bytes.
func seal(t *testing.T, k *Keys, v uint32, dcid, scid []byte, pn uint32, off uint64, data []byte) []byte {
	t.Helper()
	payload := []byte{frameCrypto}
	payload = appendVarint(payload, off)
	payload = appendVarint(payload, uint64(len(data)))
	payload = append(payload, data...)
	typ := byte(0)
	if v == V2 {
		typ = 1
	}
	hdr := []byte{0xc0 | typ<<4 | 3} // 4-byte packet number
	hdr = binary.BigEndian.AppendUint32(hdr, v)
	hdr = append(append(hdr, byte(len(dcid))), dcid...)
	hdr = append(append(hdr, byte(len(scid))), scid...)
	hdr = append(hdr, 0) // no token
	padTo := 1200 - len(hdr) - 2 - 4 - 16
	for len(payload) < padTo {
		payload = append(payload, framePadding)
	}
	hdr = binary.BigEndian.AppendUint16(hdr, 0x4000|uint16(4+len(payload)+16))
	pnOff := len(hdr)
	hdr = binary.BigEndian.AppendUint32(hdr, pn)
	var nonce [12]byte
	copy(nonce[:], k.iv[:])
	for i := 0; i < 4; i++ {
		nonce[11-i] ^= byte(pn >> (8 * i))
	}
	pkt := k.aead.Seal(append([]byte(nil), hdr...), nonce[:], payload, hdr)
	var mask [16]byte
	k.hp.Encrypt(mask[:], pkt[pnOff+4:pnOff+20])
	pkt[0] ^= mask[0] & 0x0f
	for i := 0; i < 4; i++ {
		pkt[pnOff+i] ^= mask[1+i]
	}
	return pkt
}

func appendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return binary.BigEndian.AppendUint16(b, 0x4000|uint16(v))
	default:
		return binary.BigEndian.AppendUint32(b, 0x80000000|uint32(v))
	}
}

// After the server's first Initial the client sends to the server's
// connection ID, still under the keys of its first DCID (RFC 9001 5.2):
// the rest of its ClientHello is read. And a server may answer a v1
// client in v2 (RFC 9368), keyed by the same DCID.
func TestClientSwitchesDCIDAndServerSwitchesVersion(t *testing.T) {
	ch := append([]byte{1, 0, 3, 0}, make([]byte, 768)...) // a 768-byte ClientHello, split below
	sh := append([]byte{2, 0, 0, 40}, make([]byte, 40)...)
	dcid, cscid, sscid := []byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{9, 9}, []byte{7, 7, 7, 7}
	for _, serverVersion := range []uint32{V1, V2} {
		c := NewConn()
		ck, _, _ := InitialKeys(V1, dcid)
		_, sk, _ := InitialKeys(serverVersion, dcid)
		if d := c.Datagram(seal(t, ck, V1, dcid, cscid, 0, 0, ch[:400])); d != FromClient {
			t.Fatalf("first client Initial: direction %d", d)
		}
		if d := c.Datagram(seal(t, sk, serverVersion, cscid, sscid, 0, 0, sh)); d != FromServer {
			t.Fatalf("server Initial (version %x): direction %d", serverVersion, d)
		}
		ck2 := ck
		if serverVersion == V2 {
			ck2, _, _ = InitialKeys(V2, dcid)
		}
		if d := c.Datagram(seal(t, ck2, serverVersion, sscid, cscid, 1, 400, ch[400:])); d != FromClient {
			t.Fatalf("client Initial to the server's CID: direction %d (undecryptable %d)", d, c.Undecryptable)
		}
		if m, ok := first(c, FromClient); !ok || len(m.Body) != 768 {
			t.Errorf("version %x: ClientHello not completed across the DCID switch", serverVersion)
		}
		if c.Undecryptable != 0 {
			t.Errorf("version %x: %d undecryptable", serverVersion, c.Undecryptable)
		}
	}
}

func mustRead(t testing.TB, name string) []byte {
	b, err := os.ReadFile("../../../testdata/quic/" + name)
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
	m, ok := first(c, FromClient)
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
	if _, ok := first(c, FromClient); ok {
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
		first(c, FromClient)
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
		var ch tlswire.ClientHello
		c.Hellos(FromClient, func(m tlswire.Message) { tlswire.ParseClientHello(m.Body, &ch) })
	}
}
