package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/lab"
)

// TestPrivilegedQuietInterface runs the sensor on the lab router with a
// short metrics.quiet_after: while handshakes cross it /healthz is ok;
// once none has for that long, /healthz answers 503 naming the interface
// and edgesensor_interface_quiet says which; a handshake brings it back.
func TestPrivilegedQuietInterface(t *testing.T) {
	l := lab.Up(t, "esq", 85)
	bin := buildBinary(t)
	dir := t.TempDir()
	confPath := filepath.Join(dir, "sensor.toml")
	writeConfig(t, confPath, opsConfig{spool: filepath.Join(dir, "spool"), metrics: opsMetricsAddr, quiet: "10s"})
	ifs := l.RouterIfaces()
	pin := l.PinPath()
	t.Cleanup(func() { l.Exec(l.Router(), bin, "detach", "--pin-path", pin) })
	sensor := startOps(t, l, l.Router(), bin, "run", "--iface", ifs[0], "--iface", ifs[1], "--pin-path", pin, "-c", confPath)
	sensor.waitLog(t, `"running`, 20*time.Second)

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
		v, _ := metricValue(scrape(t, l), "edgesensor_interface_quiet", map[string]string{"iface": iface, "what": what})
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

	// Both directions of a handshake cross the router: each interface
	// sees one side, and both come back.
	httpsGet(t, l)
	waitFor("back to ok", 10*time.Second, func() bool { body, code := healthz(); return code == "200" && body == "ok" })
	for _, ifc := range ifs {
		if v := quiet(ifc, "handshakes"); v != 0 {
			t.Errorf("edgesensor_interface_quiet{iface=%s,what=handshakes} = %v after a handshake, want 0", ifc, v)
		}
	}
}
