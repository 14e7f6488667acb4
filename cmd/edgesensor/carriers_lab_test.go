package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/lab"
)

// Today's malware carriers served by the lab's nginx and fetched by curl
// over one keep-alive connection through the router: each is reported
// with its category and the SHA-256 of the original, whole.
func TestPrivilegedCarriersThroughNginx(t *testing.T) {
	l := lab.Up(t, "escr", 95)
	bin := buildBinary(t)
	www := filepath.Join(l.Env["LAB_DIR"], "www")
	samples := carrierSamples(labSample(t, l))
	var urls []string
	for name, s := range samples {
		if err := os.WriteFile(filepath.Join(www, name), s.body, 0o644); err != nil {
			t.Fatal(err)
		}
		urls = append(urls, "http://"+l.Env["SERVER4"]+"/"+name)
	}
	dir := t.TempDir()
	confPath := filepath.Join(dir, "sensor.toml")
	writeConfig(t, confPath, opsConfig{spool: filepath.Join(dir, "spool"), metrics: opsMetricsAddr})
	sensor := startOnRouter(t, l, bin, confPath, 20*time.Second)

	// One curl, one connection: every URL over the same keep-alive.
	args := []string{"curl", "-sS", "--max-time", "30", "-w", "%{http_code} %{num_connects}\n"}
	for range urls {
		args = append(args, "-o", "/dev/null")
	}
	out := l.MustExec(l.Client(), append(args, urls...)...)
	if strings.Count(out, "200 ") != len(urls) || strings.Count(out, " 1\n") != 1 {
		t.Fatalf("curl (want %d answers on one connection):\n%s", len(urls), out)
	}

	evs := waitFileEvents(t, sensor.outPath, allReported(samples, 80), 20*time.Second)
	for name, s := range samples {
		checkCarrier(t, name, eventFor(evs, name, 80), s)
	}
}
