package main

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/edgesensor/edgesensor/internal/lab"
	"github.com/edgesensor/edgesensor/internal/lab/wire"
)

// client is one real TLS client of the handshake lab test and what its
// event must show.
type client struct {
	name    string
	cmd     []string
	check   func(t *testing.T, evs []tlsEvent)
	wait    time.Duration // how long its events may take (QUIC waits for silence)
	mayFail bool          // the server refuses it on purpose
}

// testHandshakes runs real clients of many kinds through the router and
// checks each one's edgesensor.tls event; then it tags a captured handshake
// with VLAN ids and injects it on the wire, and finally cross-checks JA3
// and JA3S with tshark on the client-side capture.
func testHandshakes(t *testing.T, l *lab.Lab, bin string) {
	e := l.Env
	dir := t.TempDir()
	outPath, errPath, capPath := filepath.Join(dir, "events.ndjson"), filepath.Join(dir, "stderr.log"), filepath.Join(dir, "client.pcap")

	dump := l.Command(l.Client(), "tcpdump", "-U", "--immediate-mode", "-q", "-s", "0", "-i", e["IF_CLIENT"], "-w", capPath,
		"tcp port 443 or tcp port 8443 or tcp port 9443 or udp port 443")
	dumpLog := filepath.Join(dir, "tcpdump.log")
	dumpErr, _ := os.Create(dumpLog)
	defer dumpErr.Close()
	dump.Stderr = dumpErr
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { dump.Process.Signal(syscall.SIGTERM); dump.Wait() }()
	waitFor(t, dumpLog, "listening on", 20*time.Second)

	stdout, _ := os.Create(outPath)
	stderr, _ := os.Create(errPath)
	defer stdout.Close()
	defer stderr.Close()
	ifs := l.RouterIfaces()
	run := l.Command(l.Router(), bin, "run", "--iface", ifs[0], "--iface", ifs[1], "--pin-path", l.PinPath())
	run.Stdout, run.Stderr = stdout, stderr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { run.Process.Signal(syscall.SIGTERM); run.Wait() }()
	waitFor(t, errPath, `"running`, 20*time.Second)

	ca, host, s4, s6 := e["CA"], e["HOSTNAME"], e["SERVER4"], e["SERVER6"]
	tlsclient := filepath.Join(dir, "tlsclient")
	if out, err := exec.Command("go", "build", "-o", tlsclient, "../../internal/lab/tlsclient").CombinedOutput(); err != nil {
		t.Fatalf("building tlsclient: %v\n%s", err, out)
	}
	curl := func(args ...string) []string {
		return append([]string{"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "--cacert", ca,
			"--resolve", host + ":443:" + s4, "--resolve", host + ":8443:" + s4}, args...)
	}
	chrome := func(quic bool) []string {
		args := []string{"chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + t.TempDir(), "--host-resolver-rules=MAP " + host + " " + s4,
			"--ignore-certificate-errors", "--dump-dom", "--virtual-time-budget=3000"}
		if quic {
			args = append(args, "--enable-quic", "--origin-to-force-quic-on="+host+":443")
		} else {
			args = append(args, "--disable-quic")
		}
		return append([]string{"timeout", "8"}, append(args, "https://"+host+"/")...)
	}
	one := func(t *testing.T, evs []tlsEvent) tlsEvent {
		t.Helper()
		if len(evs) == 0 {
			t.Fatal("no event")
		}
		return evs[0]
	}
	finished := func(t *testing.T, ev tlsEvent) {
		t.Helper()
		if !ev.Edgesensor.TLS.Complete || ev.Edgesensor.TLS.End != "finished" {
			t.Errorf("complete %v end %s missing %v", ev.Edgesensor.TLS.Complete, ev.Edgesensor.TLS.End, ev.Edgesensor.TLS.Missing)
		}
	}
	clients := []client{
		{name: "curl TLS 1.3 ALPN h2", cmd: curl("--http2", "https://"+host+"/"), check: func(t *testing.T, evs []tlsEvent) {
			ev := one(t, evs)
			finished(t, ev)
			if ev.TLS.Version != "1.3" || !strings.HasPrefix(ev.TLS.Client.JA4, "t13d") || !strings.HasSuffix(ev.TLS.Client.JA4[:10], "h2") ||
				ev.TLS.Client.ServerName != host {
				t.Errorf("version %s ja4 %s sni %s", ev.TLS.Version, ev.TLS.Client.JA4, ev.TLS.Client.ServerName)
			}
		}},
		{name: "curl ALPN http/1.1 only", cmd: curl("--http1.1", "https://"+host+"/"), check: func(t *testing.T, evs []tlsEvent) {
			ev := one(t, evs)
			if ev.TLS.Client.JA4[8:10] != "h1" || len(ev.Edgesensor.TLS.Client.ALPN) != 1 {
				t.Errorf("ja4 %s alpn %v", ev.TLS.Client.JA4, ev.Edgesensor.TLS.Client.ALPN)
			}
		}},
		{name: "curl without ALPN", cmd: curl("--no-alpn", "https://"+host+"/"), check: func(t *testing.T, evs []tlsEvent) {
			if ev := one(t, evs); ev.TLS.Client.JA4[8:10] != "00" {
				t.Errorf("ja4 %s", ev.TLS.Client.JA4)
			}
		}},
		{name: "TLS 1.2 RSA certificate", cmd: curl("--tls-max", "1.2", "https://"+host+":8443/"), check: func(t *testing.T, evs []tlsEvent) {
			ev := one(t, evs)
			finished(t, ev)
			if ev.TLS.Version != "1.2" || ev.TLS.Server == nil || ev.TLS.Server.X509 == nil ||
				ev.TLS.Server.X509.PublicKeyAlgorithm != "RSA" || ev.TLS.Server.X509.Subject.CommonName[0] != host {
				t.Errorf("TLS 1.2 RSA: %+v", ev.TLS)
			}
		}},
		{name: "TLS 1.2 ECDSA certificate", cmd: curl("--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256", "https://"+host+"/"),
			check: func(t *testing.T, evs []tlsEvent) {
				ev := one(t, evs)
				finished(t, ev)
				if ev.TLS.Server == nil || ev.TLS.Server.X509 == nil || ev.TLS.Server.X509.PublicKeyAlgorithm != "ECDSA" ||
					ev.TLS.Cipher != "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" {
					t.Errorf("TLS 1.2 ECDSA: cipher %s", ev.TLS.Cipher)
				}
			}},
		{name: "HelloRetryRequest", cmd: curl("--resolve", host+":9443:"+s4, "https://"+host+":9443/"), check: func(t *testing.T, evs []tlsEvent) {
			// The server takes P-384 only; curl's X25519 key share gets a
			// retry, then the real ServerHello comes after a ChangeCipherSpec.
			ev := one(t, evs)
			finished(t, ev)
			if !ev.Edgesensor.TLS.HelloRetry || ev.TLS.Version != "1.3" || ev.Edgesensor.TLS.Server == nil ||
				ev.Edgesensor.TLS.Server.KeyShareGroup != "secp384r1" {
				t.Errorf("retry %v version %s server %+v", ev.Edgesensor.TLS.HelloRetry, ev.TLS.Version, ev.Edgesensor.TLS.Server)
			}
		}},
		{name: "openssl without SNI", cmd: []string{"sh", "-c", "openssl s_client -noservername -connect " + s4 + ":443 </dev/null"},
			check: func(t *testing.T, evs []tlsEvent) {
				ev := one(t, evs)
				if ev.TLS.Client.ServerName != "" || ev.TLS.Client.JA4[3] != 'i' {
					t.Errorf("sni %q ja4 %s", ev.TLS.Client.ServerName, ev.TLS.Client.JA4)
				}
			}},
		{name: "Go client, post-quantum key share", cmd: []string{tlsclient, "-addr", s4 + ":443", "-sni", host, "-ca", ca},
			check: func(t *testing.T, evs []tlsEvent) {
				ev := one(t, evs)
				finished(t, ev)
				if ev.Edgesensor.TLS.Client == nil || !slices.Contains(ev.Edgesensor.TLS.Client.KeyShareGroups, "X25519MLKEM768") {
					t.Errorf("key shares %v", ev.Edgesensor.TLS.Client)
				}
			}},
		{name: "Python ssl", cmd: []string{"python3", "-c", "import ssl, socket\n" +
			"ctx = ssl.create_default_context(cafile='" + ca + "')\nctx.set_alpn_protocols(['edgesensor-py', 'http/1.1'])\n" +
			"s = ctx.wrap_socket(socket.create_connection(('" + s4 + "', 443)), server_hostname='" + host + "')\ns.close()"},
			check: func(t *testing.T, evs []tlsEvent) {
				ev := one(t, evs)
				if ev.TLS.Client.JA4[8:10] != "ey" || ev.TLS.Client.ServerName != host {
					t.Errorf("python ja4 %s", ev.TLS.Client.JA4)
				}
			}},
		{name: "server refuses ALPN", mayFail: true, cmd: []string{"sh", "-c", "openssl s_client -alpn nothing-known -servername " + host +
			" -connect " + s4 + ":443 </dev/null"}, check: func(t *testing.T, evs []tlsEvent) {
			ev := one(t, evs)
			if !slices.Contains(ev.Edgesensor.TLS.Alerts, "no_application_protocol") ||
				!slices.Contains(ev.Edgesensor.TLS.Missing, "server_hello") || ev.Edgesensor.TLS.Complete {
				t.Errorf("alerts %v missing %v end %s", ev.Edgesensor.TLS.Alerts, ev.Edgesensor.TLS.Missing, ev.Edgesensor.TLS.End)
			}
		}},
		{name: "IPv6", cmd: []string{"curl", "-sS", "-6", "--max-time", "10", "-o", "/dev/null", "--cacert", ca,
			"--resolve", host + ":443:[" + s6 + "]", "https://" + host + "/"}, check: func(t *testing.T, evs []tlsEvent) {
			ev := one(t, evs)
			finished(t, ev)
			if ev.Network.Type != "ipv6" || ev.Source.IP != e["CLIENT6"] {
				t.Errorf("network %+v source %+v", ev.Network, ev.Source)
			}
		}},
		{name: "Chromium over TCP", cmd: chrome(false), check: func(t *testing.T, evs []tlsEvent) {
			ev := one(t, evs)
			finished(t, ev)
			if !strings.HasPrefix(ev.TLS.Client.JA4, "t13d") || ev.TLS.Client.ServerName != host {
				t.Errorf("chromium ja4 %s", ev.TLS.Client.JA4)
			}
		}},
		{name: "Chromium over QUIC", cmd: chrome(true), wait: 12 * time.Second, check: func(t *testing.T, evs []tlsEvent) {
			var q *tlsEvent
			for i := range evs {
				if evs[i].Network.Protocol == "quic" && evs[i].TLS.Client.JA4 != "" {
					q = &evs[i]
				}
			}
			if q == nil {
				t.Fatalf("no QUIC ClientHello among %d events", len(evs))
			}
			if !strings.HasPrefix(q.TLS.Client.JA4, "q13d") || q.TLS.Client.ServerName != host || q.Network.Transport != "udp" ||
				q.Source.IP != e["CLIENT4"] {
				t.Errorf("QUIC: ja4 %s sni %s source %v", q.TLS.Client.JA4, q.TLS.Client.ServerName, q.Source)
			}
		}},
	}

	seen := 0
	for _, c := range clients {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			if c.cmd[0] == "chromium" || len(c.cmd) > 2 && c.cmd[2] == "chromium" {
				if _, err := exec.LookPath("chromium"); err != nil {
					t.Skip("chromium not installed (make deps)")
				}
			}
			// A failed client still leaves its events: collect them before
			// reporting, so that the next client is not handed them.
			out, runErr := l.Exec(l.Client(), c.cmd...)
			if runErr != nil && (c.cmd[0] == "timeout" || c.mayFail) {
				runErr = nil // Chromium is stopped by timeout; some clients are refused on purpose
			}
			wait := c.wait
			if wait == 0 {
				wait = 5 * time.Second
			}
			// The events of this client: those written after the previous
			// client's, once the output has been quiet for a moment.
			var evs []tlsEvent
			deadline := time.Now().Add(wait)
			for {
				b, _ := os.ReadFile(outPath)
				all := parseTLSEvents(t, b)
				if len(all) > seen && time.Now().After(deadline.Add(-wait+time.Second)) {
					evs = all[seen:]
					if c.wait == 0 || len(evs) > 0 && hasQUICHello(evs) {
						break
					}
				}
				if time.Now().After(deadline) {
					evs = all[seen:]
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			seen += len(evs)
			if runErr != nil {
				t.Fatalf("%v: %v\n%s", c.cmd, runErr, out)
			}
			c.check(t, evs)
		})
	}

	t.Run("VLAN_and_QinQ_tagged", func(t *testing.T) { testVLANInjection(t, l, capPath, outPath, &seen) })

	run.Process.Signal(syscall.SIGTERM)
	if err := run.Wait(); err != nil {
		b, _ := os.ReadFile(errPath)
		t.Errorf("run: %v\n%s", err, b)
	}
	dump.Process.Signal(syscall.SIGTERM)
	dump.Wait()
	t.Run("JA3_matches_tshark", func(t *testing.T) { crossCheckTshark(t, capPath, outPath) })
}

func hasQUICHello(evs []tlsEvent) bool {
	for _, e := range evs {
		if e.Network.Protocol == "quic" && e.TLS.Client.JA4 != "" {
			return true
		}
	}
	return false
}

// testVLANInjection takes the Go client's handshake from the capture,
// gives it new ports and an 802.1Q tag (and a QinQ pair for a second copy),
// and sends the frames on the client's veth: this kernel has no VLAN
// devices, but XDP sees tagged frames on the wire all the same.
func testVLANInjection(t *testing.T, l *lab.Lab, capPath, outPath string, seen *int) {
	// The Go client's handshake: the only one offering X25519MLKEM768.
	segs, err := wire.Handshake(capPath, netip.AddrPortFrom(netip.MustParseAddr(l.Env["SERVER4"]), 443),
		wire.OffersKeyShare(0x11ec))
	if err != nil {
		t.Fatal(err)
	}
	for i, tags := range [][]uint16{{100}, {200, 300}} {
		var out [][]byte
		for _, s := range segs {
			f, err := s.Frames(uint16(61000+i), tags)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, f...)
		}
		inject(t, l.Client(), l.Env["IF_CLIENT"], out)
	}
	var evs []tlsEvent
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		b, _ := os.ReadFile(outPath)
		all := parseTLSEvents(t, b)
		evs = nil
		for _, e := range all[*seen:] {
			if e.Source.Port == 61000 || e.Source.Port == 61001 {
				evs = append(evs, e)
			}
		}
		if len(evs) == 2 {
			break
		}
	}
	if len(evs) != 2 {
		t.Fatalf("%d events for the two tagged handshakes", len(evs))
	}
	for _, e := range evs {
		want := map[int]string{61000: "100", 61001: "200"}[e.Source.Port]
		if e.Network.VLAN == nil || e.Network.VLAN.ID != want || e.TLS.Client.JA4 == "" || !e.Edgesensor.TLS.Complete {
			t.Errorf("port %d: vlan %+v ja4 %q complete %v", e.Source.Port, e.Network.VLAN, e.TLS.Client.JA4, e.Edgesensor.TLS.Complete)
		}
	}
}

// inject sends raw frames on an interface of a namespace.
func inject(t *testing.T, ns, iface string, frames [][]byte) {
	lab.Within(t, ns, func() {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		// Asked from inside the namespace: /sys/class/net is the host's view.
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			if err := unix.Sendto(fd, f, 0, &unix.SockaddrLinklayer{Ifindex: ifc.Index, Halen: 6}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
	})
}

// crossCheckTshark compares every TCP handshake's JA3 and JA3S with what
// tshark computes from the client-side capture.
func crossCheckTshark(t *testing.T, capPath, outPath string) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	out, err := exec.Command("tshark", "-r", capPath, "-d", "tcp.port==9443,tls", "-Y", "tls.handshake.type == 1 || tls.handshake.type == 2",
		"-T", "fields", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tls.handshake.type",
		"-e", "tls.handshake.ja3", "-e", "tls.handshake.ja3s", "-e", "tcp.stream").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	// One entry per TCP connection (tshark's stream index): a client port
	// may be reused by a later connection of the same test.
	type fp struct {
		port      int
		ja3, ja3s string
	}
	conns := map[string]*fp{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// Tab-separated; a frame with several handshake messages lists
		// their types comma-separated.
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 6 || f[0] == "" {
			continue // QUIC rows carry no TCP ports
		}
		src, _ := strconv.Atoi(f[0])
		dst, _ := strconv.Atoi(f[1])
		types := strings.Split(f[2], ",")
		c := conns[f[5]]
		switch {
		case slices.Contains(types, "1"):
			if c == nil {
				c = &fp{port: src}
				conns[f[5]] = c
			}
			if c.ja3 == "" {
				c.ja3 = f[3]
			}
		case slices.Contains(types, "2"):
			if c == nil {
				c = &fp{port: dst}
				conns[f[5]] = c
			}
			c.ja3s = f[4]
		}
	}
	b, _ := os.ReadFile(outPath)
	n := 0
	for _, e := range parseTLSEvents(t, b) {
		if e.Network.Protocol != "tls" || e.Network.VLAN != nil {
			continue
		}
		var seen []fp
		match := false
		for _, c := range conns {
			if c.port != e.Source.Port {
				continue
			}
			seen = append(seen, *c)
			ja3s := ""
			if e.TLS.Server != nil {
				ja3s = e.TLS.Server.JA3S
			}
			if e.TLS.Client.JA3 == c.ja3 && (ja3s == "" || c.ja3s == "" || ja3s == c.ja3s) {
				match = true
			}
		}
		if len(seen) == 0 {
			t.Errorf("tshark saw no hello for client port %d", e.Source.Port)
			continue
		}
		n++
		if !match {
			d := e.Edgesensor.TLS
			t.Errorf("port %d: ja3 %q ja3s %v; tshark's connections on the port: %+v (event: complete %v missing %v end %s packets %d)",
				e.Source.Port, e.TLS.Client.JA3, e.TLS.Server, seen, d.Complete, d.Missing, d.End, d.Packets)
		}
	}
	if n < 8 {
		t.Errorf("only %d handshakes cross-checked", n)
	}
	t.Logf("%d handshakes: JA3 and JA3S equal to tshark's", n)
}
