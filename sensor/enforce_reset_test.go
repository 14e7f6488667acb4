// The resets the program sends for blocked TCP flows: checks of their
// frames, and a fuzz test over any packet of such a flow.

package sensor

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/packet/csum"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
)

// checkReset parses a frame the program sent back and checks it is the
// reset RFC 9293 gives for in (addresses, ports, sequence numbers,
// checksums).
func checkReset(t testing.TB, in testutil.Pkt, out []byte) {
	t.Helper()
	pk := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	tcp, _ := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if eth == nil || tcp == nil {
		t.Fatalf("reset does not parse: %v", pk)
	}
	if eth.SrcMAC.String() != "02:00:00:00:00:02" || eth.DstMAC.String() != "02:00:00:00:00:01" {
		t.Errorf("reset MACs %s -> %s", eth.SrcMAC, eth.DstMAC)
	}
	if len(in.VLANs) > 0 {
		d, _ := pk.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
		if d == nil || d.VLANIdentifier != in.VLANs[0] {
			t.Errorf("reset lost its VLAN tag")
		}
	}
	src, dst := in.Endpoints()
	if in.V6 {
		ip, _ := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if ip == nil || netip.MustParseAddr(ip.SrcIP.String()) != dst.Addr() || netip.MustParseAddr(ip.DstIP.String()) != src.Addr() {
			t.Fatalf("reset IPv6 header: %+v", ip)
		}
		if ip.Length != 20 {
			t.Errorf("IPv6 payload length %d", ip.Length)
		}
	} else {
		ip, _ := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil || netip.MustParseAddr(ip.SrcIP.String()) != dst.Addr() || netip.MustParseAddr(ip.DstIP.String()) != src.Addr() {
			t.Fatalf("reset IPv4 header: %+v", ip)
		}
		if ip.Length != 40 || ip.IHL != 5 {
			t.Errorf("IPv4 length %d ihl %d", ip.Length, ip.IHL)
		}
		if !csum.IPv4HeaderValid(ip.Contents) {
			t.Errorf("IPv4 header checksum wrong")
		}
	}
	if !tcp.RST || tcp.SYN || tcp.FIN || len(tcp.Payload) != 0 || len(tcp.Contents) != 20 {
		t.Errorf("reset TCP flags or length: %+v", tcp)
	}
	if uint16(tcp.SrcPort) != dst.Port() || uint16(tcp.DstPort) != src.Port() {
		t.Errorf("reset ports %d -> %d", tcp.SrcPort, tcp.DstPort)
	}
	if st := csum.L4(dst.Addr(), src.Addr(), 6, tcp.Contents); st != csum.Valid {
		t.Errorf("TCP checksum %v", st)
	}
	if hasFlag(in, 'A') {
		if tcp.Seq != in.Ack || tcp.ACK {
			t.Errorf("reset to an ACK: seq %d (want %d) ack flag %v", tcp.Seq, in.Ack, tcp.ACK)
		}
	} else {
		n := uint32(len(in.Payload))
		if hasFlag(in, 'S') {
			n++
		}
		if hasFlag(in, 'F') {
			n++
		}
		if !tcp.ACK || tcp.Ack != in.Seq+n || tcp.Seq != 0 {
			t.Errorf("reset without ACK: seq %d ack %d flag %v, want ack %d", tcp.Seq, tcp.Ack, tcp.ACK, in.Seq+n)
		}
	}
}

func hasFlag(p testutil.Pkt, f rune) bool {
	for _, c := range p.Flags {
		if c == f {
			return true
		}
	}
	return false
}

// checkForwardReset checks that the program turned in into a reset in
// its own direction at its sequence number, for the kernel to forward.
func checkForwardReset(t testing.TB, in testutil.Pkt, out []byte) {
	t.Helper()
	pk := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
	tcp, _ := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if tcp == nil {
		t.Fatalf("forwarded reset does not parse: %v", pk)
	}
	src, dst := in.Endpoints()
	var from, to string
	if in.V6 {
		ip, _ := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if ip == nil || ip.Length != 20 {
			t.Fatalf("forwarded reset IPv6 header: %+v", ip)
		}
		from, to = ip.SrcIP.String(), ip.DstIP.String()
	} else {
		ip, _ := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil || ip.Length != 40 {
			t.Fatalf("forwarded reset IPv4 header: %+v", ip)
		}
		if !csum.IPv4HeaderValid(ip.Contents) {
			t.Errorf("IPv4 header checksum wrong")
		}
		from, to = ip.SrcIP.String(), ip.DstIP.String()
	}
	if from != src.Addr().String() || to != dst.Addr().String() ||
		uint16(tcp.SrcPort) != src.Port() || uint16(tcp.DstPort) != dst.Port() {
		t.Errorf("forwarded reset %s:%d -> %s:%d, want the packet's direction", from, tcp.SrcPort, to, tcp.DstPort)
	}
	if !tcp.RST || tcp.ACK || tcp.SYN || tcp.FIN || tcp.Seq != in.Seq || len(tcp.Payload) != 0 || len(tcp.Contents) != 20 {
		t.Errorf("forwarded reset: %+v", tcp)
	}
	if st := csum.L4(src.Addr(), dst.Addr(), 6, tcp.Contents); st != csum.Valid {
		t.Errorf("TCP checksum %v", st)
	}
}

// FuzzEnforceReset sends packets of blocked TCP flows, in both
// directions, of any flags, sequence numbers, options and payload,
// through the real program: a packet comes back as a valid reset to its
// sender (the client's), goes on as a valid reset to its receiver (the
// server's), or is dropped; never anything else, never a reset to a
// reset.
func FuzzEnforceReset(f *testing.F) {
	f.Add(false, false, false, uint8(0x18), uint32(1000), uint32(5000), []byte("hello"), false)
	f.Add(true, false, false, uint8(0x10), uint32(7), uint32(9), []byte{}, true)
	f.Add(false, true, false, uint8(0x02), uint32(0xffffffff), uint32(0), []byte{}, false)
	f.Add(false, false, true, uint8(0x11), uint32(1), uint32(2), make([]byte, 1400), true)
	f.Add(false, false, false, uint8(0x04), uint32(1), uint32(2), []byte{1}, false)
	h := newEnfHarness(f, "block")
	if err := h.enf.Replace(&enforce.Tables{Lists: []string{"l"}}); err != nil {
		f.Fatal(err)
	}
	for _, v := range []bool{false, true} {
		for _, zone := range []uint32{0, zoneOfVLAN(5)} {
			src, dst := testutil.Pkt{V6: v, Sport: 40000, Dport: 443}.Endpoints()
			if err := h.enf.BlockFlow(datapath.Flow{Client: src, Server: dst, Zone: zone}, 6, "l", time.Hour, FlowDetail{}); err != nil {
				f.Fatal(err)
			}
		}
	}
	f.Fuzz(func(t *testing.T, v6, vlan, opts bool, flags uint8, seq, ack uint32, payload []byte, fromServer bool) {
		h.t = t
		if len(payload) > 1400 {
			payload = payload[:1400]
		}
		var fl strings.Builder
		for i, c := range "FSRPA" {
			if flags&(1<<i) != 0 || (c == 'A' && flags&0x10 != 0) {
				fl.WriteRune(c)
			}
		}
		p := testutil.Pkt{V6: v6, Sport: 40000, Dport: 443, Seq: seq, Ack: ack, Flags: fl.String(), Payload: payload,
			IPv4Options: opts && !v6}
		if vlan {
			p.VLANs = []uint16{5}
		}
		if fromServer {
			p = p.Reply(seq, ack, fl.String(), payload)
			p.IPv4Options = opts && !v6
		}
		got, out := h.verdict(p.Frame())
		switch {
		case hasFlag(p, 'R') || p.IPv4Options:
			if got != xdpDrop {
				t.Fatalf("flags %q options %v: got %d, want XDP_DROP", p.Flags, p.IPv4Options, got)
			}
		case fromServer:
			if got != xdpPass {
				t.Fatalf("server packet: got %d, want a reset passed on", got)
			}
			checkForwardReset(t, p, out)
		default:
			if got != xdpTX {
				t.Fatalf("client packet: got %d, want XDP_TX", got)
			}
			checkReset(t, p, out)
		}
		h.records()
	})
}
