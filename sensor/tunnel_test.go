package sensor

import (
	"bytes"
	"testing"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/packet/decap"
)

// tunnelCases wrap a handshake in every encapsulation the data plane
// follows.
func tunnelCases() map[string]testutil.Encap {
	l := func(kind, src, dst string, id uint32) testutil.Layer {
		return testutil.Layer{Kind: kind, Src: src, Dst: dst, ID: id}
	}
	gre := l("gre", "192.0.2.1", "192.0.2.2", 77)
	greKey, greAll := gre, gre
	greKey.GREKey = true
	greAll.GREKey, greAll.GRESeq, greAll.GRECsum = true, true, true
	gre6 := l("gre", "2001:db8::1", "2001:db8::2", 5)
	gre6.GREKey = true
	geneve := l("geneve", "192.0.2.5", "192.0.2.6", 4242)
	geneve.Options = []byte{0x01, 0x02, 0x80, 0x01, 1, 2, 3, 4} // one 4-byte option
	gtp := l("gtpu", "198.51.100.1", "198.51.100.2", 0xabcdef)
	gtp.GTPExt = [][]byte{{1, 0x10, 0x05, 0x00}}
	mpls := testutil.Layer{Kind: "mpls", ID: 16, Labels: 3}
	eompls := testutil.Layer{Kind: "mpls", ID: 17, Labels: 2, ControlWord: true}
	teb := gre
	teb.GREKey = true
	inner := testutil.Layer{Kind: "eth", VLANs: []uint16{3}}
	return map[string]testutil.Encap{
		"4 vlans":          {VLANs: []uint16{10, 20, 30, 40}},
		"qinq":             {VLANs: []uint16{100, 200}},
		"mpls":             {Layers: []testutil.Layer{mpls}},
		"eompls":           {Layers: []testutil.Layer{eompls}},
		"pppoe":            {VLANs: []uint16{7}, Layers: []testutil.Layer{{Kind: "pppoe", ID: 0x1234}}},
		"gre":              {Layers: []testutil.Layer{gre}},
		"gre key":          {Layers: []testutil.Layer{greKey}},
		"gre csum key seq": {Layers: []testutil.Layer{greAll}},
		"gre over ipv6":    {Layers: []testutil.Layer{gre6}},
		"gre teb":          {Layers: []testutil.Layer{teb, inner}},
		"gre mpls":         {Layers: []testutil.Layer{greKey, mpls}},
		"ipip":             {Layers: []testutil.Layer{l("ipip", "192.0.2.9", "192.0.2.10", 0)}},
		"4in6":             {Layers: []testutil.Layer{l("ipip", "2001:db8::9", "2001:db8::a", 0)}},
		"vxlan":            {Layers: []testutil.Layer{l("vxlan", "192.0.2.3", "192.0.2.4", 1000)}},
		"geneve":           {Layers: []testutil.Layer{geneve}},
		"gtpu":             {Layers: []testutil.Layer{gtp}},
		"vxlan in gre":     {Layers: []testutil.Layer{greKey, l("vxlan", "10.9.0.1", "10.9.0.2", 3)}},
		"4 tunnels":        {Layers: []testutil.Layer{gre, l("ipip", "10.1.0.1", "10.1.0.2", 0), l("vxlan", "10.2.0.1", "10.2.0.2", 9), greKey}},
	}
}

// Every encapsulation: the handshake inside is found, with the offsets
// the Go parser finds (userspace/packet/decap, the same rules), both directions
// of the tunnel meet in one flow, and a fifth tunnel is not followed.
func TestPrivilegedTunnelsMatchDecap(t *testing.T) {
	h := newHarness(t, nil)
	port := uint16(41000)
	for name, enc := range tunnelCases() {
		for _, v6 := range []bool{false, true} {
			port++
			ch := testutil.ClientHello(300)
			c := testutil.Pkt{V6: v6, Sport: port, Dport: 443, Seq: 100, Ack: 1, Flags: "PA", Payload: ch}
			frame := enc.Wrap(c.Frame()[14:])
			evs := h.run(frame)
			if len(evs) != 1 || evs[0].Class != datapath.ClassTLS || !bytes.Equal(evs[0].Payload, ch) {
				t.Errorf("%s v6=%v: %d events", name, v6, len(evs))
				continue
			}
			e := evs[0]
			var f decap.Frame
			if err := decap.Parse(frame, &f); err != nil {
				t.Fatalf("%s: decap: %v", name, err)
			}
			if f.L3 != e.L3Off || f.L4 != e.L4Off || f.Tunnels() != int(e.Tunnels) {
				t.Errorf("%s v6=%v: kernel l3=%d l4=%d tunnels=%d, decap l3=%d l4=%d tunnels=%d",
					name, v6, e.L3Off, e.L4Off, e.Tunnels, f.L3, f.L4, f.Tunnels())
			}
			src, dst := c.Endpoints()
			if e.Src != src || e.Dst != dst {
				t.Errorf("%s v6=%v: endpoints %v -> %v", name, v6, e.Src, e.Dst)
			}
			// The answer comes back through the same tunnel, reversed.
			sh := c.Reply(900, 100+uint32(len(ch)), "PA", testutil.ServerHello(90))
			back := h.run(enc.Reverse().Wrap(sh.Frame()[14:]))
			if len(back) != 1 || back[0].Zone != e.Zone || back[0].FromClient() {
				t.Errorf("%s v6=%v: the reply did not join the flow: %d events", name, v6, len(back))
			}
			k := FlowKeyIn(src, dst, datapath.ProtoTCP, e.Zone)
			var fl bpf.Flow
			if err := h.objs.Flows.Lookup(&k, &fl); err != nil {
				t.Errorf("%s v6=%v: no flow under the tunnel's zone: %v", name, v6, err)
			}
		}
	}
}

// The same inner addresses in two VXLAN segments (or two VLANs) are two
// flows; without vlan_tracking, VLANs do not separate them.
func TestPrivilegedZonesKeepAddressSpacesApart(t *testing.T) {
	c := testutil.Pkt{Sport: 40002, Dport: 443, Seq: 100, Ack: 1, Flags: "PA", Payload: testutil.ClientHello(200)}
	inner := c.Frame()[14:]
	vx := func(vni uint32) testutil.Encap {
		return testutil.Encap{Layers: []testutil.Layer{{Kind: "vxlan", Src: "192.0.2.1", Dst: "192.0.2.2", ID: vni}}}
	}
	for _, tc := range []struct {
		name     string
		a, b     testutil.Encap
		tracking bool
		same     bool
	}{
		{"vni", vx(1), vx(2), true, false},
		{"vlan", testutil.Encap{VLANs: []uint16{10}}, testutil.Encap{VLANs: []uint16{20}}, true, false},
		{"vlan untracked", testutil.Encap{VLANs: []uint16{10}}, testutil.Encap{VLANs: []uint16{20}}, false, true},
		{"tagged and not, untracked", testutil.Encap{VLANs: []uint16{10}}, testutil.Encap{}, false, true},
	} {
		h := newHarness(t, func(cfg *config.Config) { cfg.Capture.VLANTracking = tc.tracking })
		a := h.run(tc.a.Wrap(inner))
		b := h.run(tc.b.Wrap(inner))
		if len(a) != 1 || len(b) != 1 {
			t.Fatalf("%s: %d and %d events", tc.name, len(a), len(b))
		}
		if (a[0].Zone == b[0].Zone) != tc.same {
			t.Errorf("%s: zones %#x and %#x, same=%v wanted", tc.name, a[0].Zone, b[0].Zone, tc.same)
		}
		// A second hello on one flow is no new flow; on two flows both are.
		newB := b[0].Flags&datapath.FlagFlowNew != 0
		if newB == tc.same {
			t.Errorf("%s: the second hello new=%v", tc.name, newB)
		}
	}
}

// A fifth tunnel is not followed: counted, nothing emitted.
func TestPrivilegedTunnelDepth(t *testing.T) {
	h := newHarness(t, nil)
	g := testutil.Layer{Kind: "gre", Src: "192.0.2.1", Dst: "192.0.2.2"}
	enc := testutil.Encap{Layers: []testutil.Layer{g, g, g, g, g}}
	c := testutil.Pkt{Sport: 40003, Dport: 443, Seq: 100, Ack: 1, Flags: "PA", Payload: testutil.ClientHello(200)}
	if evs := h.run(enc.Wrap(c.Frame()[14:])); len(evs) != 0 {
		t.Fatalf("five tunnels deep: %d events", len(evs))
	}
	if h.counters()[sensorCounter("not_followed")] != 1 {
		t.Errorf("not_followed %d", h.counters()[sensorCounter("not_followed")])
	}
}
