package ecs

import (
	"time"

	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// Record is one event on its way to the outputs: the typed event's
// fields the outputs read, and its JSON line, encoded once. No consumer
// parses the line again; the SIEM formats and the cloud record's header
// come from Fields, which every dataset's event type fills from its own
// typed fields (the one definition of each field is the event type's).
type Record struct {
	Fields Fields
	// Line is the event's JSON object and a newline. It is only valid
	// during the call that hands the record over: keep a copy.
	Line []byte
}

// Document is a typed event of one dataset.
type Document interface {
	// Fields projects the event onto what the outputs read.
	Fields() Fields
}

// Fields are the fields of an event the outputs read: the dataset and
// the score for filters and counts, and what SIEM formats (CEF, RFC 5424
// structured data) and the cloud record's header carry. Strings and
// slices point into the event, which must not change afterwards.
type Fields struct {
	Time    time.Time // @timestamp
	End     time.Time // event.end: the last packet the event is about
	Dataset string    // event.dataset
	Kind    string    // event.kind
	// Score is event.risk_score (0-10, -1 while pending) when Scored.
	Score  int
	Scored bool

	Interface           string // observer.ingress.interface.name
	Source, Destination Endpoint
	Transport, Protocol string // network.transport, network.protocol
	// CommunityID is network.community_id ("" when the event has none):
	// the flow's id for outputs that key or correlate by it. Never for
	// the cloud.
	CommunityID string

	FileName string // file.name
	FileSize int64  // file.size, when HasSize
	HasSize  bool
	SHA256   string // file.hash.sha256 (a whole file's only)
	// Category and Direction are edgesensor.file.category and .direction;
	// Complete is edgesensor.file.complete.
	Category, Direction string
	Complete            bool

	URL       string // url.original
	Method    string // http.request.method
	UserAgent string // user_agent.original

	TLSVersion string // tls.version
	ServerName string // tls.client.server_name
	JA3, JA4   string // tls.client.ja3, tls.client.ja4
	// UnknownSide: no hello was read, so which side is the client is a
	// guess (edgesensor.tls.missing holds both hellos).
	UnknownSide bool

	Verdict string         // edgesensor.score.verdict
	Reasons []score.Reason // edgesensor.score.reasons

	From, To []string // email.from.address, email.to.address
	Subject  string   // email.subject

	// What the analysis missed of the flow, for the loss metrics:
	// LostEvents, the data plane dropped events of it (ring full); Gaps,
	// bytes were missing in a direction; NoClientHello, a handshake whose
	// ClientHello was not read; Cut, why a file is incomplete
	// (edgesensor.file.cut).
	LostEvents, Gaps, NoClientHello bool
	Cut                             string

	// Action, Rule and Reason are event.action, rule.name and
	// event.reason (edgesensor.action events).
	Action, Rule, Reason string
}

// BaseFields fills the fields every event has from b.
func (b *Base) BaseFields() Fields {
	f := Fields{
		Time:        b.Timestamp,
		Dataset:     b.Event.Dataset,
		Kind:        b.Event.Kind,
		Interface:   b.Observer.Ingress.Interface.Name,
		Source:      b.Source,
		Destination: b.Destination,
		Transport:   b.Network.Transport,
		Protocol:    b.Network.Protocol,
		CommunityID: b.Network.CommunityID,
	}
	if b.Event.End != nil {
		f.End = *b.Event.End
	}
	if b.Event.RiskScore != nil {
		f.Score, f.Scored = *b.Event.RiskScore, true
	}
	return f
}

// ScoreFields adds a score's verdict and reasons.
func (f *Fields) ScoreFields(r *score.Result) {
	if r != nil {
		f.Verdict, f.Reasons = r.Verdict, r.Reasons
	}
}

// Capture is edgesensor.capture: the packets of the event's flow that the
// sensor kept, written to a pcapng file on the box when the event alerted
// ([capture_on_alert]). The file never leaves the box.
type Capture struct {
	Path string `json:"path"` // the pcapng file of the flow's packets, on the sensor's disk ([capture_on_alert])
}

// CaptureFunc decides from an event's fields whether its flow's packets
// are written, and says where; nil when they are not.
type CaptureFunc func(f *Fields) *Capture
