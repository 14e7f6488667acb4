package main

import (
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
// whole (reported blocked, hold "not_held"); before userspace made the
// resets the program cannot, the client waited for its timeout.
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
	sums := tailServer(t, dir, s, si+":8081", tunnelTail, 7)
	bad, clean := sums["/listed.bin"], sums["/clean.bin"]
	got := filepath.Join(dir, "got")
	url := func(name string) string { return "http://" + si + ":8081" + name }

	// With no sensor: whole, the last segment tunnelTail bytes, and the
	// server's kernel fragments the outer packets.
	wholeWithoutSensor(t, l, "vx1", si, got, url, sums, tunnelTail)

	bin := buildBinary(t)
	peerXDP(t, l, dir, l.Client(), e["IF_CLIENT"])
	confPath := holdConfig(t, dir, bad, "[80, 8081]")
	sensor := startEnforcing(t, l, bin, confPath)

	// The listed file: not whole, blocked with its completing packet held.
	took, err := fetchListed(t, l, "vx1", si, got, url("/listed.bin"), bad)
	// Reset inside the tunnel (made in userspace: the program makes
	// resets of plain frames only), so the client fails fast.
	if err == nil || !strings.Contains(err.Error(), "reset") || took > 3*time.Second {
		t.Errorf("listed: curl ended after %v (%v); want a reset at once", took, err)
	}
	wantHeldBlock(t, sensor, bad)

	// The clean file, five times, byte-exact.
	frags2 := fragCreates(t, l)
	times := cleanTimes(t, l, got, url("/clean.bin"), clean)
	t.Logf("clean 1 MiB ×5 through the tunnel: curl time_total p50 %v, max %v; %d fragments made",
		quantile(times, 0.5), quantile(times, 1), fragCreates(t, l)-frags2)

	wantHoldFrags(t, l)
}
