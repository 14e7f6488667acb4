package decap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/packet/csum"
)

func buildCase(t testing.TB, name string) (*fb, []byte) {
	t.Helper()
	for _, c := range good {
		if c.name == name {
			b := newFB(t)
			c.build(b)
			return b, b.frame()
		}
	}
	t.Fatalf("no case %q", name)
	return nil, nil
}

// Rebuilding a frame around its own inner packet (and whatever follows
// it: gopacket pads short inner Ethernet frames) gives the frame back:
// gopacket computed every length and checksum of the original. Tunnel
// UDP checksums differ (Rebuild sets them to 0 over IPv4, which changes
// an IPv6 one around it), so they are compared by checkEnclosing.
func TestRebuildIdentity(t *testing.T) {
	for _, c := range good {
		t.Run(c.name, func(t *testing.T) {
			b := newFB(t)
			c.build(b)
			fr := b.frame()
			var f Frame
			if err := Parse(fr, &f); err != nil {
				t.Fatal(err)
			}
			got, err := Rebuild(nil, fr, f.L3, fr[f.L3:])
			if err != nil {
				t.Fatal(err)
			}
			checkEnclosing(t, got, &f)
			want := append([]byte(nil), fr...)
			masked := append([]byte(nil), got...)
			for _, l := range f.Stack() {
				if l.Kind == KindVXLAN || l.Kind == KindGeneve || l.Kind == KindGTPU {
					want[l.Off-2], want[l.Off-1] = 0, 0
					masked[l.Off-2], masked[l.Off-1] = 0, 0
				}
			}
			if !bytes.Equal(masked, want) {
				for i := range min(len(masked), len(want)) {
					if masked[i] != want[i] {
						t.Fatalf("first difference at %d: %#x, want %#x (lengths %d, %d)", i, masked[i], want[i], len(masked), len(want))
					}
				}
				t.Fatalf("lengths %d, want %d", len(masked), len(want))
			}
		})
	}
}

// checkEnclosing verifies, from the layer offsets of a parse of the
// original frame, that every enclosing length of out ends at its end and
// every checksum holds.
func checkEnclosing(t *testing.T, out []byte, f *Frame) {
	t.Helper()
	end := len(out)
	ipOK := func(off int) {
		switch out[off] >> 4 {
		case 4:
			ihl := int(out[off]&0xf) * 4
			if got := int(binary.BigEndian.Uint16(out[off+2:])); got != end-off {
				t.Errorf("IPv4 at %d: total length %d, want %d", off, got, end-off)
			}
			if !csum.IPv4HeaderValid(out[off : off+ihl]) {
				t.Errorf("IPv4 at %d: bad header checksum", off)
			}
		case 6:
			if got := int(binary.BigEndian.Uint16(out[off+4:])); got != end-off-40 {
				t.Errorf("IPv6 at %d: payload length %d, want %d", off, got, end-off-40)
			}
		}
	}
	for _, l := range f.Stack() {
		switch l.Kind {
		case KindPPPoE:
			if got := int(binary.BigEndian.Uint16(out[l.Off+4:])); got != end-l.Off-6 {
				t.Errorf("PPPoE: length %d, want %d", got, end-l.Off-6)
			}
		case KindVXLAN, KindGeneve, KindGTPU:
			u := l.Off - 8
			if got := int(binary.BigEndian.Uint16(out[u+4:])); got != end-u {
				t.Errorf("UDP at %d: length %d, want %d", u, got, end-u)
			}
			if l.OuterSrc.Is4() {
				if out[u+6] != 0 || out[u+7] != 0 {
					t.Errorf("UDP at %d over IPv4: checksum not 0", u)
				}
			} else if st := csum.L4(l.OuterSrc, l.OuterDst, 17, out[u:end]); st != csum.Valid {
				t.Errorf("UDP at %d over IPv6: checksum %v", u, st)
			}
			if l.Kind == KindGTPU {
				if got := int(binary.BigEndian.Uint16(out[l.Off+2:])); got != end-l.Off-8 {
					t.Errorf("GTP-U: length %d, want %d", got, end-l.Off-8)
				}
			}
		case KindGRE:
			if out[l.Off]&0x80 != 0 && csum.Sum(out[l.Off:end], 0) != 0xffff {
				t.Errorf("GRE at %d: bad checksum", l.Off)
			}
		}
		if l.Kind.Tunnel() {
			ipOK(l.OuterL3)
		}
	}
}

// A reassembled inner packet of another length: every enclosing layer
// follows it, and the frame parses to the same layers.
func TestRebuildNewLength(t *testing.T) {
	for _, name := range []string{"4 tunnels", "vlan pppoe ipv6", "gre csum key seq teb", "gtpu 4 extensions", "vxlan over ipv6 inner vlan", "geneve options ipv4", "ipip"} {
		t.Run(name, func(t *testing.T) {
			_, fr := buildCase(t, name)
			var f Frame
			if err := Parse(fr, &f); err != nil {
				t.Fatal(err)
			}
			for _, extra := range []int{0, 1, 1000, 3001} {
				// The inner packet grown (or shrunk) by extra payload bytes,
				// its own length field adjusted as a reassembler would.
				inner := append([]byte(nil), fr[f.L3:f.L3End]...)
				inner = append(inner, bytes.Repeat([]byte{0xa5}, extra)...)
				if f.Family == 4 {
					binary.BigEndian.PutUint16(inner[2:], uint16(len(inner)))
					binary.BigEndian.PutUint16(inner[10:], csum.IPv4Header(inner[:20]))
				} else {
					binary.BigEndian.PutUint16(inner[4:], uint16(len(inner)-40))
				}
				out, err := Rebuild(make([]byte, 0, 16), fr, f.L3, inner)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out[:f.L3], fr[:f.L3]) && len(f.Stack()) == 0 {
					t.Fatal("prefix changed")
				}
				if !bytes.Equal(out[f.L3:], inner) {
					t.Fatal("inner packet changed")
				}
				var g Frame
				if err := Parse(out, &g); err != nil {
					t.Fatalf("extra %d: %v", extra, err)
				}
				if g.N != f.N || g.L3 != f.L3 || g.L4 != f.L4 || g.Truncated {
					t.Fatalf("extra %d: layers %v l3 %d l4 %d truncated %v, want %v %d %d", extra, kinds(&g), g.L3, g.L4, g.Truncated, kinds(&f), f.L3, f.L4)
				}
				checkEnclosing(t, out, &f)
			}
		})
	}
}

func TestRebuildErrors(t *testing.T) {
	_, fr := buildCase(t, "vxlan")
	var f Frame
	if err := Parse(fr, &f); err != nil {
		t.Fatal(err)
	}
	inner := fr[f.L3:f.L3End]
	if _, err := Rebuild(nil, fr, f.L3+1, inner); !errors.Is(err, ErrNotOnPath) {
		t.Errorf("l3 off the path: %v", err)
	}
	if _, err := Rebuild(nil, fr[:f.L3-3], f.L3, inner); !errors.Is(err, ErrTruncated) {
		t.Errorf("frame cut before l3: %v", err)
	}
	v6 := append([]byte{0x60}, inner[1:]...)
	if _, err := Rebuild(nil, fr, f.L3, v6); !errors.Is(err, ErrInner) {
		t.Errorf("IPv6 where IPv4 was: %v", err)
	}
	if _, err := Rebuild(nil, fr, f.L3, nil); !errors.Is(err, ErrInner) {
		t.Errorf("empty inner: %v", err)
	}
	// The outer IPv4 total length would pass 65535.
	big := make([]byte, 65535-f.L3+14+1)
	big[0] = 0x45
	if _, err := Rebuild(nil, fr, f.L3, big); !errors.Is(err, ErrTooLong) {
		t.Errorf("too long: %v", err)
	}
	if _, err := Rebuild(nil, fr, f.L3, big[:len(big)-1]); err != nil {
		t.Errorf("longest: %v", err)
	}
	// Rebuilding at the outer header replaces the whole tunnel.
	out, err := Rebuild(nil, fr, 14, inner)
	if err != nil || !bytes.Equal(out[14:], inner) || binary.BigEndian.Uint16(out[12:]) != eIPv4 {
		t.Errorf("at the outer header: %v", err)
	}
}

func TestRebuildDoesNotAllocate(t *testing.T) {
	_, fr := buildCase(t, "4 tunnels")
	var f Frame
	if err := Parse(fr, &f); err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 0, 2048)
	inner := fr[f.L3:f.L3End]
	if n := testing.AllocsPerRun(100, func() {
		var err error
		if dst, err = Rebuild(dst, fr, f.L3, inner); err != nil {
			t.Fatal(err)
		}
		if err := Parse(dst, &f); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per Rebuild and Parse", n)
	}
}

// Every prefix of deep frames: no panic; before the innermost L4 header
// is whole, ErrTruncated; after it, parsed and marked Truncated.
func TestTruncatedEverywhere(t *testing.T) {
	for _, name := range []string{"4 tunnels", "gtpu 4 extensions", "eompls with vlan", "ipv6 ext chain", "gre csum key seq teb", "vlan pppoe ipv6", "geneve options ipv4"} {
		b, fr := buildCase(t, name)
		var f Frame
		for n := range len(fr) {
			err := Parse(fr[:n], &f)
			if n < b.w.payload {
				if err != ErrTruncated {
					t.Fatalf("%s cut at %d: %v, want truncated", name, n, err)
				}
				continue
			}
			if err != nil || !f.Truncated || f.L4 != b.w.l4 {
				t.Fatalf("%s cut at %d: %v truncated %v l4 %d", name, n, err, f.Truncated, f.L4)
			}
		}
	}
}
