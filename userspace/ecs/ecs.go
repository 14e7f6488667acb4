// Package ecs holds the Elastic Common Schema fields every edgesensor
// event shares. Field names follow ECS; what ECS has no name for lives
// under "edgesensor".
package ecs

import (
	"net/netip"
	"strconv"
	"time"
)

// Base is the part common to all events: when, where it was seen, and
// between whom (source is always the client).
type Base struct {
	Timestamp   time.Time `json:"@timestamp"`
	Event       Event     `json:"event"`
	Observer    Observer  `json:"observer"`
	Source      Endpoint  `json:"source"`
	Destination Endpoint  `json:"destination"`
	Network     Network   `json:"network"`
}

// Event is ECS event.*.
type Event struct {
	Kind     string     `json:"kind"`
	Category []string   `json:"category,omitempty"`
	Type     []string   `json:"type,omitempty"`
	Dataset  string     `json:"dataset"`
	Start    *time.Time `json:"start,omitempty"`
	End      *time.Time `json:"end,omitempty"`
	Duration int64      `json:"duration,omitempty"` // nanoseconds
	// RiskScore is 0 (nothing against it) to 10 (known malicious), -1
	// while pending; nil where nothing is scored.
	RiskScore *int `json:"risk_score,omitempty"`
}

// Observer is ECS observer.*: the sensor and the interface it saw the
// traffic on.
type Observer struct {
	Ingress Ingress `json:"ingress"`
	Product string  `json:"product"`
	Type    string  `json:"type"`
}

// Ingress is observer.ingress.
type Ingress struct {
	Interface struct {
		Name string `json:"name"`
	} `json:"interface"`
}

// Endpoint is source.* or destination.*.
type Endpoint struct {
	IP   string `json:"ip"`
	Port uint16 `json:"port"`
}

// EndpointOf converts an address and port.
func EndpointOf(ap netip.AddrPort) Endpoint {
	return Endpoint{IP: ap.Addr().Unmap().String(), Port: ap.Port()}
}

// Network is ECS network.*.
type Network struct {
	Transport string `json:"transport"`
	Protocol  string `json:"protocol,omitempty"`
	Type      string `json:"type"`
	VLAN      *VLAN  `json:"vlan,omitempty"`
	Inner     *Inner `json:"inner,omitempty"`
}

// VLAN is network.vlan (the outer tag).
type VLAN struct {
	ID string `json:"id"`
}

// Inner is network.inner (the inner tag of QinQ).
type Inner struct {
	VLAN VLAN `json:"vlan"`
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
