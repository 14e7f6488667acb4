// Package ecs holds the Elastic Common Schema fields every edgesensor
// event shares. Field names follow ECS; what ECS has no name for lives
// under "edgesensor".
package ecs

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/geo"
)

// Base is the part common to all events: when, where it was seen, and
// between whom (source is always the client).
type Base struct {
	// Timestamp is when the event's traffic started (the first packet of
	// the handshake, the start of the file's transfer), UTC.
	Timestamp   time.Time `json:"@timestamp"`
	Event       Event     `json:"event"`
	Observer    Observer  `json:"observer"`
	Source      Endpoint  `json:"source"`      // the client
	Destination Endpoint  `json:"destination"` // the server
	Network     Network   `json:"network"`
}

// Event is ECS event.*.
type Event struct {
	// Kind is "alert" when the score reaches score.threshold, else "event".
	Kind     string   `json:"kind"`
	Category []string `json:"category,omitempty"` // ECS categories: network, file
	Type     []string `json:"type,omitempty"`     // ECS types: connection, protocol, info
	// Dataset says which kind of event this is: edgesensor.tls,
	// edgesensor.file or edgesensor.verdict.
	Dataset string     `json:"dataset"`
	Start   *time.Time `json:"start,omitempty"` // the first packet of what the event describes
	End     *time.Time `json:"end,omitempty"`   // its last packet
	// Duration is End - Start in nanoseconds.
	Duration int64 `json:"duration,omitempty"`
	// RiskScore is 0 (nothing against it) to 10 (known malicious), -1
	// while pending; nil where nothing is scored.
	RiskScore *int `json:"risk_score,omitempty"`
}

// Observer is ECS observer.*: the sensor and the interface it saw the
// traffic on.
type Observer struct {
	Ingress Ingress `json:"ingress"`
	Product string  `json:"product"` // "edgesensor"
	Type    string  `json:"type"`    // "sensor"
}

// Ingress is observer.ingress.
type Ingress struct {
	Interface struct {
		// Name is the interface the client's first packet was seen on
		// ("replay" for a capture).
		Name string `json:"name"`
	} `json:"interface"`
}

// Endpoint is source.* or destination.*.
type Endpoint struct {
	IP   string `json:"ip"`   // IPv4 or IPv6 (IPv4-mapped addresses as IPv4)
	Port uint16 `json:"port"` // TCP or UDP port
	// Geo is where the [enrich] City or Country database places the
	// address. Only destination (the server) of edgesensor.tls and
	// edgesensor.file events has it, and only for a public address the
	// database knows; never source (the client).
	Geo *geo.Geo `json:"geo,omitempty"`
	// AS is the autonomous system the [enrich] ASN database gives the
	// address: destination of edgesensor.tls and edgesensor.file events
	// only, as geo.
	AS *geo.AS `json:"as,omitempty"`
}

// EndpointOf converts an address and port.
func EndpointOf(ap netip.AddrPort) Endpoint {
	return Endpoint{IP: ap.Addr().Unmap().String(), Port: ap.Port()}
}

// GeoLookup answers what is known of a server's address for
// destination.geo and destination.as (geo.Cache.Lookup); nil answers
// nothing. It is called from the analysis' shards at once, and its
// answers are shared: they must not be changed.
type GeoLookup func(netip.Addr) (*geo.Geo, *geo.AS)

// ServerOf is EndpointOf for the server side (destination), with what
// lookup knows of its address.
func ServerOf(ap netip.AddrPort, lookup GeoLookup) Endpoint {
	e := EndpointOf(ap)
	if lookup != nil {
		e.Geo, e.AS = lookup(ap.Addr())
	}
	return e
}

// Network is ECS network.*.
type Network struct {
	Transport string `json:"transport"`          // tcp or udp
	Protocol  string `json:"protocol,omitempty"` // tls, quic, http, smtp, imap
	Type      string `json:"type"`               // ipv4 or ipv6 (of the innermost flow)
	// CommunityID is the Community ID v1 of the innermost flow, seeded
	// by output.community_id_seed: the id Zeek, Suricata and Wireshark
	// give the same flow under the same seed. An unkeyed hash of the
	// addresses and ports: it is never sent to the cloud.
	CommunityID string `json:"community_id,omitempty"`
	VLAN        *VLAN  `json:"vlan,omitempty"`
	Inner       *Inner `json:"inner,omitempty"`
}

// VLAN is network.vlan (the outer tag).
type VLAN struct {
	ID string `json:"id"` // the 802.1Q VLAN id (outer tag), as ECS has it: a string
}

// Inner is network.inner (the inner tag of QinQ).
type Inner struct {
	VLAN VLAN `json:"vlan"` // the inner tag of QinQ
}

// NetworkOf fills network.* for a flow.
func NetworkOf(transport, protocol string, addr netip.Addr, vlan [2]uint16) Network {
	n := Network{Transport: transport, Protocol: protocol, Type: "ipv4"}
	if !addr.Unmap().Is4() {
		n.Type = "ipv6"
	}
	if vlan[0] != 0 {
		n.VLAN = &VLAN{ID: strconv.Itoa(int(vlan[0]))}
		if vlan[1] != 0 {
			n.Inner = &Inner{VLAN: VLAN{ID: strconv.Itoa(int(vlan[1]))}}
		}
	}
	return n
}

// ObserverOf fills observer.* for an interface.
func ObserverOf(iface string) Observer {
	o := Observer{Product: "edgesensor", Type: "sensor"}
	o.Ingress.Interface.Name = iface
	return o
}
