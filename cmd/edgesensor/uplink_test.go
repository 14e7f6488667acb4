package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil/cloudtest"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
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
			case path == ".network.community_id":
				// An unkeyed hash of the raw addresses and ports.
				add(strings.TrimPrefix(x, "1:"))
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
		// It carries the community id of the file event that reported
		// the hash.
		var fileID any
		for _, e := range evs {
			if get(e, "event.dataset") == "edgesensor.file" && get(e, "file.hash.sha256") == setup {
				fileID = get(e, "network.community_id")
			}
		}
		if id := get(found, "network.community_id"); id == nil || id != fileID {
			t.Errorf("follow-up community id %v, the file event's %v", id, fileID)
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
