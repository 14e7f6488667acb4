package ipfrag_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/packet/csum"
	"github.com/edgesensor/edgesensor/userspace/packet/decap"
	"github.com/edgesensor/edgesensor/userspace/packet/ipfrag"
)

// vxlanFrame wraps an inner IPv4 packet in Ethernet, IPv4, UDP 4789,
// VXLAN (VNI 77) and Ethernet, lengths and checksums set.
func vxlanFrame(inner []byte) []byte {
	eth := func(b []byte) []byte {
		h := make([]byte, 14)
		h[0], h[6] = 2, 2
		binary.BigEndian.PutUint16(h[12:], 0x0800)
		return append(h, b...)
	}
	in := eth(inner)
	vx := append([]byte{0x08, 0, 0, 0, 0, 0, 77, 0}, in...)
	udp := make([]byte, 8)
	binary.BigEndian.PutUint16(udp, 50000)
	binary.BigEndian.PutUint16(udp[2:], 4789)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(vx)))
	ip := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(vx)))
	binary.BigEndian.PutUint16(ip[10:], csum.IPv4Header(ip))
	return eth(append(append(ip, udp...), vx...))
}

// innerFragment is an IPv4 fragment of a TCP datagram 10.0.0.1:40000 ->
// 10.0.0.2:80 whose payload is seg.
func innerFragment(seg []byte, off, end int, more bool) []byte {
	h := []byte{0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
	binary.BigEndian.PutUint16(h[2:], uint16(20+end-off))
	fo := uint16(off / 8)
	if more {
		fo |= 0x2000
	}
	binary.BigEndian.PutUint16(h[6:], fo)
	binary.BigEndian.PutUint16(h[10:], csum.IPv4Header(h))
	return append(h, seg[off:end]...)
}

// The integrator's path: Parse a captured frame; a fragment goes to the
// Reassembler (zone from the tunnel); the datagram goes back into the
// frame with Rebuild; the rebuilt frame parses to the innermost flow.
func TestWiringWithDecap(t *testing.T) {
	seg := make([]byte, 20+3000)
	binary.BigEndian.PutUint16(seg, 40000)
	binary.BigEndian.PutUint16(seg[2:], 80)
	seg[12] = 5 << 4
	copy(seg[20:], bytes.Repeat([]byte("GET /x HTTP/1.1\r\n"), 200))
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	binary.BigEndian.PutUint16(seg[16:], csum.Checksum(seg, csum.Pseudo(src, dst, 6, len(seg))))
	var frames [][]byte
	for off := 0; off < len(seg); off += 1000 {
		end := min(off+1000, len(seg))
		frames = append(frames, vxlanFrame(innerFragment(seg, off, end, end < len(seg))))
	}
	r := ipfrag.New(ipfrag.Config{})
	var f decap.Frame
	var buf []byte
	done := 0
	for i := len(frames) - 1; i >= 0; i-- { // last fragment first
		fr := frames[i]
		if err := decap.Parse(fr, &f); err != nil || !f.Fragment || f.L3End > len(fr) {
			t.Fatalf("frame %d: %v fragment %v", i, err, f.Fragment)
		}
		zone := f.Layers[f.N-1].ID // the VNI: the kernel's zone would do
		dgram, ok := r.Add(time.Now(), zone, fr[f.L3:f.L3End])
		if !ok {
			continue
		}
		var err error
		if buf, err = decap.Rebuild(buf, fr, f.L3, dgram); err != nil {
			t.Fatal(err)
		}
		if err := decap.Parse(buf, &f); err != nil || f.Fragment || f.Proto != 6 || f.Sport != 40000 || f.Dport != 80 {
			t.Fatalf("rebuilt frame: %v fragment %v proto %d ports %d>%d", err, f.Fragment, f.Proto, f.Sport, f.Dport)
		}
		if !bytes.Equal(buf[f.Payload:f.L3End], seg[20:]) || f.N != 1 || f.Layers[0].Kind != decap.KindVXLAN {
			t.Fatal("rebuilt frame carries other bytes")
		}
		if st := csum.L4(f.Src, f.Dst, 6, buf[f.L4:f.L3End]); st != csum.Valid {
			t.Fatalf("TCP checksum of the reassembled segment: %v", st)
		}
		done++
	}
	if done != 1 {
		t.Fatalf("%d datagrams", done)
	}
}
