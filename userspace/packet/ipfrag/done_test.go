package ipfrag

import (
	"bytes"
	"net/netip"
	"testing"
)

// Done describes the datagram Add completed: marked when any of its
// fragments came marked (even one not taken: a duplicate), and the size
// of its largest fragment, for either family.
func TestDoneMarkAndLargestFragment(t *testing.T) {
	d := v4{src: netip.MustParseAddr("10.0.0.2"), dst: netip.MustParseAddr("10.0.0.1"), id: 7, proto: 6, payload: payloadBytes(2400, 1)}
	first, dup, last, middle := d.frag(0, 1000, true), d.frag(0, 1000, true), d.frag(2000, 2400, false), d.frag(1000, 2000, true)
	type in struct {
		pkt  []byte
		mark bool
	}
	for _, c := range []struct {
		name string
		in   []in // in arrival order; the last completes the datagram
		want bool
	}{
		{"none marked", []in{{first, false}, {last, false}, {middle, false}}, false},
		{"the first marked", []in{{first, true}, {last, false}, {middle, false}}, true},
		{"the completing one marked", []in{{first, false}, {last, false}, {middle, true}}, true},
		{"only a duplicate marked", []in{{first, false}, {dup, true}, {last, false}, {middle, false}}, true},
	} {
		r := New(Config{})
		var got []byte
		for i, x := range c.in {
			out, ok := r.AddMarked(t0, 0, x.pkt, x.mark)
			if ok != (i == len(c.in)-1) {
				t.Fatalf("%s: fragment %d completed %v", c.name, i, ok)
			}
			if ok {
				got = bytes.Clone(out)
			}
		}
		if !bytes.Equal(got[20:], d.payload) {
			t.Fatalf("%s: reassembled wrong", c.name)
		}
		if dn := r.Done(); dn.Marked != c.want || dn.MaxFragment != 1020 {
			t.Errorf("%s: Done %+v, want marked %v, largest fragment 1020", c.name, dn, c.want)
		}
		// The next datagram starts unmarked.
		d2 := d
		d2.id = 8
		r.Add(t0, 0, d2.frag(0, 1000, true))
		if _, ok := r.Add(t0, 0, d2.frag(1000, 1200, false)); !ok || r.Done().Marked {
			t.Errorf("%s: the next datagram: completed %v, Done %+v", c.name, ok, r.Done())
		}
	}
	// IPv6: the fragment's headers but its fragment header.
	r := New(Config{})
	d6 := v6{src: netip.MustParseAddr("fd00::2"), dst: netip.MustParseAddr("fd00::1"), id: 9, nh: 6, part: payloadBytes(1504, 2)}
	r.AddMarked(t0, 0, d6.frag(0, 1000, true), true)
	if _, ok := r.Add(t0, 0, d6.frag(1000, 1504, false)); !ok {
		t.Fatal("v6: not reassembled")
	}
	if dn := r.Done(); !dn.Marked || dn.MaxFragment != 1040 {
		t.Errorf("v6: Done %+v, want marked, largest fragment 1040", dn)
	}
}
