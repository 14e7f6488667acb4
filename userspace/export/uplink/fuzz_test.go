package uplink

import (
	"bytes"
	"testing"
)

// FuzzSpoolDecode: a spool value read from disk (a crash mid-write, a
// bit flip) never panics; whatever decodes encodes back to the same.
func FuzzSpoolDecode(f *testing.F) {
	r := rec(1)
	r.Sample, r.SampleLimit, r.SHA256 = "/var/lib/x", 1<<20, "ab"
	f.Add(r.encode())
	f.Add([]byte{spoolVersion})
	f.Add([]byte{spoolVersion, 0x80, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s spooled
		if s.decode(b) != nil {
			return
		}
		var again spooled
		if err := again.decode(s.encode()); err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if again.ID != s.ID || again.Time != s.Time || !bytes.Equal(again.Body, s.Body) || again.Sample != s.Sample {
			t.Fatalf("round trip changed the record: %+v vs %+v", s, again)
		}
	})
}
