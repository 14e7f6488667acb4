package main

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/lab"
	"github.com/edgesensor/edgesensor/internal/testutil/cloudtest"
	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
)

// executable writes a harmless file that starts like a Windows executable:
// n random bytes from seed after an MZ header.
func executable(t *testing.T, path string, n int, seed uint64) string {
	t.Helper()
	b := make([]byte, 64+n)
	copy(b, "MZ")
	b[60] = 0x40
	r := rand.New(rand.NewPCG(seed, seed))
	for i := 64; i < len(b); i++ {
		b[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return sha256Hex(b)
}

// fetchSum fetches url from the client namespace into a file and returns
// the SHA-256 of what arrived, curl's exit error and its total time.
func fetchSum(t *testing.T, l *lab.Lab, dst string, args ...string) (sum string, err error, took time.Duration) {
	t.Helper()
	os.Remove(dst)
	out, err := l.Exec(l.Client(), append([]string{"curl", "-sS", "--max-time", "10", "-o", dst, "-w", "%{time_total}"}, args...)...)
	if f, perr := strconv.ParseFloat(strings.TrimSpace(lastLine(out)), 64); perr == nil {
		took = time.Duration(f * float64(time.Second))
	}
	b, rerr := os.ReadFile(dst)
	if rerr == nil {
		sum = sha256Hex(b)
	}
	if err != nil {
		err = fmt.Errorf("%w: %s", err, strings.TrimSpace(out))
	}
	return sum, err, took
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(int(q*float64(len(s))), len(s)-1)]
}

// TestPrivilegedHeldDownloads runs the sensor with enforcement.mode =
// "block" on the lab router, nginx behind it and curl in front:
//   - EICAR (scored 10 by the analysis), a file whose SHA-256 is on an
//     intel list, and EICAR gzip-compressed and chunked: the download
//     fails (the completing packet is held and the client reset), and the
//     SIEM stream has an edgesensor.action event "blocked" for each;
//   - a clean 1 MiB executable passes byte-exact, with the hold's added
//     latency measured against monitor mode (nothing held) and against
//     hold_release = "retransmit";
//   - monitor mode: EICAR passes byte-exact and is reported would_block;
//   - the daemon stopped (SIGSTOP: it reads nothing) and killed (kill -9):
//     the program stays attached and a download completes within
//     hold_timeout (the data plane's own fail-open).
func TestPrivilegedHeldDownloads(t *testing.T) {
	l := lab.Up(t, "esh", 89)
	e := l.Env
	bin := buildBinary(t)
	dir := t.TempDir()
	// The reset of a sender of mail goes back with XDP_TX.
	peerXDP(t, l, dir, l.Client(), e["IF_CLIENT"])
	www := filepath.Join(e["LAB_DIR"], "www")
	clean := executable(t, filepath.Join(www, "clean.exe"), 1<<20, 1)
	bad := executable(t, filepath.Join(www, "listed.exe"), 300<<10, 2)
	eicarBytes, err := os.ReadFile(filepath.Join(www, "eicar.com"))
	if err != nil {
		t.Fatal(err)
	}
	eicar := sha256Hex(eicarBytes)
	hashes := filepath.Join(dir, "hashes.txt")
	writeAtomic(t, hashes, bad+" 9\n")
	confPath := filepath.Join(dir, "sensor.toml")
	cloudTables := "" // [privacy] and [uplink], once the cloud runs
	config := func(mode, release string, more ...string) {
		writeConfig(t, confPath, opsConfig{spool: filepath.Join(dir, "spool"), metrics: opsMetricsAddr,
			extra: cloudTables + fmt.Sprintf("[[intel.sources]]\npath = %q\nkind = \"sha256\"\nname = \"bad-files\"\n\n"+
				"[enforcement]\nmode = %q\nhold_timeout = \"2s\"\nhold_release = %q\nmax_age = \"10s\"\n", hashes, mode, release) +
				strings.Join(more, "\n") + "\n"})
	}
	config("block", "reinject")
	ifs := l.RouterIfaces()
	sensor := startEnforcing(t, l, bin, confPath)

	server := e["SERVER4"]
	got := filepath.Join(dir, "got")
	cleanURL := "http://" + server + "/clean.exe"
	cleanRuns := func(what string) []time.Duration {
		t.Helper()
		var ds []time.Duration
		for i := 0; i < 20; i++ {
			sum, err, took := fetchSum(t, l, got, cleanURL)
			if err != nil || sum != clean {
				t.Fatalf("%s: clean download %d: sha256 %s (want %s), %v", what, i, sum, clean, err)
			}
			ds = append(ds, took)
		}
		return ds
	}
	held := cleanRuns("block")
	for _, c := range []struct {
		name, want string
		args       []string
	}{
		{"EICAR", eicar, []string{"http://" + server + "/eicar.com"}},
		{"a listed hash", bad, []string{"http://" + server + "/listed.exe"}},
		{"EICAR gzip+chunked", eicar, []string{"--compressed", "http://" + server + ":8080/eicar.com"}},
	} {
		start := time.Now()
		sum, err, _ := fetchSum(t, l, got, c.args...)
		if err == nil && sum == c.want {
			t.Errorf("%s: the whole file reached the client", c.name)
		}
		t.Logf("%s: curl failed in %v (%v), received sha256 %.12s", c.name, time.Since(start).Round(time.Millisecond), err, sum)
	}
	// The SIEM stream.
	blocked := map[string]int{}
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && (blocked[eicar] < 2 || blocked[bad] < 1); time.Sleep(200 * time.Millisecond) {
		clear(blocked)
		for _, ev := range actionEvents(t, sensor) {
			if get(ev, "rule.category") != "file" || get(ev, "edgesensor.action.hold") == nil {
				continue // the data plane's records of the dropped packets
			}
			if get(ev, "event.action") != "blocked" || get(ev, "edgesensor.action.hold") != "held" {
				t.Errorf("file action event: %v", ev)
			}
			blocked[fmt.Sprint(get(ev, "edgesensor.action.matched"))]++
		}
	}
	if blocked[eicar] != 2 || blocked[bad] != 1 {
		t.Errorf("blocked downloads reported: %v (want EICAR twice, %s once)", blocked, bad)
	}
	fams := scrape(t, l)
	var byFlow float64
	for _, ifc := range ifs {
		v, _ := metricValue(fams, "edgesensor_xdp_dropped_packets_total", map[string]string{"iface": ifc, "reason": "flow"})
		byFlow += v
	}
	if byFlow == 0 {
		t.Error("edgesensor_xdp_dropped_packets_total{reason=flow} did not rise")
	}
	for outcome, want := range map[string]float64{"released": 20, "blocked": 3} {
		if v, _ := metricValue(fams, "edgesensor_enforcement_held_downloads_total", map[string]string{"outcome": outcome}); v < want {
			t.Errorf("edgesensor_enforcement_held_downloads_total{outcome=%s} = %v, want >= %v", outcome, v, want)
		}
	}
	p50, _ := metricValue(fams, "edgesensor_enforcement_hold_seconds", map[string]string{"stage": "verdict", "quantile": "0.5"})
	p99, _ := metricValue(fams, "edgesensor_enforcement_hold_seconds", map[string]string{"stage": "verdict", "quantile": "0.99"})
	r50, _ := metricValue(fams, "edgesensor_enforcement_hold_seconds", map[string]string{"stage": "read", "quantile": "0.5"})
	r99, _ := metricValue(fams, "edgesensor_enforcement_hold_seconds", map[string]string{"stage": "read", "quantile": "0.99"})
	t.Logf("held packets handed on once read: p50 %.2f ms, p99 %.2f ms", r50*1e3, r99*1e3)
	var fates []string
	for _, f := range []string{"passed", "kept", "not_kept"} {
		v, _ := metricValue(fams, "edgesensor_enforcement_held_packets_total", map[string]string{"fate": f})
		fates = append(fates, fmt.Sprintf("%s %v", f, v))
	}
	for _, ev := range []string{"gated", "held", "expired", "lost", "busy"} {
		var n float64
		for _, ifc := range ifs {
			v, _ := metricValue(fams, "edgesensor_xdp_hold_packets_total", map[string]string{"iface": ifc, "event": ev})
			n += v
		}
		fates = append(fates, fmt.Sprintf("xdp %s %v", ev, n))
	}
	herr, _ := metricValue(fams, "edgesensor_enforcement_hold_errors_total", nil)
	t.Logf("held packets: %s; errors %v", strings.Join(fates, ", "), herr)
	t.Logf("clean 1 MiB download held for its verdict: p50 %.2f ms, p99 %.2f ms (edgesensor_enforcement_hold_seconds)", p50*1e3, p99*1e3)

	reload := func(mode, release string, more ...string) {
		t.Helper()
		lines := len(sensor.logLines())
		config(mode, release, more...)
		if err := sensor.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		sensor.waitLogLine(t, lines, "config reloaded", 5*time.Second)
	}
	// Released by the sender's retransmission instead.
	reload("block", "retransmit")
	retrans := cleanRuns("retransmit")
	// Monitor: nothing held; EICAR passes and is reported would_block.
	reload("monitor", "reinject")
	free := cleanRuns("monitor")
	t.Logf("clean 1 MiB download, curl time_total p50/p99: monitor %v/%v, held+reinject %v/%v, held+retransmit %v/%v",
		quantile(free, 0.5), quantile(free, 0.99), quantile(held, 0.5), quantile(held, 0.99),
		quantile(retrans, 0.5), quantile(retrans, 0.99))
	if sum, err, _ := fetchSum(t, l, got, "http://"+server+"/eicar.com"); err != nil || sum != eicar {
		t.Errorf("monitor mode: EICAR sha256 %s, %v; want it whole", sum, err)
	}
	would := false
	for end := time.Now().Add(3 * time.Second); !would && time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, ev := range actionEvents(t, sensor) {
			would = would || get(ev, "event.action") == "would_block" && get(ev, "edgesensor.action.matched") == eicar
		}
	}
	if !would {
		t.Error("monitor mode: no would_block event for EICAR")
	}

	// The cloud's lookup (hold_cloud): a file clean to the local analysis
	// that the cloud knows as malicious is blocked; a cloud slower than
	// the hold gets on_timeout.
	cloudBad := executable(t, filepath.Join(www, "cloudknown.exe"), 200<<10, 3)
	pki := filepath.Join(dir, "pki")
	if err := cloudapi.GenerateCerts(pki); err != nil {
		t.Fatal(err)
	}
	known := filepath.Join(dir, "verdicts.txt")
	writeAtomic(t, known, cloudBad+" 9\n")
	cloudBin := cloudtest.Build(t)
	cloudAddr := "127.0.0.1:18444"
	startCloud := func(delay string) *opsProc {
		p := startOps(t, l, l.Router(), cloudBin, "serve", "--listen", cloudAddr, "--lookup-delay", delay,
			"--cert", filepath.Join(pki, cloudapi.ServerCertFile), "--key", filepath.Join(pki, cloudapi.ServerKeyFile),
			"--client-ca", filepath.Join(pki, cloudapi.CAFile), "--data", filepath.Join(dir, "cloud"), "--verdicts", known)
		p.waitLog(t, "edgecloud serving", 10*time.Second)
		return p
	}
	cloud := startCloud("0s")
	key := filepath.Join(dir, "anon.key")
	l.MustExec(l.Router(), bin, "genkey", key)
	cloudConf := fmt.Sprintf("[privacy]\nshare = \"hash\"\nkey_file = %q\n\n[uplink]\nurl = \"https://%s\"\nca_file = %q\ncert_file = %q\nkey_file = %q\nspool_dir = %q\naudit_log = \"\"\nlookups = true\ncache_entries = 0\n\n",
		key, cloudAddr, filepath.Join(pki, cloudapi.CAFile), filepath.Join(pki, cloudapi.ClientCertFile),
		filepath.Join(pki, cloudapi.ClientKeyFile), filepath.Join(dir, "uplink"))
	// No lookup cache: each download asks the cloud (the cache has its
	// own test), so that a slower cloud shows.
	cloudTables = cloudConf
	reload("block", "reinject", "hold_cloud = true")
	if sum, err, _ := fetchSum(t, l, got, "http://"+server+"/cloudknown.exe"); err == nil && sum == cloudBad {
		t.Error("a file the cloud knows as malicious reached the client whole")
	}
	cleanRuns("cloud lookup")
	fams = scrape(t, l)
	c50, _ := metricValue(fams, "edgesensor_enforcement_hold_cloud_lookup_seconds", map[string]string{"quantile": "0.5"})
	c99, _ := metricValue(fams, "edgesensor_enforcement_hold_cloud_lookup_seconds", map[string]string{"quantile": "0.99"})
	p50, _ = metricValue(fams, "edgesensor_enforcement_hold_seconds", map[string]string{"stage": "verdict", "quantile": "0.5"})
	t.Logf("with the cloud's lookup: lookup p50 %.2f ms, p99 %.2f ms; hold p50 %.2f ms", c50*1e3, c99*1e3, p50*1e3)
	cloud.stop(t, syscall.SIGTERM)
	cloud = startCloud("5s")
	sum, err, took := fetchSum(t, l, got, cleanURL)
	if err != nil || sum != clean {
		t.Errorf("slow cloud, on_timeout = permit: clean download sha256 %s, %v", sum, err)
	}
	if took < 1500*time.Millisecond || took > 4*time.Second {
		t.Errorf("slow cloud, on_timeout = permit: download took %v, want about 90%% of hold_timeout (2s)", took)
	}
	t.Logf("slow cloud, on_timeout = permit: clean download complete in %v", took.Round(time.Millisecond))
	reload("block", "reinject", "hold_cloud = true", "on_timeout = \"block\"")
	sum, err, took = fetchSum(t, l, got, cleanURL)
	if err == nil && sum == clean {
		t.Error("slow cloud, on_timeout = block: the download completed")
	}
	t.Logf("slow cloud, on_timeout = block: curl failed after %v (%v)", took.Round(time.Millisecond), err)
	timeouts := false
	for end := time.Now().Add(3 * time.Second); !timeouts && time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, ev := range actionEvents(t, sensor) {
			timeouts = timeouts || get(ev, "edgesensor.action.hold") == "timeout" && get(ev, "event.action") == "blocked"
		}
	}
	if !timeouts {
		t.Error("no blocked action event with hold timeout")
	}
	fams = scrape(t, l)
	if v, _ := metricValue(fams, "edgesensor_enforcement_held_downloads_total", map[string]string{"outcome": "timeout"}); v < 2 {
		t.Errorf("edgesensor_enforcement_held_downloads_total{outcome=timeout} = %v, want 2", v)
	}
	cloud.stop(t, syscall.SIGTERM)
	cloudTables = ""

	// Mail: the sender's packets are held one by one through the
	// message; the one that completes an attachment waits for its
	// verdict. EICAR attached: the session is reset before the final dot,
	// so the server never accepts the message. A clean attachment is
	// delivered.
	reload("block", "reinject")
	inbox := filepath.Join(e["LAB_DIR"], "mail", "inbox", "new")
	count := func() int {
		ents, _ := os.ReadDir(inbox)
		return len(ents)
	}
	waitCount := func(n int) int {
		for end := time.Now().Add(5 * time.Second); count() < n && time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		}
		return count()
	}
	executable(t, filepath.Join(www, "mailclean.exe"), 200<<10, 4)
	before := count()
	start := time.Now()
	if out, err := l.Exec(l.Client(), "swaks", "--to", "user@example.test", "--from", "alice@example.test", "--server", server,
		"--attach", filepath.Join(www, "mailclean.exe"), "--h-Subject", "held-clean"); err != nil {
		t.Errorf("mail with a clean attachment: %v\n%s", err, out)
	}
	t.Logf("mail with a clean 200 KiB attachment sent in %v", time.Since(start).Round(time.Millisecond))
	if n := waitCount(before + 1); n != before+1 {
		t.Errorf("mail with a clean attachment: inbox %d, want %d", n, before+1)
	}
	before = count()
	start = time.Now()
	out, err := l.Exec(l.Client(), "swaks", "--to", "user@example.test", "--from", "alice@example.test", "--server", server,
		"--attach", filepath.Join(www, "eicar.com"), "--h-Subject", "held-eicar")
	if err == nil {
		t.Errorf("mail with EICAR attached: swaks succeeded:\n%s", out)
	}
	if took := time.Since(start); took > 20*time.Second {
		// (Postfix may take 5 s to greet: its client lookup.)
		t.Errorf("mail with EICAR attached: swaks failed after %v, want a reset", took)
	}
	t.Logf("mail with EICAR attached: swaks failed in %v (%v): %s", time.Since(start).Round(time.Millisecond), err, lastLine(out))
	time.Sleep(time.Second)
	if n := count(); n != before {
		t.Errorf("mail with EICAR attached: delivered (inbox %d, was %d)", n, before)
	}
	mailBlocked := false
	for end := time.Now().Add(3 * time.Second); !mailBlocked && time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, ev := range actionEvents(t, sensor) {
			if get(ev, "edgesensor.action.hold") == "held" && get(ev, "edgesensor.action.matched") == eicar &&
				get(ev, "destination.port") == float64(25) {
				mailBlocked = true
			}
		}
	}
	if !mailBlocked {
		t.Error("no held-and-blocked action event for the mail's EICAR")
	}
	// STARTTLS: the client's bytes are held one by one until the
	// upgrade; those held when it comes (its ClientHello) go back
	// through the program, so the handshake is analysed like any.
	before = count()
	if out, err := l.Exec(l.Client(), "swaks", "--to", "user@example.test", "--from", "alice@example.test", "--server", server,
		"--tls", "--tls-sni", "mail.example.test", "--h-Subject", "held-starttls"); err != nil {
		t.Errorf("mail over STARTTLS: %v\n%s", err, out)
	}
	if n := waitCount(before + 1); n != before+1 {
		t.Errorf("mail over STARTTLS: inbox %d, want %d", n, before+1)
	}
	if !waitTLSEvent(t, sensor, 5*time.Second, func(ev *tlsEvent) bool {
		return ev.Destination.Port == 25 && ev.TLS.Client.ServerName == "mail.example.test" && ev.TLS.Client.JA3 != "" &&
			ev.TLS.Server != nil && ev.TLS.Server.JA3S != ""
	}) {
		t.Error("mail over STARTTLS: no edgesensor.tls event to port 25 with its SNI, JA3 and JA3S")
	}
	// IMAP: a message with EICAR attached, put in the mailbox behind the
	// sensor's back: fetching it fails; the clean one before it comes.
	eicarB64 := base64.StdEncoding.EncodeToString(eicarBytes)
	msg := "From: a@example.test\r\nTo: user@example.test\r\nSubject: held-imap\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n--BB\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
		"--BB\r\nContent-Type: application/octet-stream; name=\"eicar.com\"\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"eicar.com\"\r\n\r\n" + eicarB64 + "\r\n--BB--\r\n"
	if err := os.WriteFile(filepath.Join(inbox, fmt.Sprintf("%d.held-imap.lab", time.Now().UnixNano())), []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
	// The message with this subject (the last, if a run before left one).
	find := func(subject string) string {
		out := l.MustExec(l.Client(), "curl", "-sS", "--max-time", "10", fmt.Sprintf("imap://%s/INBOX?SUBJECT%%20%s", server, subject), "-u", "user:secret")
		f := strings.Fields(out)
		if len(f) < 3 || f[1] != "SEARCH" {
			t.Fatalf("IMAP search for %s: %q", subject, out)
		}
		return f[len(f)-1]
	}
	fetch := func(uid string) (string, error) {
		return l.Exec(l.Client(), "curl", "-sS", "--max-time", "10", fmt.Sprintf("imap://%s/INBOX;MAILINDEX=%s", server, uid), "-u", "user:secret")
	}
	if out, err := fetch(find("held-clean")); err != nil || !strings.Contains(out, "held-clean") {
		t.Errorf("IMAP fetch of the clean message: %v: %.200s", err, out)
	}
	idx := find("held-imap")
	start = time.Now()
	if out, err := fetch(idx); err == nil && strings.Contains(out, eicarB64) {
		t.Errorf("IMAP fetch of the message with EICAR attached succeeded")
	} else {
		t.Logf("IMAP fetch of the message with EICAR attached failed in %v (%v)", time.Since(start).Round(time.Millisecond), err)
	}

	// A daemon that reads nothing (stopped) or is gone: the program holds
	// a download's packets at most hold_timeout (2s), then lets them
	// through.
	if err := sensor.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	sum, err, took = fetchSum(t, l, got, cleanURL)
	sensor.cmd.Process.Signal(syscall.SIGCONT)
	if err != nil || sum != clean {
		t.Errorf("daemon stopped: clean download sha256 %s, %v", sum, err)
	}
	if took > 5*time.Second {
		t.Errorf("daemon stopped: download took %v (hold_timeout 2s)", took)
	}
	t.Logf("daemon stopped: download complete in %v (hold_timeout 2s)", took.Round(time.Millisecond))
	// kill -9 while a file is held: its verdict waits for a cloud that
	// takes 30s (on_timeout = "block": the daemon alive would block it
	// at 1.8s); the daemon dies meanwhile; the program lets the held
	// packet through once it held it hold_timeout, and the transfer
	// completes whole.
	cloud = startCloud("30s")
	cloudTables = cloudConf
	reload("block", "reinject", "hold_cloud = true", "on_timeout = \"block\"")
	os.Remove(got)
	bg := l.Command(l.Client(), "curl", "-sS", "--max-time", "15", "-o", got, "-w", "%{time_total}", cleanURL)
	var bgOut strings.Builder
	bg.Stdout = &bgOut
	started := time.Now()
	if err := bg.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := sensor.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-sensor.done
	if !l.XDPAttached(ifs[0]) {
		t.Fatal("the program went with the daemon; nothing to fail open")
	}
	err = bg.Wait()
	took = time.Since(started)
	b, _ := os.ReadFile(got)
	if gs := sha256Hex(b); err != nil || gs != clean {
		t.Errorf("kill -9 while holding: curl %v, sha256 %s", err, gs)
	}
	if took > 5*time.Second {
		t.Errorf("kill -9 while holding: the download took %v (hold_timeout 2s)", took)
	}
	t.Logf("kill -9 0.5s into a held download: complete and whole %v after it started (hold_timeout 2s; curl %ss)", took.Round(time.Millisecond), bgOut.String())
	// And a new download, with no daemon at all.
	sum, err, took = fetchSum(t, l, got, cleanURL)
	if err != nil || sum != clean {
		t.Errorf("after kill -9: clean download sha256 %s, %v", sum, err)
	}
	if took > 5*time.Second {
		t.Errorf("after kill -9: download took %v (hold_timeout 2s)", took)
	}
	t.Logf("after kill -9: download complete in %v (hold_timeout 2s)", took.Round(time.Millisecond))
}
