package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
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

// opsProc is a process of the test running in a lab namespace, its
// stdout and stderr in files.
type opsProc struct {
	cmd              *exec.Cmd
	outPath, errPath string
	done             chan struct{}
	err              error
}

// startOps starts args in namespace ns; the process is killed at the end
// of t if it is still running.
func startOps(t *testing.T, l *lab.Lab, ns string, args ...string) *opsProc {
	t.Helper()
	dir := t.TempDir()
	p := &opsProc{outPath: filepath.Join(dir, "stdout"), errPath: filepath.Join(dir, "stderr"), done: make(chan struct{})}
	stdout, err := os.Create(p.outPath)
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(p.errPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = l.Command(ns, args...)
	p.cmd.Stdout, p.cmd.Stderr = stdout, stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		stdout.Close()
		stderr.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Kill() // our own child, by PID
			<-p.done
		}
	})
	return p
}

func (p *opsProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *opsProc) stderr() string {
	b, _ := os.ReadFile(p.errPath)
	return string(b)
}

// waitLog waits until stderr has s, failing early if the process ended.
func (p *opsProc) waitLog(t *testing.T, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Contains(p.stderr(), s) {
			return
		}
		if p.exited() {
			t.Fatalf("process ended (%v) before %q appeared:\n%s", p.err, s, p.stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%q did not appear in the log within %v:\n%s", s, d, p.stderr())
}

// stop signals the process and waits for it to end.
func (p *opsProc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling %d: %v", p.cmd.Process.Pid, err)
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("process did not stop within 15s of %v:\n%s", sig, p.stderr())
	}
	return nil
}

// logLines are the JSON log lines of stderr (zerolog).
func (p *opsProc) logLines() []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(p.stderr(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// waitLogLine waits for a log line past the first skip ones with message
// msg, and returns it.
func (p *opsProc) waitLogLine(t *testing.T, skip int, msg string, d time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		lines := p.logLines()
		for i := skip; i < len(lines); i++ {
			if lines[i]["message"] == msg {
				return lines[i]
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no log line %q within %v:\n%s", msg, d, p.stderr())
	return nil
}

func strs(v any) []string {
	var out []string
	if a, ok := v.([]any); ok {
		for _, x := range a {
			out = append(out, fmt.Sprint(x))
		}
	}
	return out
}

// completeLines are the lines of a file up to its last newline (a line
// being written is left out).
func completeLines(path string) []string {
	b, _ := os.ReadFile(path)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return strings.Split(string(b[:i]), "\n")
	}
	return nil
}

// fileEvents counts the edgesensor.file events in an events file with
// this SHA-256 to this destination port.
func fileEventsTo(t *testing.T, path, sha string, port int) int {
	t.Helper()
	n := 0
	for _, line := range completeLines(path) {
		if !strings.Contains(line, `"edgesensor.file"`) {
			continue
		}
		var ev fileEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("event is not JSON: %v: %s", err, line)
		}
		if ev.Event.Dataset == "edgesensor.file" && ev.File.Hash != nil && ev.File.Hash.SHA256 == sha && ev.Destination.Port == port {
			n++
		}
	}
	return n
}

// waitFileEvent waits until there are more than before such events.
func waitFileEvent(t *testing.T, path, sha string, port, before int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if fileEventsTo(t, path, sha, port) > before {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(path)
	t.Fatalf("no new edgesensor.file event for %s to port %d within %v (had %d):\n%.3000s", sha[:12], port, d, before, b)
}

// download fetches a URL from the client namespace.
func download(t *testing.T, l *lab.Lab, args ...string) {
	t.Helper()
	code := l.MustExec(l.Client(), append([]string{"curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}"}, args...)...)
	if code != "200" {
		t.Fatalf("curl %v: HTTP %s", args, code)
	}
}

func httpsGet(t *testing.T, l *lab.Lab) {
	t.Helper()
	e := l.Env
	download(t, l, "--cacert", e["CA"], "--resolve", e["HOSTNAME"]+":443:"+e["SERVER4"], "https://"+e["HOSTNAME"]+"/index.html")
}

func sampleSHA(t *testing.T, l *lab.Lab) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.Env["LAB_DIR"], "www", "sample.exe"))
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// opsConfig is what the sensor configs of this test vary.
type opsConfig struct {
	spool     string
	metrics   string // "" turns metrics off
	httpPorts string
	snaplen   int
	sinks     []string // names of the sinks below to configure
	badTCP    bool     // a transport that does not exist on the tcp sink
	caFile    string
}

func (c opsConfig) toml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[sensor]\nlog_level = \"info\"\n\n")
	if c.snaplen != 0 {
		fmt.Fprintf(&b, "[capture]\nsnaplen = %d\n\n", c.snaplen)
	}
	if c.httpPorts != "" {
		fmt.Fprintf(&b, "[ports]\nhttp = %s\n\n", c.httpPorts)
	}
	fmt.Fprintf(&b, "[files]\nspool_dir = %q\n\n", c.spool)
	fmt.Fprintf(&b, "[metrics]\nlisten = %q\n\n", c.metrics)
	fmt.Fprintf(&b, "[output]\nevents = \"-\"\n\n")
	for _, name := range c.sinks {
		fmt.Fprintf(&b, "[[output.sinks]]\nname = %q\ntype = \"syslog\"\n", name)
		switch name {
		case "rs-tcp":
			network := "tcp"
			if c.badTCP {
				network = "tpc"
			}
			fmt.Fprintf(&b, "format = \"rfc5424\"\nnetwork = %q\naddress = \"127.0.0.1:%d\"\n", network, opsPortTCP)
		case "rs-tls":
			fmt.Fprintf(&b, "format = \"rfc5424\"\nnetwork = \"tls\"\naddress = \"127.0.0.1:%d\"\nca_file = %q\n", opsPortTLS, c.caFile)
		case "rs-cef":
			fmt.Fprintf(&b, "format = \"cef\"\nnetwork = \"tls\"\naddress = \"127.0.0.1:%d\"\nca_file = %q\n", opsPortCEF, c.caFile)
		case "rs-udp":
			fmt.Fprintf(&b, "format = \"rfc5424\"\nnetwork = \"udp\"\naddress = \"127.0.0.1:%d\"\n", opsPortUDP)
		case "rs-ceftcp": // CEF over plain TCP, into the tcp input's file
			fmt.Fprintf(&b, "format = \"cef\"\nnetwork = \"tcp\"\naddress = \"127.0.0.1:%d\"\ndatasets = [\"edgesensor.file\"]\n", opsPortTCP)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func writeConfig(t *testing.T, path string, c opsConfig) {
	t.Helper()
	if err := os.WriteFile(path, []byte(c.toml()), 0o644); err != nil {
		t.Fatal(err)
	}
}

var allSinks = []string{"rs-tcp", "rs-tls", "rs-cef", "rs-udp", "rs-ceftcp"}

// rsyslog is a receiver of our own in the router namespace, on its
// loopback: one output file per input, written with a template of the
// fields rsyslog parsed.
type rsyslog struct {
	tcp, tls, cef, udp string // output files
}

func startRsyslog(t *testing.T, l *lab.Lab, certs string) *rsyslog {
	t.Helper()
	if _, err := exec.LookPath("rsyslogd"); err != nil {
		t.Skip("rsyslogd is not installed")
	}
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	r := &rsyslog{tcp: filepath.Join(dir, "tcp.log"), tls: filepath.Join(dir, "tls.log"),
		cef: filepath.Join(dir, "cef.log"), udp: filepath.Join(dir, "udp.log")}
	conf := fmt.Sprintf(`global(workDirectory=%q maxMessageSize="64k"
  defaultNetstreamDriverCAFile=%q
  defaultNetstreamDriverCertFile=%q
  defaultNetstreamDriverKeyFile=%q)
module(load="imtcp")
module(load="imudp")
template(name="parsed" type="string" string="%%pri%%|%%app-name%%|%%msgid%%|%%structured-data%%|%%msg%%\n")
ruleset(name="rtcp") { action(type="omfile" file=%q template="parsed") }
ruleset(name="rtls") { action(type="omfile" file=%q template="parsed") }
ruleset(name="rcef") { action(type="omfile" file=%q template="parsed") }
ruleset(name="rudp") { action(type="omfile" file=%q template="parsed") }
input(type="imtcp" address="127.0.0.1" port="%d" ruleset="rtcp")
input(type="imtcp" address="127.0.0.1" port="%d" ruleset="rtls" streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" address="127.0.0.1" port="%d" ruleset="rcef" streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imudp" address="127.0.0.1" port="%d" ruleset="rudp")
`, work, filepath.Join(certs, cloudapi.CAFile), filepath.Join(certs, cloudapi.ServerCertFile), filepath.Join(certs, cloudapi.ServerKeyFile),
		r.tcp, r.tls, r.cef, r.udp, opsPortTCP, opsPortTLS, opsPortCEF, opsPortUDP)
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("rsyslogd", "-N1", "-f", confPath).CombinedOutput(); err != nil {
		t.Fatalf("rsyslogd -N1: %v\n%s\n%s", err, out, conf)
	}
	p := startOps(t, l, l.Router(), "rsyslogd", "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
	t.Cleanup(func() {
		if !p.exited() {
			p.stop(t, syscall.SIGTERM)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		ss, _ := l.Exec(l.Router(), "ss", "-Hltnu")
		up := 0
		for _, port := range []int{opsPortTCP, opsPortTLS, opsPortCEF, opsPortUDP} {
			if strings.Contains(ss, "127.0.0.1:"+strconv.Itoa(port)+" ") {
				up++
			}
		}
		if up == 4 {
			return r
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("rsyslogd did not come up (exited %v):\n%s\nlistening:\n%s", p.exited(), p.stderr(), ss)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// syslogLine is one line of the "parsed" template.
type syslogLine struct {
	pri                 int
	app, msgid, sd, msg string
}

func syslogLines(path string) []syslogLine {
	var out []syslogLine
	for _, line := range completeLines(path) {
		f := strings.SplitN(line, "|", 5)
		if len(f) != 5 {
			continue
		}
		pri, _ := strconv.Atoi(f[0])
		out = append(out, syslogLine{pri: pri, app: f[1], msgid: f[2], sd: f[3], msg: f[4]})
	}
	return out
}

// waitSyslog waits for a line of path that match accepts.
func waitSyslog(t *testing.T, path, what string, d time.Duration, match func(syslogLine) bool) syslogLine {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, sl := range syslogLines(path) {
			if match(sl) {
				return sl
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(path)
			t.Errorf("%s: no matching line in %s within %v:\n%.4000s", what, filepath.Base(path), d, b)
			return syslogLine{}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

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
	ifs := l.RouterIfaces()
	pin := l.PinPath()
	t.Cleanup(func() { l.Exec(l.Router(), bin, "detach", "--pin-path", pin) })
	sensor := startOps(t, l, l.Router(), bin, "run", "--iface", ifs[0], "--iface", ifs[1], "--pin-path", pin, "-c", confPath)
	sensor.waitLog(t, `"running`, 20*time.Second)
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

// pinsLeft reports whether the pin directory holds any pinned link.
func pinsLeft(pin string) bool {
	ents, err := os.ReadDir(filepath.Join(pin, "links"))
	return err == nil && len(ents) > 0
}

func testOpsKillRestart(t *testing.T, l *lab.Lab, bin string, sensor *opsProc, sha string) {
	ifs := l.RouterIfaces()
	pin := l.PinPath()
	s4 := l.Env["SERVER4"]
	// A crash: nothing runs, the program stays attached, pinned.
	if err := sensor.stop(t, syscall.SIGKILL); err == nil {
		t.Fatal("kill -9 did not kill the sensor")
	}
	for _, ifc := range ifs {
		if !l.XDPAttached(ifc) {
			t.Errorf("XDP gone from %s after kill -9", ifc)
		}
	}
	if !pinsLeft(pin) {
		t.Fatalf("no pinned links under %s after kill -9", pin)
	}
	if st := status(t, l, bin); len(st.Interfaces) != 2 || st.Interfaces[0].ProgID == 0 || st.Interfaces[1].ProgID == 0 {
		t.Errorf("status after kill -9: %+v", st)
	}

	// The next run adopts the pinned links and works.
	conf := filepath.Join(t.TempDir(), "sensor.toml")
	writeConfig(t, conf, opsConfig{spool: t.TempDir()})
	run := startOps(t, l, l.Router(), bin, "run", "--iface", ifs[0], "--iface", ifs[1], "--pin-path", pin, "-c", conf)
	run.waitLog(t, `"running`, 20*time.Second)
	adopted := 0
	for _, m := range run.logLines() {
		if m["message"] == "attached" && m["adopted"] == true {
			adopted++
		}
	}
	if adopted != 2 {
		t.Errorf("restart adopted %d links, want 2:\n%s", adopted, run.stderr())
	}
	download(t, l, "http://"+s4+"/sample.exe")
	waitFileEvent(t, run.outPath, sha, 80, 0, 15*time.Second)
	if err := run.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("run after adoption exited with %v:\n%s", err, run.stderr())
	}
	for _, ifc := range ifs {
		if l.XDPAttached(ifc) {
			t.Errorf("XDP left on %s after SIGTERM", ifc)
		}
	}
	if _, err := os.Stat(pin); !os.IsNotExist(err) {
		t.Errorf("pins left under %s after SIGTERM", pin)
	}

	// --stay-attached: SIGTERM leaves it attached; detach removes it.
	run = startOps(t, l, l.Router(), bin, "run", "--stay-attached", "--iface", ifs[0], "--iface", ifs[1], "--pin-path", pin, "-c", conf)
	run.waitLog(t, `"running`, 20*time.Second)
	if err := run.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("run --stay-attached exited with %v:\n%s", err, run.stderr())
	}
	if !strings.Contains(run.stderr(), "leaving XDP attached") {
		t.Errorf("run --stay-attached did not say it leaves XDP attached:\n%s", run.stderr())
	}
	for _, ifc := range ifs {
		if !l.XDPAttached(ifc) {
			t.Errorf("XDP gone from %s after SIGTERM with --stay-attached", ifc)
		}
	}
	if !pinsLeft(pin) {
		t.Errorf("no pinned links after --stay-attached")
	}
	l.MustExec(l.Router(), bin, "detach", "--pin-path", pin)
	for _, ifc := range ifs {
		if l.XDPAttached(ifc) {
			t.Errorf("XDP left on %s after detach", ifc)
		}
	}
	if _, err := os.Stat(pin); !os.IsNotExist(err) {
		t.Errorf("pins left under %s after detach", pin)
	}
}

func testOpsLeastPrivilege(t *testing.T, l *lab.Lab, bin, sha string) {
	ifs := l.RouterIfaces()
	// What the unit's ExecStartPre makes: a pin directory of the
	// sensor's own user on bpffs.
	pin := filepath.Join(l.Env["BPFFS"], "edgesensor-lp")
	if err := os.Mkdir(pin, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Exec(l.Router(), bin, "detach", "--pin-path", pin)
		os.RemoveAll(pin)
	})
	if err := os.Chown(pin, opsNobody, opsNobody); err != nil {
		t.Fatal(err)
	}
	// t.TempDir is 0700 root: the sensor's user gets a directory of its
	// own for the binary, the config and the spool.
	dir, err := os.MkdirTemp("", "edgesensor-ops-lp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lpBin := filepath.Join(dir, "edgesensor")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lpBin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(dir, "spool")
	if err := os.Mkdir(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(spool, opsNobody, opsNobody); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "sensor.toml")
	const lpMetrics = "127.0.0.1:19751"
	writeConfig(t, conf, opsConfig{spool: spool, metrics: lpMetrics})

	caps := unitCaps(t)
	run := startOps(t, l, l.Router(), "setpriv", "--reuid="+strconv.Itoa(opsNobody), "--regid="+strconv.Itoa(opsNobody),
		"--clear-groups", "--no-new-privs", "--bounding-set=-all,"+caps, "--inh-caps=-all,"+caps, "--ambient-caps="+caps,
		lpBin, "run", "--iface", ifs[0], "--iface", ifs[1], "--pin-path", pin, "-c", conf)
	run.waitLog(t, `"running`, 20*time.Second)

	// It runs as nobody with exactly the three capabilities.
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", run.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	const want = 1<<38 | 1<<39 | 1<<12 // CAP_PERFMON, CAP_BPF, CAP_NET_ADMIN
	for _, line := range strings.Split(string(st), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch k {
		case "Uid":
			if f := strings.Fields(v); len(f) < 2 || f[1] != strconv.Itoa(opsNobody) {
				t.Errorf("sensor runs as uid %s", v)
			}
		case "CapEff":
			if n, _ := strconv.ParseUint(v, 16, 64); n != want {
				t.Errorf("effective capabilities %s, want %x", v, want)
			}
		}
	}
	for _, ifc := range ifs {
		if !l.XDPAttached(ifc) {
			t.Errorf("no XDP on %s with the unit's capabilities", ifc)
		}
	}
	download(t, l, "http://"+l.Env["SERVER4"]+"/sample.exe")
	waitFileEvent(t, run.outPath, sha, 80, 0, 15*time.Second)
	// Metrics and health read the pinned maps: that works as nobody too.
	out := l.MustExec(l.Router(), "curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", "http://"+lpMetrics+"/healthz")
	if f := strings.Fields(out); len(f) != 2 || f[0] != "ok" || f[1] != "200" {
		t.Errorf("/healthz of the unprivileged sensor: %q", out)
	}
	out = l.MustExec(l.Router(), "curl", "-sS", "--max-time", "10", "http://"+lpMetrics+"/metrics")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(out))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	for _, ifc := range ifs {
		if v, ok := metricValue(fams, "edgesensor_xdp_packets_total", map[string]string{"iface": ifc}); !ok || v == 0 {
			t.Errorf("unprivileged sensor: edgesensor_xdp_packets_total{iface=%q} = %v (present %v)", ifc, v, ok)
		}
	}
	if err := run.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("unprivileged run exited with %v:\n%s", err, run.stderr())
	}
	if os.Getenv("OPS_DEBUG") != "" {
		t.Logf("unprivileged stderr:\n%s", run.stderr())
	}
	for _, ifc := range ifs {
		if l.XDPAttached(ifc) {
			t.Errorf("XDP left on %s after SIGTERM of the unprivileged run", ifc)
		}
	}
	if pinsLeft(pin) {
		t.Errorf("pinned links left under %s", pin)
	}
}

// unitCaps reads the capabilities the systemd unit grants, as setpriv
// takes them ("+bpf,+net_admin,+perfmon"): the test runs the sensor with
// exactly what the shipped unit gives it.
func unitCaps(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../scripts/systemd/edgesensor.service")
	if err != nil {
		t.Fatal(err)
	}
	var bounding, ambient string
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapabilityBoundingSet="); ok {
			bounding = v
		}
		if v, ok := strings.CutPrefix(line, "AmbientCapabilities="); ok {
			ambient = v
		}
	}
	if bounding == "" || bounding != ambient {
		t.Fatalf("the unit's CapabilityBoundingSet %q and AmbientCapabilities %q should be the same set", bounding, ambient)
	}
	var caps []string
	for _, c := range strings.Fields(bounding) {
		caps = append(caps, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	return strings.Join(caps, ",")
}

// The shipped unit is valid systemd syntax (where systemd-analyze is
// installed); the one complaint allowed is the binary not being
// installed on this machine.
func TestSystemdUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	out, _ := exec.Command("systemd-analyze", "verify", "--man=no", "../../scripts/systemd/edgesensor.service").CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" && !strings.Contains(line, "/usr/local/bin/edgesensor is not executable") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}
