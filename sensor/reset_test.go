package sensor

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/packet/csum"
	"github.com/edgesensor/edgesensor/userspace/packet/decap"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
)

// A held server segment inside each encapsulation the program cannot
// reset becomes, in userspace, a reset at its sequence number inside the
// same layers: ports kept, no payload, no options, every checksum and
// enclosing length right (the frame parses whole down to it); plain
// frames are the program's.
func TestOwnDirectionReset(t *testing.T) {
	ip := func(kind string) testutil.Layer {
		return testutil.Layer{Kind: kind, Src: "192.0.2.1", Dst: "192.0.2.2", ID: 77}
	}
	greSum := ip("gre")
	greSum.GRECsum, greSum.GREKey = true, true
	gtp := ip("gtpu")
	gtp.GTPExt = [][]byte{{1, 0, 0, 0}}
	for _, c := range []struct {
		name  string
		encap testutil.Encap
	}{
		{"vxlan", testutil.Encap{Layers: []testutil.Layer{ip("vxlan")}}},
		{"vxlan over IPv6", testutil.Encap{Layers: []testutil.Layer{{Kind: "vxlan", Src: "2001:db8::1", Dst: "2001:db8::2", ID: 3}}}},
		{"gre with checksum and key", testutil.Encap{Layers: []testutil.Layer{greSum}}},
		{"gtp-u with an extension header", testutil.Encap{Layers: []testutil.Layer{gtp}}},
		{"pppoe", testutil.Encap{Layers: []testutil.Layer{{Kind: "pppoe", ID: 7}}}},
		{"mpls", testutil.Encap{Layers: []testutil.Layer{{Kind: "mpls", ID: 100, Labels: 2}}}},
	} {
		for _, v6 := range []bool{false, true} {
			seg, _ := serverSegment(v6, 123456, 900)
			frame := c.encap.Wrap(frameOf(t, seg)[14:])
			var fr decap.Frame
			decap.Parse(frame, &fr)
			if programResets(frame, &fr) {
				t.Fatalf("%s, v6 %v: taken as one the program resets", c.name, v6)
			}
			rst, err := ownDirectionReset(nil, frame, &fr)
			if err != nil {
				t.Fatalf("%s, v6 %v: %v", c.name, v6, err)
			}
			var got decap.Frame
			if err := decap.Parse(rst, &got); err != nil || got.Proto != 6 || got.Tunnels() != fr.Tunnels() || got.L3 != fr.L3 || got.L3End != len(rst) {
				t.Fatalf("%s, v6 %v: the reset does not parse whole (%v): % x", c.name, v6, err, rst)
			}
			th := rst[got.L4:]
			if got.PayloadLen != 0 || th[13] != 0x04 || th[12] != 5<<4 || binary.BigEndian.Uint32(th[4:]) != 123456 ||
				binary.BigEndian.Uint16(th[0:]) != 80 || binary.BigEndian.Uint16(th[2:]) != 40000 {
				t.Errorf("%s, v6 %v: not the segment's reset: % x", c.name, v6, th[:20])
			}
			if st := csum.L4(got.Src, got.Dst, 6, rst[got.L4:got.L3End]); st != csum.Valid {
				t.Errorf("%s, v6 %v: TCP checksum %v", c.name, v6, st)
			}
			if rst[14]>>4 == 4 && !csum.IPv4HeaderValid(rst[14:34]) {
				t.Errorf("%s, v6 %v: outer IPv4 header checksum", c.name, v6)
			}
			if got.Src != fr.Src || got.Dst != fr.Dst {
				t.Errorf("%s, v6 %v: addresses %v > %v, want %v > %v", c.name, v6, got.Src, got.Dst, fr.Src, fr.Dst)
			}
		}
	}
	// Plain frames, with up to two VLAN tags: the program's to reset.
	seg, _ := serverSegment(false, 1, 10)
	seg.VLANs = []uint16{5, 6}
	var fr decap.Frame
	plain := frameOf(t, seg)
	if decap.Parse(plain, &fr); !programResets(plain, &fr) {
		t.Error("a plain frame with two VLAN tags taken as one userspace resets")
	}
	// A plain copy cut by the snaplen: the program takes it as truncated
	// and makes no reset, so userspace does.
	plainLong, _ := serverSegment(false, 99, 1400)
	plainCut := frameOf(t, plainLong)[:14+20+20+30]
	if decap.Parse(plainCut, &fr); programResets(plainCut, &fr) {
		t.Error("a plain copy cut by the snaplen taken as one the program resets")
	}
	// A copy cut by the snaplen (a held ServerHello): the headers do.
	long, _ := serverSegment(false, 99, 1400)
	cut := testutil.Encap{Layers: []testutil.Layer{ip("vxlan")}}.Wrap(frameOf(t, long)[14:])
	decap.Parse(cut, &fr)
	cut = cut[:fr.L4+40]
	decap.Parse(cut, &fr)
	rst, err := ownDirectionReset(nil, cut, &fr)
	var got decap.Frame
	if err != nil || decap.Parse(rst, &got) != nil || got.L3End != len(rst) || rst[got.L4+13] != 0x04 {
		t.Errorf("a cut copy: reset % x, %v", rst, err)
	}
	// Never a reset to a reset.
	r := seg
	r.Flags = "R"
	f := testutil.Encap{Layers: []testutil.Layer{ip("vxlan")}}.Wrap(frameOf(t, r)[14:])
	decap.Parse(f, &fr)
	if _, err := ownDirectionReset(nil, f, &fr); err == nil {
		t.Error("a reset made of a reset")
	}
}

// FuzzOwnDirectionReset: any frame gives a reset that parses whole with
// a right TCP checksum, or an error; never a panic.
func FuzzOwnDirectionReset(f *testing.F) {
	seg, _ := serverSegment(false, 1, 100)
	f.Add(testutil.Encap{Layers: []testutil.Layer{{Kind: "vxlan", Src: "192.0.2.1", Dst: "192.0.2.2", ID: 1}}}.Wrap(seg.Frame()[14:]))
	seg6, _ := serverSegment(true, 1, 100)
	f.Add(testutil.Encap{Layers: []testutil.Layer{{Kind: "gtpu", Src: "192.0.2.1", Dst: "192.0.2.2", ID: 1}}}.Wrap(seg6.Frame()[14:]))
	f.Add(seg.Frame())
	f.Fuzz(func(t *testing.T, frame []byte) {
		var fr decap.Frame
		decap.Parse(frame, &fr)
		rst, err := ownDirectionReset(nil, frame, &fr)
		if err != nil {
			return
		}
		var got decap.Frame
		if err := decap.Parse(rst, &got); err != nil || got.Proto != 6 || got.L4+20 > len(rst) {
			t.Fatalf("the reset does not parse (%v): % x", err, rst)
		}
		if rst[got.L4+13] != 0x04 {
			t.Fatalf("not a reset: flags %#x", rst[got.L4+13])
		}
		if st := csum.L4(got.Src, got.Dst, 6, rst[got.L4:min(got.L3End, len(rst))]); st != csum.Valid {
			t.Fatalf("TCP checksum %v", st)
		}
	})
}

// programResets says, for every frame kind, what the program does with a
// blocked flow's server packet: where it says the program resets, the
// program passes a reset on; where not, the program drops the packet
// (and userspace makes the reset). Every held packet gets one of the two.
func TestPrivilegedProgramResetsMirrorsTheProgram(t *testing.T) {
	vx := testutil.Layer{Kind: "vxlan", Src: "192.0.2.1", Dst: "192.0.2.2", ID: 7}
	type kind struct {
		name  string
		frame func() []byte
	}
	seg := func(v6 bool, mut func(*testutil.Pkt)) []byte {
		p, _ := serverSegment(v6, 5000, 300)
		if mut != nil {
			mut(&p)
		}
		return frameOf(t, p)
	}
	kinds := []kind{
		{"plain", func() []byte { return seg(false, nil) }},
		{"plain IPv6", func() []byte { return seg(true, nil) }},
		{"two VLAN tags", func() []byte { return seg(false, func(p *testutil.Pkt) { p.VLANs = []uint16{5, 6} }) }},
		{"IPv4 options", func() []byte { return seg(false, func(p *testutil.Pkt) { p.IPv4Options = true }) }},
		{"IPv6 destination options", func() []byte { return seg(true, func(p *testutil.Pkt) { p.V6Ext = []byte{60} }) }},
		{"pppoe", func() []byte {
			return testutil.Encap{Layers: []testutil.Layer{{Kind: "pppoe", ID: 3}}}.Wrap(seg(false, nil)[14:])
		}},
		{"mpls", func() []byte {
			return testutil.Encap{Layers: []testutil.Layer{{Kind: "mpls", ID: 100}}}.Wrap(seg(false, nil)[14:])
		}},
		{"vxlan", func() []byte { return testutil.Encap{Layers: []testutil.Layer{vx}}.Wrap(seg(false, nil)[14:]) }},
		{"a plain copy cut short", func() []byte { return seg(false, nil)[:14+20+20+40] }},
	}
	for _, k := range kinds {
		h := newEnfHarness(t, "block")
		if err := h.enf.Replace(&enforce.Tables{Lists: []string{"l"}}); err != nil {
			t.Fatal(err)
		}
		frame := k.frame()
		// The flow as the program keys it (its zone: the tunnel's, the
		// VLANs'), from a whole copy read before the block.
		whole := frame
		if k.name == "a plain copy cut short" {
			whole = seg(false, nil)
		}
		evs := h.run(whole)
		if len(evs) == 0 {
			t.Fatalf("%s: not read", k.name)
		}
		fl := datapath.Flow{Client: evs[0].Client(), Server: evs[0].Server(), Zone: evs[0].Zone}
		if err := h.enf.BlockFlow(fl, 6, "l", time.Hour, FlowDetail{}); err != nil {
			t.Fatal(err)
		}
		got, out := h.verdict(frame)
		var fo decap.Frame
		made := got == xdpPass && decap.Parse(out, &fo) == nil && fo.Proto == 6 && fo.L4+14 <= len(out) && out[fo.L4+13]&0x04 != 0
		var fr decap.Frame
		decap.Parse(frame, &fr)
		if says := programResets(frame, &fr); says != made {
			t.Errorf("%s: programResets %v, but the program made a reset: %v (verdict %d)", k.name, says, made, got)
		}
		if !made && got != xdpDrop {
			t.Errorf("%s: verdict %d, want a reset or a drop", k.name, got)
		}
		if !made {
			if _, err := ownDirectionReset(nil, frame, &fr); err != nil {
				t.Errorf("%s: neither the program nor userspace resets it: %v", k.name, err)
			}
		}
	}
}
