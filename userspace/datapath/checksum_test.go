package datapath

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// frame builds an Ethernet/IPv4 or IPv6/TCP frame with gopacket, its
// checksums computed, and the event the data plane would emit for it.
func frame(t *testing.T, v6 bool, payload []byte) *Event {
	t.Helper()
	src, dst := "10.0.0.1", "10.0.0.2"
	if v6 {
		src, dst = "fd00::1", "fd00::2"
	}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1, Ack: 1, ACK: true, Window: 100}
	var ip gopacket.NetworkLayer
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	l3 := 14
	l4 := 34
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
		ip = ip6
		l4 = 54
	} else {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip = &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip.(gopacket.SerializableLayer), tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	f := append([]byte(nil), buf.Bytes()...)
	return &Event{Interface: "eth0", Class: ClassStream, Proto: ProtoTCP, Frame: f, L3Off: l3, L4Off: l4,
		Src: netip.AddrPortFrom(netip.MustParseAddr(src), 40000), Dst: netip.AddrPortFrom(netip.MustParseAddr(dst), 80),
		Payload: f[l4+20:], PayloadLen: len(payload)}
}

func TestCheck(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		ev := frame(t, v6, []byte("GET / HTTP/1.1\r\n\r\n"))
		if v := Check(ev); v != Full {
			t.Fatalf("v6 %v: computed checksums: %d", v6, v)
		}
		// A flipped payload bit.
		bad := *ev
		bad.Frame = append([]byte(nil), ev.Frame...)
		bad.Frame[len(bad.Frame)-1] ^= 1
		if v := Check(&bad); v != Wrong {
			t.Errorf("v6 %v: corrupted payload: %d", v6, v)
		}
		// An offloading sender: the pseudo-header sum, then 0.
		part := *ev
		part.Frame = append([]byte(nil), ev.Frame...)
		seg := part.Frame[part.L4Off:]
		seg[16], seg[17] = 0, 0
		if v := Check(&part); v != Partial {
			t.Errorf("v6 %v: zero field: %d", v6, v)
		}
		if !v6 {
			// A broken IPv4 header checksum.
			ipb := *ev
			ipb.Frame = append([]byte(nil), ev.Frame...)
			ipb.Frame[ipb.L3Off+10] ^= 0xff
			if v := Check(&ipb); v != Wrong {
				t.Errorf("IPv4 header checksum wrong: %d", v)
			}
		}
		// Cut by the snaplen: cannot be checked.
		cut := *ev
		cut.Frame = ev.Frame[:len(ev.Frame)-3]
		if v := Check(&cut); v != Unchecked {
			t.Errorf("v6 %v: cut frame: %d", v6, v)
		}
	}
}

func TestChecksumsAuto(t *testing.T) {
	good := frame(t, false, []byte("some data, longer than the padding"))
	part := *good
	part.Frame = append([]byte(nil), good.Frame...)
	part.Frame[part.L4Off+16], part.Frame[part.L4Off+17] = 0, 0
	wrong := *good
	wrong.Frame = append([]byte(nil), good.Frame...)
	wrong.Frame[len(wrong.Frame)-1] ^= 1

	c := NewChecksums(ChecksumsAuto)
	var strict []string
	c.OnStrict = func(iface string, _ uint32) { strict = append(strict, iface) }
	if c.Bad(&part) || !c.Bad(&wrong) {
		t.Fatal("tolerant at first: partial passes, wrong does not")
	}
	for i := 0; i < autoStrictAfter; i++ {
		if c.Bad(good) {
			t.Fatal("a full checksum rejected")
		}
	}
	if c.Mode("eth0") != "strict" || len(strict) != 1 {
		t.Fatalf("after %d full checksums: %s, callbacks %v", autoStrictAfter, c.Mode("eth0"), strict)
	}
	if !c.Bad(&part) {
		t.Error("strict: partial passes")
	}
	// An interface with partial checksums stays tolerant.
	other := part
	other.Interface = "veth0"
	for i := 0; i < 100; i++ {
		c.Bad(&other)
		o := *good
		o.Interface = "veth0"
		c.Bad(&o)
	}
	if c.Mode("veth0") != "tolerant" || c.Bad(&other) {
		t.Errorf("offloading interface: %s", c.Mode("veth0"))
	}
	// Mostly wrong (generic XDP on GRO'd packets): not checked.
	gro := wrong
	gro.Interface = "eth9"
	for i := 0; i < autoOffAfter; i++ {
		c.Bad(&gro)
	}
	if c.Mode("eth9") != "off" || c.Bad(&gro) {
		t.Errorf("mostly wrong: %s", c.Mode("eth9"))
	}
	// Fixed modes.
	if NewChecksums(ChecksumsVerify).Bad(&part) != true || NewChecksums(ChecksumsOffload).Bad(&part) ||
		!NewChecksums(ChecksumsOffload).Bad(&wrong) || NewChecksums(ChecksumsOff).Bad(&wrong) {
		t.Error("fixed modes")
	}
}
