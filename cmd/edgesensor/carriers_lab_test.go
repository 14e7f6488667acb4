package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/lab"
	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
)

// Today's malware carriers served by the lab's nginx and fetched by curl
// over one keep-alive connection through the router: each is reported
// with its category and the SHA-256 of the original, whole.
func TestPrivilegedCarriersThroughNginx(t *testing.T) {
	l := lab.Up(t, "escr", 95)
	bin := buildBinary(t)
	www := filepath.Join(l.Env["LAB_DIR"], "www")
	pe, err := os.ReadFile(filepath.Join(www, "sample.exe"))
	if err != nil {
		t.Fatal(err)
	}
	ps := `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`
	samples := map[string]struct {
		body     []byte
		category string
	}{
		"lure.iso":        {carriers.ISO(map[string][]byte{"invoice.exe": pe}), "disk_image"},
		"disk.vhdx":       {carriers.VHDX(), "disk_image"},
		"invoice.pdf.lnk": {carriers.LNK(ps, "-w hidden -c calc", "", true), "shortcut"},
		"notes.one":       {carriers.OneNote(carriers.HTA()), "document"},
		"help.chm":        {carriers.CHM(), "document"},
		"invoice.hta":     {carriers.HTA(), "script"},
		"update.ps1":      {carriers.PowerShellCradle(), "script"},
	}
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
	ifs := l.RouterIfaces()
	pin := l.PinPath()
	t.Cleanup(func() { l.Exec(l.Router(), bin, "detach", "--pin-path", pin) })
	sensor := startOps(t, l, l.Router(), bin, "run", "--iface", ifs[0], "--iface", ifs[1], "--pin-path", pin, "-c", confPath)
	sensor.waitLog(t, `"running`, 20*time.Second)

	// One curl, one connection: every URL over the same keep-alive.
	args := []string{"curl", "-sS", "--max-time", "30", "-w", "%{http_code} %{num_connects}\n"}
	for range urls {
		args = append(args, "-o", "/dev/null")
	}
	out := l.MustExec(l.Client(), append(args, urls...)...)
	if strings.Count(out, "200 ") != len(urls) || strings.Count(out, " 1\n") != 1 {
		t.Fatalf("curl (want %d answers on one connection):\n%s", len(urls), out)
	}

	type ev struct {
		File struct {
			Name string `json:"name"`
			Hash *struct {
				SHA256 string `json:"sha256"`
			} `json:"hash"`
		} `json:"file"`
		Edgesensor struct {
			File struct {
				Category string `json:"category"`
				Complete bool   `json:"complete"`
			} `json:"file"`
		} `json:"edgesensor"`
	}
	deadline := time.Now().Add(20 * time.Second)
	got := map[string]ev{}
	for len(got) < len(samples) && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		f, err := os.Open(sensor.outPath)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			var e ev
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.File.Name != "" {
				if _, ok := samples[e.File.Name]; ok {
					got[e.File.Name] = e
				}
			}
		}
		f.Close()
	}
	for name, s := range samples {
		e, ok := got[name]
		if !ok {
			t.Errorf("%s: no event", name)
			continue
		}
		sum := sha256.Sum256(s.body)
		if e.Edgesensor.File.Category != s.category || !e.Edgesensor.File.Complete || e.File.Hash == nil ||
			e.File.Hash.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: %+v, want %s with sha256 %x", name, e, s.category, sum)
		}
	}
}
