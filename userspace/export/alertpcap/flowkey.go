package alertpcap

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/ecs/communityid"
)

// FlowKey names a flow whatever the direction of its packets: the IP
// protocol and the two endpoints, the lower (by address, then port)
// first, IPv4-mapped IPv6 addresses unmapped. It leaves out the tunnel
// zone (datapath.Event.Zone), which events do not carry: flows with the
// same addresses in two tunnels share one key, and one file.
//
// The zero FlowKey is no flow. FlowKey is comparable.
type FlowKey struct {
	lo, hi netip.AddrPort
	proto  uint8
}

// KeyFor is the key of the flow between a and b (in either order) over IP
// protocol proto (datapath.ProtoTCP or ProtoUDP).
func KeyFor(proto uint8, a, b netip.AddrPort) FlowKey {
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	b = netip.AddrPortFrom(b.Addr().Unmap(), b.Port())
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	return FlowKey{lo: a, hi: b, proto: proto}
}

// EventKey is the key of the flow ev belongs to.
func EventKey(ev *datapath.Event) FlowKey { return KeyFor(ev.Proto, ev.Src, ev.Dst) }

// NewFlowKey is the key of the flow between client and server over
// transport, as events name them (ECS client.*, server.*,
// network.transport): "tcp" or "udp".
func NewFlowKey(client, server netip.AddrPort, transport string) (FlowKey, error) {
	var proto uint8
	switch strings.ToLower(transport) {
	case "tcp":
		proto = datapath.ProtoTCP
	case "udp":
		proto = datapath.ProtoUDP
	default:
		return FlowKey{}, fmt.Errorf("transport %q: want \"tcp\" or \"udp\"", transport)
	}
	if !client.IsValid() || !server.IsValid() {
		return FlowKey{}, fmt.Errorf("flow %s -> %s: an endpoint is not an address and port", client, server)
	}
	return KeyFor(proto, client, server), nil
}

// IsValid reports whether k names a flow (it is not the zero key).
func (k FlowKey) IsValid() bool { return k.lo.IsValid() && k.hi.IsValid() }

// Proto is the flow's IP protocol.
func (k FlowKey) Proto() uint8 { return k.proto }

// Endpoints returns the two endpoints, the lower first.
func (k FlowKey) Endpoints() (lo, hi netip.AddrPort) { return k.lo, k.hi }

// CommunityID is the flow's Community ID hashed with seed, as the
// sensor's events carry it in network.community_id.
func (k FlowKey) CommunityID(seed uint16) string {
	return communityid.String(seed, k.proto, k.lo, k.hi)
}

// String prints the key as "tcp 10.0.0.1:40108 <-> 10.0.0.2:443".
func (k FlowKey) String() string {
	t := fmt.Sprintf("proto %d", k.proto)
	switch k.proto {
	case datapath.ProtoTCP:
		t = "tcp"
	case datapath.ProtoUDP:
		t = "udp"
	}
	return t + " " + k.lo.String() + " <-> " + k.hi.String()
}

// hash spreads keys over the shards. It is datapath.FlowHash, the
// dispatcher's hash without the zone, so with a power-of-two number of
// dispatcher workers up to the shard count, the flows (outside tunnels)
// of one worker fall on shards no other worker takes: Observe's locks
// are then never contended. A cheaper hash that spreads each worker's
// flows over all shards measured slower in parallel (BenchmarkObserve).
func (k FlowKey) hash() uint64 { return datapath.FlowHash(k.lo, k.hi, k.proto) }
