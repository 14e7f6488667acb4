package siem

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/ecs"
)

const fileLine = `{"@timestamp":"2026-11-25T10:00:00.123Z","event":{"kind":"alert","dataset":"edgesensor.file","risk_score":8},"observer":{"ingress":{"interface":{"name":"veth0"}},"product":"edgesensor","type":"sensor"},"source":{"ip":"10.0.0.2","port":5555},"destination":{"ip":"10.0.1.2","port":80},"network":{"transport":"tcp","protocol":"http"},"file":{"name":"x.exe","size":123,"hash":{"sha256":"aa11","sha1":"bb22","md5":"cc33"}},"url":{"original":"http://h/x.exe"},"user_agent":{"original":"curl/8.0"},"http":{"request":{"method":"GET"}},"edgesensor":{"score":{"verdict":"malicious","reasons":[{"rule":"eicar","text":"EICAR test file","weight":10},{"rule":"intel.hash","text":"known bad","weight":9}]},"file":{"category":"executable","direction":"download"}}}` + "\n"

const tlsLine = `{"@timestamp":"2026-11-25T10:00:01Z","event":{"kind":"event","dataset":"edgesensor.tls"},"source":{"ip":"10.0.0.2","port":40000},"destination":{"ip":"10.0.1.3","port":443},"network":{"transport":"tcp","protocol":"tls"},"tls":{"client":{"server_name":"a.example","ja3":"j3","ja4":"j4"},"version":"1.3"}}` + "\n"

var testHeader = syslogHeader{facility: 16, hostname: "sensor1", appName: "edgesensor", procID: "4242"}

func format5424(line string) []byte {
	return appendRFC5424(nil, &testHeader, fieldsOf(line), []byte(line))
}

func formatCEF(line string) string {
	return string(appendCEF(nil, fieldsOf(line), "sensor1"))
}

func TestRFC5424File(t *testing.T) {
	out := format5424(fileLine)
	m, err := parse5424(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if m.pri != 16*8+3 {
		t.Errorf("PRI = %d, want %d (local0.err for score 8)", m.pri, 16*8+3)
	}
	want := map[string]string{"timestamp": "2026-11-25T10:00:00.123000Z", "hostname": "sensor1", "app": "edgesensor", "procid": "4242", "msgid": "edgesensor.file"}
	got := map[string]string{"timestamp": m.timestamp, "hostname": m.hostname, "app": m.app, "procid": m.procID, "msgid": m.msgID}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(m.sd) != 1 || m.sd[0].id != SDID {
		t.Fatalf("SD = %+v, want one %s element", m.sd, SDID)
	}
	wantParams := []sdParam{{"dataset", "edgesensor.file"}, {"kind", "alert"}, {"score", "8"}, {"src", "10.0.0.2"}, {"spt", "5555"}, {"dst", "10.0.1.2"}, {"dpt", "80"}, {"sha256", "aa11"}}
	if !equalParams(m.sd[0].params, wantParams) {
		t.Errorf("params = %v, want %v", m.sd[0].params, wantParams)
	}
	if m.bom {
		t.Error("MSG has a BOM; we send MSG-ANY")
	}
	if string(m.msg) != strings.TrimSuffix(fileLine, "\n") {
		t.Errorf("MSG = %q, want the line without its newline", m.msg)
	}
}

func equalParams(a, b []sdParam) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSeverityBands(t *testing.T) {
	for _, tc := range []struct {
		score   string // JSON value, "" for none
		syslog  int
		cefSev  string
		cn1Want string
	}{
		{"", 6, "0", ""},
		{"-1", 6, "0", "-1"},
		{"0", 6, "3", "0"},
		{"3", 6, "3", "3"},
		{"4", 4, "6", "4"},
		{"6", 4, "6", "6"},
		{"7", 3, "8", "7"},
		{"8", 3, "8", "8"},
		{"9", 2, "10", "9"},
		{"10", 2, "10", "10"},
	} {
		f := ecs.Fields{Dataset: "edgesensor.file"}
		if tc.score != "" {
			f.Score, _ = strconv.Atoi(tc.score)
			f.Scored = true
		}
		m, err := parse5424(appendRFC5424(nil, &testHeader, &f, []byte("{}")))
		if err != nil {
			t.Fatal(err)
		}
		if m.pri != 16*8+tc.syslog {
			t.Errorf("score %q: syslog severity %d, want %d", tc.score, m.pri-16*8, tc.syslog)
		}
		r, err := parseCEF(string(appendCEF(nil, &f, "sensor1")))
		if err != nil {
			t.Fatal(err)
		}
		if r.header[6] != tc.cefSev {
			t.Errorf("score %q: CEF severity %s, want %s", tc.score, r.header[6], tc.cefSev)
		}
		if cn1, _ := r.get("cn1"); cn1 != tc.cn1Want {
			t.Errorf("score %q: cn1 = %q, want %q", tc.score, cn1, tc.cn1Want)
		}
	}
}

func TestRFC5424Timestamp(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"2026-11-25T11:00:00.123456789+01:00", "2026-11-25T10:00:00.123456Z"},
		{"2026-11-25T10:00:00Z", "2026-11-25T10:00:00.000000Z"},
		{"", "-"},
	} {
		f := ecs.Fields{Dataset: "edgesensor.tls"}
		f.Time, _ = time.Parse(time.RFC3339Nano, tc.in)
		m, err := parse5424(appendRFC5424(nil, &testHeader, &f, []byte("{}")))
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if m.timestamp != tc.want {
			t.Errorf("@timestamp %q: TIMESTAMP %q, want %q", tc.in, m.timestamp, tc.want)
		}
	}
}

// jsonLine makes an event line with nasty values correctly JSON-escaped.
func jsonLine(t testing.TB, ev map[string]any) string {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const nasty = "a\"b\\c]d|e=f\r\ng ünï 日本 \\n ]]\"\"=="

func TestRFC5424Escaping(t *testing.T) {
	longDataset := "edgesensor.a dataset name well over thirty-two characters"
	line := jsonLine(t, map[string]any{
		"event":  map[string]any{"dataset": longDataset},
		"source": map[string]any{"ip": nasty},
		"tls":    map[string]any{"client": map[string]any{"server_name": nasty}},
	})
	f := ecs.Fields{Dataset: longDataset, Source: ecs.Endpoint{IP: nasty}, ServerName: nasty}
	out := appendRFC5424(nil, &testHeader, &f, []byte(line))
	m, err := parse5424(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if v, _ := m.param("sni"); v != nasty {
		t.Errorf("sni round trip: %q, want %q", v, nasty)
	}
	if v, _ := m.param("src"); v != nasty {
		t.Errorf("src round trip: %q, want %q", v, nasty)
	}
	if v, _ := m.param("dataset"); v != longDataset {
		t.Errorf("dataset param %q, want it whole", v)
	}
	if want := strings.ReplaceAll(longDataset[:32], " ", "_"); m.msgID != want {
		t.Errorf("MSGID %q, want %q", m.msgID, want)
	}
	if string(m.msg) != line {
		t.Errorf("MSG %q, want %q", m.msg, line)
	}
}

func TestRFC5424NotJSON(t *testing.T) {
	out := format5424("not json at all\n")
	m, err := parse5424(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if m.timestamp != "-" || m.msgID != "-" || m.sd != nil || string(m.msg) != "not json at all" {
		t.Errorf("got %+v from %q", m, out)
	}
}

func TestSyslogCEF(t *testing.T) {
	out := appendSyslogCEF(nil, &testHeader, fieldsOf(fileLine))
	m, err := parse5424(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if m.sd != nil || m.msgID != "edgesensor.file" {
		t.Errorf("SD %v MSGID %q; want no SD and the dataset", m.sd, m.msgID)
	}
	if _, err := parseCEF(string(m.msg)); err != nil {
		t.Errorf("MSG is not CEF: %v: %s", err, m.msg)
	}
}

func TestCEFFile(t *testing.T) {
	out := formatCEF(fileLine)
	r, err := parseCEF(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	wantHeader := [7]string{"0", "edgesensor", "edgesensor", Version, "edgesensor.file", "File download x.exe (executable)", "8"}
	if r.header != wantHeader {
		t.Errorf("header %q, want %q", r.header, wantHeader)
	}
	ts, _ := time.Parse(time.RFC3339, "2026-11-25T10:00:00.123Z")
	want := []sdParam{
		{"rt", strconv.FormatInt(ts.UnixMilli(), 10)},
		{"cat", "alert"},
		{"dvchost", "sensor1"},
		{"deviceInboundInterface", "veth0"},
		{"src", "10.0.0.2"}, {"spt", "5555"}, {"dst", "10.0.1.2"}, {"dpt", "80"},
		{"proto", "TCP"}, {"app", "http"},
		{"requestMethod", "GET"}, {"request", "http://h/x.exe"}, {"requestClientApplication", "curl/8.0"},
		{"fname", "x.exe"}, {"fsize", "123"}, {"fileType", "executable"}, {"fileHash", "aa11"},
		{"cs5", "malicious"}, {"cs5Label", "verdict"},
		{"cn1", "8"}, {"cn1Label", "riskScore"},
		{"msg", "eicar(10): EICAR test file; intel.hash(9): known bad"},
	}
	if !equalParams(r.ext, want) {
		t.Errorf("extension\n got %v\nwant %v", r.ext, want)
	}
}

func TestCEFTLS(t *testing.T) {
	r, err := parseCEF(formatCEF(tlsLine))
	if err != nil {
		t.Fatal(err)
	}
	if r.header[4] != "edgesensor.tls" || r.header[5] != "TLS handshake a.example" || r.header[6] != "0" {
		t.Errorf("header %q", r.header)
	}
	for k, v := range map[string]string{"cs1": "a.example", "cs1Label": "sni", "cs2": "j3", "cs2Label": "ja3", "cs3": "j4", "cs3Label": "ja4", "cs4": "1.3", "app": "tls"} {
		if got, _ := r.get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if _, ok := r.get("cn1"); ok {
		t.Error("cn1 present without a score")
	}
}

func TestCEFEscaping(t *testing.T) {
	defer func(v string) { Version = v }(Version)
	Version = "1.0|x\\y\nz"
	line := jsonLine(t, map[string]any{
		"event": map[string]any{"dataset": "edgesensor.file", "risk_score": 9},
		"file":  map[string]any{"name": nasty},
		"url":   map[string]any{"original": nasty},
		"email": map[string]any{"from": map[string]any{"address": []string{"a=b@c", "d|e@f"}}, "subject": nasty},
		"edgesensor": map[string]any{
			"file":  map[string]any{"category": "exe|cut"},
			"score": map[string]any{"reasons": []map[string]any{{"rule": "x=y", "weight": 9, "text": nasty}}},
		},
	})
	f := fieldsOf(line)
	f.ServerName = nasty // a file event has none: set it to test its escaping
	out := string(appendCEF(nil, f, "sensor1"))
	r, err := parseCEF(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// Header fields cannot carry line breaks: they become spaces.
	if want := "1.0|x\\y z"; r.header[3] != want {
		t.Errorf("version %q, want %q", r.header[3], want)
	}
	if want := "File transfer " + strings.NewReplacer("\r", " ", "\n", " ").Replace(nasty) + " (exe|cut)"; r.header[5] != want {
		t.Errorf("name %q, want %q", r.header[5], want)
	}
	for k, v := range map[string]string{"fname": nasty, "request": nasty, "cs1": nasty, "cs6": nasty, "suser": "a=b@c,d|e@f", "msg": "x=y(9): " + nasty} {
		if got, _ := r.get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// '|' is not escaped in the extension, '=' is.
	if !strings.Contains(out, "suser=a\\=b@c,d|e@f") {
		t.Errorf("suser not escaped as expected in %s", out)
	}
}

func TestCEFInvalidUTF8(t *testing.T) {
	// Whatever the decoder makes of invalid bytes, the output must be
	// UTF-8.
	line := "{\"event\":{\"dataset\":\"edgesensor.file\"},\"file\":{\"name\":\"a\xffb\"}}"
	out := formatCEF(line)
	r, err := parseCEF(out)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := r.get("fname"); v != "a\uFFFDb" {
		t.Errorf("fname %q", v)
	}
	if !bytes.Equal([]byte(out), bytes.ToValidUTF8([]byte(out), nil)) {
		t.Error("output is not valid UTF-8")
	}
}
