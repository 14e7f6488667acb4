package main

import (
	"encoding/binary"
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

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"

	"github.com/edgesensor/edgesensor/internal/craft"
	"github.com/edgesensor/edgesensor/internal/lab"
)

// buildBinary builds the edgesensor command once per test binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "edgesensor")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("building edgesensor: %v\n%s", err, out)
	}
	return bin
}

// endpoint is an event's source or destination, as craft reads it.
type endpoint = craft.Endpoint

// waitFor polls a file until it contains s.
func waitFor(t *testing.T, path, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(path); strings.Contains(string(b), s) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(path)
	t.Fatalf("%q did not appear in %s within %v:\n%s", s, path, d, b)
}

func TestPrivilegedLab(t *testing.T) {
	l := lab.Up(t, "est", 78)
	bin := buildBinary(t)
	t.Run("RunSeesRealTraffic", func(t *testing.T) { testRun(t, l.With(t), bin) })
	t.Run("Handshakes", func(t *testing.T) { testHandshakes(t, l.With(t), bin) })
	t.Run("AttachStatusDetach", func(t *testing.T) { testAttachStatusDetach(t, l.With(t), bin) })
	t.Run("Refusals", func(t *testing.T) { testRefusals(t, l.With(t), bin) })
}

func testRun(t *testing.T, l *lab.Lab, bin string) {
	dir := t.TempDir()
	outPath, errPath := filepath.Join(dir, "events.ndjson"), filepath.Join(dir, "stderr.log")
	stdout, _ := os.Create(outPath)
	stderr, _ := os.Create(errPath)
	defer stdout.Close()
	defer stderr.Close()
	ifs := l.RouterIfaces()
	cmd := l.Command(l.Router(), bin, "run", "--iface", ifs[0], "--iface", ifs[1], "--pin-path", l.PinPath())
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	waitFor(t, errPath, `"running`, 20*time.Second)
	for _, ifc := range ifs {
		if !l.XDPAttached(ifc) {
			t.Fatalf("no XDP program on %s after start", ifc)
		}
	}

	e := l.Env
	ca, host, s4, s6 := e["CA"], e["HOSTNAME"], e["SERVER4"], e["SERVER6"]
	c := l.Client()
	curl := func(args ...string) string {
		return l.MustExec(c, append([]string{"curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}"}, args...)...)
	}
	if code := curl("--cacert", ca, "--resolve", host+":443:"+s4, "https://"+host+"/1m.bin"); code != "200" {
		t.Fatalf("https download: %s", code)
	}
	if code := curl("--tls-max", "1.2", "--cacert", ca, "--resolve", host+":8443:"+s4, "https://"+host+":8443/index.html"); code != "200" {
		t.Fatalf("TLS 1.2: %s", code)
	}
	if code := curl("-6", "--cacert", ca, "--resolve", host+":443:["+s6+"]", "https://"+host+"/index.html"); code != "200" {
		t.Fatalf("IPv6 https: %s", code)
	}
	if code := curl("http://" + s4 + "/sample.exe"); code != "200" {
		t.Fatalf("http: %s", code)
	}
	fileTraffic(t, l)
	www := filepath.Join(e["LAB_DIR"], "www")
	l.MustExec(c, "swaks", "--to", "user@example.test", "--from", "alice@example.test", "--server", s4,
		"--attach", filepath.Join(www, "sample.exe"), "--attach", filepath.Join(www, "report.pdf"), "--h-Subject", "lab")
	l.MustExec(c, "swaks", "--to", "user@example.test", "--server", s4, "-p", "587", "--tls")
	// Wait for delivery, then fetch the message over IMAP.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ents, _ := os.ReadDir(filepath.Join(e["LAB_DIR"], "mail", "inbox", "new"))
		if len(ents) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	imap := l.MustExec(c, "curl", "-sS", "--max-time", "20", "imap://"+s4+"/INBOX;UID=1", "-u", "user:secret")
	if !strings.Contains(imap, "Subject: lab") {
		t.Fatalf("IMAP fetch did not return the mail: %.200s", imap)
	}
	// A desktop client's way: the structure first, then the attachments
	// one part at a time (swaks: part 1 the text, 2 the exe, 3 the PDF).
	imapParts := fmt.Sprintf(`import imaplib
m = imaplib.IMAP4(%q)
m.login("user", "secret")
m.select("INBOX", readonly=True)
for q in ("(UID ENVELOPE BODYSTRUCTURE)", "(UID BODY.PEEK[2])", "(UID BINARY.PEEK[3])"):
    typ, d = m.uid("FETCH", "1", q)
    assert typ == "OK" and d and d[0], (q, typ, d)
# The whole message in pieces of 64 KiB, as Thunderbird fetches.
off, pieces = 0, 0
while True:
    typ, d = m.uid("FETCH", "1", "(BODY.PEEK[]<%%d.65536>)" %% off)
    data = d[0][1] if isinstance(d[0], tuple) else b""
    off, pieces = off + len(data), pieces + 1
    if len(data) < 65536:
        break
assert pieces > 2, pieces
m.logout()
`, s4)
	l.MustExec(c, "python3", "-c", imapParts)
	// A part fetched with no structure before it (the PDF: the lab's exe
	// is an executable by its name only).
	if part := l.MustExec(c, "curl", "-sS", "--max-time", "20", "imap://"+s4+"/INBOX;UID=1;SECTION=3", "-u", "user:secret"); !strings.HasPrefix(part, "JVBER") {
		t.Fatalf("IMAP part fetch: %.80q", part)
	}
	// A QUIC v1 Initial (no QUIC server needed: the Initial is what counts).
	initial := make([]byte, 1200)
	initial[0] = 0xc3
	binary.BigEndian.PutUint32(initial[1:], 1)
	initial[5] = 8
	py := fmt.Sprintf("import socket;s=socket.socket();s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.sendto(bytes.fromhex(%q),(%q,443))",
		fmt.Sprintf("%x", initial), s4)
	l.MustExec(c, "python3", "-c", py)

	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		exited = true
		if err != nil {
			b, _ := os.ReadFile(errPath)
			t.Fatalf("run exited with %v:\n%s", err, b)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not stop within 15s of SIGTERM")
	}
	for _, ifc := range ifs {
		if l.XDPAttached(ifc) {
			t.Errorf("XDP program left on %s after SIGTERM", ifc)
		}
	}
	if _, err := os.Stat(l.PinPath()); !os.IsNotExist(err) {
		t.Errorf("pins left under %s", l.PinPath())
	}

	b, _ := os.ReadFile(outPath)
	checkLabFiles(t, l, b, errPath)

	// Handshakes: one edgesensor.tls event each.
	hs := parseTLSEvents(t, b)
	hsByPort := map[int][]tlsEvent{}
	for _, h := range hs {
		hsByPort[h.Destination.Port] = append(hsByPort[h.Destination.Port], h)
	}
	if len(hsByPort[443]) < 3 || len(hsByPort[8443]) != 1 || len(hsByPort[587]) != 1 {
		t.Errorf("TLS events by port: 443:%d 8443:%d 587:%d", len(hsByPort[443]), len(hsByPort[8443]), len(hsByPort[587]))
	}
	for _, h := range hs {
		if h.Network.Protocol == "quic" {
			// The Initial python sent is not a real one: it does not decrypt.
			if !slices.Contains(h.Edgesensor.TLS.Missing, "client_hello") {
				t.Errorf("the fake QUIC Initial produced a ClientHello")
			}
			continue
		}
		// The 1 MiB download and the rest: only handshake packets came up.
		if h.Edgesensor.TLS.Packets > 12 {
			t.Errorf("handshake to %d took %d packets to userspace", h.Destination.Port, h.Edgesensor.TLS.Packets)
		}
		if !h.Edgesensor.TLS.Complete || h.Edgesensor.TLS.End != "finished" || h.TLS.Client.JA4 == "" {
			t.Errorf("handshake to %d: complete %v end %s missing %v", h.Destination.Port, h.Edgesensor.TLS.Complete,
				h.Edgesensor.TLS.End, h.Edgesensor.TLS.Missing)
		}
	}
	if len(hs) != len(hsByPort[443])+len(hsByPort[8443])+len(hsByPort[587]) {
		t.Errorf("unexpected TLS events: %d", len(hs))
	}
}

type statusJSON struct {
	Interfaces []struct {
		Iface    string            `json:"interface"`
		Mode     string            `json:"xdp_mode"`
		ProgID   uint32            `json:"prog_id"`
		Counters map[string]uint64 `json:"counters"`
		Error    string            `json:"error"`
		Chained  string            `json:"chained"`
	} `json:"interfaces"`
}

func status(t *testing.T, l *lab.Lab, bin string) statusJSON {
	t.Helper()
	out := l.MustExec(l.Router(), bin, "status", "--json", "--pin-path", l.PinPath())
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st
}

func testAttachStatusDetach(t *testing.T, l *lab.Lab, bin string) {
	ifs := l.RouterIfaces()
	pin := l.PinPath()
	l.MustExec(l.Router(), bin, "attach", "--iface", ifs[0], "--iface", ifs[1], "--pin-path", pin)
	defer l.Exec(l.Router(), bin, "detach", "--pin-path", pin)
	st := status(t, l, bin)
	if len(st.Interfaces) != 2 {
		t.Fatalf("status shows %d interfaces", len(st.Interfaces))
	}
	for _, is := range st.Interfaces {
		if is.ProgID == 0 || is.Mode != "native" || is.Error != "" {
			t.Errorf("status of %s: %+v", is.Iface, is)
		}
	}
	e := l.Env
	l.MustExec(l.Client(), "curl", "-sS", "-o", "/dev/null", "--cacert", e["CA"], "--resolve",
		e["HOSTNAME"]+":443:"+e["SERVER4"], "https://"+e["HOSTNAME"]+"/index.html")
	st = status(t, l, bin)
	for _, is := range st.Interfaces {
		if is.Counters["packets"] == 0 || is.Counters["tls_events"] == 0 {
			t.Errorf("%s counters after traffic: packets %d tls_events %d", is.Iface, is.Counters["packets"], is.Counters["tls_events"])
		}
	}
	// Attaching again adopts the pinned links (zero-gap update).
	out := l.MustExec(l.Router(), bin, "attach", "--iface", ifs[0], "--pin-path", pin)
	if !strings.Contains(out, "adopted") {
		t.Errorf("second attach did not adopt the pinned link:\n%s", out)
	}
	// Human table on request.
	if out := l.MustExec(l.Router(), bin, "status", "--pin-path", pin); !strings.Contains(out, ifs[1]) || !strings.Contains(out, "native") {
		t.Errorf("status table:\n%s", out)
	}
	l.MustExec(l.Router(), bin, "detach", "--pin-path", pin)
	for _, ifc := range ifs {
		if l.XDPAttached(ifc) {
			t.Errorf("XDP program left on %s after detach", ifc)
		}
	}
	// Generic mode is honoured and reported.
	l.MustExec(l.Router(), bin, "attach", "--xdp-mode", "generic", "--iface", ifs[1], "--pin-path", pin)
	if st := status(t, l, bin); len(st.Interfaces) != 1 || st.Interfaces[0].Mode != "generic" {
		t.Errorf("generic attach: %+v", st)
	}
	l.MustExec(l.Router(), bin, "detach", "--iface", ifs[1], "--pin-path", pin)
	if l.XDPAttached(ifs[1]) {
		t.Error("generic program left after detach")
	}
	// Loopback has no native XDP: native refuses with a hint, auto falls
	// back to generic with a warning and reports the mode it got.
	out, err := l.Exec(l.Router(), bin, "attach", "--xdp-mode", "native", "--iface", "lo", "--pin-path", pin)
	if err == nil || !strings.Contains(out, `"auto" or "generic"`) {
		t.Errorf("native on lo: err %v\n%s", err, out)
	}
	out = l.MustExec(l.Router(), bin, "attach", "--xdp-mode", "auto", "--iface", "lo", "--pin-path", pin)
	if !strings.Contains(out, "falling back to generic") || !strings.Contains(out, `"mode":"generic"`) {
		t.Errorf("auto on lo:\n%s", out)
	}
	if st := status(t, l, bin); len(st.Interfaces) != 1 || st.Interfaces[0].Mode != "generic" {
		t.Errorf("auto on lo: status %+v", st)
	}
	l.MustExec(l.Router(), bin, "detach", "--pin-path", pin)
}

// attachForeign attaches a trivial XDP program of "another owner" to iface
// inside the router namespace, through netlink as many tools do.
func attachForeign(t *testing.T, ns, iface string) {
	t.Helper()
	lab.Within(t, ns, func() {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: "foreign_xdp", Type: ebpf.XDP, License: "MIT",
			Instructions: asm.Instructions{asm.LoadImm(asm.R0, 2, asm.DWord), asm.Return()},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer prog.Close()
		link, err := netlink.LinkByName(iface)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetXdpFdWithFlags(link, prog.FD(), 1<<1 /* generic */); err != nil {
			t.Fatal(err)
		}
	})
}

func testRefusals(t *testing.T, l *lab.Lab, bin string) {
	ifs := l.RouterIfaces()
	pin := l.PinPath()

	// A failed start changes nothing: the sensor already attached to
	// ifs[0] stays, with its pins.
	l.MustExec(l.Router(), bin, "attach", "--iface", ifs[0]+","+ifs[0], "--pin-path", pin)
	out, err := l.Exec(l.Router(), bin, "run", "--iface", ifs[0], "--iface", "nosuch0", "--pin-path", pin)
	if err == nil || !strings.Contains(out, "nosuch0") {
		t.Errorf("run with a missing interface: err %v\n%s", err, out)
	}
	if st := status(t, l, bin); len(st.Interfaces) != 1 || st.Interfaces[0].ProgID == 0 || !l.XDPAttached(ifs[0]) {
		t.Errorf("a failed start disturbed the running attachment: %+v", st)
	}
	// Words that are not flags are refused, not ignored.
	out, err = l.Exec(l.Router(), bin, "detach", ifs[1], "--pin-path", pin)
	if err == nil || !strings.Contains(out, "unexpected arguments") || !l.XDPAttached(ifs[0]) {
		t.Errorf("detach with a stray word: err %v\n%s", err, out)
	}
	l.MustExec(l.Router(), bin, "detach", "--pin-path", pin)

	// A second sensor on the same pins is refused while one runs.
	run := l.Command(l.Router(), bin, "run", "--iface", ifs[0], "--iface", ifs[1], "--pin-path", pin)
	runErr := filepath.Join(t.TempDir(), "run.log")
	logf, _ := os.Create(runErr)
	run.Stderr = logf
	stdout, err := run.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, runErr, `"running`, 20*time.Second)
	out, err = l.Exec(l.Router(), bin, "attach", "--iface", ifs[0], "--pin-path", pin)
	if err == nil || !strings.Contains(out, "another edgesensor") {
		t.Errorf("second sensor on the same pins: err %v\n%s", err, out)
	}
	out, err = l.Exec(l.Router(), bin, "detach", "--pin-path", pin)
	if err == nil || !strings.Contains(out, "another edgesensor") || !l.XDPAttached(ifs[1]) {
		t.Errorf("detach under a running sensor: err %v\n%s", err, out)
	}
	// The reader of the events goes away: the sensor stops and detaches
	// rather than dying of SIGPIPE with its program attached.
	e := l.Env
	// A download makes an event line to write.
	l.MustExec(l.Client(), "curl", "-sS", "-o", "/dev/null", "http://"+e["SERVER4"]+"/sample.exe")
	buf := make([]byte, 10)
	stdout.Read(buf)
	stdout.Close()
	for i := 0; i < 3; i++ {
		l.Exec(l.Client(), "curl", "-sS", "-o", "/dev/null", "http://"+e["SERVER4"]+"/sample.exe")
		time.Sleep(500 * time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	select {
	case err := <-done:
		logf.Close()
		b, _ := os.ReadFile(runErr)
		if st, ok := run.ProcessState.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			t.Errorf("run died of a signal (%v) when its reader went away:\n%s", st.Signal(), b)
		}
		if err == nil || !strings.Contains(string(b), "cannot write events") {
			t.Errorf("run after losing its reader: %v\n%s", err, b)
		}
	case <-time.After(20 * time.Second):
		run.Process.Kill()
		t.Fatal("run kept running with nobody reading its events")
	}
	if l.XDPAttached(ifs[1]) {
		t.Error("XDP left attached after the reader went away")
	}

	// Under `ip netns exec` /sys/fs/bpf is a fresh mount that dies with the
	// process: attach refuses to pretend it stays attached.
	out, err = l.Exec(l.Router(), bin, "attach", "--iface", ifs[0])
	if err == nil || !strings.Contains(out, "private mount namespace") || l.XDPAttached(ifs[0]) {
		t.Errorf("attach with pins on a vanishing bpffs: err %v\n%s", err, out)
	}

	out, err = l.Exec(l.Router(), bin, "run", "--iface", "nosuch0", "--pin-path", pin)
	if err == nil || !strings.Contains(out, "does not exist") {
		t.Errorf("missing interface: err %v\n%s", err, out)
	}
	out, err = l.Exec(l.Router(), "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
		bin, "attach", "--iface", ifs[0], "--pin-path", pin)
	if err == nil || !strings.Contains(out, "CAP_BPF") || !strings.Contains(out, "CAP_NET_ADMIN") {
		t.Errorf("without privileges: err %v\n%s", err, out)
	}
	attachForeign(t, l.Router(), ifs[0])
	out, err = l.Exec(l.Router(), bin, "attach", "--iface", ifs[0], "--pin-path", pin)
	if err == nil || !strings.Contains(out, "--force") || !strings.Contains(out, "foreign_xdp") {
		t.Errorf("over a foreign program: err %v\n%s", err, out)
	}
	if !l.XDPAttached(ifs[0]) {
		t.Error("the foreign program was removed without --force")
	}
	l.MustExec(l.Router(), bin, "attach", "--force", "--iface", ifs[0], "--pin-path", pin)
	if st := status(t, l, bin); len(st.Interfaces) != 1 || st.Interfaces[0].ProgID == 0 {
		t.Errorf("after --force: %+v", st)
	}
	l.MustExec(l.Router(), bin, "detach", "--pin-path", pin)
	if l.XDPAttached(ifs[0]) {
		t.Error("XDP left after detach")
	}
}
