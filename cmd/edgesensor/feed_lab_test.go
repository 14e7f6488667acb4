package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/lab"
	"github.com/edgesensor/edgesensor/internal/testutil/cloudtest"
	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
)

// TestPrivilegedFeedTwoSensors runs two routers, each with its own sensor
// (sensor A contributing records and samples, sensor B taking only the
// feed and asking hash lookups, enforcement on), and the reference cloud
// reachable from both over a link between the routers:
//   - the cloud's partner intel (a C&C address) is in B's data plane at
//     once: B's clients cannot reach it;
//   - B's lookups: repeated downloads of one clean file ask the cloud
//     once; the rest are answered by the cache (hit rate and latency
//     reported);
//   - a file neither sensor's analysis finds bad reaches a client behind
//     A; A uploads it, the cloud judges it malicious, and B's feed has it
//     within seconds (the time is reported; goal under 10 s);
//   - B then blocks the same file from the feed alone: its download
//     fails, an action event names the hash, and B asked no lookup;
//   - the cloud down and B restarted: the feed kept on disk is in force
//     at start, and the file is still blocked.
func TestPrivilegedFeedTwoSensors(t *testing.T) {
	la := lab.Up(t, "esf", 90)
	lb := lab.Up(t, "esg", 91)
	bin := buildBinary(t)
	dir := t.TempDir()
	// The link between the routers, for the cloud that runs on A's.
	la.MustExec(la.Router(), "ip", "link", "add", "esfx", "type", "veth", "peer", "name", "esgx", "netns", lb.Router())
	la.MustExec(la.Router(), "ip", "addr", "add", "10.250.90.1/30", "dev", "esfx")
	la.MustExec(la.Router(), "ip", "link", "set", "esfx", "up")
	lb.MustExec(lb.Router(), "ip", "addr", "add", "10.250.90.2/30", "dev", "esgx")
	lb.MustExec(lb.Router(), "ip", "link", "set", "esgx", "up")

	// The same files on both servers.
	var judged, clean string
	for _, l := range []*lab.Lab{la, lb} {
		www := filepath.Join(l.Env["LAB_DIR"], "www")
		judged = executable(t, filepath.Join(www, "judged.exe"), 256<<10, 7)
		clean = executable(t, filepath.Join(www, "clean2.exe"), 64<<10, 8)
	}
	pki := filepath.Join(dir, "pki")
	if err := cloudapi.GenerateCerts(pki); err != nil {
		t.Fatal(err)
	}
	judge := filepath.Join(dir, "judge.txt")
	writeAtomic(t, judge, judged+" 9\n")
	// The cloud's partner intel: B's server's IPv6 address as a C&C.
	partner := filepath.Join(dir, "partner.txt")
	writeAtomic(t, partner, "ip "+lb.Env["SERVER6"]+" 9 c2-tracker\n")
	cloudBin := cloudtest.Build(t)
	startCloud := func() *opsProc {
		p := startOps(t, la, la.Router(), cloudBin, "serve", "--listen", "0.0.0.0:18446",
			"--cert", filepath.Join(pki, cloudapi.ServerCertFile), "--key", filepath.Join(pki, cloudapi.ServerKeyFile),
			"--client-ca", filepath.Join(pki, cloudapi.CAFile), "--data", filepath.Join(dir, "cloud"),
			"--feed-key", filepath.Join(pki, cloudapi.FeedKeyFile), "--judge", judge, "--feed-entries", partner)
		p.waitLog(t, "edgecloud serving", 10*time.Second)
		return p
	}
	cloud := startCloud()
	uplinkTable := func(name, url string, more ...string) string {
		return fmt.Sprintf("[uplink]\nurl = %q\nca_file = %q\ncert_file = %q\nkey_file = %q\nspool_dir = %q\naudit_log = \"\"\n"+
			"feed_key_file = %q\nfeed_dir = %q\n%s\n\n", url, filepath.Join(pki, cloudapi.CAFile),
			filepath.Join(pki, cloudapi.ClientCertFile), filepath.Join(pki, cloudapi.ClientKeyFile), filepath.Join(dir, name, "uplink"),
			filepath.Join(pki, cloudapi.FeedPubFile), filepath.Join(dir, name, "feed"), strings.Join(more, "\n"))
	}
	// A: contributes records, and samples of executables.
	key := filepath.Join(dir, "anon.key")
	la.MustExec(la.Router(), bin, "genkey", key)
	confA := filepath.Join(dir, "a.toml")
	writeConfig(t, confA, opsConfig{spool: filepath.Join(dir, "a", "spool"), metrics: opsMetricsAddr,
		extra: fmt.Sprintf("[privacy]\nshare = \"full\"\nexecutables = \"full\"\nkey_file = %q\n\n", key) +
			uplinkTable("a", "https://127.0.0.1:18446")})
	// B: sends no record; asks hash lookups, takes the feed, blocks.
	confB := filepath.Join(dir, "b.toml")
	writeConfig(t, confB, opsConfig{spool: filepath.Join(dir, "b", "spool"), metrics: opsMetricsAddr,
		extra: "[privacy]\nshare = \"none\"\n\n" +
			uplinkTable("b", "https://10.250.90.1:18446", "server_name = \"localhost\"", "contribute = false", "lookups = true") +
			"[enforcement]\nmode = \"block\"\nhold_timeout = \"2s\"\nmax_age = \"10s\"\n"})
	sensorB := startEnforcing(t, lb, bin, confB)
	ifsA := la.RouterIfaces()
	pinA := la.PinPath()
	t.Cleanup(func() { la.Exec(la.Router(), bin, "detach", "--pin-path", pinA) })
	sensorA := startOps(t, la, la.Router(), bin, "run", "--iface", ifsA[0], "--iface", ifsA[1], "--pin-path", pinA, "-c", confA)
	sensorA.waitLog(t, `"running`, 20*time.Second)

	metric := func(l *lab.Lab, name string, labels map[string]string) float64 {
		v, _ := metricValue(scrape(t, l), name, labels)
		return v
	}
	waitMetric := func(l *lab.Lab, name string, labels map[string]string, ok func(float64) bool, d time.Duration) (float64, bool) {
		var v float64
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if v = metric(l, name, labels); ok(v) {
				return v, true
			}
		}
		return v, false
	}
	// B has the cloud's first snapshot (empty: the cloud knows nothing yet).
	if v, ok := waitMetric(lb, "edgesensor_feed_version", nil, func(v float64) bool { return v > 0 }, 10*time.Second); !ok {
		t.Fatalf("B never took the feed's snapshot (version %v)\n%s", v, sensorB.stderr())
	}

	// The feed's address is blocked in B's data plane; IPv4 to the same
	// server is not.
	if _, err := lb.Exec(lb.Client(), "curl", "-sS", "--max-time", "2", "-o", "/dev/null", "http://["+lb.Env["SERVER6"]+"]/clean2.exe"); err == nil {
		t.Error("B: the address the feed lists as a C&C was reachable")
	}
	if v := metric(lb, "edgesensor_xdp_dropped_packets_total", map[string]string{"iface": lb.RouterIfaces()[0], "reason": "address"}); v < 1 {
		t.Errorf("B: no packet dropped for the feed's address (%v)", v)
	}

	// B's lookups of one clean file downloaded 20 times: one question.
	got := filepath.Join(dir, "got")
	serverB := "http://" + lb.Env["SERVER4"]
	for i := 0; i < 20; i++ {
		if sum, err, _ := fetchSum(t, lb, got, serverB+"/clean2.exe"); err != nil || sum != clean {
			t.Fatalf("B: clean download %d: %s, %v", i, sum, err)
		}
	}
	hits, _ := waitMetric(lb, "edgesensor_lookups_total", map[string]string{"result": "cache_hit"}, func(v float64) bool { return v >= 19 }, 5*time.Second)
	misses := metric(lb, "edgesensor_lookups_total", map[string]string{"result": "cache_miss"})
	fams := scrape(t, lb)
	l50, _ := metricValue(fams, "edgesensor_lookup_seconds", map[string]string{"quantile": "0.5"})
	if hits < 19 || misses != 1 {
		t.Errorf("B's lookups of 20 downloads of one file: %v cache hits, %v misses; want 19 and 1", hits, misses)
	}
	t.Logf("B's lookups: %v of %v answered by the cache (%.0f%%); the cloud's answer took %.2f ms",
		hits, hits+misses, 100*hits/(hits+misses), l50*1e3)
	// The verdict latency histogram holds those 20 file events.
	var files uint64
	var p50, p99 float64
	for _, m := range fams["edgesensor_verdict_latency_seconds"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "dataset" && l.GetValue() == "edgesensor.file" {
				h := m.GetHistogram()
				files = h.GetSampleCount()
				for _, b := range h.GetBucket() {
					if p50 == 0 && float64(b.GetCumulativeCount()) >= 0.5*float64(files) {
						p50 = b.GetUpperBound()
					}
					if p99 == 0 && float64(b.GetCumulativeCount()) >= 0.99*float64(files) {
						p99 = b.GetUpperBound()
					}
				}
			}
		}
	}
	if files < 20 {
		t.Errorf("B's verdict latency histogram holds %d file events, want 20 or more", files)
	}
	t.Logf("B's verdict latency, last packet to file event: p50 under %v s, p99 under %v s (%d files)", p50, p99, files)

	// A sees the file; the cloud judges it; B's feed has it.
	versionB := metric(lb, "edgesensor_feed_version", nil)
	applied := map[string]string{"outcome": "applied"}
	appliedB := metric(lb, "edgesensor_feed_messages_total", applied)
	serverA := "http://" + la.Env["SERVER4"]
	if sum, err, _ := fetchSum(t, la, got, serverA+"/judged.exe"); err != nil || sum != judged {
		t.Fatalf("A: the download before the verdict: %s, %v", sum, err)
	}
	seen := time.Now()
	_, ok := waitMetric(lb, "edgesensor_feed_messages_total", applied, func(v float64) bool { return v > appliedB }, 20*time.Second)
	took := time.Since(seen)
	if !ok {
		b, _ := os.ReadFile(sensorA.outPath)
		t.Fatalf("B's feed did not change within 20s of A seeing the file\nB:\n%s\nA:\n%s\nA's events:\n%.3000s\ncloud:\n%s", sensorB.stderr(), sensorA.stderr(), b, cloud.stderr())
	}
	if took > 10*time.Second {
		t.Errorf("from A seeing the file to B's feed having it: %v, goal under 10s", took)
	}
	t.Logf("from A's download to B's feed update: %v (A's record batch, the sample upload, the verdict, the delta)", took.Round(time.Millisecond))

	// B blocks it from the feed, asking nothing.
	missesBefore := metric(lb, "edgesensor_lookups_total", map[string]string{"result": "cache_miss"})
	blocked := func(what string) {
		t.Helper()
		if sum, err, _ := fetchSum(t, lb, got, serverB+"/judged.exe"); err == nil && sum == judged {
			t.Errorf("%s: B let the file the cloud judged malicious through whole", what)
		}
		found := false
		for end := time.Now().Add(3 * time.Second); !found && time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			for _, ev := range actionEvents(t, sensorB) {
				found = found || get(ev, "event.action") == "blocked" && get(ev, "edgesensor.action.matched") == judged
			}
		}
		if !found {
			t.Errorf("%s: no blocked action event for the file", what)
		}
	}
	blocked("from the feed")
	if v, _ := waitMetric(lb, "edgesensor_lookups_total", map[string]string{"result": "listed"}, func(v float64) bool { return v >= 1 }, 3*time.Second); v < 1 {
		t.Error("B's lookup of the file the feed lists was not skipped")
	}
	if m := metric(lb, "edgesensor_lookups_total", map[string]string{"result": "cache_miss"}); m != missesBefore {
		t.Errorf("B asked the cloud about the file the feed lists (%v misses, were %v)", m, missesBefore)
	}

	// The cloud down, B restarted: the kept feed is in force at start.
	cloud.stop(t, syscall.SIGTERM)
	sensorB.stop(t, syscall.SIGTERM)
	sensorB = startEnforcing(t, lb, bin, confB)
	sensorB.waitLog(t, "the last good feed restored from disk", time.Second)
	blocked("after a restart with the cloud down")
	if v := metric(lb, "edgesensor_feed_version", nil); v <= versionB {
		t.Errorf("after the restart: feed version %v, want the one taken (> %v)", v, versionB)
	}
	_ = os.Remove(got)
}
