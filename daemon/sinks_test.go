package daemon

import (
	"encoding/json"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/siem"
)

// /sinks tells each sink's state: a kafka sink whose brokers are away
// is down, with its events in the spool and the error that keeps it so.
func TestSinksEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close() // nothing listens there: the brokers are away
	k := siem.SinkConfig{Name: "bus", Type: "kafka"}
	k.Brokers, k.SpoolDir = []string{addr}, t.TempDir()
	f, err := siem.New([]siem.SinkConfig{
		{Name: "log", Type: "file", Path: filepath.Join(t.TempDir(), "e.json")}, k,
	}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(time.Second)
	var tp taps
	tp.sinks.Store(f)
	for range 3 {
		tp.write(&ecs.Record{Fields: ecs.Fields{Dataset: "edgesensor.tls", CommunityID: "1:x"}, Line: []byte(`{"a":1}` + "\n")})
	}
	var got []SinkState
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		rec := httptest.NewRecorder()
		sinksHandler(&tp).ServeHTTP(rec, httptest.NewRequest("GET", SinksPath, nil))
		got = nil
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) == 2 && got[0].Sent == 3 && got[1].Spooled == 3 && got[1].LastError != "" {
			break
		}
	}
	if len(got) != 2 || got[0].Name != "log" || !got[0].Connected || got[0].Sent != 3 {
		t.Errorf("file sink: %+v", got)
	}
	if b := got[1]; b.Name != "bus" || b.Type != "kafka" || b.Connected || b.Sent != 0 || b.Spooled != 3 || b.Inflight != 3 || b.LastError == "" {
		t.Errorf("kafka sink: %+v", got[1])
	}
}
