package daemon

import (
	"encoding/json"
	"net/http"
)

// SinksPath is where the metrics listener answers with the sinks' state,
// for `edgesensor status`.
const SinksPath = "/sinks"

// SinkState is one sink as `edgesensor status` shows it.
type SinkState struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Connected bool   `json:"connected"`
	Queued    int    `json:"queued"`
	Sent      uint64 `json:"sent"`
	Dropped   uint64 `json:"dropped"`
	Errors    uint64 `json:"errors"`
	// A kafka sink's: records in its client and spool, the last error.
	Inflight   int    `json:"inflight,omitempty"`
	Spooled    int64  `json:"spooled,omitempty"`
	SpoolBytes int64  `json:"spool_bytes,omitempty"`
	LastError  string `json:"last_error,omitempty"`
}

func sinkStates(t *taps) []SinkState {
	out := []SinkState{}
	for _, st := range t.sinkStats() {
		s := SinkState{Name: st.Name, Type: st.Type, Connected: st.Connected, Queued: st.Queued,
			Sent: st.Sent, Dropped: st.Dropped, Errors: st.Errors}
		if k := st.Kafka; k != nil {
			s.Inflight, s.Spooled, s.SpoolBytes, s.LastError = k.Inflight, k.Spooled, k.SpoolBytes, k.LastError
		}
		out = append(out, s)
	}
	return out
}

func sinksHandler(t *taps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(sinkStates(t))
	})
}
