// Package wire takes a TLS handshake out of a lab capture and turns it
// back into Ethernet frames with another client port, other VLAN tags
// and wire-sized segments, for tests and load tools that put handshakes
// on a veth by hand.
package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// MSS is the largest TCP payload of a rebuilt frame: captures on a veth
// hold offload super-segments larger than the MTU, and tags add bytes.
const MSS = 1200

// Segment is one captured IPv4 TCP segment with payload.
type Segment struct {
	Eth layers.Ethernet
	IP  layers.IPv4
	TCP layers.TCP
	// FromClient is true for the client-to-server direction.
	FromClient bool
}

// Handshake returns the payload segments of the first IPv4 TCP
// connection to server whose first client payload satisfies hello (nil:
// any TLS handshake record), both directions, in capture order.
func Handshake(path string, server netip.AddrPort, hello func(payload []byte) bool) ([]Segment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var segs []Segment
	var clientPort layers.TCPPort
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		eth, okE := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		ip, ok4 := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || !ok4 || !okE || len(tcp.Payload) == 0 {
			continue
		}
		toServer := uint16(tcp.DstPort) == server.Port() && ip.DstIP.Equal(server.Addr().AsSlice())
		if clientPort == 0 && toServer && tcp.Payload[0] == 22 && (hello == nil || hello(tcp.Payload)) {
			clientPort = tcp.SrcPort
		}
		if clientPort != 0 && (tcp.SrcPort == clientPort && toServer || tcp.DstPort == clientPort && !toServer) {
			segs = append(segs, Segment{Eth: *eth, IP: *ip, TCP: *tcp, FromClient: toServer})
		}
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("%s: no handshake to %s", path, server)
	}
	return segs, nil
}

// OffersKeyShare reports whether a payload holds the two-byte group id
// (X25519MLKEM768 is 0x11ec): a cheap way to pick one client's hello.
func OffersKeyShare(group uint16) func([]byte) bool {
	return func(p []byte) bool { return bytes.Contains(p, []byte{byte(group >> 8), byte(group)}) }
}

// Frames rebuilds the segment with the client on clientPort and the given
// VLAN tags (outer first; two tags make an 802.1ad outer tag), cut into
// frames of at most MSS bytes of payload with correct checksums. TCP
// options are dropped: nothing downstream needs them.
func (s Segment) Frames(clientPort uint16, tags []uint16) ([][]byte, error) {
	var out [][]byte
	payload := s.TCP.Payload
	for off := 0; off < len(payload); off += MSS {
		eth, ip, tcp := s.Eth, s.IP, s.TCP
		tcp.Seq += uint32(off)
		if s.FromClient {
			tcp.SrcPort = layers.TCPPort(clientPort)
		} else {
			tcp.DstPort = layers.TCPPort(clientPort)
		}
		tcp.Options, tcp.Padding = nil, nil
		ip.Options = nil
		if err := tcp.SetNetworkLayerForChecksum(&ip); err != nil {
			return nil, err
		}
		// Build outward from the IP header: each tag names what follows it.
		next := layers.EthernetTypeIPv4
		var vlans []gopacket.SerializableLayer
		for i := len(tags) - 1; i >= 0; i-- {
			vlans = append([]gopacket.SerializableLayer{&layers.Dot1Q{VLANIdentifier: tags[i], Type: next}}, vlans...)
			next = layers.EthernetTypeDot1Q
			if len(tags) == 2 && i == 0 {
				next = layers.EthernetTypeQinQ
			}
		}
		eth.EthernetType = next
		ls := append(append([]gopacket.SerializableLayer{&eth}, vlans...),
			&ip, &tcp, gopacket.Payload(payload[off:min(off+MSS, len(payload))]))
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			return nil, fmt.Errorf("building frame: %w", err)
		}
		out = append(out, append([]byte(nil), buf.Bytes()...))
	}
	return out, nil
}

// Synthetic makes a segment of a client 10.0.1.2:40000 and a server
// 10.0.2.2:443, the way Handshake returns them, for tests.
func Synthetic(payload []byte, fromClient bool) Segment {
	s := Segment{
		Eth: layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
			EthernetType: layers.EthernetTypeIPv4},
		IP: layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: net.IP{10, 0, 1, 2}, DstIP: net.IP{10, 0, 2, 2}},
		TCP:        layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 1000, ACK: true, PSH: true, Window: 500},
		FromClient: fromClient,
	}
	if !fromClient {
		s.IP.SrcIP, s.IP.DstIP = s.IP.DstIP, s.IP.SrcIP
		s.TCP.SrcPort, s.TCP.DstPort = 443, 40000
	}
	s.TCP.Payload = payload
	return s
}
