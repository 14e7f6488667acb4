package craft

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// receiver is the tests' model of what Linux hosts at both ends take
// from a capture, written apart from the generator from the rules the
// cases cite: header and TCP checksums, fragment reassembly (an IPv4
// overlap with other bytes or any IPv6 overlap drops the datagram, an
// IPv6 first fragment without the whole transport header is dropped),
// the advertised window (data starting at or past the right edge is
// dropped; the edge never moves back), segments without ACK dropped,
// data after FIN not taken, RST only at rcv_nxt, SYN in an established
// connection ignored, SYN data only when the SYN-ACK acknowledges it,
// out-of-order overlaps as tcp_data_queue_ofo resolves them, urgent
// bytes out of band. With naive set it is instead a reassembler that
// checks nothing and keeps the first copy of every byte: what an
// attack is meant to fool.
type receiver struct {
	naive     bool
	offloaded bool // accept TCP checksums left as an offloading sender writes them
	frags     map[string]*fragQueue
	conns     map[string]*rconn
	all       []*rconn
	udp       [][]byte
	drops     map[string]int
}

func newReceiver(naive bool) *receiver {
	return &receiver{naive: naive, frags: map[string]*fragQueue{}, conns: map[string]*rconn{}, drops: map[string]int{}}
}

// rconn is one TCP connection as the two hosts see it.
type rconn struct {
	tun            string
	client, server netip.AddrPort
	ws             [2]uint8
	synData        []byte
	d              [2]*rdir // [0] client to server
	closed         bool
}

// rdir is one direction: what its receiver took.
type rdir struct {
	isn      uint32
	init     bool
	rcvNxt   uint32
	edge     uint32 // right edge of the window the receiver advertised
	edgeOK   bool
	sndMax   uint32 // highest sequence number its sender used
	ooo      []rseg
	app      []byte
	fin      bool
	urg      bool
	urgSeq   uint32
	conflict int             // copies of taken bytes with other bytes
	wire     []byte          // bytes taken in order (urgent ones too), from base
	base     uint32          // sequence number of wire[0]
	held     map[uint32]byte // naive: bytes held out of order
}

type rseg struct {
	seq  uint32
	data []byte
}

func after(a, b uint32) bool  { return int32(a-b) > 0 }
func before(a, b uint32) bool { return int32(a-b) < 0 }

// feed runs one Ethernet frame through the hosts.
func (r *receiver) feed(frame []byte) error {
	tun, ip, err := innermost(frame)
	if err != nil || ip == nil {
		return err
	}
	r.datagram(tun, ip)
	return nil
}

// innermost takes the encapsulation apart (gopacket decodes it, and the
// RFC 4448 control word by hand) and returns a key for the tunnel
// identity (VLANs, VNI, GRE key; not the GTP TEIDs, which differ by
// direction) and the innermost IP datagram.
func innermost(frame []byte) (string, []byte, error) {
	tun := ""
	for depth := 0; depth < 4; depth++ {
		p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
		var ip []byte
		var mplsPayload []byte
		for _, l := range p.Layers() {
			switch v := l.(type) {
			case *layers.Dot1Q:
				tun += fmt.Sprintf("vlan%d/", v.VLANIdentifier)
			case *layers.VXLAN:
				tun += fmt.Sprintf("vni%d/", v.VNI)
			case *layers.Geneve:
				tun += fmt.Sprintf("geneve%d/", v.VNI)
			case *layers.GRE:
				if v.KeyPresent {
					tun += fmt.Sprintf("grekey%d/", v.Key)
				}
			case *layers.MPLS:
				if v.StackBottom {
					mplsPayload = v.LayerPayload()
				}
			case *layers.IPv4, *layers.IPv6:
				ip = append(append([]byte(nil), l.LayerContents()...), l.LayerPayload()...)
			}
		}
		if len(mplsPayload) > 0 && mplsPayload[0]>>4 == 0 && ip == nil {
			frame = mplsPayload[4:] // control word, then the customer's frame
			continue
		}
		if ip == nil {
			return "", nil, fmt.Errorf("no IP datagram in frame")
		}
		return tun, ip, nil
	}
	return "", nil, fmt.Errorf("encapsulation too deep")
}

// fragQueue holds the fragments of one datagram.
type fragQueue struct {
	v6      bool
	pieces  []rseg // offsets in seq
	total   int    // -1 until the last fragment
	dead    bool
	hasHead bool
}

// datagram takes one IP datagram: checks, reassembly, then the
// transport.
func (r *receiver) datagram(tun string, ip []byte) {
	if ip[0]>>4 == 4 {
		hl := int(ip[0]&0x0f) * 4
		if n := int(binary.BigEndian.Uint16(ip[2:])); n <= len(ip) {
			ip = ip[:n]
		}
		if !r.naive && ipv4Checksum(ip[:hl]) != 0 {
			r.drops["ip_csum"]++
			return
		}
		fo := binary.BigEndian.Uint16(ip[6:])
		off, more := int(fo&0x1fff)*8, fo&0x2000 != 0
		src, dst := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		proto := ip[9]
		payload := ip[hl:]
		if off != 0 || more {
			key := fmt.Sprintf("%s%v>%v/%d/%d", tun, src, dst, proto, binary.BigEndian.Uint16(ip[4:]))
			var ok bool
			if payload, ok = r.fragment(key, false, proto, off, more, payload); !ok {
				return
			}
		}
		r.transport(tun, src, dst, proto, payload)
		return
	}
	if n := 40 + int(binary.BigEndian.Uint16(ip[4:])); n <= len(ip) {
		ip = ip[:n]
	}
	src, dst := netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
	nh, rest := ip[6], ip[40:]
	for {
		switch nh {
		case 0, 60, 43: // hop-by-hop, destination options, routing (segments left 0)
			if len(rest) < 8 {
				return
			}
			n := 8 + int(rest[1])*8
			nh, rest = rest[0], rest[n:]
			continue
		case 44:
			fnh := rest[0]
			fo := binary.BigEndian.Uint16(rest[2:])
			off, more := int(fo>>3)*8, fo&1 != 0
			key := fmt.Sprintf("%s%v>%v/%d", tun, src, dst, binary.BigEndian.Uint32(rest[4:]))
			payload, ok := r.fragment(key, true, fnh, off, more, rest[8:])
			if !ok {
				return
			}
			r.transport(tun, src, dst, fnh, payload)
			return
		}
		r.transport(tun, src, dst, nh, rest)
		return
	}
}

// fragment adds a fragment to its queue; the payload when complete.
func (r *receiver) fragment(key string, v6 bool, nh uint8, off int, more bool, data []byte) ([]byte, bool) {
	if v6 && off == 0 && !r.naive {
		need := map[uint8]int{6: 20, 17: 8}[nh]
		if len(data) < need {
			r.drops["frag6_tiny"]++ // RFC 8200 4.5, RFC 7112
			return nil, false
		}
	}
	q := r.frags[key]
	if q == nil {
		q = &fragQueue{v6: v6, total: -1}
		r.frags[key] = q
	}
	if q.dead {
		return nil, false
	}
	end := off + len(data)
	for _, p := range q.pieces {
		pEnd := int(p.seq) + len(p.data)
		if off < pEnd && end > int(p.seq) {
			same := off == int(p.seq) && bytes.Equal(data, p.data)
			if r.naive {
				continue // first copy wins below
			}
			if same && !v6 {
				return nil, false // an exact duplicate is ignored
			}
			r.drops["frag_overlap"]++
			q.dead = true // Linux kills the queue: the datagram is lost
			return nil, false
		}
	}
	q.pieces = append(q.pieces, rseg{seq: uint32(off), data: append([]byte(nil), data...)})
	if off == 0 {
		q.hasHead = true
	}
	if !more {
		q.total = end
	}
	if q.total < 0 || !q.hasHead {
		return nil, false
	}
	buf := make([]byte, q.total)
	have := make([]bool, q.total)
	for _, p := range q.pieces {
		for i, c := range p.data {
			j := int(p.seq) + i
			if j < q.total && !have[j] { // first copy wins (naive); no overlaps otherwise
				buf[j], have[j] = c, true
			}
		}
	}
	for _, h := range have {
		if !h {
			return nil, false
		}
	}
	delete(r.frags, key)
	return buf, true
}

// transport takes a whole TCP segment or UDP datagram.
func (r *receiver) transport(tun string, src, dst netip.Addr, proto uint8, b []byte) {
	switch proto {
	case 17:
		if len(b) >= 8 {
			r.udp = append(r.udp, b[8:])
		}
	case 6:
		if len(b) < 20 {
			return
		}
		if !r.naive && !r.tcpChecksumOK(src, dst, b) {
			r.drops["tcp_csum"]++
			return
		}
		r.tcp(tun, src, dst, b)
	}
}

func (r *receiver) tcpChecksumOK(src, dst netip.Addr, b []byte) bool {
	sum := uint32(pseudoSum(ipSpec{src: src, dst: dst, proto: layers.IPProtocolTCP}, len(b)))
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	if sum == 0xffff {
		return true
	}
	if r.offloaded {
		f := binary.BigEndian.Uint16(b[16:])
		if f == 0 || f == pseudoSum(ipSpec{src: src, dst: dst, proto: layers.IPProtocolTCP}, len(b)) {
			r.drops["offloaded"]++ // counted, taken
			return true
		}
	}
	return false
}

func connKey(tun string, a, b netip.AddrPort) string { return fmt.Sprintf("%s%v>%v", tun, a, b) }

func wscaleOf(opts []byte) uint8 {
	for len(opts) > 0 {
		switch opts[0] {
		case 0:
			return 0
		case 1:
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || int(opts[1]) < 2 || int(opts[1]) > len(opts) {
			return 0
		}
		if opts[0] == 3 && opts[1] == 3 {
			return opts[2]
		}
		opts = opts[opts[1]:]
	}
	return 0
}

// receive runs a whole capture through a receiver.
func receive(pkts Packets, naive, offloaded bool) (*receiver, error) {
	r := newReceiver(naive)
	r.offloaded = offloaded
	for _, p := range pkts {
		if err := r.feed(p.Data); err != nil {
			return nil, err
		}
	}
	return r, nil
}
