package craft

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Csum is how a packet's checksums are written.
type Csum int

const (
	// CsumGood: every checksum right.
	CsumGood Csum = iota
	// CsumBadTCP: the TCP (or UDP) checksum wrong; the IPv4 header right.
	CsumBadTCP
	// CsumBadIP: the IPv4 header checksum wrong; the TCP checksum right.
	CsumBadIP
	// CsumPartial: the TCP checksum field holds the folded pseudo-header
	// sum, as a sender with checksum offload hands it to the NIC and a
	// capture on that sender shows it (tcpdump: "incorrect").
	CsumPartial
	// CsumZero: the TCP checksum field is 0, as some offloading drivers
	// leave it in a capture.
	CsumZero
)

var serOpts = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

// serialize runs gopacket's serialisation of ls.
func serialize(ls ...gopacket.SerializableLayer) ([]byte, error) {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, serOpts, ls...); err != nil {
		return nil, fmt.Errorf("serialising packet: %w", err)
	}
	return append([]byte(nil), buf.Bytes()...), nil
}

// ipSpec is the network header of one datagram.
type ipSpec struct {
	src, dst netip.Addr
	proto    layers.IPProtocol
	ttl      uint8
	id       uint16 // IPv4 identification
	df       bool   // IPv4 don't-fragment
	badCsum  bool   // IPv4 header checksum wrong
	ext      []byte // IPv6 extension headers between the header and proto
	extFirst uint8  // next-header value of the IPv6 header when ext is set
}

func (s ipSpec) v6() bool { return s.src.Is6() && !s.src.Is4In6() }

// netLayer is the layer gopacket takes the checksum's pseudo-header from.
func (s ipSpec) netLayer() gopacket.NetworkLayer {
	if s.v6() {
		return &layers.IPv6{SrcIP: net.IP(s.src.AsSlice()), DstIP: net.IP(s.dst.AsSlice()), NextHeader: s.proto}
	}
	return &layers.IPv4{SrcIP: net.IP(s.src.AsSlice()), DstIP: net.IP(s.dst.AsSlice()), Protocol: s.proto}
}

// buildIP puts the network header in front of an upper-layer payload.
func buildIP(s ipSpec, l4 []byte) ([]byte, error) {
	ttl := s.ttl
	if ttl == 0 {
		ttl = 64
	}
	if s.v6() {
		ip := &layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: s.proto,
			SrcIP: net.IP(s.src.AsSlice()), DstIP: net.IP(s.dst.AsSlice())}
		payload := l4
		if len(s.ext) > 0 {
			ip.NextHeader = layers.IPProtocol(s.extFirst)
			payload = append(append([]byte(nil), s.ext...), l4...)
		}
		return serialize(ip, gopacket.Payload(payload))
	}
	ip := &layers.IPv4{Version: 4, TTL: ttl, Protocol: s.proto, Id: s.id,
		SrcIP: net.IP(s.src.AsSlice()), DstIP: net.IP(s.dst.AsSlice())}
	if s.df {
		ip.Flags = layers.IPv4DontFragment
	}
	b, err := serialize(ip, gopacket.Payload(l4))
	if err != nil {
		return nil, err
	}
	if s.badCsum {
		b[10] ^= 0x5a // any change but 0x0000 <-> 0xffff makes it wrong
		b[11] ^= 0xa5
	}
	return b, nil
}

// pseudoSum is the folded one's-complement sum of the pseudo-header of
// an upper-layer packet of length n: what an offloading sender leaves in
// the checksum field for the NIC to finish.
func pseudoSum(s ipSpec, n int) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
	}
	add(s.src.AsSlice())
	add(s.dst.AsSlice())
	sum += uint32(s.proto)
	sum += uint32(n)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// applyCsum rewrites the checksum at l4[at:at+2] as cs asks.
func applyCsum(s ipSpec, l4 []byte, at int, cs Csum) {
	switch cs {
	case CsumBadTCP:
		l4[at] ^= 0x5a
		l4[at+1] ^= 0xa5
	case CsumPartial:
		binary.BigEndian.PutUint16(l4[at:], pseudoSum(s, len(l4)))
	case CsumZero:
		l4[at], l4[at+1] = 0, 0
	}
}

// tcpSpec is one TCP header.
type tcpSpec struct {
	sport, dport uint16
	seq, ack     uint32
	flags        uint8
	win          uint16
	urg          uint16
	opts         []layers.TCPOption
}

// TCP flag bits, as on the wire.
const (
	FIN uint8 = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
)

// buildTCP returns the whole IP datagram of one TCP segment.
func buildTCP(s ipSpec, t tcpSpec, payload []byte, cs Csum) ([]byte, error) {
	s.proto = layers.IPProtocolTCP
	tcp := &layers.TCP{SrcPort: layers.TCPPort(t.sport), DstPort: layers.TCPPort(t.dport),
		Seq: t.seq, Ack: t.ack, Window: t.win, Urgent: t.urg, Options: t.opts,
		FIN: t.flags&FIN != 0, SYN: t.flags&SYN != 0, RST: t.flags&RST != 0,
		PSH: t.flags&PSH != 0, ACK: t.flags&ACK != 0, URG: t.flags&URG != 0}
	if err := tcp.SetNetworkLayerForChecksum(s.netLayer()); err != nil {
		return nil, err
	}
	l4, err := serialize(tcp, gopacket.Payload(payload))
	if err != nil {
		return nil, err
	}
	applyCsum(s, l4, 16, cs)
	if cs == CsumBadIP {
		s.badCsum = true
	}
	return buildIP(s, l4)
}

// buildUDP returns the whole IP datagram of one UDP datagram.
func buildUDP(s ipSpec, sport, dport uint16, payload []byte, cs Csum) ([]byte, error) {
	s.proto = layers.IPProtocolUDP
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := udp.SetNetworkLayerForChecksum(s.netLayer()); err != nil {
		return nil, err
	}
	l4, err := serialize(udp, gopacket.Payload(payload))
	if err != nil {
		return nil, err
	}
	applyCsum(s, l4, 6, cs)
	if cs == CsumBadIP {
		s.badCsum = true
	}
	return buildIP(s, l4)
}

// MAC addresses of the two sides (locally administered).
var (
	clientMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	serverMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
)

// macs returns source and destination MAC of a frame in direction up.
func macs(up bool) (src, dst net.HardwareAddr) {
	if up {
		return clientMAC, serverMAC
	}
	return serverMAC, clientMAC
}

// etherType of an IP datagram by its version nibble.
func etherType(ip []byte) layers.EthernetType {
	if len(ip) > 0 && ip[0]>>4 == 6 {
		return layers.EthernetTypeIPv6
	}
	return layers.EthernetTypeIPv4
}

// ethernet frames payload with the given EtherType.
func ethernet(payload []byte, et layers.EthernetType, up bool) ([]byte, error) {
	src, dst := macs(up)
	return serialize(&layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: et}, gopacket.Payload(payload))
}
