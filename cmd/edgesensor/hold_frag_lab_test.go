package main

import (
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/edgesensor/edgesensor/internal/lab"
)

const (
	fragMTU  = 3000 // the far host's link and the client's: MSS 2960
	fragTail = 2250 // bytes of the last segment: more than fit in 1500, so it is fragmented
	fragHead = "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
)

// waitAcked waits up to 5s until nothing c sent is unacknowledged.
func waitAcked(c *net.TCPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		n := -1
		rc.Control(func(fd uintptr) {
			if v, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ); err == nil {
				n = v
			}
		})
		if n == 0 {
			return
		}
	}
}

// fragCreates is the server namespace's Ip: FragCreates (/proc/net/snmp),
// the fragments it made forwarding the far host's packets.
func fragCreates(t *testing.T, l *lab.Lab) int {
	t.Helper()
	var names []string
	for _, line := range strings.Split(l.MustExec(l.Server(), "cat", "/proc/net/snmp"), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Ip:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "FragCreates" && i < len(f) {
				v, _ := strconv.Atoi(f[i])
				return v
			}
		}
	}
	t.Fatal("no Ip: FragCreates in the server namespace's /proc/net/snmp")
	return 0
}

var tcpdumpLen = regexp.MustCompile(`seq \d+:\d+, .* length (\d+)`)

// lastSegment runs fetch while tcpdump captures the far host's TCP
// segments on the server's link to it (before they are fragmented) and
// returns the payload length of the last one that carried data.
func lastSegment(t *testing.T, l *lab.Lab, ifc, host string, fetch func()) int {
	t.Helper()
	pcap := filepath.Join(t.TempDir(), "far.pcap")
	p := startOps(t, l, l.Server(), "tcpdump", "-i", ifc, "-nn", "--immediate-mode", "-U", "-s", "96", "-B", "8192", "-w", pcap, "src host "+host+" and tcp")
	p.waitLog(t, "listening on", 10*time.Second)
	fetch()
	time.Sleep(200 * time.Millisecond)
	p.stop(t, syscall.SIGINT)
	out, err := exec.Command("tcpdump", "-r", pcap, "-nn").CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r: %v\n%s", err, out)
	}
	last := 0
	for _, line := range strings.Split(string(out), "\n") {
		if m := tcpdumpLen.FindStringSubmatch(line); m != nil {
			last, _ = strconv.Atoi(m[1])
		}
	}
	return last
}

// TestPrivilegedHeldFragmentedDownloads shows that the download gate of
// enforcement block mode holds a file's completing packet when the server
// sends its segments as IP fragments. A far host behind the lab's server
// namespace sends 3000-byte packets with DF clear (its link and the
// client's have MTU 3000, the client advertises MSS 2960); the server
// namespace fragments them onto its 1500-MTU link to the router, where
// the sensor sees them. The far host sends each response's last
// fragTail bytes as a segment of their own, so that the segment that
// completes the file, the one the sensor holds, is fragmented too:
//   - a file whose SHA-256 is on an intel list must not reach the client
//     whole, and is reported blocked with edgesensor.action.hold "held";
//   - a clean 1 MiB executable arrives byte-exact, five times.
//
// A data plane that passes fragments (userspace reassembling them only
// for analysis) lets the listed file through whole, reported blocked but
// not held: the first two checks fail, as they did before fragments were
// held.
//   - the fragments are held on the router (hold_frags counted).
func TestPrivilegedHeldFragmentedDownloads(t *testing.T) {
	l := lab.Up(t, "esfr", 98)
	e := l.Env
	// The far host: a /24 beside the lab's 10.N.{1,2}.0/24.
	net3 := strings.Join(strings.Split(e["SERVER4"], ".")[:2], ".") + ".3"
	farNS, f0, f1 := e["LAB_PREFIX"]+"-far", e["LAB_PREFIX"]+"-f0", e["LAB_PREFIX"]+"-f1"
	gw, far := net3+".1", net3+".2"
	exec.Command("ip", "netns", "del", farNS).Run() // a stale one
	if out, err := exec.Command("ip", "netns", "add", farNS).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", farNS, err, out)
	}
	// Registered after lab.Up, so it runs before the lab goes down.
	t.Cleanup(func() { exec.Command("ip", "netns", "del", farNS).Run() })
	mtu := strconv.Itoa(fragMTU)
	l.MustExec(l.Server(), "ip", "link", "add", f0, "mtu", mtu, "type", "veth", "peer", "name", f1, "mtu", mtu, "netns", farNS)
	for _, c := range [][]string{
		{l.Server(), "ip", "addr", "add", gw + "/24", "dev", f0},
		{l.Server(), "ip", "link", "set", f0, "up"},
		{l.Server(), "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{farNS, "ip", "link", "set", "lo", "up"},
		{farNS, "ip", "addr", "add", far + "/24", "dev", f1},
		{farNS, "ip", "link", "set", f1, "up"},
		{farNS, "ip", "route", "add", "default", "via", gw},
		// DF clear, so the server namespace fragments rather than
		// answering "fragmentation needed".
		{farNS, "sysctl", "-qw", "net.ipv4.ip_no_pmtu_disc=1"},
		{l.Router(), "ip", "route", "add", net3 + ".0/24", "via", e["SERVER4"]},
		// MSS 2960 from the client; set before any XDP program attaches
		// (a veth's XDP limits its MTU).
		{l.Client(), "ip", "link", "set", e["IF_CLIENT"], "mtu", mtu},
		{l.Router(), "ip", "link", "set", e["IF_ROUTER_CLIENT"], "mtu", mtu},
	} {
		l.MustExec(c[0], c[1:]...)
	}
	l.Exec(l.Server(), "ethtool", "-K", f0, "tso", "off", "gso", "off", "gro", "off", "tx", "off")
	l.Exec(farNS, "ethtool", "-K", f1, "tso", "off", "gso", "off", "gro", "off", "tx", "off")

	dir := t.TempDir()
	sums := tailServer(t, dir, farNS, far+":80", fragTail, 5)
	bad, clean := sums["/listed.bin"], sums["/clean.bin"]

	got := filepath.Join(dir, "got")
	url := func(name string) string { return "http://" + far + name }
	// The topology, with no sensor: each file arrives whole, its last
	// segment leaves the far host fragTail bytes long, and the server
	// namespace fragments.
	wholeWithoutSensor(t, l, f0, far, got, url, sums, fragTail)

	bin := buildBinary(t)
	// The reset of a held download goes back with XDP_TX.
	peerXDP(t, l, dir, l.Client(), e["IF_CLIENT"])
	confPath := holdConfig(t, dir, bad, "")
	sensor := startEnforcing(t, l, bin, confPath)

	// 1. The listed file.
	fetchListed(t, l, f0, far, got, url("/listed.bin"), bad)
	frags2 := fragCreates(t, l)

	// 2. The SIEM stream: blocked, its completing packet held.
	wantHeldBlock(t, sensor, bad)

	// 3. The clean file, five times.
	times := cleanTimes(t, l, got, url("/clean.bin"), clean)
	frags3 := fragCreates(t, l)
	t.Logf("clean 1 MiB ×5: curl time_total p50 %v, max %v; %d fragments made", quantile(times, 0.5), quantile(times, 1), frags3-frags2)
	if frags3 == frags2 {
		t.Error("clean: no fragments made")
	}

	// What the data plane counted: fragments held, and the rest to read.
	wantHoldFrags(t, l)
}

// fetchListed fetches the listed file (url, SHA-256 bad) while
// capturing the last segment host sends on ifc of the server namespace:
// it must not reach the client whole, and the server namespace must
// make fragments on the way. It returns curl's time and error.
func fetchListed(t *testing.T, l *lab.Lab, ifc, host, got, url, bad string) (time.Duration, error) {
	t.Helper()
	frags := fragCreates(t, l)
	var sum string
	var err error
	var took time.Duration
	last := lastSegment(t, l, ifc, host, func() { sum, err, took = fetchSum(t, l, got, url) })
	made := fragCreates(t, l) - frags
	if err == nil && sum == bad {
		t.Errorf("the whole listed file reached the client through fragments")
	}
	t.Logf("listed: curl ended after %v (%v), received sha256 %.12s (listed %.12s); last segment %d bytes, %d fragments made",
		took.Round(time.Millisecond), err, sum, bad, last, made)
	if made == 0 {
		t.Error("listed: no fragments made")
	}
	return took, err
}

// wholeWithoutSensor checks the topology before the sensor is there:
// each file arrives whole, its last segment leaves host (captured on ifc
// of the server namespace) tail bytes long, and the server namespace
// makes fragments.
func wholeWithoutSensor(t *testing.T, l *lab.Lab, ifc, host, got string, url func(string) string, sums map[string]string, tail int) {
	t.Helper()
	frags0 := fragCreates(t, l)
	for _, name := range []string{"/listed.bin", "/clean.bin"} {
		var sum string
		var err error
		last := lastSegment(t, l, ifc, host, func() { sum, err, _ = fetchSum(t, l, got, url(name)) })
		if err != nil || sum != sums[name] {
			t.Fatalf("no sensor: %s sha256 %.12s (want %.12s), %v", name, sum, sums[name], err)
		}
		if last != tail {
			t.Fatalf("no sensor: %s: the last segment carried %d bytes, want %d (more than the path takes, so fragmented)", name, last, tail)
		}
	}
	if n := fragCreates(t, l) - frags0; n == 0 {
		t.Fatal("no sensor: the server namespace made no fragments; the test would test nothing")
	} else {
		t.Logf("no sensor: both files whole, last segments %d bytes, %d fragments made", tail, n)
	}
}

// holdConfig writes the block-mode configuration of the fragment tests,
// with bad on an intel hash list; httpPorts as opsConfig's.
func holdConfig(t *testing.T, dir, bad, httpPorts string) string {
	t.Helper()
	hashes := filepath.Join(dir, "hashes.txt")
	writeAtomic(t, hashes, bad+" 9\n")
	confPath := filepath.Join(dir, "sensor.toml")
	writeConfig(t, confPath, opsConfig{spool: filepath.Join(dir, "spool"), metrics: opsMetricsAddr, httpPorts: httpPorts,
		extra: fmt.Sprintf("[[intel.sources]]\npath = %q\nkind = \"sha256\"\nname = \"bad-files\"\n\n"+
			"[enforcement]\nmode = \"block\"\nhold_timeout = \"2s\"\nhold_release = \"reinject\"\nmax_age = \"10s\"\n", hashes)})
	return confPath
}

// cleanTimes fetches url five times, each byte-exact (sum), and returns
// curl's total times.
func cleanTimes(t *testing.T, l *lab.Lab, got, url, sum string) []time.Duration {
	t.Helper()
	var times []time.Duration
	for i := 0; i < 5; i++ {
		s, err, d := fetchSum(t, l, got, url)
		if err != nil || s != sum {
			t.Errorf("clean download %d: sha256 %.12s (want %.12s), %v", i, s, sum, err)
		}
		times = append(times, d)
	}
	return times
}

// tailServer makes two executables in dir, /listed.bin (300 KiB) and
// /clean.bin (1 MiB), and serves them from namespace ns at addr; it
// returns their SHA-256 by path. Each response goes on the raw
// connection: all but its last tail bytes, then those alone once the
// rest is acknowledged, so they go as one segment. (Written whole, the
// segments a window-limited sender cuts at the client's window edge
// shift the last one.)
func tailServer(t *testing.T, dir, ns, addr string, tail int, seed uint64) map[string]string {
	t.Helper()
	files := map[string][]byte{}
	sums := map[string]string{}
	for i, f := range []struct {
		name string
		size int
	}{{"/listed.bin", 300 << 10}, {"/clean.bin", 1 << 20}} {
		path := filepath.Join(dir, f.name[1:])
		sums[f.name] = executable(t, path, f.size, seed+uint64(i))
		files[f.name] = readOrFatal(t, path)
	}
	var ln net.Listener
	var err error
	lab.Within(t, ns, func() { ln, err = net.Listen("tcp4", addr) })
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		cut := len(body) - tail
		if _, err := conn.Write(append([]byte(fmt.Sprintf(fragHead, len(body))), body[:cut]...)); err != nil {
			return
		}
		waitAcked(conn.(*net.TCPConn))
		conn.Write(body[cut:])
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sums
}

// wantHeldBlock waits up to 5s for the file action event that says the
// file of SHA-256 sum was blocked with its completing packet held.
func wantHeldBlock(t *testing.T, sensor *opsProc, sum string) {
	t.Helper()
	var seen []string
	found := false
	for end := time.Now().Add(5 * time.Second); !found && time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		seen = seen[:0]
		for _, ev := range actionEvents(t, sensor) {
			if get(ev, "edgesensor.action.matched") != sum {
				continue
			}
			seen = append(seen, fmt.Sprintf("%v %v hold=%v", get(ev, "rule.category"), get(ev, "event.action"), get(ev, "edgesensor.action.hold")))
			found = found || get(ev, "rule.category") == "file" && get(ev, "event.action") == "blocked" &&
				get(ev, "edgesensor.action.hold") == "held"
		}
	}
	if !found {
		t.Errorf("no file action event blocked with hold \"held\" for the listed file; its action events: %q", seen)
	} else {
		t.Logf("listed: action events %q", seen)
	}
}

// wantHoldFrags logs the router's fragment and hold counters and fails
// the test when no fragment was held.
func wantHoldFrags(t *testing.T, l *lab.Lab) {
	t.Helper()
	counters := map[string][]string{}
	heldFrags := 0.0
	for _, m := range scrape(t, l)["edgesensor_xdp_counter_total"].GetMetric() {
		lb := map[string]string{}
		for _, lp := range m.GetLabel() {
			lb[lp.GetName()] = lp.GetValue()
		}
		if lb["counter"] == "hold_frags" {
			heldFrags += m.GetCounter().GetValue()
		}
		if c := lb["counter"]; strings.Contains(c, "frag") || strings.Contains(c, "hold") {
			counters[lb["iface"]] = append(counters[lb["iface"]], fmt.Sprintf("%s=%.0f", c, m.GetCounter().GetValue()))
		}
	}
	for _, ifc := range l.RouterIfaces() {
		t.Logf("xdp counters on %s: %s", ifc, strings.Join(counters[ifc], " "))
	}
	if heldFrags == 0 {
		t.Error("no fragment held (hold_frags 0): the downloads did not go through the fragment path")
	}
}
