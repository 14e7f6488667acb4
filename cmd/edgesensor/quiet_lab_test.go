package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/lab"
)

// TestPrivilegedQuietInterface runs the sensor on the lab router with a
// short metrics.quiet_after: while handshakes cross it /healthz is ok;
// once none has for that long, /healthz answers 503 naming the interface,
// edgesensor_interface_quiet says which, and a real Prometheus server
// scraping the sensor with the shipped alert rules fires
// EdgesensorInterfaceQuiet; a handshake brings it all back.
func TestPrivilegedQuietInterface(t *testing.T) {
	l := lab.Up(t, "esq", 85)
	bin := buildBinary(t)
	dir := t.TempDir()
	confPath := filepath.Join(dir, "sensor.toml")
	writeConfig(t, confPath, opsConfig{spool: filepath.Join(dir, "spool"), metrics: opsMetricsAddr, quiet: "10s"})
	sensor := startOnRouter(t, l, bin, confPath, 20*time.Second)
	ifs := l.RouterIfaces()
	prom := startPrometheus(t, l, dir)

	healthz := func() (string, string) {
		out := l.MustExec(l.Router(), "curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", "http://"+opsMetricsAddr+"/healthz")
		out = strings.TrimSpace(out)
		i := strings.LastIndexByte(out, '\n')
		if i < 0 {
			return "", out
		}
		return strings.TrimSpace(out[:i]), out[i+1:]
	}
	quiet := func(iface, what string) float64 {
		v, found := metricValue(scrape(t, l), "edgesensor_interface_quiet", map[string]string{"iface": iface, "what": what})
		if !found {
			t.Fatalf("edgesensor_interface_quiet{iface=%s,what=%s} is not exported", iface, what)
		}
		return v
	}
	waitFor := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(d); !ok(); time.Sleep(500 * time.Millisecond) {
			if time.Now().After(end) {
				body, code := healthz()
				t.Fatalf("%s: not within %v (/healthz %s %q)\n%s", what, d, code, body, sensor.stderr())
			}
		}
	}

	httpsGet(t, l)
	if body, code := healthz(); code != "200" || body != "ok" {
		t.Fatalf("/healthz with traffic: %s %q", code, body)
	}
	// No handshake for 10 s (a reading every 2.5 s).
	waitFor("quiet reported", 20*time.Second, func() bool {
		body, code := healthz()
		// An interface may go without packets too (no chatter in the lab).
		return code == "503" && (strings.Contains(body, "no TLS or QUIC handshakes for") || strings.Contains(body, "no packets for"))
	})
	if v := quiet(ifs[0], "handshakes"); v != 1 {
		t.Errorf("edgesensor_interface_quiet{iface=%s,what=handshakes} = %v, want 1", ifs[0], v)
	}
	sensor.waitLog(t, "no handshakes on this interface", 5*time.Second)
	waitFor("Prometheus fires EdgesensorInterfaceQuiet", 30*time.Second, func() bool {
		return prom.firing(t, "EdgesensorInterfaceQuiet")
	})

	// Both directions of a handshake cross the router: each interface
	// sees one side, and both come back.
	httpsGet(t, l)
	waitFor("back to ok", 10*time.Second, func() bool { body, code := healthz(); return code == "200" && body == "ok" })
	waitFor("Prometheus resolves EdgesensorInterfaceQuiet", 30*time.Second, func() bool {
		return !prom.firing(t, "EdgesensorInterfaceQuiet")
	})
	for _, ifc := range ifs {
		if v := quiet(ifc, "handshakes"); v != 0 {
			t.Errorf("edgesensor_interface_quiet{iface=%s,what=handshakes} = %v after a handshake, want 0", ifc, v)
		}
	}
}

// promServer is a Prometheus server in the lab router's namespace.
type promServer struct {
	l    *lab.Lab
	addr string
}

// startPrometheus runs Debian's Prometheus in the router's namespace,
// scraping the sensor's metrics every second under the job name the
// shipped rules expect, with those rules loaded.
func startPrometheus(t *testing.T, l *lab.Lab, dir string) *promServer {
	t.Helper()
	rules, err := filepath.Abs("../../deploy/prometheus/edgesensor-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: edgesensor
    static_configs: [{targets: [%q]}]
`, rules, opsMetricsAddr)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &promServer{l: l, addr: "127.0.0.1:19090"}
	proc := startOps(t, l, l.Router(), "prometheus", "--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+p.addr)
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		if _, err := l.Exec(l.Router(), "curl", "-sf", "--max-time", "2", "http://"+p.addr+"/-/ready"); err == nil {
			return p
		}
		if proc.exited() || time.Now().After(end) {
			t.Fatalf("prometheus did not become ready:\n%s", proc.stderr())
		}
	}
}

// firing says whether the named alert is firing.
func (p *promServer) firing(t *testing.T, name string) bool {
	t.Helper()
	out, err := p.l.Exec(p.l.Router(), "curl", "-sf", "--max-time", "5", "http://"+p.addr+"/api/v1/alerts")
	if err != nil {
		return false
	}
	var r struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("prometheus alerts: %v\n%s", err, out)
	}
	for _, a := range r.Data.Alerts {
		if a.Labels["alertname"] == name && a.State == "firing" {
			return true
		}
	}
	return false
}
