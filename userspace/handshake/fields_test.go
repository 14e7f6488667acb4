package handshake

import "testing"

// The loss metrics read what an event missed from its fields.
func TestFieldsCarryLoss(t *testing.T) {
	var e Event
	e.Event.Dataset = "edgesensor.tls"
	if f := e.Fields(); f.NoClientHello || f.Gaps || f.LostEvents {
		t.Errorf("a whole handshake: %+v", f)
	}
	e.Edgesensor.TLS.Missing = []string{MissingClientHello}
	e.Edgesensor.TLS.Gaps, e.Edgesensor.TLS.LostEvents = true, true
	if f := e.Fields(); !f.NoClientHello || !f.Gaps || !f.LostEvents || f.UnknownSide {
		t.Errorf("a handshake without its ClientHello, with gaps and lost events: %+v", f)
	}
}
