// Package testutil builds packets and checks privileges for the tests of
// edgesensor's packages.
package testutil

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"
)

// Test tiers. The unit tier (pure Go) always runs. The others need root
// and run only when EDGESENSOR_TEST_TIERS names them, so that `go test
// ./...` as root stays quick: "bpf" loads the real program and runs it
// with BPF_PROG_TEST_RUN (replay included), "lab" builds network
// namespaces with real servers; "all" is both. `make test` runs all.
const (
	TiersEnv = "EDGESENSOR_TEST_TIERS"
	TierBPF  = "bpf"
	TierLab  = "lab"
)

// TierEnabled says whether EDGESENSOR_TEST_TIERS selects tier.
func TierEnabled(tier string) bool {
	for _, t := range strings.Split(os.Getenv(TiersEnv), ",") {
		if t = strings.TrimSpace(t); t == tier || t == "all" {
			return true
		}
	}
	return false
}

// RequireBPF skips a test of the bpf tier unless it is selected and the
// test runs as root (CAP_BPF, CAP_NET_ADMIN).
func RequireBPF(t testing.TB) { requireTier(t, TierBPF) }

// RequireLab skips a test of the lab tier unless it is selected and the
// test runs as root.
func RequireLab(t testing.TB) { requireTier(t, TierLab) }

func requireTier(t testing.TB, tier string) {
	t.Helper()
	if !TierEnabled(tier) {
		t.Skipf("%s tier: set %s=%s (or all) to run it, as root; `make test` does", tier, TiersEnv, tier)
	}
	if unix.Geteuid() != 0 {
		t.Skipf("%s tier: needs root (CAP_BPF, CAP_NET_ADMIN): run `sudo make test`", tier)
	}
}

// Pkt describes one test packet.
type Pkt struct {
	V6           bool
	Src, Dst     string // addresses; defaults 10.0.0.1 -> 10.0.0.2 or fd00::1 -> fd00::2
	Sport, Dport uint16
	Seq, Ack     uint32
	Flags        string // TCP flags: any of "SAFRP"
	UDP          bool
	Payload      []byte
	VLANs        []uint16 // outer first; two make QinQ (802.1ad outer)
	IPv4Options  bool     // add 8 bytes of IPv4 options (NOP, NOP, timestamp-ish)
	V6Ext        []byte   // IPv6 extension header types in order (0, 43, 60, 44...)
	FragOffset   uint16   // IPv4 fragment offset (8-byte units) or IPv6 fragment offset
	MoreFrags    bool
}

// Frame serialises p as an Ethernet frame.
func (p Pkt) Frame() []byte {
	src, dst := p.Src, p.Dst
	if src == "" {
		src = map[bool]string{false: "10.0.0.1", true: "fd00::1"}[p.V6]
	}
	if dst == "" {
		dst = map[bool]string{false: "10.0.0.2", true: "fd00::2"}[p.V6]
	}
	var l4 []byte
	if p.UDP {
		l4 = serialize(&layers.UDP{SrcPort: layers.UDPPort(p.Sport), DstPort: layers.UDPPort(p.Dport)}, gopacket.Payload(p.Payload))
	} else {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(p.Sport), DstPort: layers.TCPPort(p.Dport), Seq: p.Seq, Ack: p.Ack, Window: 65535}
		for _, f := range p.Flags {
			switch f {
			case 'S':
				tcp.SYN = true
			case 'A':
				tcp.ACK = true
			case 'F':
				tcp.FIN = true
			case 'R':
				tcp.RST = true
			case 'P':
				tcp.PSH = true
			}
		}
		l4 = serialize(tcp, gopacket.Payload(p.Payload))
	}
	proto := layers.IPProtocolTCP
	if p.UDP {
		proto = layers.IPProtocolUDP
	}

	var l3 []gopacket.SerializableLayer
	etype := layers.EthernetTypeIPv4
	if p.V6 {
		etype = layers.EthernetTypeIPv6
		ext, first := v6Ext(p, proto)
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: first, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
		l3 = []gopacket.SerializableLayer{ip, gopacket.Payload(append(ext, l4...))}
	} else {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4(),
			FragOffset: p.FragOffset}
		if p.MoreFrags {
			ip.Flags = layers.IPv4MoreFragments
		}
		if p.IPv4Options {
			ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 68, OptionLength: 6, OptionData: []byte{5, 0, 0, 0}}}
		}
		l3 = []gopacket.SerializableLayer{ip, gopacket.Payload(l4)}
	}

	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: etype}
	ls := []gopacket.SerializableLayer{eth}
	if len(p.VLANs) > 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		if len(p.VLANs) > 1 {
			eth.EthernetType = layers.EthernetTypeQinQ
		}
		for i, id := range p.VLANs {
			next := etype
			if i < len(p.VLANs)-1 {
				next = layers.EthernetTypeDot1Q
			}
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: id, Type: next})
		}
	}
	ls = append(ls, l3...)
	return serialize(ls...)
}

// v6Ext builds the IPv6 extension headers of p ending in proto.
func v6Ext(p Pkt, proto layers.IPProtocol) ([]byte, layers.IPProtocol) {
	if len(p.V6Ext) == 0 {
		return nil, proto
	}
	var out []byte
	for i, t := range p.V6Ext {
		next := byte(proto)
		if i < len(p.V6Ext)-1 {
			next = p.V6Ext[i+1]
		}
		switch t {
		case 44: // fragment
			h := make([]byte, 8)
			h[0] = next
			v := p.FragOffset << 3
			if p.MoreFrags {
				v |= 1
			}
			binary.BigEndian.PutUint16(h[2:], v)
			binary.BigEndian.PutUint32(h[4:], 0x1234)
			out = append(out, h...)
		case 51: // AH: length in 4-byte units minus 2
			h := make([]byte, 12)
			h[0], h[1] = next, 1
			out = append(out, h...)
		default: // hop-by-hop, routing, destination options: 8-byte units minus 1
			h := make([]byte, 16)
			h[0], h[1] = next, 1
			if t == 43 {
				h[2], h[3] = 4, 0 // routing type 4 (SRH), segments left 0
			} else {
				h[2], h[3] = 1, 12 // PadN
			}
			out = append(out, h...)
		}
	}
	return out, layers.IPProtocol(p.V6Ext[0])
}

func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		panic(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// TLSRecord wraps body in a TLS record of content type ct.
func TLSRecord(ct byte, body []byte) []byte {
	r := []byte{ct, 3, 3, byte(len(body) >> 8), byte(len(body))}
	if ct == 22 && len(body) > 0 && body[0] == 1 {
		r[2] = 1 // ClientHello records say TLS 1.0 for compatibility
	}
	return append(r, body...)
}

// Handshake builds a handshake message of type typ with n filler bytes
// (0x03 0x03 first, like a hello's version).
func Handshake(typ byte, n int) []byte {
	b := make([]byte, 4+n)
	b[0] = typ
	b[1], b[2], b[3] = byte(n>>16), byte(n>>8), byte(n)
	for i := 4; i < len(b); i++ {
		b[i] = byte(i * 7)
	}
	if n >= 2 {
		b[4], b[5] = 3, 3
	}
	return b
}

// ClientHello returns a ClientHello record of about n bytes.
func ClientHello(n int) []byte { return TLSRecord(22, Handshake(1, n)) }

// ServerHello returns a ServerHello record of about n bytes.
func ServerHello(n int) []byte { return TLSRecord(22, Handshake(2, n)) }

// AppData returns an application_data record of n bytes.
func AppData(n int) []byte { return TLSRecord(23, make([]byte, n)) }

// QUICInitial returns a QUIC long-header Initial packet of the version
// (1 or 0x6b3343cf), padded to 1200 bytes like a client's.
func QUICInitial(version uint32) []byte {
	b := make([]byte, 1200)
	typ := byte(0)
	if version == 0x6b3343cf {
		typ = 1
	}
	b[0] = 0xc0 | typ<<4 | 0x03
	binary.BigEndian.PutUint32(b[1:], version)
	b[5] = 8 // DCID length
	copy(b[6:], []byte{1, 2, 3, 4, 5, 6, 7, 8})
	b[14] = 0 // SCID length
	return b
}

// Endpoints returns the packet's source and destination with defaults
// applied.
func (p Pkt) Endpoints() (netip.AddrPort, netip.AddrPort) {
	src, dst := p.Src, p.Dst
	if src == "" {
		src = map[bool]string{false: "10.0.0.1", true: "fd00::1"}[p.V6]
	}
	if dst == "" {
		dst = map[bool]string{false: "10.0.0.2", true: "fd00::2"}[p.V6]
	}
	return netip.AddrPortFrom(netip.MustParseAddr(src), p.Sport), netip.AddrPortFrom(netip.MustParseAddr(dst), p.Dport)
}

// Proto returns the IP protocol number.
func (p Pkt) Proto() uint8 {
	if p.UDP {
		return 17
	}
	return 6
}

// Reply returns the packet going the other way (addresses and ports
// swapped), with the given sequence numbers, flags and payload.
func (p Pkt) Reply(seq, ack uint32, flags string, payload []byte) Pkt {
	q := p
	q.Src, q.Dst = p.Dst, p.Src
	if q.Src == "" && q.Dst == "" {
		q.Src = map[bool]string{false: "10.0.0.2", true: "fd00::2"}[p.V6]
		q.Dst = map[bool]string{false: "10.0.0.1", true: "fd00::1"}[p.V6]
	}
	q.Sport, q.Dport = p.Dport, p.Sport
	q.Seq, q.Ack, q.Flags, q.Payload = seq, ack, flags, payload
	return q
}

// With returns p with another sequence number, flags and payload.
func (p Pkt) With(seq uint32, flags string, payload []byte) Pkt {
	p.Seq, p.Flags, p.Payload = seq, flags, payload
	return p
}
