package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edgesensor/edgesensor/internal/lab"
	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
)

// The operations lab: a real rsyslog (plain TCP, TLS, CEF over TLS, UDP)
// on the router namespace's loopback as the SIEM, the sensor's metrics
// scraped from inside that namespace, reloads by SIGHUP, kill -9 and
// adoption, and a run with only the systemd unit's capabilities.
const (
	opsPortTCP     = 10514
	opsPortTLS     = 10515
	opsPortUDP     = 10516
	opsPortCEF     = 10517
	opsMetricsAddr = "127.0.0.1:19750"
	opsNobody      = 65534
)

func TestPrivilegedOperations(t *testing.T) {
	l := lab.Up(t, "eso", 81)
	bin := buildBinary(t)
	dir := t.TempDir()
	certs := filepath.Join(dir, "pki")
	if err := cloudapi.GenerateCerts(certs); err != nil {
		t.Fatal(err)
	}
	rs := startRsyslog(t, l, certs)
	spool := filepath.Join(dir, "spool")
	confPath := filepath.Join(dir, "sensor.toml")
	base := opsConfig{spool: spool, metrics: opsMetricsAddr, sinks: allSinks, caFile: filepath.Join(certs, cloudapi.CAFile)}
	writeConfig(t, confPath, base)
	if out, err := exec.Command(bin, "check-config", "-c", confPath).CombinedOutput(); err != nil {
		t.Fatalf("check-config: %v\n%s", err, out)
	}
	sensor := startOnRouter(t, l, bin, confPath, 20*time.Second)
	sha := sampleSHA(t, l)

	t.Run("SIEM", func(t *testing.T) { testOpsSIEM(t, l.With(t), sensor, rs, sha) })
	t.Run("Metrics", func(t *testing.T) { testOpsMetrics(t, l.With(t)) })
	t.Run("Reload", func(t *testing.T) { testOpsReload(t, l.With(t), sensor, confPath, base, sha) })
	t.Run("KillRestart", func(t *testing.T) { testOpsKillRestart(t, l.With(t), bin, sensor, sha) })
	t.Run("LeastPrivilege", func(t *testing.T) { testOpsLeastPrivilege(t, l.With(t), bin, sha) })
	t.Run("Uplink", func(t *testing.T) { testOpsUplink(t, l.With(t), bin, certs) })
	// OPS_DEBUG=1 shows what the sensor logged and what rsyslog parsed.
	if os.Getenv("OPS_DEBUG") != "" {
		t.Logf("sensor stderr:\n%s", sensor.stderr())
		for _, f := range []string{rs.tcp, rs.tls, rs.cef, rs.udp} {
			b, _ := os.ReadFile(f)
			t.Logf("%s:\n%.1500s", f, b)
		}
	}
}

func testOpsSIEM(t *testing.T, l *lab.Lab, sensor *opsProc, rs *rsyslog, sha string) {
	download(t, l, "http://"+l.Env["SERVER4"]+"/sample.exe")
	httpsGet(t, l)
	// The primary stream first: the sha256 the sinks must carry.
	waitFileEvent(t, sensor.outPath, sha, 80, 0, 15*time.Second)

	fileLine := func(sl syslogLine) bool {
		if sl.app != "edgesensor" || sl.msgid != "edgesensor.file" || !strings.Contains(sl.sd, "[edgesensor@32473 ") ||
			!strings.Contains(sl.sd, `sha256="`+sha+`"`) {
			return false
		}
		var ev fileEvent
		return json.Unmarshal([]byte(sl.msg), &ev) == nil && ev.File.Hash != nil && ev.File.Hash.SHA256 == sha
	}
	for what, path := range map[string]string{"tcp": rs.tcp, "tls": rs.tls} {
		sl := waitSyslog(t, path, what+" rfc5424 file event", 15*time.Second, fileLine)
		if sl.msgid != "" && sl.pri/8 != 16 {
			t.Errorf("%s: PRI %d is not facility local0 (16)", what, sl.pri)
		}
		if sl.msgid != "" && !strings.Contains(sl.sd, `dataset="edgesensor.file"`) {
			t.Errorf("%s: structured data without the dataset: %s", what, sl.sd)
		}
	}
	cefLine := func(sl syslogLine) bool {
		return sl.app == "edgesensor" && sl.msgid == "edgesensor.file" && sl.sd == "-" &&
			strings.HasPrefix(sl.msg, "CEF:0|edgesensor|edgesensor|") && strings.Contains(sl.msg, "fileHash="+sha)
	}
	waitSyslog(t, rs.cef, "cef over tls file event", 15*time.Second, cefLine)
	waitSyslog(t, rs.tcp, "cef over tcp file event", 15*time.Second, cefLine)
	waitSyslog(t, rs.udp, "udp tls event", 15*time.Second, func(sl syslogLine) bool {
		return sl.app == "edgesensor" && sl.msgid == "edgesensor.tls" && strings.Contains(sl.sd, "[edgesensor@32473 ") &&
			strings.Contains(sl.sd, `dataset="edgesensor.tls"`)
	})
	// Whatever the sinks sent parsed as RFC 5424 (no line fell back to
	// the RFC 3164 parser, which leaves msgid and structured data empty).
	for what, path := range map[string]string{"tcp": rs.tcp, "tls": rs.tls, "cef": rs.cef, "udp": rs.udp} {
		for _, sl := range syslogLines(path) {
			if sl.app != "edgesensor" || !strings.HasPrefix(sl.msgid, "edgesensor.") {
				t.Errorf("%s: a line rsyslog did not parse as ours: %+v", what, sl)
			}
		}
	}
}

// scrape reads /metrics from inside the router namespace.
func scrape(t *testing.T, l *lab.Lab) map[string]*dto.MetricFamily {
	t.Helper()
	out := l.MustExec(l.Router(), "curl", "-sS", "--max-time", "10", "http://"+opsMetricsAddr+"/metrics")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(out))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%.3000s", err, out)
	}
	return fams
}

// metricValue is the value of the sample of family name with these
// labels, and whether there is one.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func testOpsMetrics(t *testing.T, l *lab.Lab) {
	fams := scrape(t, l)
	check := func(name string, labels map[string]string, ok func(float64) bool, want string) {
		t.Helper()
		v, found := metricValue(fams, name, labels)
		if !found || !ok(v) {
			t.Errorf("%s%v = %v (present %v), want %s", name, labels, v, found, want)
		}
	}
	pos := func(v float64) bool { return v > 0 }
	for _, ifc := range l.RouterIfaces() {
		check("edgesensor_xdp_packets_total", map[string]string{"iface": ifc}, pos, "> 0")
		check("edgesensor_xdp_attached", map[string]string{"iface": ifc}, func(v float64) bool { return v == 1 }, "1")
	}
	check("edgesensor_files_total", map[string]string{"category": "executable"}, func(v float64) bool { return v >= 1 }, ">= 1")
	check("edgesensor_events_total", map[string]string{"dataset": "edgesensor.tls"}, func(v float64) bool { return v >= 1 }, ">= 1")
	for _, s := range allSinks {
		check("edgesensor_sink_events_total", map[string]string{"sink": s, "outcome": "sent"}, pos, "> 0")
		check("edgesensor_sink_connected", map[string]string{"sink": s}, func(v float64) bool { return v == 1 }, "1")
	}
	for _, b := range []string{"handshakes", "files", "fragments", "spool"} {
		check("edgesensor_memory_limit_bytes", map[string]string{"budget": b}, pos, "> 0")
		check("edgesensor_memory_held_bytes", map[string]string{"budget": b}, func(v float64) bool { return v >= 0 }, ">= 0")
	}
	for _, ring := range []string{"handshakes", "streams"} {
		check("edgesensor_ring_size_bytes", map[string]string{"ring": ring}, pos, "> 0")
	}
	if f := fams["edgesensor_xdp_packets_total"]; f == nil || f.GetType() != dto.MetricType_COUNTER {
		t.Errorf("edgesensor_xdp_packets_total is not a counter: %v", f)
	}
	out := l.MustExec(l.Router(), "curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", "http://"+opsMetricsAddr+"/healthz")
	if lines := strings.Fields(out); len(lines) != 2 || lines[0] != "ok" || lines[1] != "200" {
		t.Errorf("/healthz answered %q, want ok and 200", out)
	}
}

func testOpsReload(t *testing.T, l *lab.Lab, sensor *opsProc, confPath string, base opsConfig, sha string) {
	s4 := l.Env["SERVER4"]
	hup := func() int {
		t.Helper()
		n := len(sensor.logLines())
		if err := sensor.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// A broken config is refused as a whole; the sensor goes on.
	bad := base
	bad.badTCP = true
	writeConfig(t, confPath, bad)
	from := hup()
	line := sensor.waitLogLine(t, from, "config not reloaded; the running one stays", 10*time.Second)
	if !strings.Contains(fmt.Sprint(line["error"]), "tpc") {
		t.Errorf("the refusal does not name the bad value: %v", line)
	}
	before := fileEventsTo(t, sensor.outPath, sha, 80)
	before8080 := fileEventsTo(t, sensor.outPath, sha, 8080)
	download(t, l, "http://"+s4+"/sample.exe")
	// 8080 is HTTP (gzip) in the running config: the control for below.
	download(t, l, "--compressed", "http://"+s4+":8080/sample.exe")
	waitFileEvent(t, sensor.outPath, sha, 80, before, 15*time.Second)
	waitFileEvent(t, sensor.outPath, sha, 8080, before8080, 15*time.Second)
	if sensor.exited() {
		t.Fatalf("the sensor stopped on a broken config:\n%s", sensor.stderr())
	}

	// Ports and sinks apply live: 8080 stops being HTTP, the UDP sink goes.
	good := base
	good.httpPorts = "[80, 8081]"
	good.sinks = []string{"rs-tcp", "rs-tls", "rs-cef"}
	writeConfig(t, confPath, good)
	from = hup()
	line = sensor.waitLogLine(t, from, "config reloaded", 10*time.Second)
	if applied := strs(line["applied"]); !slices.Contains(applied, "ports.http") || !slices.Contains(applied, "output.sinks") {
		t.Errorf("reload applied %v, want ports.http and output.sinks", applied)
	}
	if nr := strs(line["need_restart"]); len(nr) != 0 {
		t.Errorf("reload of live keys says they need a restart: %v", nr)
	}
	before8080 = fileEventsTo(t, sensor.outPath, sha, 8080)
	before = fileEventsTo(t, sensor.outPath, sha, 80)
	download(t, l, "--compressed", "http://"+s4+":8080/sample.exe")
	download(t, l, "http://"+s4+"/sample.exe")
	waitFileEvent(t, sensor.outPath, sha, 80, before, 15*time.Second)
	time.Sleep(time.Second)
	if n := fileEventsTo(t, sensor.outPath, sha, 8080); n != before8080 {
		t.Errorf("port 8080 still analysed as HTTP after the reload removed it: %d file events (had %d)", n, before8080)
	}
	fams := scrape(t, l)
	if _, ok := metricValue(fams, "edgesensor_sink_events_total", map[string]string{"sink": "rs-udp"}); ok {
		t.Error("the removed sink rs-udp is still in the metrics")
	}
	if _, ok := metricValue(fams, "edgesensor_sink_events_total", map[string]string{"sink": "rs-tcp", "outcome": "sent"}); !ok {
		t.Error("the kept sink rs-tcp is not in the metrics")
	}

	// A key that needs a restart is reported as such, and not applied.
	snap := good
	snap.snaplen = 4096
	writeConfig(t, confPath, snap)
	from = hup()
	line = sensor.waitLogLine(t, from, "config reloaded", 10*time.Second)
	if nr := strs(line["need_restart"]); !slices.Equal(nr, []string{"capture.snaplen"}) {
		t.Errorf("need_restart %v, want [capture.snaplen]: %v", nr, line)
	}
	if applied := strs(line["applied"]); len(applied) != 0 {
		t.Errorf("applied %v for a snaplen-only change", applied)
	}
	if sensor.exited() {
		t.Fatalf("the sensor stopped during reloads:\n%s", sensor.stderr())
	}
	writeConfig(t, confPath, base)
}
