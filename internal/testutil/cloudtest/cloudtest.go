// Package cloudtest runs the reference cloud (cmd/edgecloud) as its own
// process for the tests of the uplink, and writes sensor configs that
// send to it.
package cloudtest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/lab"

	"github.com/edgesensor/edgesensor/userspace/export/anon"
	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
)

// Cloud is a reference cloud running as its own process.
type Cloud struct {
	Addr, PKI, RecordLog string
	cmd                  *exec.Cmd
}

// moduleRoot is the directory of go.mod (lab.Root), for the test.
func moduleRoot(t testing.TB) string {
	root, err := lab.Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// Build builds edgecloud into the test's temporary directory.
func Build(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "edgecloud")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/edgecloud")
	cmd.Dir = moduleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building edgecloud: %v\n%s", err, out)
	}
	return bin
}

// FreePort finds a loopback port nobody listens on.
func FreePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Run runs edgecloud on addr with the PKI in pki; serverCert picks the
// certificate it presents (the right one, or one from another CA).
func Run(t testing.TB, bin, pki, addr, data, serverCert, serverKey string, extra ...string) *Cloud {
	t.Helper()
	c := &Cloud{Addr: addr, PKI: pki, RecordLog: filepath.Join(data, "records.ndjson")}
	var stderr bytes.Buffer
	c.cmd = exec.Command(bin, append([]string{"serve", "--listen", addr, "--cert", filepath.Join(pki, serverCert), "--key", filepath.Join(pki, serverKey),
		"--client-ca", filepath.Join(pki, cloudapi.CAFile), "--data", data, "--record-log", c.RecordLog}, extra...)...)
	c.cmd.Stderr = &stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("edgecloud did not listen on %s:\n%s", addr, stderr.String())
	return nil
}

// Stop stops the cloud (SIGINT) and waits for it.
func (c *Cloud) Stop() {
	if c.cmd.Process != nil && c.cmd.ProcessState == nil {
		c.cmd.Process.Signal(os.Interrupt)
		c.cmd.Wait()
	}
}

// Stats asks the cloud what it saw, over mTLS.
func (c *Cloud) Stats(t testing.TB) cloudapi.Stats {
	t.Helper()
	ca, _ := os.ReadFile(filepath.Join(c.PKI, cloudapi.CAFile))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cert, err := tls.LoadX509KeyPair(filepath.Join(c.PKI, cloudapi.ClientCertFile), filepath.Join(c.PKI, cloudapi.ClientKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	resp, err := hc.Get("https://" + c.Addr + cloudapi.PathStats)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st cloudapi.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// Received is every record line the cloud logged.
func (c *Cloud) Received(t testing.TB) []map[string]any {
	t.Helper()
	f, err := os.Open(c.RecordLog)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("record log line: %v", err)
		}
		out = append(out, m)
	}
	return out
}

// UplinkConfig writes a sensor.toml into dir that sends to the cloud at
// addr (with privacy lines added to [privacy]), and an anonymisation key
// beside it when there is none yet.
func UplinkConfig(t testing.TB, dir, pki, addr, privacy string) string {
	t.Helper()
	key := filepath.Join(dir, "anon.key")
	if _, err := os.Stat(key); os.IsNotExist(err) {
		if err := anon.GenerateKeyFile(key); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(`[files]
spool_dir = %q
[privacy]
key_file = %q
%s
[uplink]
url = "https://%s"
ca_file = %q
cert_file = %q
key_file = %q
spool_dir = %q
audit_log = %q
`, filepath.Join(dir, "spool"), key, privacy, addr, filepath.Join(pki, cloudapi.CAFile),
		filepath.Join(pki, cloudapi.ClientCertFile), filepath.Join(pki, cloudapi.ClientKeyFile),
		filepath.Join(dir, "uplink"), filepath.Join(dir, "audit.log"))
	path := filepath.Join(dir, "sensor.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
