package status

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/daemon"
)

// status asks the daemon on its metrics listener (an unspecified host
// means this box) and shows each sink's state.
func TestStatusShowsSinks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != daemon.SinksPath {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode([]daemon.SinkState{
			{Name: "soc", Type: "syslog", Connected: true, Sent: 10},
			{Name: "bus", Type: "kafka", Dropped: 2, Inflight: 5, Spooled: 7, Errors: 3, LastError: "dial tcp: refused"},
		})
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	sinks, err := DaemonSinks("0.0.0.0:" + port)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	WriteSinks(&out, sinks)
	for _, want := range []string{"soc   syslog  connected  10", "bus   kafka   down       0     2        5       7        3       dial tcp: refused"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in\n%s", want, out.String())
		}
	}
	srv.Close()
	if _, err := DaemonSinks("127.0.0.1:" + port); err == nil || !strings.Contains(err.Error(), "is edgesensor run running?") {
		t.Errorf("no daemon: %v", err)
	}
}
