package main

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// capBuilder writes TCP conversations as Ethernet frames.
type capBuilder struct {
	t    *testing.T
	pkts []packet
	ts   time.Time
	port uint16
}

func newCapBuilder(t *testing.T) *capBuilder {
	return &capBuilder{t: t, ts: time.Unix(1700000000, 0), port: 40000}
}

// tcpConn is one connection being written.
type tcpConn struct {
	b            *capBuilder
	cli, srv     netip.Addr
	cport, sport uint16
	cseq, sseq   uint32
}

func (b *capBuilder) frame(src, dst netip.Addr, tcp *layers.TCP, payload []byte) {
	b.ts = b.ts.Add(time.Millisecond)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	var ip gopacket.SerializableLayer
	if src.Is4() {
		v4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		tcp.SetNetworkLayerForChecksum(v4)
		ip = v4
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		tcp.SetNetworkLayerForChecksum(v6)
		ip = v6
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		b.t.Fatal(err)
	}
	b.pkts = append(b.pkts, packet{ci: gopacket.CaptureInfo{Timestamp: b.ts}, data: buf.Bytes()})
}

// dial writes a three-way handshake from cli to srv:sport.
func (b *capBuilder) dial(cli, srv netip.Addr, sport uint16) *tcpConn {
	b.port++
	c := &tcpConn{b: b, cli: cli, srv: srv, cport: b.port, sport: sport, cseq: 1000 + uint32(b.port)*7, sseq: 5000 + uint32(b.port)*13}
	c.segment(true, "S", nil)
	c.segment(false, "SA", nil)
	c.segment(true, "A", nil)
	return c
}

func (c *tcpConn) segment(fromClient bool, flags string, payload []byte) {
	tcp := &layers.TCP{Window: 65535, SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A"),
		FIN: strings.Contains(flags, "F"), PSH: len(payload) > 0}
	src, dst := c.cli, c.srv
	tcp.SrcPort, tcp.DstPort = layers.TCPPort(c.cport), layers.TCPPort(c.sport)
	seq, ack := &c.cseq, &c.sseq
	if !fromClient {
		src, dst = dst, src
		tcp.SrcPort, tcp.DstPort = tcp.DstPort, tcp.SrcPort
		seq, ack = ack, seq
	}
	tcp.Seq = *seq
	if tcp.ACK {
		tcp.Ack = *ack
	}
	c.b.frame(src, dst, tcp, payload)
	*seq += uint32(len(payload))
	if tcp.SYN || tcp.FIN {
		*seq++
	}
}

// send writes data from one side in segments of at most 1400 bytes.
func (c *tcpConn) send(fromClient bool, data []byte) {
	for len(data) > 0 {
		n := min(len(data), 1400)
		c.segment(fromClient, "A", data[:n])
		data = data[n:]
	}
}

func (c *tcpConn) close() {
	c.segment(false, "FA", nil)
	c.segment(true, "FA", nil)
}

func (b *capBuilder) write(path string) {
	writePcap(b.t, path, layers.LinkTypeEthernet, b.pkts)
}

// exeBody is a small Windows executable's look, distinct per n, with
// nothing personal in it.
func exeBody(n int) []byte {
	return append([]byte("MZ"), bytes.Repeat([]byte{byte(0x90 + n%16), byte(n)}, 1200)...)
}
