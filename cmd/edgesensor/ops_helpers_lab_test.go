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
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/lab"
	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
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

// startOnRouter runs the sensor with the config at confPath on the lab
// router's interfaces, pinned (the program stays attached if it is
// killed; detached when the test ends), and waits up to wait for it to
// be running.
func startOnRouter(t *testing.T, l *lab.Lab, bin, confPath string, wait time.Duration) *opsProc {
	t.Helper()
	ifs := l.RouterIfaces()
	pin := l.PinPath()
	t.Cleanup(func() { l.Exec(l.Router(), bin, "detach", "--pin-path", pin) })
	sensor := startOps(t, l, l.Router(), bin, "run", "--iface", ifs[0], "--iface", ifs[1], "--pin-path", pin, "-c", confPath)
	sensor.waitLog(t, `"running`, wait)
	return sensor
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

// sha256Hex is b's SHA-256 in hex, as events give it.
func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
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

// sha256File is the SHA-256 of the file at path, in hex.
func sha256File(t *testing.T, path string) string {
	t.Helper()
	return sha256Hex(readOrFatal(t, path))
}

// readOrFatal reads a file the test cannot do without.
func readOrFatal(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// labSample is the lab's sample PE (its nginx serves it), read whole.
func labSample(t *testing.T, l *lab.Lab) []byte {
	t.Helper()
	return readOrFatal(t, filepath.Join(l.Env["LAB_DIR"], "www", "sample.exe"))
}

// sampleSHA is the SHA-256 of the lab's sample PE, in hex.
func sampleSHA(t *testing.T, l *lab.Lab) string {
	t.Helper()
	return sha256Hex(labSample(t, l))
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
	quiet     string // metrics.quiet_after, when set
	extra     string // more tables, appended as they are
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
	fmt.Fprintf(&b, "[metrics]\nlisten = %q\n", c.metrics)
	if c.quiet != "" {
		fmt.Fprintf(&b, "quiet_after = %q\n", c.quiet)
	}
	b.WriteString("\n")
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
	b.WriteString(c.extra)
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

// waitTLSEvent waits up to d for an edgesensor.tls event in the sensor's
// output that ok accepts.
func waitTLSEvent(t *testing.T, sensor *opsProc, d time.Duration, ok func(*tlsEvent) bool) bool {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, line := range completeLines(sensor.outPath) {
			var ev tlsEvent
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Event.Dataset == "edgesensor.tls" && ok(&ev) {
				return true
			}
		}
	}
	return false
}
