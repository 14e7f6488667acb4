package main

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/packet/csum"
	"github.com/edgesensor/edgesensor/userspace/packet/decap"
)

// status reads a frame's addresses and checksums with the product's
// parser and checksum code, independent of shift.
func status(t *testing.T, f []byte) (src, dst netip.Addr, ipOK bool, l4 csum.Status) {
	t.Helper()
	var fr decap.Frame
	if err := decap.Parse(f, &fr); err != nil {
		t.Fatal(err)
	}
	ipOK = fr.Family == 6 || csum.IPv4HeaderValid(f[fr.L3:fr.L4])
	return fr.Src, fr.Dst, ipOK, csum.L4(fr.Src, fr.Dst, fr.Proto, f[fr.L4:fr.L3End])
}

// withChecksums fills in f's IPv4 header checksum, and its L4 checksum:
// the full one, or, with partial, only the pseudo-header sum a sender's
// offload leaves.
func withChecksums(t *testing.T, f []byte, partial bool) []byte {
	t.Helper()
	f = bytes.Clone(f)
	var fr decap.Frame
	if err := decap.Parse(f, &fr); err != nil {
		t.Fatal(err)
	}
	if fr.Family == 4 {
		binary.BigEndian.PutUint16(f[fr.L3+10:], csum.IPv4Header(f[fr.L3:fr.L4]))
	}
	field := fr.L4 + 16 // TCP
	if fr.Proto == 17 {
		field = fr.L4 + 6
	}
	binary.BigEndian.PutUint16(f[field:], 0)
	pseudo := csum.Pseudo(fr.Src, fr.Dst, fr.Proto, fr.L3End-fr.L4)
	v := csum.Checksum(f[fr.L4:fr.L3End], pseudo)
	if partial {
		v = ^csum.Checksum(nil, pseudo)
	}
	binary.BigEndian.PutUint16(f[field:], v)
	return f
}

// shift moves both addresses by the same amount and leaves every
// checksum as right, or as partial, as it was.
func TestShiftKeepsChecksums(t *testing.T) {
	pay := []byte("GET / HTTP/1.1\r\n\r\n")
	for _, c := range []struct {
		name string
		p    testutil.Pkt
	}{
		{"ipv4 tcp", testutil.Pkt{Src: "10.200.0.1", Dst: "10.200.0.2", Sport: 40000, Dport: 80, Flags: "PA", Payload: pay}},
		{"ipv4 udp", testutil.Pkt{Src: "10.200.0.1", Dst: "10.200.0.2", Sport: 40000, Dport: 443, UDP: true, Payload: pay}},
		{"ipv6 tcp", testutil.Pkt{V6: true, Sport: 40000, Dport: 80, Flags: "PA", Payload: pay}},
		{"vlan ipv4 tcp", testutil.Pkt{VLANs: []uint16{7}, Sport: 40000, Dport: 80, Flags: "PA", Payload: pay}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := withChecksums(t, c.p.Frame(), false)
			src, dst, ipOK, l4 := status(t, f)
			if !ipOK || l4 != csum.Valid {
				t.Fatalf("test frame: IP header valid %v, L4 %v", ipOK, l4)
			}
			g := bytes.Clone(f)
			shift(g, 5<<8)
			src2, dst2, ipOK2, l42 := status(t, g)
			if !ipOK2 || l42 != csum.Valid {
				t.Errorf("shifted: IP header valid %v, L4 %v", ipOK2, l42)
			}
			for _, a := range [][2]netip.Addr{{src, src2}, {dst, dst2}} {
				x, y := a[0].As16(), a[1].As16()
				if binary.BigEndian.Uint32(y[12:])-binary.BigEndian.Uint32(x[12:]) != 5<<8 || !bytes.Equal(x[:12], y[:12]) {
					t.Errorf("address %v shifted to %v", a[0], a[1])
				}
			}
			// A sender's offload leaves the pseudo-header sum in the
			// field: it stays a partial checksum of the new addresses.
			p := withChecksums(t, c.p.Frame(), true)
			if _, _, _, s := status(t, p); s != csum.Partial {
				t.Fatalf("partial test frame reads %v", s)
			}
			shift(p, 5<<8)
			if _, _, _, s := status(t, p); s != csum.Partial {
				t.Errorf("shifted partial checksum reads %v, want partial", s)
			}
		})
	}
}

// Whatever the bytes, shift neither panics nor changes the length.
func FuzzShift(f *testing.F) {
	f.Add(testutil.Pkt{Sport: 1, Dport: 80, Flags: "PA", Payload: []byte("x")}.Frame())
	f.Add(testutil.Pkt{V6: true, UDP: true, Sport: 1, Dport: 53, Payload: []byte("x")}.Frame())
	f.Add(testutil.Pkt{VLANs: []uint16{1, 2}, Sport: 1, Dport: 80, FragOffset: 8}.Frame())
	f.Fuzz(func(t *testing.T, b []byte) {
		n := len(b)
		shift(b, 1<<8)
		if len(b) != n {
			t.Fatal("length changed")
		}
	})
}
