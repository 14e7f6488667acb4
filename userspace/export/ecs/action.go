package ecs

import (
	"encoding/json"
	"time"
)

// ActionDataset is event.dataset of what enforcement did.
const ActionDataset = "edgesensor.action"

// Event actions (event.action) of an ActionEvent.
const (
	ActionBlocked    = "blocked"     // dropped (a TCP flow also reset)
	ActionWouldBlock = "would_block" // enforcement.mode = "monitor": decided, nothing dropped
)

// ActionEvent is one edgesensor.action event: the data plane acted (or,
// in monitor mode, would have acted) on a packet. One is written per
// blocklist entry or blocked flow per second at most; the metrics count
// every packet.
type ActionEvent struct {
	Timestamp time.Time `json:"@timestamp"` // the packet acted on
	Event     struct {
		Kind      string   `json:"kind"`     // alert
		Category  []string `json:"category"` // network
		Type      []string `json:"type"`     // denied (blocked) or info (would_block)
		Dataset   string   `json:"dataset"`  // edgesensor.action
		Action    string   `json:"action"`   // blocked or would_block
		Reason    string   `json:"reason"`   // why, in words
		RiskScore int      `json:"risk_score"`
	} `json:"event"`
	Observer    Observer `json:"observer"`
	Source      Endpoint `json:"source"` // the packet's source (not necessarily the client)
	Destination Endpoint `json:"destination"`
	Network     struct {
		Transport string `json:"transport,omitempty"` // tcp, udp or the IP protocol number
		Type      string `json:"type"`                // ipv4 or ipv6
		// CommunityID is the Community ID v1 of the packet's flow (the
		// same either way; output.community_id_seed); none for ICMP, whose
		// type and code the record does not keep.
		CommunityID string `json:"community_id,omitempty"`
	} `json:"network"`
	Rule struct {
		Name     string `json:"name"`     // the list (intel source) whose entry decided
		Category string `json:"category"` // address or handshake (what was matched)
	} `json:"rule"`
	Edgesensor struct {
		Action  Action   `json:"action"`
		Capture *Capture `json:"capture,omitempty"` // the flow's packets, written on the box
	} `json:"edgesensor"`
}

// Action is edgesensor.action.*.
type Action struct {
	Mode    string `json:"mode"`    // block or monitor
	Matched string `json:"matched"` // the listed value: a prefix, a domain, a fingerprint
	// Kind is what the matched value is: ip, domain, ja3 or ja4.
	Kind string `json:"kind"`
	// Side is which address of the packet matched (address rules).
	Side  string `json:"side,omitempty"`
	Reset bool   `json:"reset"` // a TCP reset went back to the packet's sender
	// Hold is what became of a download judged malicious (file rules):
	// "held" (its last packet never reached the client), "timeout" (no
	// verdict within hold_timeout; on_timeout = "block"), or "not_held"
	// (the client had it before the verdict; the flow is cut after).
	Hold string `json:"hold,omitempty"`
}

// NewActionEvent fills the constant fields.
func NewActionEvent(t time.Time, blocked bool, level int) *ActionEvent {
	e := &ActionEvent{Timestamp: t}
	e.Event.Kind, e.Event.Dataset, e.Event.RiskScore = "alert", ActionDataset, level
	e.Event.Category = []string{"network"}
	e.Event.Action, e.Event.Type, e.Edgesensor.Action.Mode = ActionWouldBlock, []string{"info"}, "monitor"
	if blocked {
		e.Event.Action, e.Event.Type, e.Edgesensor.Action.Mode = ActionBlocked, []string{"denied"}, "block"
	}
	e.Observer.Product, e.Observer.Type = "edgesensor", "sensor"
	return e
}

// Fields implements Document.
func (e *ActionEvent) Fields() Fields {
	return Fields{
		Time: e.Timestamp, Dataset: e.Event.Dataset, Kind: e.Event.Kind,
		Score: e.Event.RiskScore, Scored: true,
		Interface: e.Observer.Ingress.Interface.Name, Source: e.Source, Destination: e.Destination,
		Transport: e.Network.Transport, CommunityID: e.Network.CommunityID,
		Action: e.Event.Action, Rule: e.Rule.Name, Reason: e.Event.Reason,
		ServerName: e.matchedName(),
	}
}

// matchedName is the SNI that decided a handshake rule, for outputs that
// show the server name.
func (e *ActionEvent) matchedName() string {
	if e.Edgesensor.Action.Kind == "domain" {
		return e.Edgesensor.Action.Matched
	}
	return ""
}

// MarshalLine is the event as one NDJSON line.
func (e *ActionEvent) MarshalLine() ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
