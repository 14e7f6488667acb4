package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edgesensor/edgesensor/internal/lab"
)

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
