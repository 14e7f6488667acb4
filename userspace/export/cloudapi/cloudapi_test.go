package cloudapi

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func roundTrip[T any](t *testing.T, in T) {
	t.Helper()
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip changed %T:\n in %+v\nout %+v\njson %s", in, in, out, data)
	}
}

func TestRoundTrip(t *testing.T) {
	roundTrip(t, EventBatch{SensorID: "s1", KeyID: "k2", BatchID: "b", Records: []EventRecord{
		{ID: "r1", Category: "tls", Dataset: "edgesensor.tls", Record: json.RawMessage(`{"a":[1,2,{"b":"c"}]}`)},
		{ID: "r2", Category: "executables", Dataset: "edgesensor.file", SHA256: "ab", Record: json.RawMessage(`{}`)},
	}})
	roundTrip(t, EventsResponse{Accepted: 3, Duplicates: 4})
	roundTrip(t, LookupRequest{SHA256: []string{"aa", "bb"}})
	roundTrip(t, LookupResponse{Results: []LookupResult{{SHA256: "aa", Known: true, Verdict: VerdictMalicious, Score: 10}}})
	roundTrip(t, SampleResponse{SHA256: "aa", Size: 68, Stored: true, Verdict: VerdictClean})
	roundTrip(t, VerdictsResponse{Verdicts: []Verdict{{Seq: 7, SHA256: "aa", Score: 10, Verdict: VerdictMalicious}}, Next: 7})
	roundTrip(t, ErrorResponse{Error: "bad"})
	roundTrip(t, Stats{Connections: 1, Records: 2, HandshakeErrors: 3, TooLarge: 4})
}

// The record body must reach the cloud byte for byte: it is what the privacy
// layer decided to share.
func TestRecordVerbatim(t *testing.T) {
	in := `{"id":"x","category":"tls","dataset":"d","record":{"z":1,  "a":"\u00e9"}}`
	var r EventRecord
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	if got, want := string(r.Record), `{"z":1,  "a":"\u00e9"}`; got != want {
		t.Fatalf("record = %s, want %s", got, want)
	}
	if r.SHA256 != "" {
		t.Fatal("sha256 should be empty")
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["sha256"]; ok {
		t.Fatalf("empty sha256 should be omitted: %s", out)
	}
}

func TestVerdictFor(t *testing.T) {
	for score, want := range map[int]string{0: VerdictClean, 4: VerdictClean, 5: VerdictMalicious, 10: VerdictMalicious} {
		if got := VerdictFor(score); got != want {
			t.Errorf("VerdictFor(%d) = %s, want %s", score, got, want)
		}
	}
}

func TestGenerateCerts(t *testing.T) {
	dir := t.TempDir()
	if err := GenerateCerts(dir); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{CAKeyFile, ServerKeyFile, ClientKeyFile, OtherCAKeyFile, OtherClientKey, OtherServerKey} {
		fi, err := os.Stat(filepath.Join(dir, k))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", k, fi.Mode().Perm())
		}
	}
	pool := func(name string) *x509.CertPool {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		p := x509.NewCertPool()
		if !p.AppendCertsFromPEM(data) {
			t.Fatalf("%s: no certificate", name)
		}
		return p
	}
	leaf := func(cert, key string) *x509.Certificate {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, cert), filepath.Join(dir, key))
		if err != nil {
			t.Fatal(err)
		}
		return pair.Leaf
	}
	ca, other := pool(CAFile), pool(OtherCAFile)
	srv := leaf(ServerCertFile, ServerKeyFile)
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: ca, DNSName: host}); err != nil {
			t.Errorf("server cert for %s: %v", host, err)
		}
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: other}); err == nil {
		t.Error("server cert verified against the other CA")
	}
	cli := leaf(ClientCertFile, ClientKeyFile)
	if _, err := cli.Verify(x509.VerifyOptions{Roots: ca, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client cert: %v", err)
	}
	ocli := leaf(OtherClientFile, OtherClientKey)
	if _, err := ocli.Verify(x509.VerifyOptions{Roots: ca, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("other client cert verified against the main CA")
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "tab\tnl\ncr\r\x00\x1f", "é€😀", "bad\xffutf8", "\u2028\u2029", "<&>"} {
		out := AppendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q → %s: %v", s, out, err)
		}
		want := s
		if s == "bad\xffutf8" {
			want = "bad\ufffdutf8"
		}
		if back != want {
			t.Errorf("%q → %s → %q", s, out, back)
		}
	}
}

// AppendEventBatch must produce what json.Marshal does, so the cloud cannot
// tell the fast path from the reference encoder.
func TestAppendEventBatchMatchesMarshal(t *testing.T) {
	b := EventBatch{SensorID: "s\"1", KeyID: "k", BatchID: "b", Records: []EventRecord{
		{ID: "r1", Category: "tls", Dataset: "edgesensor.tls", Record: json.RawMessage(`{"a":[1,2,{"b":"c"}]}`)},
		{ID: "r\n2", Category: "executables", Dataset: "edgesensor.file", SHA256: "ab", Record: json.RawMessage(`{}`)},
	}}
	want, err := json.Marshal(&b)
	if err != nil {
		t.Fatal(err)
	}
	if got := AppendEventBatch(nil, &b); string(got) != string(want) {
		t.Fatalf("AppendEventBatch:\n got %s\nwant %s", got, want)
	}
	empty := EventBatch{}
	want, _ = json.Marshal(&EventBatch{Records: []EventRecord{}})
	if got := AppendEventBatch(nil, &empty); string(got) != string(want) {
		t.Fatalf("empty batch: got %s want %s", got, want)
	}
}
