package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/lab"
)

// TestPrivilegedScrapeCost fills the running sensor's kernel flow table
// to capture.max_flows and scrapes /metrics through it: kernel_flows
// must say the table is full, and each scrape's time is reported (the
// scrape reads the kernel's element count, never walks the table). The
// size is capture.max_flows' default, or EDGESENSOR_SCRAPE_FLOWS (the
// maximum, 16777216, takes about 2.5 GiB of kernel memory and a minute
// to fill; make bench runs it).
func TestPrivilegedScrapeCost(t *testing.T) {
	size := 131072
	if v, err := strconv.Atoi(os.Getenv("EDGESENSOR_SCRAPE_FLOWS")); err == nil {
		size = v
	}
	l := lab.Up(t, "esp", 92)
	bin := buildBinary(t)
	dir := t.TempDir()
	confPath := filepath.Join(dir, "sensor.toml")
	writeConfig(t, confPath, opsConfig{spool: filepath.Join(dir, "spool"), metrics: opsMetricsAddr,
		extra: fmt.Sprintf("[capture]\nmax_flows = %d\n", size)})
	startOnRouter(t, l, bin, confPath, 120*time.Second)

	flows, err := ebpf.LoadPinnedMap(filepath.Join(l.PinPath(), "flows"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer flows.Close()
	start := time.Now()
	const batch = 4096
	keys := make([]bpf.FlowKey, 0, batch)
	vals := make([]bpf.Flow, batch)
	for i := 0; i < size; i += batch {
		keys = keys[:0]
		for j := i; j < min(size, i+batch); j++ {
			// Addresses no lab packet uses: the sensor's own flows stay.
			keys = append(keys, bpf.FlowKey{AddrA: [4]uint32{uint32(j) | 0xf0000000}, AddrB: [4]uint32{uint32(j >> 16)}, PortA: 443, Proto: 6})
		}
		if _, err := flows.BatchUpdate(keys, vals[:len(keys)], nil); err != nil {
			t.Fatalf("filling the flow table at %d: %v", i, err)
		}
	}
	filled := time.Since(start)

	var took []time.Duration
	for range 10 {
		out := l.MustExec(l.Router(), "curl", "-sS", "--max-time", "60", "-o", "/dev/null", "-w", "%{time_total}", "http://"+opsMetricsAddr+"/metrics")
		f, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
		if err != nil {
			t.Fatalf("curl: %q", out)
		}
		took = append(took, time.Duration(f*float64(time.Second)))
	}
	n, ok := metricValue(scrape(t, l), "edgesensor_kernel_flows", nil)
	if !ok || int(n) < size-size/100 || int(n) > size {
		t.Errorf("edgesensor_kernel_flows = %v with the table filled to %d", n, size)
	}
	t.Logf("flow table of %d filled in %v; kernel_flows %v; a /metrics scrape p50 %v, max %v (10 scrapes)",
		size, filled.Round(time.Millisecond), n, quantile(took, 0.5).Round(time.Microsecond), quantile(took, 1).Round(time.Microsecond))
}
