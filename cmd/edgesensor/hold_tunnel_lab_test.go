package main

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/lab"
)

// tunnelTail is the last segment's payload in the tunnel test: its inner
// packet (20 + 32 + 1440) in VXLAN (50 more) outgrows the 1500-byte path,
// so the segment that completes the file leaves as outer fragments.
const tunnelTail = 1440

// TestPrivilegedHeldTunnelFragmentedDownloads: a download inside a real
// VXLAN link whose MTU leaves no room for its headers (the client's and
// the server's kernels fragment the outer packets, as a tunnel entrance
// does when its traffic outgrows the path) is held like a plain one in
// block mode: a file whose SHA-256 is on an intel list does not reach
// the client whole and is reported held; a clean 1 MiB executable
// arrives byte-exact. The server sends each file's last tunnelTail bytes
// as a segment of their own, so the completing segment is fragmented
// too. Before tunnel fragments were held, the listed file came through
// whole (reported blocked, hold "not_held").
func TestPrivilegedHeldTunnelFragmentedDownloads(t *testing.T) {
	l := lab.Up(t, "esgt", 99)
	e := l.Env
	c, s := l.Client(), l.Server()
	c4, s4 := e["CLIENT4"], e["SERVER4"]
	ci, si := "10.96.0.1", "10.96.0.2"
	// VXLAN (the one tunnel this kernel has) with an MTU that leaves no
	// room for its 50 bytes, and the route through it locked at 1500 so
	// the tunnel cannot lower the sender's path MTU: it fragments what it
	// carries, as a tunnel without path MTU discovery does.
	l.MustExec(c, "ip", "link", "add", "vx1", "type", "vxlan", "id", "4545", "local", c4, "remote", s4, "dstport", "4789")
	l.MustExec(s, "ip", "link", "add", "vx1", "type", "vxlan", "id", "4545", "local", s4, "remote", c4, "dstport", "4789")
	for _, end := range []struct{ ns, addr string }{{c, ci}, {s, si}} {
		l.MustExec(end.ns, "ip", "link", "set", "vx1", "mtu", "1500")
		l.MustExec(end.ns, "ip", "addr", "add", end.addr+"/24", "dev", "vx1")
		l.MustExec(end.ns, "ip", "link", "set", "vx1", "up")
		l.MustExec(end.ns, "ip", "route", "replace", "10.96.0.0/24", "dev", "vx1", "src", end.addr, "mtu", "lock", "1500")
		l.MustExec(end.ns, "ethtool", "-K", "vx1", "tso", "off", "gso", "off", "gro", "off", "tx", "off")
	}

	dir := t.TempDir()
	files := map[string][]byte{}
	sums := map[string]string{}
	for _, f := range []struct {
		name string
		size int
		seed uint64
	}{{"/listed.bin", 300 << 10, 7}, {"/clean.bin", 1 << 20, 8}} {
		path := filepath.Join(dir, f.name[1:])
		sums[f.name] = executable(t, path, f.size, f.seed)
		files[f.name] = readOrFatal(t, path)
	}
	bad, clean := sums["/listed.bin"], sums["/clean.bin"]
	var ln net.Listener
	var err error
	lab.Within(t, s, func() { ln, err = net.Listen("tcp4", si+":8081") })
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
		cut := len(body) - tunnelTail
		if _, err := conn.Write(append([]byte(fmt.Sprintf(fragHead, len(body))), body[:cut]...)); err != nil {
			return
		}
		waitAcked(conn.(*net.TCPConn))
		conn.Write(body[cut:])
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	got := filepath.Join(dir, "got")
	url := func(name string) string { return "http://" + si + ":8081" + name }

	// With no sensor: whole, the last segment tunnelTail bytes, and the
	// server's kernel fragments the outer packets.
	frags0 := fragCreates(t, l)
	for _, name := range []string{"/listed.bin", "/clean.bin"} {
		var sum string
		var err error
		last := lastSegment(t, l, "vx1", si, func() { sum, err, _ = fetchSum(t, l, got, url(name)) })
		if err != nil || sum != sums[name] {
			t.Fatalf("no sensor: %s sha256 %.12s (want %.12s), %v", name, sum, sums[name], err)
		}
		if last != tunnelTail {
			t.Fatalf("no sensor: %s: the last segment carried %d bytes, want %d", name, last, tunnelTail)
		}
	}
	if n := fragCreates(t, l) - frags0; n == 0 {
		t.Fatal("no sensor: the server made no fragments; the test would test nothing")
	} else {
		t.Logf("no sensor: both files whole, last segments %d bytes, %d fragments made", tunnelTail, n)
	}

	bin := buildBinary(t)
	peerXDP(t, l, dir, l.Client(), e["IF_CLIENT"])
	hashes := filepath.Join(dir, "hashes.txt")
	writeAtomic(t, hashes, bad+" 9\n")
	confPath := filepath.Join(dir, "sensor.toml")
	writeConfig(t, confPath, opsConfig{spool: filepath.Join(dir, "spool"), metrics: opsMetricsAddr, httpPorts: "[80, 8081]",
		extra: fmt.Sprintf("[[intel.sources]]\npath = %q\nkind = \"sha256\"\nname = \"bad-files\"\n\n"+
			"[enforcement]\nmode = \"block\"\nhold_timeout = \"2s\"\nhold_release = \"reinject\"\nmax_age = \"10s\"\n", hashes)})
	sensor := startEnforcing(t, l, bin, confPath)

	// The listed file: not whole, blocked with its completing packet held.
	frags1 := fragCreates(t, l)
	var sum string
	var took time.Duration
	last := lastSegment(t, l, "vx1", si, func() { sum, err, took = fetchSum(t, l, got, url("/listed.bin")) })
	if err == nil && sum == bad {
		t.Errorf("the whole listed file reached the client through the tunnel's fragments")
	}
	t.Logf("listed: curl ended after %v (%v), received sha256 %.12s (listed %.12s); last segment %d bytes, %d fragments made",
		took.Round(time.Millisecond), err, sum, bad, last, fragCreates(t, l)-frags1)
	var seen []string
	found := false
	for end := time.Now().Add(5 * time.Second); !found && time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		seen = seen[:0]
		for _, ev := range actionEvents(t, sensor) {
			if get(ev, "edgesensor.action.matched") != bad {
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

	// The clean file, five times, byte-exact.
	frags2 := fragCreates(t, l)
	var times []time.Duration
	for i := 0; i < 5; i++ {
		sum, err, d := fetchSum(t, l, got, url("/clean.bin"))
		if err != nil || sum != clean {
			t.Errorf("clean download %d: sha256 %.12s (want %.12s), %v", i, sum, clean, err)
		}
		times = append(times, d)
	}
	t.Logf("clean 1 MiB ×5 through the tunnel: curl time_total p50 %v, max %v; %d fragments made",
		quantile(times, 0.5), quantile(times, 1), fragCreates(t, l)-frags2)

	heldFrags := 0.0
	var counters []string
	for _, m := range scrape(t, l)["edgesensor_xdp_counter_total"].GetMetric() {
		lb := map[string]string{}
		for _, lp := range m.GetLabel() {
			lb[lp.GetName()] = lp.GetValue()
		}
		if lb["counter"] == "hold_frags" {
			heldFrags += m.GetCounter().GetValue()
		}
		if c := lb["counter"]; strings.Contains(c, "frag") || strings.Contains(c, "hold") {
			counters = append(counters, fmt.Sprintf("%s/%s=%.0f", lb["iface"], c, m.GetCounter().GetValue()))
		}
	}
	t.Logf("xdp counters: %s", strings.Join(counters, " "))
	if heldFrags == 0 {
		t.Error("no fragment held (hold_frags 0): the downloads did not go through the fragment path")
	}
}
