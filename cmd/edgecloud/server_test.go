package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
	"github.com/edgesensor/edgesensor/userspace/export/uplink"
)

func TestServerAPIErrorsAndLimits(t *testing.T) {
	e := newEnv(t)
	e.start()
	hc := e.rawClient(t, cloudapi.ClientCertFile, cloudapi.ClientKeyFile, 0)
	hc.Timeout = 30 * time.Second // inflating the 32 MiB gzip bomb is slow under -race
	do := func(method, path, enc string, body []byte) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, e.url()+path, bytes.NewReader(body))
		if enc != "" {
			req.Header.Set("Content-Encoding", enc)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	bomb := gz(bytes.Repeat([]byte(" "), maxEventsBody+10))
	content := []byte("hello sample")
	for _, tc := range []struct {
		method, path, enc string
		body              []byte
		code              int
		msg               string
	}{
		{"POST", "/v1/events", "", []byte(`{"records":[`), 400, "bad JSON"},
		{"POST", "/v1/events", "br", []byte(`{}`), 415, "Content-Encoding"},
		{"POST", "/v1/events", "gzip", []byte("not gzip"), 400, "gzip"},
		{"POST", "/v1/events", "gzip", bomb, 413, "larger than"},
		{"POST", "/v1/events", "", []byte(`{"records":[{"id":"a","category":"tls","record":[1]}]}`), 400, "JSON object"},
		{"POST", "/v1/lookup", "", []byte(`{"sha256":["xyz"]}`), 400, "hex"},
		{"PUT", "/v1/samples/" + sha([]byte("other")), "", content, 400, "content SHA-256"},
		{"PUT", "/v1/samples/" + sha(content), "gzip", gz(content), 200, `"stored":true`},
		{"PUT", "/v1/samples/" + sha(content), "", content, 200, `"stored":false`},
		{"POST", "/v1/lookup", "", []byte(`{"sha256":["` + sha(content) + `","` + sha([]byte("nope")) + `"]}`), 200,
			`{"results":[{"sha256":"` + sha(content) + `","known":true,"verdict":"clean","score":0},{"sha256":"` + sha([]byte("nope")) + `","known":false,"verdict":"unknown","score":0}]}`},
		{"GET", "/v1/verdicts?after=0", "", nil, 200, `{"verdicts":[{"seq":1,"sha256":"` + sha(content) + `","score":0,"verdict":"clean"}],"next":1}`},
		{"GET", "/v1/verdicts?after=1", "", nil, 200, `{"verdicts":[],"next":1}`},
		{"GET", "/v1/verdicts?after=-1", "", nil, 400, "after"},
		{"GET", "/v1/events", "", nil, 405, ""},
		{"GET", "/healthz", "", nil, 200, "ok"},
	} {
		code, body := do(tc.method, tc.path, tc.enc, tc.body)
		if code != tc.code || !strings.Contains(body, tc.msg) {
			t.Errorf("%s %s: %d %q, want %d containing %q", tc.method, tc.path, code, body, tc.code, tc.msg)
		}
	}
	code, body := do("GET", "/v1/stats", "", nil)
	var st cloudapi.Stats
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		t.Fatalf("stats: %d %s", code, body)
	}
	if st.TooLarge != 1 || st.BadRequests != 7 || st.Samples != 1 || st.Verdicts != 1 || st.Records != 0 || st.Connections == 0 {
		t.Errorf("stats: %+v", st)
	}
}

func TestCLI(t *testing.T) {
	dir := t.TempDir()
	if err := run([]string{"gen-certs", dir}, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key", "other-ca.pem", "other-client.pem", "other-client.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	err := run([]string{"serve", "--listen", "127.0.0.1:0", "--data", t.TempDir()}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--cert") {
		t.Errorf("serve without certificates: %v", err)
	}
	if err := run([]string{"bogus"}, io.Discard); err == nil {
		t.Error("unknown command accepted")
	}
}

// --request-log holds every request as it arrived: method, path, headers
// and the decoded body of batches and lookups.
func TestRequestLog(t *testing.T) {
	e := newEnv(t)
	e.cfg.RequestLog = filepath.Join(e.data, "requests.ndjson")
	e.start()
	c := newClient(t, e.options(t.TempDir()))
	content := []byte("a file\n")
	c.Enqueue(record("r", 1))
	c.Enqueue(uplink.Record{ID: "f-1", Category: "executables", Dataset: "edgesensor.file", Body: body(2), SHA256: sha(content)})
	stop := runClient(t, c)
	waitFor(t, "two records", 10*time.Second, func() bool { return len(readLog(t, e.recLog)) == 2 })
	stop()
	e.stop()
	data, err := os.ReadFile(e.cfg.RequestLog)
	if err != nil {
		t.Fatal(err)
	}
	var events, lookups int
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var l requestLine
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("request log line %q: %v", line, err)
		}
		if ua := l.Header["User-Agent"]; len(ua) != 1 || ua[0] != uplink.UserAgent {
			t.Errorf("%s %s: User-Agent %v", l.Method, l.Path, ua)
		}
		switch l.Path {
		case cloudapi.PathEvents:
			var b cloudapi.EventBatch
			if err := json.Unmarshal([]byte(l.Body), &b); err != nil || len(b.Records) == 0 || l.Header["Idempotency-Key"][0] != b.BatchID {
				t.Errorf("events body %q: %v", l.Body, err)
			}
			events++
		case cloudapi.PathLookup:
			if l.Body != `{"sha256":["`+sha(content)+`"]}` {
				t.Errorf("lookup body %q", l.Body)
			}
			lookups++
		}
	}
	if events == 0 || lookups != 1 {
		t.Errorf("%d event requests, %d lookups", events, lookups)
	}
}
