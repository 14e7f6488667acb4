package ecs

import "time"

// VerdictDataset is event.dataset of the cloud's follow-ups.
const VerdictDataset = "edgesensor.verdict"

// VerdictEvent is one edgesensor.verdict event: the cloud's verdict on a
// file the sensor reported, for the SIEM to correlate by SHA-256 with the
// file's own event (which carried the local score).
type VerdictEvent struct {
	Timestamp time.Time `json:"@timestamp"` // when the verdict arrived
	Event     struct {
		Kind      string `json:"kind"`       // alert at or over the score threshold, else event
		Dataset   string `json:"dataset"`    // edgesensor.verdict
		RiskScore int    `json:"risk_score"` // the higher of the cloud's and the local score
	} `json:"event"`
	Observer struct {
		Product string `json:"product"` // "edgesensor"
		Type    string `json:"type"`    // "sensor"
	} `json:"observer"`
	File struct {
		Hash struct {
			SHA256 string `json:"sha256"` // the file the verdict is about
		} `json:"hash"`
	} `json:"file"`
	// Network is only there to carry the community id of the file's
	// flow; nil when the sensor does not remember it.
	Network    *VerdictNetwork `json:"network,omitempty"`
	Edgesensor struct {
		Verdict Verdict `json:"verdict"`
	} `json:"edgesensor"`
}

// VerdictNetwork is network.* of a verdict event.
type VerdictNetwork struct {
	// CommunityID is network.community_id of the file event that reported
	// the hash (the latest such event the sensor remembers, when several
	// flows carried the file), to find the flow in other tools' logs.
	CommunityID string `json:"community_id,omitempty"`
}

// Verdict is edgesensor.verdict.*.
type Verdict struct {
	Source       string `json:"source"`        // "cloud"
	Via          string `json:"via"`           // how the cloud decided (its source)
	CloudScore   int    `json:"cloud_score"`   // the cloud's score (0-10)
	CloudVerdict string `json:"cloud_verdict"` // the cloud's verdict, in the score bands' words
	// LocalScore is the file event's score, null when the sensor no
	// longer remembers it.
	LocalScore *int `json:"local_score"`
}

// NewVerdictEvent fills the constant fields.
func NewVerdictEvent(t time.Time, kind string, score int, sha256 string, v Verdict) *VerdictEvent {
	e := &VerdictEvent{Timestamp: t}
	e.Event.Kind, e.Event.Dataset, e.Event.RiskScore = kind, VerdictDataset, score
	e.Observer.Product, e.Observer.Type = "edgesensor", "sensor"
	e.File.Hash.SHA256 = sha256
	e.Edgesensor.Verdict = v
	return e
}

// SetCommunityID sets network.community_id (nothing when id is "").
func (e *VerdictEvent) SetCommunityID(id string) {
	if id != "" {
		e.Network = &VerdictNetwork{CommunityID: id}
	}
}

// Fields implements Document.
func (e *VerdictEvent) Fields() Fields {
	f := Fields{
		Time: e.Timestamp, Dataset: e.Event.Dataset, Kind: e.Event.Kind,
		Score: e.Event.RiskScore, Scored: true, SHA256: e.File.Hash.SHA256,
	}
	if e.Network != nil {
		f.CommunityID = e.Network.CommunityID
	}
	return f
}
