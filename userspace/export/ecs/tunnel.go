package ecs

import (
	"strconv"

	"github.com/edgesensor/edgesensor/userspace/packet/decap"
)

// Tunnel is edgesensor.tunnel: how the flow was encapsulated on the wire.
// Type, ID and Outer describe the innermost encapsulation (the one
// closest to the flow: a VXLAN segment, a GRE tunnel, a PPPoE session);
// Layers lists every layer from the outside in, VLANs every VLAN id.
type Tunnel struct {
	// Type is the innermost encapsulation: vlan, mpls, pppoe, ipip, 6in4,
	// ip6ip6, 4in6, gre, vxlan, geneve or gtpu.
	Type string `json:"type"`
	// ID is its identity: the VNI (vxlan, geneve), GRE key, PPPoE session
	// or GTP-U TEID, when it has one.
	ID     *uint32      `json:"id,omitempty"`
	Outer  *TunnelOuter `json:"outer,omitempty"`
	Layers []string     `json:"layers"`          // every layer, from the outside in
	VLANs  []uint16     `json:"vlans,omitempty"` // every VLAN id, outer first
}

// TunnelOuter is edgesensor.tunnel.outer: the endpoints of an IP-carried
// tunnel, as the flow's client-to-server packets carried them.
type TunnelOuter struct {
	Source      OuterEndpoint `json:"source"`
	Destination OuterEndpoint `json:"destination"`
}

// OuterEndpoint is one end of a tunnel.
type OuterEndpoint struct {
	IP string `json:"ip"` // an outer address of an IP-carried tunnel
}

// TunnelOf describes the encapsulation of a frame (nil for plain
// Ethernet and IP). The frame should travel from client to server, so
// that Outer is oriented like source and destination.
func TunnelOf(frame []byte) *Tunnel {
	var f decap.Frame
	decap.Parse(frame, &f)
	if f.N == 0 {
		return nil
	}
	t := &Tunnel{}
	var last *decap.Layer
	for i := range f.Stack() {
		l := &f.Layers[i]
		t.Layers = append(t.Layers, l.Kind.String())
		if l.Kind == decap.KindVLAN {
			t.VLANs = append(t.VLANs, uint16(l.ID))
		}
		last = l
	}
	// The innermost tunnel if any, else the innermost link layer.
	for i := f.N - 1; i >= 0; i-- {
		if f.Layers[i].Kind.Tunnel() {
			last = &f.Layers[i]
			break
		}
	}
	t.Type = last.Kind.String()
	if last.HasID || last.Kind == decap.KindVLAN || last.Kind == decap.KindMPLS || last.Kind == decap.KindPPPoE {
		id := last.ID
		t.ID = &id
	}
	if last.Kind.Tunnel() && last.OuterSrc.IsValid() {
		t.Outer = &TunnelOuter{Source: OuterEndpoint{IP: last.OuterSrc.String()}, Destination: OuterEndpoint{IP: last.OuterDst.String()}}
	}
	return t
}

// VLANOf fills network.vlan and network.inner.vlan from a tunnel's VLAN
// ids (the outermost two), when the data plane's two were not enough.
func (n *Network) VLANOf(t *Tunnel) {
	if t == nil || len(t.VLANs) == 0 {
		return
	}
	n.VLAN = &VLAN{ID: strconv.Itoa(int(t.VLANs[0]))}
	n.Inner = nil
	if len(t.VLANs) > 1 {
		n.Inner = &Inner{VLAN: VLAN{ID: strconv.Itoa(int(t.VLANs[1]))}}
	}
}
