package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil/cloudtest"

	"github.com/edgesensor/edgesensor/internal/lab"
	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
)

// testOpsUplink: the live path to the reference cloud. A download's
// record arrives anonymised under key 1; replacing the key file rotates
// the key without a restart (the same client gets another Crypto-PAn
// address); SIGHUP with share = "none" stops the uplink.
func testOpsUplink(t *testing.T, l *lab.Lab, bin, certs string) {
	dir := t.TempDir()
	cloudBin := cloudtest.Build(t)
	addr := "127.0.0.1:18443"
	recordLog := filepath.Join(dir, "records.ndjson")
	cloudProc := startOps(t, l, l.Router(), cloudBin, "serve", "--listen", addr,
		"--cert", filepath.Join(certs, cloudapi.ServerCertFile), "--key", filepath.Join(certs, cloudapi.ServerKeyFile),
		"--client-ca", filepath.Join(certs, cloudapi.CAFile), "--data", filepath.Join(dir, "cloud"), "--record-log", recordLog)
	cloudProc.waitLog(t, "edgecloud serving", 10*time.Second)

	key := filepath.Join(dir, "anon.key")
	l.MustExec(l.Router(), bin, "genkey", key)
	conf := func(share string) string {
		return fmt.Sprintf(`[files]
spool_dir = %q
[intel]
reload = "1s"
[metrics]
listen = ""
[privacy]
share = %q
key_file = %q
[uplink]
url = "https://%s"
ca_file = %q
cert_file = %q
key_file = %q
spool_dir = %q
audit_log = ""
`, filepath.Join(dir, "spool"), share, key, addr, filepath.Join(certs, cloudapi.CAFile),
			filepath.Join(certs, cloudapi.ClientCertFile), filepath.Join(certs, cloudapi.ClientKeyFile), filepath.Join(dir, "uplink"))
	}
	confPath := filepath.Join(dir, "sensor.toml")
	os.WriteFile(confPath, []byte(conf("hash")), 0o600)
	ifs := l.RouterIfaces()
	s := startOps(t, l, l.Router(), bin, "run", "--iface", ifs[0], "--iface", ifs[1], "--pin-path", l.PinPath(), "-c", confPath)
	s.waitLog(t, `"running`, 20*time.Second)
	defer s.stop(t, syscall.SIGTERM)

	c := &cloudtest.Cloud{RecordLog: recordLog}
	// fileRecord waits for the cloud's n-th file record (1-based).
	fileRecord := func(n int, d time.Duration) map[string]any {
		t.Helper()
		deadline := time.Now().Add(d)
		for {
			var files []map[string]any
			for _, r := range c.Received(t) {
				if r["dataset"] == "edgesensor.file" {
					files = append(files, r)
				}
			}
			if len(files) >= n {
				return files[n-1]
			}
			if time.Now().After(deadline) {
				t.Fatalf("the cloud has %d file records, waited for %d:\n%s", len(files), n, s.stderr())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	srv := l.Env["SERVER4"]
	client := l.Env["CLIENT4"]
	download(t, l, "http://"+srv+"/sample.exe")
	r1 := fileRecord(1, 15*time.Second)
	ip1, _ := get(r1, "record.source.ip").(string)
	if ip1 == "" || ip1 == client || r1["key_id"] == "" {
		t.Fatalf("first record: key %v, client %v (raw %s)", r1["key_id"], ip1, client)
	}

	// Rotate: a new key file takes the old one's place.
	next := filepath.Join(dir, "anon2.key")
	l.MustExec(l.Router(), bin, "genkey", next)
	if err := os.Rename(next, key); err != nil {
		t.Fatal(err)
	}
	s.waitLog(t, "anonymisation key rotated", 10*time.Second)
	download(t, l, "http://"+srv+"/eicar.com")
	r2 := fileRecord(2, 15*time.Second)
	ip2, _ := get(r2, "record.source.ip").(string)
	if r2["key_id"] == r1["key_id"] || ip2 == ip1 || ip2 == client || ip2 == "" {
		t.Errorf("after rotation: key %v → %v, client %s → %s", r1["key_id"], r2["key_id"], ip1, ip2)
	}

	// share = "none" by SIGHUP: nothing more leaves.
	os.WriteFile(confPath, []byte(conf("none")), 0o600)
	s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLog(t, `"privacy.share"`, 10*time.Second)
	download(t, l, "http://"+srv+"/report.pdf")
	time.Sleep(2 * time.Second)
	if n := len(c.Received(t)); n != 2 {
		t.Errorf("after share = none the cloud has %d records, want still 2", n)
	}
}
