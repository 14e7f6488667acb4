package decap

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// seeds are the frames of the table tests, good and bad.
func seeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, list := range [][]tcase{good, bad} {
		for _, c := range list {
			b := newFB(t)
			c.build(b)
			fr := b.frame()
			if c.mutate != nil {
				c.mutate(fr, b)
			}
			out = append(out, fr)
		}
	}
	return out
}

// checkParse holds the invariants of any parse: offsets inside the frame
// and in order, limits kept, the innermost fields consistent, errors from
// the package, and a reused Frame giving the same answer as a new one.
func checkParse(t *testing.T, b []byte, f *Frame, err error) {
	t.Helper()
	if err != nil && Reason(err) == "other" {
		t.Fatalf("foreign error %v", err)
	}
	if f.N > MaxLayers || f.Tunnels() > MaxTunnels {
		t.Fatalf("%d layers, %d tunnels", f.N, f.Tunnels())
	}
	prevEnd := 0
	for i, l := range f.Stack() {
		if l.Off < prevEnd || l.Len < 0 || l.Off+l.Len > len(b) {
			t.Fatalf("layer %d %v: off %d len %d after %d in %d bytes", i, l.Kind, l.Off, l.Len, prevEnd, len(b))
		}
		if l.Kind.Tunnel() && (l.OuterL3 >= l.Off || !l.OuterSrc.IsValid()) {
			t.Fatalf("tunnel %d: outer %d at %d", i, l.OuterL3, l.Off)
		}
		prevEnd = l.Off + l.Len
	}
	if f.Family != 0 {
		hl := 20
		if f.Family == 6 {
			hl = 40
		}
		if err == nil && f.L3 < prevEnd {
			t.Fatalf("innermost l3 %d before the last layer's end %d", f.L3, prevEnd)
		}
		if f.L3+hl > len(b) || f.L3End < f.L3+hl {
			t.Fatalf("l3 %d end %d in %d bytes", f.L3, f.L3End, len(b))
		}
		if f.L3End > len(b) && !f.Truncated {
			t.Fatalf("l3 end %d past %d bytes, not truncated", f.L3End, len(b))
		}
	}
	if err == nil {
		if f.Family != 4 && f.Family != 6 {
			t.Fatalf("family %d", f.Family)
		}
		if f.Fragment {
			fr := f.Frag
			if fr.DataOff < f.L3+20 || fr.DataLen < 0 || fr.DataOff+fr.DataLen != f.L3End || fr.Offset%8 != 0 || (fr.Offset == 0 && !fr.More) {
				t.Fatalf("fragment %+v at l3 %d end %d", fr, f.L3, f.L3End)
			}
		} else {
			if (f.Proto != 6 && f.Proto != 17) || f.L4 < f.L3+20 || f.Payload < f.L4+8 || f.Payload > len(b) ||
				f.Payload > f.L3End || f.PayloadLen != f.L3End-f.Payload {
				t.Fatalf("proto %d l3 %d l4 %d payload %d+%d end %d in %d bytes", f.Proto, f.L3, f.L4, f.Payload, f.PayloadLen, f.L3End, len(b))
			}
		}
	}
	var g Frame
	if err2 := Parse(b, &g); !errors.Is(err2, err) || !sameParse(f, &g) {
		t.Fatalf("reused frame: %v %+v, new frame: %v %+v", err, f, err2, g)
	}
}

// sameParse compares two parses, the Truncated flag aside.
func sameParse(a, b *Frame) bool {
	if a.N != b.N {
		return false
	}
	for i := range a.N {
		if a.Layers[i] != b.Layers[i] {
			return false
		}
	}
	x, y := *a, *b
	x.Layers, y.Layers = [MaxLayers]Layer{}, [MaxLayers]Layer{}
	x.Truncated, y.Truncated = false, false
	return x == y
}

func parseOne(t *testing.T, b []byte) {
	var f Frame
	// A dirty Frame first, to catch state kept between parses.
	_ = Parse(dirty, &f)
	err := Parse(b, &f)
	checkParse(t, b, &f, err)
}

var dirty = func() []byte {
	b := newFB(&testing.T{})
	b.eth(eVLAN).vlan(1, eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).udp(1, 2152).gtp(5, []byte{1, 2}).
		ip6("2001:db8::1", "2001:db8::2", 44).frag6(tTCP, 0, true, 3).tcp(1, 2).payload(20)
	return b.frame()
}()

func FuzzParse(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(parseOne)
}

func rebuildOne(t *testing.T, b []byte) {
	var f Frame
	err := Parse(b, &f)
	if f.Family == 0 {
		return
	}
	out, rerr := Rebuild(nil, b, f.L3, b[f.L3:])
	if errors.Is(rerr, ErrTooLong) {
		return
	}
	if rerr != nil {
		t.Fatalf("Rebuild at %d after %v: %v", f.L3, err, rerr)
	}
	var g Frame
	err2 := Parse(out, &g)
	if !errors.Is(err2, err) || !sameParse(&f, &g) {
		t.Fatalf("rebuilt frame parses to %v %v l3 %d l4 %d, original %v %v l3 %d l4 %d",
			err2, kinds(&g), g.L3, g.L4, err, kinds(&f), f.L3, f.L4)
	}
}

// FuzzRebuild: a frame rebuilt around its own innermost IP packet parses
// to the same layers, offsets and innermost fields.
func FuzzRebuild(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(rebuildOne)
}

// TestFuzzRandom runs both fuzz bodies over mutations of the seeds, so
// that plain go test reaches beyond them.
func TestFuzzRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ss := seeds(t)
	for i := range 30000 {
		s := append([]byte(nil), ss[i%len(ss)]...)
		for range 1 + r.IntN(4) {
			switch r.IntN(4) {
			case 0:
				s[r.IntN(len(s))] = byte(r.Uint32())
			case 1:
				s = s[:r.IntN(len(s))]
			case 2:
				if len(s) > 0 {
					j := r.IntN(len(s))
					s[j] ^= 1 << r.IntN(8)
				}
			case 3:
				if len(s) > 2 {
					j := r.IntN(len(s) - 1)
					s[j], s[j+1] = 0, byte(r.IntN(8))
				}
			}
			if len(s) == 0 {
				break
			}
		}
		parseOne(t, s)
		rebuildOne(t, s)
	}
}
