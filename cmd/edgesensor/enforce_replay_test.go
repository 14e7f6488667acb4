package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/edgesensor/edgesensor/internal/testutil"
)

// TestPrivilegedReplayEnforces replays a real TLS 1.3 capture (curl to
// 10.200.0.2, SNI www.example.test) through the same program and the
// same enforcement as live: an address on the intel is reported
// (monitor) or dropped (block), a listed SNI blocks the flow after its
// hello; the actions carry the capture's time.
func TestPrivilegedReplayEnforces(t *testing.T) {
	testutil.RequireBPF(t)
	pcap := "../../testdata/corpus/tls_curl13.pcap"
	dir := t.TempDir()
	ips := filepath.Join(dir, "c2.txt")
	names := filepath.Join(dir, "names.txt")
	cfg := func(mode, ipList, nameList string) string {
		if err := os.WriteFile(ips, []byte(ipList), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(names, []byte(nameList), 0o644); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, mode+".toml")
		body := fmt.Sprintf("[files]\nspool_dir = %q\n[metrics]\nlisten = \"\"\n\n", filepath.Join(dir, "spool")) +
			enforcementTables(ips, names, mode)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	byDataset := func(evs []map[string]any) map[string][]map[string]any {
		m := map[string][]map[string]any{}
		for _, ev := range evs {
			ds, _ := get(ev, "event.dataset").(string)
			m[ds] = append(m[ds], ev)
		}
		return m
	}
	first := time.Unix(1795394822, 0).UTC()

	// Monitor, the server's address listed: every packet would be
	// dropped, the handshake is analysed all the same.
	evs, _, stderr := replayWith(t, cfg("monitor", "10.200.0.2 9\n", "# none\n"), "0s", pcap)
	ds := byDataset(evs)
	if len(ds["edgesensor.tls"]) != 1 {
		t.Fatalf("monitor: %d TLS events, want 1\n%s", len(ds["edgesensor.tls"]), stderr)
	}
	acts := ds["edgesensor.action"]
	if len(acts) == 0 {
		t.Fatalf("monitor: no action event\n%s", stderr)
	}
	a := acts[0]
	ts, _ := time.Parse(time.RFC3339Nano, get(a, "@timestamp").(string))
	if get(a, "event.action") != "would_block" || get(a, "rule.name") != "c2" ||
		get(a, "edgesensor.action.matched") != "10.200.0.2/32" || ts.Sub(first) < 0 || ts.Sub(first) > time.Second ||
		get(a, "observer.ingress.interface.name") == "" {
		t.Errorf("monitor action event: %v", a)
	}

	// Block, the same: nothing of the flow reaches the analysis.
	evs, _, stderr = replayWith(t, cfg("block", "10.200.0.2 9\n", "# none\n"), "0s", pcap)
	ds = byDataset(evs)
	if len(ds["edgesensor.tls"]) != 0 || len(ds["edgesensor.action"]) == 0 || get(ds["edgesensor.action"][0], "event.action") != "blocked" {
		t.Errorf("block by address: %d TLS, %d action events\n%s", len(ds["edgesensor.tls"]), len(ds["edgesensor.action"]), stderr)
	}

	// Block, the SNI listed: the hello gets through (it is what is
	// judged), the server's answer becomes a reset to the client.
	evs, _, stderr = replayWith(t, cfg("block", "# none\n", "www.example.test 9\n"), "0s", pcap)
	ds = byDataset(evs)
	acts = ds["edgesensor.action"]
	if len(acts) == 0 {
		t.Fatalf("block by SNI: no action event\n%s", stderr)
	}
	a = acts[0]
	if get(a, "rule.category") != "handshake" || get(a, "edgesensor.action.matched") != "www.example.test" ||
		get(a, "edgesensor.action.reset") != true || get(a, "rule.name") != "bad-names" {
		t.Errorf("block by SNI, action event: %v", a)
	}
	if tls := ds["edgesensor.tls"]; len(tls) != 1 || get(tls[0], "tls.client.server_name") != "www.example.test" ||
		get(tls[0], "tls.server.ja3s") != nil {
		t.Errorf("block by SNI: the TLS event should have the hello and no ServerHello: %v", tls)
	}
	if !strings.Contains(stderr, `"enf_resets"`) {
		t.Errorf("no enf_resets counter in the stats:\n%s", stderr)
	}

	// QUIC (RFC 9001's client and server Initials, SNI example.com): the
	// client's Initial is judged, the server's is dropped (no reset for
	// UDP).
	qpcap := filepath.Join(dir, "quic.pcap")
	client := testutil.Pkt{UDP: true, Src: "10.201.0.1", Dst: "10.201.0.2", Sport: 50000, Dport: 443,
		Payload: testutil.ReadHex(t, "../../testdata/quic/rfc9001-a2-client-initial.hex")}
	server := testutil.Pkt{UDP: true, Src: "10.201.0.2", Dst: "10.201.0.1", Sport: 443, Dport: 50000,
		Payload: testutil.ReadHex(t, "../../testdata/quic/rfc9001-a3-server-initial.hex")}
	writePcap(t, qpcap, layers.LinkTypeEthernet, []packet{
		{ci: gopacket.CaptureInfo{Timestamp: first}, data: client.Frame()},
		{ci: gopacket.CaptureInfo{Timestamp: first.Add(time.Millisecond)}, data: server.Frame()},
	})
	evs, _, stderr = replayWith(t, cfg("block", "# none\n", "example.com 9\n"), "0s", qpcap)
	ds = byDataset(evs)
	acts = ds["edgesensor.action"]
	if len(acts) != 1 || get(acts[0], "rule.category") != "handshake" || get(acts[0], "edgesensor.action.matched") != "example.com" ||
		get(acts[0], "edgesensor.action.reset") != false || get(acts[0], "network.transport") != "udp" ||
		get(acts[0], "source.port") != float64(443) {
		t.Errorf("QUIC by SNI, action events: %v\n%s", acts, stderr)
	}
	if tls := ds["edgesensor.tls"]; len(tls) != 1 || get(tls[0], "tls.client.server_name") != "example.com" ||
		get(tls[0], "tls.server.ja3s") != nil {
		t.Errorf("QUIC by SNI: the TLS event should have the client's hello and no server's: %v", tls)
	}
	// The same capture unlisted: both Initials analysed.
	evs, _, _ = replayWith(t, cfg("block", "# none\n", "# none\n"), "0s", qpcap)
	if tls := byDataset(evs)["edgesensor.tls"]; len(tls) != 1 || get(tls[0], "tls.server.ja3s") == nil {
		t.Errorf("QUIC unlisted: the server's hello should be analysed: %v", tls)
	}
}
