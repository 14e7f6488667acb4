package ipfrag

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

// Packets are built by hand from the RFCs; the header checksum by the
// RFC 1071 reference loop, not by the package under test.

func refSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func setIPv4Checksum(h []byte) {
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:], ^refSum(h))
}

func ipv4HeaderOK(h []byte) bool { return refSum(h) == 0xffff }

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func payloadBytes(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed + byte(i*7) + byte(i>>8)
	}
	return p
}

// v4 is an IPv4 datagram: a header of 20+opt bytes and a payload.
type v4 struct {
	src, dst netip.Addr
	id       uint16
	proto    uint8
	tos      uint8
	opt      int // option bytes (a multiple of 4)
	payload  []byte
}

func (d v4) header(totalData int, off int, more, df bool) []byte {
	ihl := 20 + d.opt
	h := make([]byte, ihl)
	h[0] = 0x40 | byte(ihl/4)
	h[1] = d.tos
	binary.BigEndian.PutUint16(h[2:], uint16(ihl+totalData))
	binary.BigEndian.PutUint16(h[4:], d.id)
	fo := uint16(off / 8)
	if more {
		fo |= 0x2000
	}
	if df {
		fo |= 0x4000
	}
	binary.BigEndian.PutUint16(h[6:], fo)
	h[8], h[9] = 64, d.proto
	copy(h[12:], d.src.AsSlice())
	copy(h[16:], d.dst.AsSlice())
	for i := 20; i < ihl; i++ {
		h[i] = 1 // NOP options
	}
	setIPv4Checksum(h)
	return h
}

// whole is the unfragmented datagram.
func (d v4) whole() []byte {
	return append(d.header(len(d.payload), 0, false, false), d.payload...)
}

// frag is the fragment carrying payload[off:end].
func (d v4) frag(off, end int, more bool) []byte {
	return d.fragBytes(off, d.payload[off:end], more)
}

// fragBytes is a fragment at off carrying b.
func (d v4) fragBytes(off int, b []byte, more bool) []byte {
	return append(d.header(len(b), off, more, false), b...)
}

// v6 is an IPv6 datagram: unfragmentable extension headers (each a whole
// header whose first byte is rewritten to chain them), the first next
// header of the fragmentable part, and that part.
type v6 struct {
	src, dst netip.Addr
	id       uint32
	tc       uint8
	unfrag   [][]byte // extension headers before the fragment header, with their types
	types    []uint8  // the type of each unfrag header
	nh       uint8    // the next header of the fragmentable part
	part     []byte   // the fragmentable part
}

func (d v6) prefix(nextAfter uint8, payloadLen int) []byte {
	h := make([]byte, 40)
	h[0] = 0x60 | d.tc>>4
	h[1] = d.tc << 4
	h[6], h[7] = nextAfter, 64
	copy(h[8:], d.src.AsSlice())
	copy(h[24:], d.dst.AsSlice())
	if len(d.unfrag) > 0 {
		h[6] = d.types[0]
	}
	for i, e := range d.unfrag {
		e = append([]byte(nil), e...)
		if i+1 < len(d.unfrag) {
			e[0] = d.types[i+1]
		} else {
			e[0] = nextAfter
		}
		h = append(h, e...)
	}
	binary.BigEndian.PutUint16(h[4:], uint16(len(h)-40+payloadLen))
	return h
}

func (d v6) whole() []byte {
	return append(d.prefix(d.nh, len(d.part)), d.part...)
}

func (d v6) frag(off, end int, more bool) []byte {
	return d.fragBytes(off, d.part[off:end], more)
}

func (d v6) fragBytes(off int, b []byte, more bool) []byte {
	p := d.prefix(44, 8+len(b))
	fh := make([]byte, 8)
	fh[0] = d.nh
	fo := uint16(off)
	if more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(fh[2:], fo)
	binary.BigEndian.PutUint32(fh[4:], d.id)
	return append(append(p, fh...), b...)
}

// ext is an extension header of type typ of n 8-byte units (PadN inside).
func ext(n int) []byte {
	e := make([]byte, n*8)
	e[1] = byte(n - 1)
	e[2], e[3] = 1, byte(len(e)-4)
	return e
}

var (
	a4, b4 = netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("198.51.100.20")
	a6, b6 = netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("2001:db8:1::20")
)

// tcpSegment is a TCP header (data offset words) and data.
func tcpSegment(words int, data []byte) []byte {
	h := make([]byte, words*4)
	binary.BigEndian.PutUint16(h, 40000)
	binary.BigEndian.PutUint16(h[2:], 80)
	h[12] = byte(words << 4)
	h[13] = 0x18
	return append(h, data...)
}

// feed adds packets in order and returns the last datagram completed.
func feed(t *testing.T, r *Reassembler, now time.Time, pkts ...[]byte) (out []byte, completions int) {
	t.Helper()
	for _, p := range pkts {
		if got, ok := r.Add(now, 0, p); ok {
			out = append([]byte(nil), got...)
			completions++
		}
		checkBounds(t, r)
	}
	return out, completions
}

func checkBounds(t testing.TB, r *Reassembler) {
	t.Helper()
	if r.Held() > r.cfg.MaxBytes || r.Pending() > r.cfg.MaxDatagrams || r.Held() < 0 {
		t.Fatalf("held %d of %d, %d of %d datagrams", r.Held(), r.cfg.MaxBytes, r.Pending(), r.cfg.MaxDatagrams)
	}
	var live int64
	n := 0
	for d := r.oldest; d != nil; d = d.next {
		if d.held != d.footprint() {
			t.Fatalf("datagram counts %d, holds %d", d.held, d.footprint())
		}
		live += d.held
		n++
	}
	if n != len(r.table) || live != r.live {
		t.Fatalf("age list %d datagrams %d bytes, table %d, live %d", n, live, len(r.table), r.live)
	}
	var pooled int64
	for _, l := range r.pool.free {
		for _, b := range l {
			pooled += int64(cap(b))
		}
	}
	for _, d := range r.spare {
		pooled += d.footprint()
	}
	if pooled != r.pool.bytes {
		t.Fatalf("pool counts %d, holds %d", r.pool.bytes, pooled)
	}
}
