package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/lab"
)

// TestPrivilegedProxyDownloads runs tinyproxy beside nginx in the lab's
// server namespace (port 3128, in the default [ports] http list) and
// fetches through it from the client, across the router:
//   - plain HTTP (absolute-form requests): the lab's sample PE and the
//     carriers are reported as without the proxy, with category and the
//     SHA-256 of the file on disk;
//   - HTTPS through CONNECT: the handshake inside the tunnel has the SNI,
//     JA3 and JA4 of the same curl fetch made without the proxy;
//   - plain HTTP inside a CONNECT tunnel (curl -p): the file is reported.
//
// The proxy's own connection to nginx stays inside the server namespace:
// the sensor sees only the client's connection to the proxy.
func TestPrivilegedProxyDownloads(t *testing.T) {
	if _, err := exec.LookPath("tinyproxy"); err != nil {
		t.Skip("tinyproxy is not installed (scripts/deps.sh installs tinyproxy-bin)")
	}
	l := lab.Up(t, "esxp", 96)
	e := l.Env
	bin := buildBinary(t)
	www := filepath.Join(e["LAB_DIR"], "www")
	pe := labSample(t, l)
	samples := carrierSamples(pe)
	for _, drop := range []string{"disk.vhdx", "disk.vhd", "help.chm", "update.ps1"} {
		delete(samples, drop) // a few are enough here: the mail test has them all
	}
	samples["sample.exe"] = carrierSample{body: pe, category: "executable"}
	for name, s := range samples {
		if name != "sample.exe" {
			if err := os.WriteFile(filepath.Join(www, name), s.body, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := t.TempDir()
	confPath := filepath.Join(dir, "sensor.toml")
	// No [ports] table: the defaults must watch 3128.
	writeConfig(t, confPath, opsConfig{spool: filepath.Join(dir, "spool"), metrics: opsMetricsAddr})
	sensor := startOnRouter(t, l, bin, confPath, 20*time.Second)

	s4, host, ca := e["SERVER4"], e["HOSTNAME"], e["CA"]
	proxy := "http://" + s4 + ":3128"
	const proxyPort = 3128

	t.Run("AbsoluteForm", func(t *testing.T) {
		// One curl through the proxy, every URL in turn.
		args := []string{"curl", "-sS", "--max-time", "20", "-x", proxy, "-w", "%{http_code}\n"}
		var urls []string
		for name := range samples {
			urls = append(urls, "http://"+s4+"/"+name)
			args = append(args, "-o", "/dev/null")
		}
		out := l.MustExec(l.Client(), append(args, urls...)...)
		if strings.Count(out, "200\n") != len(urls) {
			t.Fatalf("curl through the proxy (want %d answers):\n%s", len(urls), out)
		}
		evs := waitFileEvents(t, sensor.outPath, allReported(samples, proxyPort), 15*time.Second)
		for name, s := range samples {
			ev := eventFor(evs, name, proxyPort)
			checkCarrier(t, name+" through the proxy", ev, s)
			// The request names the origin server: the URL is its own.
			if ev != nil && (ev.URL == nil || ev.URL.Original != "http://"+s4+"/"+name) {
				t.Errorf("%s through the proxy: url %+v, want http://%s/%s", name, ev.URL, s4, name)
			}
		}
	})

	t.Run("CONNECTHandshake", func(t *testing.T) {
		url := "https://" + host + "/index.html"
		direct := []string{"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
			"--cacert", ca, "--resolve", host + ":443:" + s4, url}
		// --connect-to makes curl ask the proxy for the address, keeping
		// the name for SNI (the server namespace resolves no names).
		proxied := []string{"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
			"--cacert", ca, "-x", proxy, "--connect-to", host + ":443:" + s4 + ":443", url}
		for _, c := range [][]string{direct, proxied} {
			if code := l.MustExec(l.Client(), c...); code != "200" {
				t.Fatalf("%v: %s", c, code)
			}
		}
		var d, p *tlsEvent
		for end := time.Now().Add(10 * time.Second); (d == nil || p == nil) && time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			for _, h := range parseTLSEvents(t, []byte(strings.Join(completeLines(sensor.outPath), "\n"))) {
				switch h.Destination.Port {
				case 443:
					d = &h
				case proxyPort:
					p = &h
				}
			}
		}
		if d == nil || p == nil {
			t.Fatalf("TLS events: direct %v, through the proxy %v", d != nil, p != nil)
		}
		if d.TLS.Client.ServerName != host || d.TLS.Client.JA3 == "" || d.TLS.Client.JA4 == "" {
			t.Fatalf("the direct fetch's handshake: %+v", d.TLS.Client)
		}
		if p.TLS.Client.ServerName != d.TLS.Client.ServerName || p.TLS.Client.JA3 != d.TLS.Client.JA3 ||
			p.TLS.Client.JA4 != d.TLS.Client.JA4 {
			t.Errorf("through CONNECT: sni %q ja3 %s ja4 %s; direct: sni %q ja3 %s ja4 %s",
				p.TLS.Client.ServerName, p.TLS.Client.JA3, p.TLS.Client.JA4,
				d.TLS.Client.ServerName, d.TLS.Client.JA3, d.TLS.Client.JA4)
		}
		if !p.Edgesensor.TLS.Complete {
			t.Errorf("the handshake through CONNECT is not complete: missing %v", p.Edgesensor.TLS.Missing)
		}
	})

	t.Run("PlainHTTPInCONNECT", func(t *testing.T) {
		name := "invoice.hta"
		count := func(evs []fileEvent) int { return countFor(evs, name, proxyPort) }
		// The absolute-form fetch above reported it once already.
		before := count(readFileEvents(t, sensor.outPath))
		if code := l.MustExec(l.Client(), "curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
			"-p", "-x", proxy, "http://"+s4+"/"+name); code != "200" {
			t.Fatalf("curl -p: %s", code)
		}
		evs := waitFileEvents(t, sensor.outPath, func(evs []fileEvent) bool { return count(evs) > before }, 5*time.Second)
		if count(evs) == before {
			t.Fatalf("no file event for %s fetched inside a CONNECT tunnel", name)
		}
		ev := eventFor(evs, name, proxyPort)
		checkCarrier(t, name+" inside CONNECT", ev, samples[name])
		if ev != nil && (ev.URL == nil || ev.URL.Original != "http://"+s4+"/"+name) {
			t.Errorf("%s inside CONNECT: url %+v, want http://%s/%s", name, ev.URL, s4, name)
		}
		if ev != nil && ev.Edgesensor.File.ProxyTunnel != s4+":80" {
			t.Errorf("%s inside CONNECT: proxy_tunnel %q, want %s:80", name, ev.Edgesensor.File.ProxyTunnel, s4)
		}
	})
}
