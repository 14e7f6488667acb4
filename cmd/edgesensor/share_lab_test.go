package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/lab"
)

// The sensor and xdp-tools' xdp-filter on one router interface
// (sensor.xdp_share = "chain"): the sensor takes the interface over from
// the filter and hands it what it passes, so both run, the filter's
// verdicts stand, and a detach gives the interface back to the filter.
// (Through libxdp's dispatcher instead where the kernel allows program
// extensions; this one does not, and libxdp falls back to one program
// per interface, which is what chaining is for.)
func TestPrivilegedShareWithXDPFilter(t *testing.T) {
	l := lab.Up(t, "esy", 94)
	bin := buildBinary(t)
	ifs := l.RouterIfaces()
	srv := ifs[1] // the server's answers enter the router here
	pin := l.PinPath()
	xf := func(args ...string) (string, error) {
		return l.Exec(l.Router(), append([]string{"env", "LIBXDP_BPFFS=" + l.Env["BPFFS"], "xdp-filter"}, args...)...)
	}
	t.Cleanup(func() {
		l.Exec(l.Router(), bin, "detach", "--pin-path", pin)
		xf("unload", "--all")
	})
	if out, err := xf("load", srv, "-m", "native"); err != nil {
		t.Fatalf("xdp-filter load: %v\n%s", err, out)
	}
	// The filter drops the web server's answers from port 80.
	if out, err := xf("port", "80", "-m", "src"); err != nil {
		t.Fatalf("xdp-filter port: %v\n%s", err, out)
	}
	e := l.Env
	httpBlocked := func() bool {
		_, err := l.Exec(l.Client(), "curl", "-sS", "--max-time", "3", "-o", "/dev/null", "http://"+e["SERVER4"]+"/index.html")
		return err != nil
	}
	dropRe := regexp.MustCompile(`(?m)^\s*XDP_DROP\s+(\d+) pkts`)
	drops := func() uint64 {
		out, err := xf("status")
		m := dropRe.FindStringSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("xdp-filter status: %v\n%s", err, out)
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		return n
	}
	onIface := func() string { return l.MustExec(l.Router(), "ip", "-d", "link", "show", "dev", srv) }
	if !httpBlocked() {
		t.Fatal("xdp-filter alone does not drop the answers from port 80")
	}

	// By default the sensor refuses, naming the way to run both.
	conf := filepath.Join(t.TempDir(), "sensor.toml")
	if err := os.WriteFile(conf, []byte("[sensor]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := l.Exec(l.Router(), bin, "attach", "-c", conf, "--iface", srv, "--pin-path", pin)
	if err == nil || !strings.Contains(out, `xdp_share = "chain"`) || !strings.Contains(onIface(), "xdpfilt_") {
		t.Fatalf("attach beside xdp-filter without sharing: err %v\n%s", err, out)
	}

	if err := os.WriteFile(conf, []byte("[sensor]\nxdp_share = \"chain\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l.MustExec(l.Router(), bin, "attach", "-c", conf, "--iface", ifs[0], "--iface", srv, "--pin-path", pin)
	if !strings.Contains(onIface(), "edgesensor_xdp") {
		t.Fatalf("the sensor is not on %s:\n%s", srv, onIface())
	}
	chained := func() string {
		for _, is := range status(t, l, bin).Interfaces {
			if is.Iface == srv {
				return is.Chained
			}
		}
		return ""
	}
	if c := chained(); !strings.HasPrefix(c, "xdpfilt_alw_all (id ") {
		t.Errorf("status of %s: chained %q", srv, c)
	}
	// Both run: the filter still drops (and counts), the sensor still sees.
	d0 := drops()
	if !httpBlocked() {
		t.Error("with the sensor in front, xdp-filter no longer drops")
	}
	if d := drops(); d <= d0 {
		t.Errorf("xdp-filter's drops did not grow behind the sensor: %d then %d", d0, d)
	}
	httpsGet(t, l)
	for _, is := range status(t, l, bin).Interfaces {
		if is.Counters["packets"] == 0 || is.Counters["tls_events"] == 0 || is.Error != "" {
			t.Errorf("%s: packets %d tls_events %d error %q", is.Iface, is.Counters["packets"], is.Counters["tls_events"], is.Error)
		}
	}

	// A restart updates the sensor's own link in place; the chain stays.
	out = l.MustExec(l.Router(), bin, "attach", "-c", conf, "--iface", srv, "--pin-path", pin)
	if !strings.Contains(out, "adopted") || !httpBlocked() || !strings.HasPrefix(chained(), "xdpfilt_alw_all") {
		t.Errorf("attach again:\n%s", out)
	}

	// A detach gives the interface back to the filter, which goes on alone.
	l.MustExec(l.Router(), bin, "detach", "--pin-path", pin)
	if o := onIface(); !strings.Contains(o, "xdpfilt_alw_all") {
		t.Fatalf("after detach %s runs:\n%s", srv, o)
	}
	if !httpBlocked() {
		t.Error("xdp-filter does not drop after the sensor left")
	}
	httpsGet(t, l)
	// xdp-filter's status, run while the sensor was in front, found its
	// program off the interface and dropped its pin of it, so its own
	// unload no longer knows it; xdp-loader takes it off (README).
	if out, err := l.Exec(l.Router(), "env", "LIBXDP_BPFFS="+l.Env["BPFFS"], "xdp-loader", "unload", srv, "--all"); err != nil {
		t.Fatalf("xdp-loader unload after the sensor left: %v\n%s", err, out)
	}
	if httpBlocked() {
		t.Error("port 80 still blocked with nothing on the interface")
	}

	// The program goes back in the mode it ran in (generic here, the
	// sensor native); a switch to libxdp's dispatcher while a program is
	// chained is refused and changes nothing.
	if out, err := xf("load", srv, "-m", "skb"); err != nil {
		t.Fatalf("xdp-filter load -m skb: %v\n%s", err, out)
	}
	l.MustExec(l.Router(), bin, "attach", "-c", conf, "--iface", srv, "--pin-path", pin)
	libxdp := filepath.Join(t.TempDir(), "libxdp.toml")
	if err := os.WriteFile(libxdp, []byte("[sensor]\nxdp_share = \"libxdp\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = l.Exec(l.Router(), bin, "attach", "-c", libxdp, "--iface", srv, "--pin-path", pin)
	if err == nil || !strings.Contains(out, "chains a program it took over") || !strings.Contains(onIface(), "edgesensor_xdp") ||
		!strings.HasPrefix(chained(), "xdpfilt_alw_all") {
		t.Errorf("switch to libxdp while chaining: err %v\n%s", err, out)
	}
	l.MustExec(l.Router(), bin, "detach", "--pin-path", pin)
	if o := onIface(); !strings.Contains(o, "xdpgeneric") || !strings.Contains(o, "xdpfilt_alw_all") {
		t.Errorf("given back, %s runs:\n%s", srv, o)
	}
	if out, err := l.Exec(l.Router(), "env", "LIBXDP_BPFFS="+l.Env["BPFFS"], "xdp-loader", "unload", srv, "--all"); err != nil {
		t.Fatalf("xdp-loader unload: %v\n%s", err, out)
	}
}
