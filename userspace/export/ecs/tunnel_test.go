package ecs

import (
	"slices"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
)

func TestTunnelOf(t *testing.T) {
	inner := testutil.Pkt{Sport: 1, Dport: 443, Flags: "PA", Payload: []byte("x")}.Frame()[14:]
	vx := testutil.Layer{Kind: "vxlan", Src: "192.0.2.1", Dst: "192.0.2.2", ID: 42}
	gre := testutil.Layer{Kind: "gre", Src: "2001:db8::1", Dst: "2001:db8::2"}
	cases := []struct {
		name   string
		enc    testutil.Encap
		typ    string
		id     int64 // -1: none
		outer  [2]string
		layers []string
		vlans  []uint16
	}{
		{"vxlan in vlans", testutil.Encap{VLANs: []uint16{10, 20}, Layers: []testutil.Layer{vx}}, "vxlan", 42,
			[2]string{"192.0.2.1", "192.0.2.2"}, []string{"vlan", "vlan", "vxlan"}, []uint16{10, 20}},
		{"four vlans", testutil.Encap{VLANs: []uint16{1, 2, 3, 4}}, "vlan", 4, [2]string{}, []string{"vlan", "vlan", "vlan", "vlan"}, []uint16{1, 2, 3, 4}},
		{"pppoe", testutil.Encap{Layers: []testutil.Layer{{Kind: "pppoe", ID: 0x77}}}, "pppoe", 0x77, [2]string{}, []string{"pppoe"}, nil},
		{"keyless gre over ipv6", testutil.Encap{Layers: []testutil.Layer{gre}}, "gre", -1,
			[2]string{"2001:db8::1", "2001:db8::2"}, []string{"gre"}, nil},
	}
	for _, c := range cases {
		tun := TunnelOf(c.enc.Wrap(inner))
		if tun == nil {
			t.Fatalf("%s: no tunnel", c.name)
		}
		if tun.Type != c.typ || !slices.Equal(tun.Layers, c.layers) || !slices.Equal(tun.VLANs, c.vlans) {
			t.Errorf("%s: %+v", c.name, tun)
		}
		if (c.id < 0) != (tun.ID == nil) || c.id >= 0 && int64(*tun.ID) != c.id {
			t.Errorf("%s: id %v", c.name, tun.ID)
		}
		if c.outer[0] != "" && (tun.Outer == nil || tun.Outer.Source.IP != c.outer[0] || tun.Outer.Destination.IP != c.outer[1]) {
			t.Errorf("%s: outer %+v", c.name, tun.Outer)
		}
		var n Network
		n.VLANOf(tun)
		if len(c.vlans) > 0 && (n.VLAN == nil || n.VLAN.ID == "") {
			t.Errorf("%s: network.vlan %+v", c.name, n.VLAN)
		}
	}
	if TunnelOf(testutil.Pkt{Sport: 1, Dport: 2}.Frame()) != nil {
		t.Error("a plain frame has a tunnel")
	}
}
