package kafka

import (
	"bytes"
	"testing"
)

// The spool's records are read back after a crash: a torn or foreign
// value must be refused, never panic, and what decodes must encode back
// to the same bytes.
func FuzzSpoolDecode(f *testing.F) {
	f.Add((&Record{Dataset: "edgesensor.tls", Key: "1:abc=", Value: []byte(`{"a":1}`)}).encode())
	f.Add((&Record{}).encode())
	f.Add([]byte{spoolVersion, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if r.decode(b) != nil {
			return
		}
		if got := r.encode(); !bytes.Equal(got, b) {
			// Varints have one shortest form; a longer one decodes too.
			var again Record
			if err := again.decode(got); err != nil || again.Dataset != r.Dataset || again.Key != r.Key || !bytes.Equal(again.Value, r.Value) {
				t.Fatalf("round trip: %q → %+v → %q", b, r, got)
			}
		}
	})
}
