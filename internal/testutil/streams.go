package testutil

import (
	"fmt"
	"net/netip"
	"os"
	"sort"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// TCPConn is one TCP connection of a capture with its two byte streams,
// put in sequence order (retransmitted bytes once). It is an independent
// reference for the tests of the parsers, built with gopacket; the
// sensor's own reassembly is tested against it.
type TCPConn struct {
	Client, Server netip.AddrPort
	ToServer       []byte
	ToClient       []byte
}

// TCPConns reads the TCP connections of a pcap file, in order of their
// first packet. A connection's client is the sender of its SYN.
func TCPConns(t testing.TB, path string) []TCPConn {
	t.Helper()
	conns, err := tcpConns(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return conns
}

type seg struct {
	seq  uint32
	data []byte
}

type dirState struct {
	isn  uint32
	syn  bool
	segs []seg
}

func tcpConns(path string) ([]TCPConn, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, err
	}
	type key struct{ a, b netip.AddrPort }
	type conn struct {
		client, server netip.AddrPort
		known          bool
		dirs           map[netip.AddrPort]*dirState // by sender
	}
	var order []key
	byKey := map[key]*conn{}
	src := gopacket.NewPacketSource(h, h.LinkType())
	for p := range src.Packets() {
		var sa, da netip.Addr
		if ip := p.Layer(layers.LayerTypeIPv4); ip != nil {
			v := ip.(*layers.IPv4)
			sa, _ = netip.AddrFromSlice(v.SrcIP.To4())
			da, _ = netip.AddrFromSlice(v.DstIP.To4())
		} else if ip := p.Layer(layers.LayerTypeIPv6); ip != nil {
			v := ip.(*layers.IPv6)
			sa, _ = netip.AddrFromSlice(v.SrcIP)
			da, _ = netip.AddrFromSlice(v.DstIP)
		} else {
			continue
		}
		tl := p.Layer(layers.LayerTypeTCP)
		if tl == nil {
			continue
		}
		tcp := tl.(*layers.TCP)
		s := netip.AddrPortFrom(sa, uint16(tcp.SrcPort))
		d := netip.AddrPortFrom(da, uint16(tcp.DstPort))
		k := key{s, d}
		if s.String() > d.String() {
			k = key{d, s}
		}
		c := byKey[k]
		if c == nil {
			c = &conn{dirs: map[netip.AddrPort]*dirState{}}
			byKey[k] = c
			order = append(order, k)
		}
		if !c.known {
			switch {
			case tcp.SYN && !tcp.ACK:
				c.client, c.server, c.known = s, d, true
			case tcp.SYN && tcp.ACK:
				c.client, c.server, c.known = d, s, true
			}
		}
		ds := c.dirs[s]
		if ds == nil {
			ds = &dirState{isn: tcp.Seq}
			c.dirs[s] = ds
		}
		if tcp.SYN {
			ds.isn, ds.syn = tcp.Seq+1, true
		}
		if len(tcp.Payload) > 0 {
			ds.segs = append(ds.segs, seg{tcp.Seq, append([]byte(nil), tcp.Payload...)})
		}
	}
	var out []TCPConn
	for _, k := range order {
		c := byKey[k]
		if !c.known {
			return nil, fmt.Errorf("connection %s-%s has no SYN", k.a, k.b)
		}
		tc := TCPConn{Client: c.client, Server: c.server}
		var err error
		if tc.ToServer, err = join(c.dirs[c.client]); err != nil {
			return nil, fmt.Errorf("%s -> %s: %w", c.client, c.server, err)
		}
		if tc.ToClient, err = join(c.dirs[c.server]); err != nil {
			return nil, fmt.Errorf("%s -> %s: %w", c.server, c.client, err)
		}
		out = append(out, tc)
	}
	return out, nil
}

// join orders a direction's segments by offset from the ISN and joins
// them; a hole is an error (the corpus captures have none).
func join(ds *dirState) ([]byte, error) {
	if ds == nil {
		return nil, nil
	}
	sort.SliceStable(ds.segs, func(i, j int) bool {
		return ds.segs[i].seq-ds.isn < ds.segs[j].seq-ds.isn
	})
	var out []byte
	for _, s := range ds.segs {
		off := int64(s.seq - ds.isn)
		switch {
		case off > int64(len(out)):
			return nil, fmt.Errorf("hole of %d bytes at offset %d", off-int64(len(out)), len(out))
		case off+int64(len(s.data)) <= int64(len(out)):
			continue // retransmission
		default:
			out = append(out, s.data[int64(len(out))-off:]...)
		}
	}
	return out, nil
}
