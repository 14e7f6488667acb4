package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/lab"
)

// enforcementTables are the intel sources of the enforcement tests (the
// address list "c2" in ips, the name list "bad-names" in names) and an
// [enforcement] table in mode, last so that more of its keys may follow.
func enforcementTables(ips, names, mode string) string {
	return fmt.Sprintf(`[[intel.sources]]
path = %q
kind = "ip"
name = "c2"

[[intel.sources]]
path = %q
kind = "domain"
name = "bad-names"

[enforcement]
mode = %q
`, ips, names, mode)
}

// startEnforcing runs the sensor with enforcement on the lab router's
// interfaces, as startOnRouter does, and waits for enforcement to be on.
func startEnforcing(t *testing.T, l *lab.Lab, bin, confPath string) *opsProc {
	t.Helper()
	sensor := startOnRouter(t, l, bin, confPath, 20*time.Second)
	sensor.waitLog(t, "enforcement on", time.Second)
	return sensor
}

// peerXDP runs the empty XDP program of make bench on ifc in namespace
// ns. A reset the sensor sends back with XDP_TX on a veth reaches the
// peer at once only when the peer runs an XDP program of its own (with
// GRO alone it waits for the next packet).
func peerXDP(t *testing.T, l *lab.Lab, dir, ns, ifc string) {
	t.Helper()
	pass := filepath.Join(dir, "xdppass")
	if _, err := os.Stat(pass); err != nil {
		if out, err := exec.Command("go", "build", "-o", pass, "../../scripts/xdppass").CombinedOutput(); err != nil {
			t.Fatalf("building xdppass: %v\n%s", err, out)
		}
	}
	startOps(t, l, ns, pass, ifc)
}
