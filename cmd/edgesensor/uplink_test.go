package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/edgesensor/edgesensor/internal/testutil/cloudtest"
	"io/fs"
	"math/big"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
	"github.com/edgesensor/edgesensor/userspace/export/privacy"
	"github.com/edgesensor/edgesensor/userspace/export/privacy/leaktest"
)

// replayWith replays captures under a config and returns the local
// events, the --stats analysis counters and stderr.
func replayWith(t *testing.T, cfg string, wait string, pcaps ...string) ([]map[string]any, map[string]uint64, string) {
	t.Helper()
	var stdout bytes.Buffer
	var stderr syncBuffer // the uplink logs from its own goroutines
	args := append([]string{"replay", "--stats", "--uplink-wait", wait, "-c", cfg}, pcaps...)
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr.String())
	}
	var evs []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil {
			evs = append(evs, m)
		}
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	var st struct {
		Analysis map[string]uint64 `json:"analysis"`
	}
	json.Unmarshal([]byte(lines[len(lines)-1]), &st)
	return evs, st.Analysis, stderr.String()
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// personalCapture is an HTTP download through a proxy-style request that
// carries credentials in its URL, a token in its query, and a browser
// user agent naming the device.
func personalCapture(t *testing.T, path string) {
	t.Helper()
	req := "GET http://alice:s3cretPW@files.example.com/dl/setup.exe?token=tok3n123&lang=en HTTP/1.1\r\n" +
		"Host: files.example.com\r\nUser-Agent: Mozilla/5.0 (DESKTOP-ALICE01)\r\n\r\n"
	body := append([]byte("MZ"), bytes.Repeat([]byte{0x90}, 4094)...)
	resp := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n"+
		"Content-Disposition: attachment; filename=\"setup.exe\"\r\n\r\n", len(body))
	client, server := net.IPv4(198, 51, 100, 23), net.IPv4(203, 0, 113, 80)
	var pkts []packet
	ts := time.Unix(1700000000, 0)
	add := func(fromClient bool, flags string, seq, ack uint32, payload []byte) {
		ts = ts.Add(time.Millisecond)
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: client, DstIP: server}
		tcp := &layers.TCP{SrcPort: 40123, DstPort: 80, Seq: seq, Ack: ack, Window: 65535,
			SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A"), FIN: strings.Contains(flags, "F"), PSH: len(payload) > 0}
		if !fromClient {
			ip.SrcIP, ip.DstIP = server, client
			tcp.SrcPort, tcp.DstPort = 80, 40123
		}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, packet{ci: gopacket.CaptureInfo{Timestamp: ts}, data: buf.Bytes()})
	}
	const c0, s0 = 1000, 5000
	add(true, "S", c0, 0, nil)
	add(false, "SA", s0, c0+1, nil)
	add(true, "A", c0+1, s0+1, nil)
	add(true, "A", c0+1, s0+1, []byte(req))
	full := append([]byte(resp), body...)
	seq := uint32(s0 + 1)
	for off := 0; off < len(full); off += 1400 {
		end := min(off+1400, len(full))
		add(false, "A", seq, c0+1+uint32(len(req)), full[off:end])
		seq += uint32(end - off)
	}
	add(false, "FA", seq, c0+1+uint32(len(req)), nil)
	add(true, "FA", c0+1+uint32(len(req)), seq+1, nil)
	writePcap(t, path, layers.LinkTypeEthernet, pkts)
}

// get follows a dotted path through a decoded event.
func get(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// personal collects, from the local events, every value that must not
// reach the cloud as is.
func personal(evs []map[string]any) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(path+"."+k, e)
			}
		case []any:
			for _, e := range x {
				walk(path, e)
			}
		case string:
			switch {
			case path == ".source.ip":
				add(`"` + x + `"`) // as a whole JSON value: a truncated address may share a prefix
			case strings.HasPrefix(path, ".email.") && strings.HasSuffix(path, ".address"),
				path == ".edgesensor.smtp.mail_from", path == ".edgesensor.smtp.rcpt_to":
				add(x)
				if local, _, ok := strings.Cut(x, "@"); ok && len(local) >= 4 {
					add(local + "@")
				}
			case path == ".email.subject", path == ".user_agent.original",
				path == ".edgesensor.file.document.author", path == ".edgesensor.file.document.last_modified_by":
				add(x)
			}
		}
	}
	for _, e := range evs {
		walk("", e)
	}
	return append(out, "s3cretPW", "alice:", "tok3n123", "DESKTOP-ALICE01")
}

func TestPrivilegedUplinkEndToEnd(t *testing.T) {
	testutil.RequireBPF(t)
	cloudBin := cloudtest.Build(t)
	pki := t.TempDir()
	if err := cloudapi.GenerateCerts(pki); err != nil {
		t.Fatal(err)
	}
	corpus, _ := filepath.Glob("../../testdata/corpus/*.pcap")
	crafted := filepath.Join(t.TempDir(), "personal.pcap")
	personalCapture(t, crafted)
	captures := append(corpus, crafted)

	t.Run("NothingPersonalReachesTheCloud", func(t *testing.T) {
		modes := map[string]string{
			"cryptopan":         "",
			"truncate+hashes":   "client_ip = \"truncate\"\nemail = \"hash\"\nuser_names = \"hash\"\nuser_agent = \"hash\"\n",
			"hmac+domain-drop":  "client_ip = \"hmac\"\nemail = \"hash\"\nemail_domain = \"drop\"\nhostnames = \"drop\"\n",
			"drop":              "client_ip = \"drop\"\nemail = \"hash\"\n",
			"full-content":      "share = \"full\"\nexecutables = \"full\"\ndocuments = \"full\"\nemail = \"hash\"\n",
			"metadata-none-tls": "metadata = \"none\"\ntls = \"none\"\nemail = \"hash\"\n",
		}
		for name, privacy := range modes {
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				c := cloudtest.Run(t, cloudBin, pki, cloudtest.FreePort(t), filepath.Join(dir, "cloud"), cloudapi.ServerCertFile, cloudapi.ServerKeyFile)
				cfg := cloudtest.UplinkConfig(t, dir, pki, c.Addr, privacy)
				evs, st, stderr := replayWith(t, cfg, "60s", captures...)
				got := c.Received(t)
				if st["uplink_records"] == 0 || uint64(len(got)) != st["uplink_records"] || st["uplink_delivered"] != st["uplink_records"] {
					t.Fatalf("records %d, delivered %d, cloud logged %d\n%s", st["uplink_records"], st["uplink_delivered"], len(got), stderr)
				}
				secrets := personal(evs)
				if len(secrets) < 10 {
					t.Fatalf("the captures carry too little personal data to prove anything: %q", secrets)
				}
				tlsN, files := 0, 0
				for _, r := range got {
					b, _ := json.Marshal(r["record"])
					for _, s := range secrets {
						if bytes.Contains(b, []byte(s)) {
							t.Errorf("%q reached the cloud: %s", s, b)
						}
					}
					switch r["category"] {
					case "tls":
						tlsN++
					default:
						files++
					}
				}
				if name == "metadata-none-tls" && tlsN != 0 || name != "metadata-none-tls" && tlsN == 0 || files == 0 {
					t.Errorf("tls records %d, file records %d", tlsN, files)
				}
				if name == "full-content" {
					if cs := c.Stats(t); cs.Samples == 0 || st["uplink_samples_uploaded"] == 0 {
						t.Errorf("full: samples uploaded %d (cloud %d)", st["uplink_samples_uploaded"], cs.Samples)
					}
				} else if st["uplink_samples_uploaded"] != 0 {
					t.Errorf("content uploaded under %s", name)
				}
				// Every batch is in the audit log.
				audit, _ := os.ReadFile(filepath.Join(dir, "audit.log"))
				if n := bytes.Count(audit, []byte("\n")); n == 0 || uint64(n) != st["uplink_batches"] {
					t.Errorf("audit log has %d lines for %d batches", n, st["uplink_batches"])
				}
			})
		}
	})

	t.Run("OutageRestartExactlyOnce", func(t *testing.T) {
		dir := t.TempDir()
		addr := cloudtest.FreePort(t) // nobody listens yet: the cloud is down
		cfg := cloudtest.UplinkConfig(t, dir, pki, addr, "")
		_, st1, _ := replayWith(t, cfg, "2s", corpus...)
		if st1["uplink_records"] == 0 || st1["uplink_delivered"] != 0 || st1["uplink_spooled"] != st1["uplink_records"] {
			t.Fatalf("cloud down: %v", st1)
		}
		// Cloud up; the sensor "restarts" (a new process state: a new
		// replay) with the same spool and new traffic.
		c := cloudtest.Run(t, cloudBin, pki, addr, filepath.Join(dir, "cloud"), cloudapi.ServerCertFile, cloudapi.ServerKeyFile)
		_, st2, stderr := replayWith(t, cfg, "60s", crafted)
		got := c.Received(t)
		want := st1["uplink_records"] + st2["uplink_records"]
		ids := map[string]int{}
		for _, r := range got {
			ids[r["id"].(string)]++
		}
		if uint64(len(got)) != want || len(ids) != len(got) {
			t.Fatalf("after the outage the cloud has %d records (%d distinct), want %d exactly once\n%s", len(got), len(ids), want, stderr)
		}
		// The same traffic again: the cloud already has every record.
		_, st3, _ := replayWith(t, cfg, "60s", corpus...)
		if n := len(c.Received(t)); uint64(n) != want || st3["uplink_duplicates"] != st3["uplink_records"] {
			t.Errorf("replayed again: cloud has %d records, duplicates %d of %d", n, st3["uplink_duplicates"], st3["uplink_records"])
		}
	})

	t.Run("CloudVerdictsFollowUp", func(t *testing.T) {
		// The cloud knows setup.bin (local score 0) as malicious: its
		// lookup answer becomes an edgesensor.verdict event locally.
		const setup = "87ea847dd2a0375065953a73aa1da0eaa808ba44f9d0946b3c160eb84845ce9b"
		dir := t.TempDir()
		known := filepath.Join(dir, "known.txt")
		os.WriteFile(known, []byte(setup+" 9\n"), 0o600)
		c := cloudtest.Run(t, cloudBin, pki, cloudtest.FreePort(t), filepath.Join(dir, "cloud"), cloudapi.ServerCertFile, cloudapi.ServerKeyFile, "--verdicts", known)
		cfg := cloudtest.UplinkConfig(t, dir, pki, c.Addr, "")
		evs, st, _ := replayWith(t, cfg, "30s", "../../testdata/corpus/http_keepalive.pcap")
		var found map[string]any
		for _, e := range evs {
			if get(e, "event.dataset") == "edgesensor.verdict" && get(e, "file.hash.sha256") == setup {
				found = e
			}
			// The file's own event says the cloud's verdict is pending.
			if get(e, "event.dataset") == "edgesensor.file" && get(e, "edgesensor.score.cloud") != -1.0 {
				t.Errorf("file event without a pending cloud verdict: %v", get(e, "edgesensor.score"))
			}
		}
		if found == nil || st["uplink_known"] == 0 {
			t.Fatalf("no follow-up verdict for setup.bin (known %d)", st["uplink_known"])
		}
		if get(found, "event.risk_score") != 9.0 || get(found, "edgesensor.verdict.local_score") != 0.0 ||
			get(found, "edgesensor.verdict.cloud_verdict") != "malicious" || get(found, "event.kind") != "alert" {
			t.Errorf("follow-up event: %v", found)
		}
	})

	t.Run("ShareNoneMakesNoConnection", func(t *testing.T) {
		dir := t.TempDir()
		c := cloudtest.Run(t, cloudBin, pki, cloudtest.FreePort(t), filepath.Join(dir, "cloud"), cloudapi.ServerCertFile, cloudapi.ServerKeyFile)
		cfg := cloudtest.UplinkConfig(t, dir, pki, c.Addr, "share = \"none\"\n")
		evs, st, _ := replayWith(t, cfg, "5s", captures...)
		if len(evs) == 0 {
			t.Fatal("no local events")
		}
		for _, e := range evs {
			if get(e, "edgesensor.score.cloud") != nil {
				t.Errorf("share none, yet a cloud verdict is pending: %v", get(e, "edgesensor.score"))
			}
		}
		// The cloud's only connections: runCloud's readiness probe and
		// this stats request.
		cs := c.Stats(t)
		if cs.ConnectionsAccepted != 2 || cs.Connections != 1 || cs.Records != 0 || st["uplink_records"] != 0 {
			t.Errorf("share none: cloud accepted %d connections (%d TLS), %d records; sensor made %d records",
				cs.ConnectionsAccepted, cs.Connections, cs.Records, st["uplink_records"])
		}
		if _, err := os.Stat(filepath.Join(dir, "uplink")); !os.IsNotExist(err) {
			t.Error("share none still opened an uplink spool")
		}
	})

	t.Run("WrongCertificatesAreRefused", func(t *testing.T) {
		// A server whose certificate is not from uplink.ca_file.
		dir := t.TempDir()
		c := cloudtest.Run(t, cloudBin, pki, cloudtest.FreePort(t), filepath.Join(dir, "cloud"), cloudapi.OtherServerFile, cloudapi.OtherServerKey)
		cfg := cloudtest.UplinkConfig(t, dir, pki, c.Addr, "")
		_, st, stderr := replayWith(t, cfg, "3s", captures...)
		if st["uplink_delivered"] != 0 || !strings.Contains(stderr, "not signed by uplink.ca_file") || len(c.Received(t)) != 0 {
			t.Errorf("wrong server certificate: delivered %d\n%s", st["uplink_delivered"], stderr)
		}

		// A client certificate the cloud does not accept.
		dir = t.TempDir()
		c = cloudtest.Run(t, cloudBin, pki, cloudtest.FreePort(t), filepath.Join(dir, "cloud"), cloudapi.ServerCertFile, cloudapi.ServerKeyFile)
		cfg = cloudtest.UplinkConfig(t, dir, pki, c.Addr, "")
		b, _ := os.ReadFile(cfg)
		b = bytes.Replace(b, []byte(cloudapi.ClientCertFile), []byte(cloudapi.OtherClientFile), 1)
		b = bytes.Replace(b, []byte(cloudapi.ClientKeyFile), []byte(cloudapi.OtherClientKey), 1)
		os.WriteFile(cfg, b, 0o600)
		_, st, stderr = replayWith(t, cfg, "3s", captures...)
		if st["uplink_delivered"] != 0 || !strings.Contains(stderr, "refused our client certificate") || len(c.Received(t)) != 0 {
			t.Errorf("foreign client certificate: delivered %d\n%s", st["uplink_delivered"], stderr)
		}

		// No client certificate at all: the config is refused up front.
		b = bytes.Replace(b, []byte("cert_file = "), []byte("# cert_file = "), 1)
		os.WriteFile(cfg, b, 0o600)
		var out bytes.Buffer
		err := run(context.Background(), []string{"replay", "-c", cfg, crafted}, &out, &out)
		if err == nil || !strings.Contains(err.Error(), "uplink.cert_file") {
			t.Errorf("no client certificate: %v", err)
		}
	})
}

// The leak hunt: crafted captures carrying random personal values in
// every form the audit found leaking (and more), replayed through the
// real data plane and pipelines to the reference cloud in every privacy
// mode; nothing the cloud received or stored may hold any of them in any
// textual form.

// capBuilder writes TCP conversations as Ethernet frames.
type capBuilder struct {
	t    *testing.T
	pkts []packet
	ts   time.Time
	port uint16
}

func newCapBuilder(t *testing.T) *capBuilder {
	return &capBuilder{t: t, ts: time.Unix(1700000000, 0), port: 40000}
}

// tcpConn is one connection being written.
type tcpConn struct {
	b            *capBuilder
	cli, srv     netip.Addr
	cport, sport uint16
	cseq, sseq   uint32
}

func (b *capBuilder) frame(src, dst netip.Addr, tcp *layers.TCP, payload []byte) {
	b.ts = b.ts.Add(time.Millisecond)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	var ip gopacket.SerializableLayer
	if src.Is4() {
		v4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		tcp.SetNetworkLayerForChecksum(v4)
		ip = v4
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		tcp.SetNetworkLayerForChecksum(v6)
		ip = v6
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		b.t.Fatal(err)
	}
	b.pkts = append(b.pkts, packet{ci: gopacket.CaptureInfo{Timestamp: b.ts}, data: buf.Bytes()})
}

// dial writes a three-way handshake from cli to srv:sport.
func (b *capBuilder) dial(cli, srv netip.Addr, sport uint16) *tcpConn {
	b.port++
	c := &tcpConn{b: b, cli: cli, srv: srv, cport: b.port, sport: sport, cseq: 1000 + uint32(b.port)*7, sseq: 5000 + uint32(b.port)*13}
	c.segment(true, "S", nil)
	c.segment(false, "SA", nil)
	c.segment(true, "A", nil)
	return c
}

func (c *tcpConn) segment(fromClient bool, flags string, payload []byte) {
	tcp := &layers.TCP{Window: 65535, SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A"),
		FIN: strings.Contains(flags, "F"), PSH: len(payload) > 0}
	src, dst := c.cli, c.srv
	tcp.SrcPort, tcp.DstPort = layers.TCPPort(c.cport), layers.TCPPort(c.sport)
	seq, ack := &c.cseq, &c.sseq
	if !fromClient {
		src, dst = dst, src
		tcp.SrcPort, tcp.DstPort = tcp.DstPort, tcp.SrcPort
		seq, ack = ack, seq
	}
	tcp.Seq = *seq
	if tcp.ACK {
		tcp.Ack = *ack
	}
	c.b.frame(src, dst, tcp, payload)
	*seq += uint32(len(payload))
	if tcp.SYN || tcp.FIN {
		*seq++
	}
}

// send writes data from one side in segments of at most 1400 bytes.
func (c *tcpConn) send(fromClient bool, data []byte) {
	for len(data) > 0 {
		n := min(len(data), 1400)
		c.segment(fromClient, "A", data[:n])
		data = data[n:]
	}
}

func (c *tcpConn) close() {
	c.segment(false, "FA", nil)
	c.segment(true, "FA", nil)
}

func (b *capBuilder) write(path string) {
	writePcap(b.t, path, layers.LinkTypeEthernet, b.pkts)
}

// exeBody is a small Windows executable's look, distinct per n, with
// nothing personal in it.
func exeBody(n int) []byte {
	return append([]byte("MZ"), bytes.Repeat([]byte{byte(0x90 + n%16), byte(n)}, 1200)...)
}

// leakCapture writes one capture of p's traffic: HTTP downloads over
// IPv4 and IPv6 whose URLs, Host, User-Agent, Referer, Cookie,
// Authorization and Content-Disposition carry p's data; a multipart
// upload as Internet Explorer sends it; an SMTP mail with address
// literals in its envelope and headers; a TLS 1.2 handshake whose server
// certificate names p; and a TLS-looking flow where neither hello parses
// (the server speaks first, so the sides cannot be told).
func leakCapture(t *testing.T, g *leaktest.Gen, p *leaktest.Person, path string) {
	b := newCapBuilder(t)
	srv4, srv6 := netip.MustParseAddr("203.0.113.80"), netip.MustParseAddr("2001:db8:ffff::80")
	names := g.FileNames(p, "setup.exe")
	n := 0
	download := func(cli, srv netip.Addr, target, host string) {
		n++
		req := "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" +
			"User-Agent: Mozilla/5.0 (Windows NT 10.0; " + p.Device + ")\r\n" +
			"Referer: http://" + g.ClientSpelling(cli) + "/account?email=" + p.Email + "&user=" + p.User + "\r\n" +
			"Cookie: session=" + p.Token + "\r\n" +
			"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(p.User+":"+p.Password)) + "\r\n\r\n"
		body := exeBody(n)
		resp := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n"+
			"Content-Disposition: attachment; filename=\"%s\"\r\n\r\n", len(body), names[n%len(names)])
		c := b.dial(cli, srv, 80)
		c.send(true, []byte(req))
		c.send(false, append([]byte(resp), body...))
		c.close()
	}
	hosts := func(cli netip.Addr, i int) string {
		switch i % 4 {
		case 0:
			return p.User + ":" + p.Password + "@files.example.com"
		case 1:
			if cli.Is4() {
				return "[::ffff:" + cli.String() + "]:80"
			}
			return "[" + strings.ToUpper(cli.String()) + "]"
		case 2:
			return g.ClientSpelling(cli)
		}
		return "files.example.com"
	}
	for i, u := range g.URLs(p, "files.example.com", "setup.exe", p.V4) {
		download(p.V4, srv4, u, hosts(p.V4, i))
	}
	for i, u := range g.URLs(p, "files.example.com", "setup6.exe", p.V6)[:4] {
		download(p.V6, srv6, u, hosts(p.V6, i))
	}

	// A multipart upload as Internet Explorer sends it: the whole path.
	upload := exeBody(99)
	mp := "--IEb\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + names[0] + "\"\r\n" +
		"Content-Type: application/x-msdownload\r\n\r\n" + string(upload) + "\r\n--IEb--\r\n"
	c := b.dial(p.V4, srv4, 80)
	c.send(true, []byte(fmt.Sprintf("POST /upload?user=%s HTTP/1.1\r\nHost: files.example.com\r\nContent-Type: multipart/form-data; boundary=IEb\r\nContent-Length: %d\r\n\r\n%s",
		p.User, len(mp), mp)))
	c.send(false, []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	c.close()

	// SMTP: address literals of the client in the envelope and headers.
	att := base64.StdEncoding.EncodeToString(exeBody(77))
	var lines []string
	for len(att) > 76 {
		lines, att = append(lines, att[:76]), att[76:]
	}
	lines = append(lines, att)
	msg := "From: \"" + p.Words + "\" <" + p.Email + ">\r\nTo: root@[" + p.V4.String() + "]\r\n" +
		"Cc: frank@[IPv6:" + strings.ToUpper(p.V6.String()) + "], " + p.Email2 + "\r\nSubject: " + p.Words + "\r\n" +
		"Message-ID: <" + p.Token + "@" + strings.ToLower(p.Device) + ".example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1\r\n" +
		"Content-Type: application/octet-stream; name=\"invoice.exe\"\r\nContent-Disposition: attachment; filename=\"C:\\Users\\" + p.User + "\\Desktop\\invoice.exe\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + strings.Join(lines, "\r\n") + "\r\n--b1--\r\n.\r\n"
	c = b.dial(p.V4, srv4, 25)
	for _, x := range [][2]string{
		{"", "220 mail.example ESMTP\r\n"},
		{"EHLO " + strings.ToLower(p.Device) + "\r\n", "250-mail.example\r\n250 8BITMIME\r\n"},
		{"MAIL FROM:<" + p.Email + ">\r\n", "250 OK\r\n"},
		{"RCPT TO:<root@[" + p.V4.String() + "]>\r\n", "250 OK\r\n"},
		{"RCPT TO:<frank@[IPv6:" + p.V6.String() + "]>\r\n", "250 OK\r\n"},
		{"DATA\r\n", "354 go ahead\r\n"},
		{msg, "250 queued\r\n"},
		{"QUIT\r\n", "221 bye\r\n"},
	} {
		if x[0] != "" {
			c.send(true, []byte(x[0]))
		}
		c.send(false, []byte(x[1]))
	}
	c.close()

	// TLS 1.2 with a certificate naming p.
	flights := tlsFlights(t, p)
	c = b.dial(p.V4, srv4, 443)
	for _, f := range flights {
		c.send(f.fromClient, f.data)
	}
	c.close()

	// Neither hello parses: the server speaks first with what the data
	// plane takes for a ClientHello (its headers agree) but whose session
	// id runs past its end, then the real client answers with no TLS.
	bad := append([]byte{0x16, 0x03, 0x01, 0x00, 0x2c, 0x01, 0x00, 0x00, 0x28, 0x03, 0x03}, bytes.Repeat([]byte{0xab}, 32)...)
	bad = append(bad, 0x20, 0, 0, 0, 0, 0)
	c = b.dial(p.V4, srv4, 8443)
	c.send(false, bad)
	c.send(true, []byte("HELO "+strings.ToLower(p.Device)+"\r\n"))
	c.close()
	b.write(path)
}

type flight struct {
	fromClient bool
	data       []byte
}

// recConn records what one side of a TLS connection writes.
type recConn struct {
	net.Conn
	client  bool
	mu      *sync.Mutex
	flights *[]flight
}

func (r *recConn) Write(b []byte) (int, error) {
	r.mu.Lock()
	*r.flights = append(*r.flights, flight{r.client, append([]byte(nil), b...)})
	r.mu.Unlock()
	return r.Conn.Write(b)
}

// tlsFlights runs a real TLS 1.2 handshake (crypto/tls on both ends over a
// pipe) whose server certificate carries p's e-mail addresses (rfc822Name
// SAN, emailAddress in subject and issuer), user names (given name, user
// id), a URI SAN with credentials and p's address, and returns what each
// side wrote, in order, then one application record each way.
func tlsFlights(t *testing.T, p *leaktest.Person) []flight {
	oidEmail := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	now := time.Unix(1700000000, 0)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		Subject: pkix.Name{CommonName: "Lab CA", Organization: []string{"Example"},
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidEmail, Value: p.Email2}}},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(crand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	uri, _ := url.Parse("https://" + p.User + ":" + p.Password + "@portal.example.com/?token=" + p.Token)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		Subject: pkix.Name{CommonName: "portal.example.com", Organization: []string{"Example"}, ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: oidEmail, Value: p.Email},
			{Type: asn1.ObjectIdentifier{2, 5, 4, 42}, Value: p.User},
			{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: p.User2},
		}},
		DNSNames: []string{"portal.example.com"}, EmailAddresses: []string{p.Email}, URIs: []*url.URL{uri},
		IPAddresses: []net.IP{p.V4.AsSlice()}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(crand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey}
	var mu sync.Mutex
	var flights []flight
	a, b := net.Pipe()
	cli := tls.Client(&recConn{a, true, &mu, &flights}, &tls.Config{ServerName: "portal.example.com", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	srv := tls.Server(&recConn{b, false, &mu, &flights}, &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS12})
	done := make(chan error, 1)
	go func() {
		if err := srv.Handshake(); err != nil {
			done <- err
			return
		}
		buf := make([]byte, 64)
		if _, err := srv.Read(buf); err != nil {
			done <- err
			return
		}
		_, err := srv.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
		done <- err
	}()
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := cli.Read(buf); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()
	mu.Lock()
	defer mu.Unlock()
	return flights
}

// tshark runs tshark on a capture and returns its output.
func tshark(t *testing.T, pcap string, args ...string) string {
	t.Helper()
	out, err := exec.Command("tshark", append([]string{"-n", "-r", pcap}, args...)...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	return string(out)
}

var emailRE = regexp.MustCompile(`[A-Za-z0-9._%+-]+@(\[[^\]]+\]|[A-Za-z0-9.-]+)`)

// wireSecrets extracts personal values from a capture with tshark,
// independently of the sensor: the clients' addresses (senders of SYNs),
// the values of URL query parameters not kept by the mode, user info of
// URLs and Host headers, Basic credentials, cookies, e-mail addresses
// (and their local parts) and address literals from SMTP and the
// message headers, and e-mail addresses and URI credentials from
// certificates.
func wireSecrets(t *testing.T, pcap string, keep []string) []leaktest.Secret {
	var out []leaktest.Secret
	add := func(kind, v string) {
		if len(v) >= 6 || kind == leaktest.IPv4 || kind == leaktest.IPv6 {
			out = append(out, leaktest.Secret{Kind: kind, Value: v})
		}
	}
	for _, l := range strings.Fields(tshark(t, pcap, "-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0", "-T", "fields", "-e", "ip.src", "-e", "ipv6.src")) {
		if a, err := netip.ParseAddr(l); err == nil {
			add(map[bool]string{true: leaktest.IPv4, false: leaktest.IPv6}[a.Is4()], a.String())
		}
	}
	uriSecrets := func(raw string) {
		if i := strings.IndexByte(raw, '#'); i >= 0 {
			add(leaktest.Token, raw[i+1:])
			raw = raw[:i]
		}
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		if u.User != nil {
			add(leaktest.User, u.User.Username())
			pw, _ := u.User.Password()
			add(leaktest.Password, pw)
		}
		for name, vals := range u.Query() {
			kept := false
			for _, k := range keep {
				kept = kept || strings.EqualFold(k, name)
			}
			for _, v := range vals {
				switch a, err := netip.ParseAddr(strings.Trim(v, "[]")); {
				case err == nil:
					a = a.Unmap()
					add(map[bool]string{true: leaktest.IPv4, false: leaktest.IPv6}[a.Is4()], a.String())
				case !kept && !strings.Contains(v, "://"):
					add(leaktest.Token, v)
				}
			}
		}
	}
	http := tshark(t, pcap, "-Y", "http.request", "-T", "fields", "-E", "separator=\t", "-e", "http.request.uri", "-e", "http.host",
		"-e", "http.authorization", "-e", "http.cookie")
	for _, line := range strings.Split(strings.TrimSpace(http), "\n") {
		f := strings.Split(line, "\t")
		for len(f) < 4 {
			f = append(f, "")
		}
		uriSecrets(f[0])
		if at := strings.LastIndexByte(f[1], '@'); at > 0 {
			user, pass, _ := strings.Cut(f[1][:at], ":")
			add(leaktest.User, user)
			add(leaktest.Password, pass)
		}
		if b64, ok := strings.CutPrefix(f[2], "Basic "); ok {
			if dec, err := base64.StdEncoding.DecodeString(b64); err == nil {
				user, pass, _ := strings.Cut(string(dec), ":")
				add(leaktest.User, user)
				add(leaktest.Password, pass)
			}
		}
		if _, v, ok := strings.Cut(f[3], "="); ok {
			add(leaktest.Token, v)
		}
	}
	mail := tshark(t, pcap, "-T", "fields", "-E", "separator=\t", "-e", "smtp.req.parameter", "-e", "imf.from", "-e", "imf.to", "-e", "imf.cc",
		"-e", "x509ce.rfc822Name", "-e", "x509ce.uniformResourceIdentifier", "-e", "x509sat.IA5String")
	for _, m := range emailRE.FindAllStringSubmatch(mail, -1) {
		add(leaktest.Email, m[0])
		add(leaktest.Local, m[0][:strings.IndexByte(m[0], '@')])
		if a, ok := strings.CutPrefix(strings.Trim(m[1], "[]"), "IPv6:"); ok || strings.HasPrefix(m[1], "[") {
			if addr, err := netip.ParseAddr(a); err == nil {
				add(map[bool]string{true: leaktest.IPv4, false: leaktest.IPv6}[addr.Is4()], addr.String())
			}
		}
	}
	for _, f := range strings.FieldsFunc(mail, func(r rune) bool { return r == '\t' || r == '\n' || r == ',' }) {
		if strings.Contains(f, "://") {
			uriSecrets(f)
		}
	}
	return out
}

// TestPrivilegedUplinkLeakHunt: see leakCapture for the traffic. Each
// mode gets new random values; the values are taken from the generator
// and, independently, from the capture by tshark; the search covers the
// cloud's record log, its log of every request (decoded bodies, headers,
// paths) and every file it stored.
func TestPrivilegedUplinkLeakHunt(t *testing.T) {
	testutil.RequireBPF(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatal("tshark is needed to read the captures independently: run scripts/deps.sh")
	}
	cloudBin := cloudtest.Build(t)
	pki := t.TempDir()
	if err := cloudapi.GenerateCerts(pki); err != nil {
		t.Fatal(err)
	}
	g := leaktest.NewGen(leaktest.Seed(t))
	modes := []struct {
		name, privacy string
		keep          []string // privacy.query_keep
		allowed       []string // kinds the mode lets leave by the customer's choice
	}{
		{"default", "", nil, nil},
		{"truncate+hashes", "client_ip = \"truncate\"\nemail = \"hash\"\nuser_names = \"hash\"\nuser_agent = \"hash\"\nquery_values = \"hash\"\n", nil, nil},
		{"hmac+domain-drop", "client_ip = \"hmac\"\nemail = \"hash\"\nemail_domain = \"drop\"\nhostnames = \"drop\"\n", nil, nil},
		{"drop+keep-list", "client_ip = \"drop\"\nemail = \"hash\"\nquery_keep = [\"lang\", \"next\", \"q\", \"ip\", \"to\"]\n", []string{"lang", "next", "q", "ip", "to"}, nil},
		{"full-content", "share = \"full\"\nexecutables = \"full\"\ndocuments = \"full\"\nemail = \"hash\"\n", nil, nil},
		{"metadata-none+tls-none", "metadata = \"none\"\ntls = \"none\"\nemail = \"hash\"\n", nil, nil},
		{"cryptopan+keep-list-hash", "email = \"hash\"\nquery_values = \"hash\"\nquery_keep = [\"next\", \"q\", \"ip\", \"to\"]\n", []string{"next", "q", "ip", "to"}, nil},
		{"keep-addresses+devices", "client_ip = \"keep\"\nemail = \"hash\"\nuser_agent = \"keep\"\nhostnames = \"keep\"\nquery_values = \"hash\"\n", nil,
			[]string{leaktest.IPv4, leaktest.IPv6, leaktest.Device}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := g.Person()
			dir := t.TempDir()
			pcap := filepath.Join(dir, "leak.pcap")
			leakCapture(t, g, p, pcap)

			// The values are on the wire, as an independent dissector
			// reads it (no tunnels in these captures: no outer addresses,
			// no community id).
			injected := leaktest.Without(p.Secrets(), leaktest.Outer)
			for i, s := range injected {
				if s.Value == p.CommunityID[2:] {
					injected = append(injected[:i], injected[i+1:]...)
					break
				}
			}
			verbose := []byte(tshark(t, pcap, "-V"))
			found := map[string]bool{}
			for _, f := range leaktest.Search(map[string][]byte{"tshark -V": verbose}, injected) {
				found[f.Secret.String()] = true
			}
			for _, s := range injected {
				if !found[s.String()] {
					t.Fatalf("%s is not in the capture as tshark reads it", s)
				}
			}
			wire := wireSecrets(t, pcap, m.keep)
			if len(wire) < 20 {
				t.Fatalf("tshark found only %d personal values: %v", len(wire), wire)
			}
			secrets := leaktest.Without(append(injected, wire...), m.allowed...)

			data := filepath.Join(dir, "cloud")
			reqLog := filepath.Join(dir, "requests.ndjson")
			c := cloudtest.Run(t, cloudBin, pki, cloudtest.FreePort(t), data, cloudapi.ServerCertFile, cloudapi.ServerKeyFile, "--request-log", reqLog)
			cfg := cloudtest.UplinkConfig(t, dir, pki, c.Addr, m.privacy)
			b, _ := os.ReadFile(cfg)
			os.WriteFile(cfg, bytes.Replace(b, []byte("[files]\n"), []byte("[files]\nuploads = true\n"), 1), 0o600)
			evs, st, stderr := replayWith(t, cfg, "60s", pcap)
			got := c.Received(t)
			c.Stop()

			// The sensor saw the values (the test can fail).
			local, _ := json.Marshal(evs)
			seen := map[string]bool{}
			for _, f := range leaktest.Search(map[string][]byte{"events": local}, injected) {
				seen[f.Secret.Kind] = true
			}
			for _, k := range []string{leaktest.User, leaktest.Password, leaktest.Token, leaktest.Email, leaktest.IPv4, leaktest.IPv6, leaktest.Device, leaktest.Words} {
				if !seen[k] {
					t.Errorf("no %s in the local events: the capture did not reach the pipelines", k)
				}
			}
			files, tlsRecs := 0, 0
			for _, r := range got {
				if r["category"] == "tls" {
					tlsRecs++
				} else {
					files++
				}
			}
			wantTLS := 1
			if m.name == "metadata-none+tls-none" {
				wantTLS = 0
			}
			if files < 14 || tlsRecs != wantTLS || uint64(len(got)) != st["uplink_records"] || st["uplink_delivered"] != st["uplink_records"] {
				t.Errorf("cloud has %d file and %d tls records (want %d); sensor made %d, delivered %d\n%s",
					files, tlsRecs, wantTLS, st["uplink_records"], st["uplink_delivered"], stderr)
			}
			if wantTLS == 1 && st["uplink_unknown_side"] != 1 {
				var hs []string
				for _, e := range evs {
					if get(e, "event.dataset") == "edgesensor.tls" {
						b, _ := json.Marshal(map[string]any{"source": e["source"], "destination": e["destination"], "edgesensor": e["edgesensor"]})
						hs = append(hs, string(b))
					}
				}
				t.Errorf("handshakes without a known client: %d, want 1; handshake events:\n%s", st["uplink_unknown_side"], strings.Join(hs, "\n"))
			}

			// Everything the cloud received or stored.
			hay := map[string][]byte{}
			for _, f := range []string{c.RecordLog, reqLog} {
				if b, err := os.ReadFile(f); err == nil {
					hay[filepath.Base(f)] = b
				}
			}
			filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					if b, err := os.ReadFile(path); err == nil {
						hay[path] = b
					}
				}
				return nil
			})
			if len(hay) < 3 {
				t.Fatalf("nothing to search: %v", hay)
			}
			for _, f := range leaktest.Search(hay, secrets) {
				t.Errorf("leak: %s", f)
			}
			checkRequests(t, reqLog, cfg, got)
		})
	}
}

// checkRequests: every request carries only what the disclosure lists:
// the batch keys, the record envelope, the lookup's hashes, the headers,
// and record fields disclosed as sent for their category.
func checkRequests(t *testing.T, reqLog, cfg string, records []map[string]any) {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"disclosure", "--json", "-c", cfg}, &out, &out); err != nil {
		t.Fatalf("disclosure: %v", err)
	}
	var d struct {
		Fields []privacy.Disclosed `json:"fields"`
		Batch  []privacy.Disclosed `json:"batch"`
	}
	if err := json.Unmarshal(out.Bytes(), &d); err != nil {
		t.Fatalf("disclosure --json: %v", err)
	}
	sent := map[string]bool{}
	for _, f := range append(d.Fields, d.Batch...) {
		if f.Sent {
			sent[f.Category+" "+f.Field] = true
		}
	}
	headers := map[string]bool{"User-Agent": true, "Content-Type": true, "Content-Length": true, "Content-Encoding": true,
		"Accept-Encoding": true, "Idempotency-Key": true}
	data, _ := os.ReadFile(reqLog)
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var r struct {
			Method, Path string
			Header       map[string][]string
			Body         string
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("request log: %v", err)
		}
		for h := range r.Header {
			if !headers[h] {
				t.Errorf("%s %s sent header %s", r.Method, r.Path, h)
			}
		}
		switch r.Path {
		case cloudapi.PathEvents:
			var b map[string]json.RawMessage
			json.Unmarshal([]byte(r.Body), &b)
			for k := range b {
				if !sent["(every batch) "+k] {
					t.Errorf("batch key %s is not disclosed", k)
				}
			}
			var recs []map[string]json.RawMessage
			json.Unmarshal(b["records"], &recs)
			for _, rec := range recs {
				for k := range rec {
					if !sent["(every record) "+k] {
						t.Errorf("record key %s is not disclosed", k)
					}
				}
			}
		case cloudapi.PathLookup:
			var b map[string]json.RawMessage
			json.Unmarshal([]byte(r.Body), &b)
			if len(b) != 1 || b["sha256"] == nil || !sent["(other requests) POST /v1/lookup"] {
				t.Errorf("lookup body %s", r.Body)
			}
		}
	}
	for _, r := range records {
		rec, _ := r["record"].(map[string]any)
		for _, leaf := range leafPaths("", rec) {
			if !sent[r["category"].(string)+" "+leaf] {
				t.Errorf("%s sent in a %s record, not disclosed as sent", leaf, r["category"])
			}
		}
	}
}

func leafPaths(prefix string, m map[string]any) []string {
	var out []string
	for k, v := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		if mm, ok := v.(map[string]any); ok {
			out = append(out, leafPaths(p, mm)...)
		} else {
			out = append(out, p)
		}
	}
	return out
}
