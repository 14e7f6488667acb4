package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/edgesensor/edgesensor/internal/testutil"
)

// The community ids the sensor writes are Wireshark's: every capture of
// the corpus, the same conversations over IPv6, and QUIC Initials over
// UDP (IPv4 and IPv6), replayed through the real XDP program and the
// analysis with enforcement in monitor mode (every address listed, so
// packets become edgesensor.action events too), under seed 0 and
// another. Each edgesensor.tls, edgesensor.file and edgesensor.action
// event carries network.community_id, and it is the one tshark's
// Community ID dissector computes for the event's flow. Run as root:
//
//	EDGESENSOR_TEST_TIERS=bpf go test -count=1 -run CommunityID -v ./cmd/edgesensor
func TestPrivilegedCommunityIDMatchesTshark(t *testing.T) {
	testutil.RequireBPF(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (make test installs it)")
	}
	dir := t.TempDir()
	caps, _ := filepath.Glob("../../testdata/corpus/*.pcap")
	if len(caps) < 8 {
		t.Fatalf("%d corpus captures", len(caps))
	}
	caps = append(caps,
		v6Conversations(t, filepath.Join(dir, "v6_tls.pcap"), "../../testdata/corpus/tls_curl13.pcap"),
		v6Conversations(t, filepath.Join(dir, "v6_http.pcap"), "../../testdata/corpus/http_keepalive.pcap"),
		quicCapture(t, filepath.Join(dir, "quic4.pcap"), false),
		quicCapture(t, filepath.Join(dir, "quic6.pcap"), true))
	// A download held and blocked (enforcement.mode = "block", EICAR):
	// its action event is built from the file's flow, not a packet.
	t.Run("held_download", func(t *testing.T) {
		pcap := "../../testdata/corpus/http_keepalive.pcap"
		want, _ := tsharkCommunityIDs(t, pcap, 7)
		evs, _, stderr := replayWith(t, communityIDConfigMode(t, 7, nil, "block"), "0s", pcap)
		held := 0
		for _, ev := range evs {
			if get(ev, "edgesensor.action.hold") == nil {
				continue
			}
			held++
			key, err := flowKey("tcp", eventEndpoint(ev, "source"), eventEndpoint(ev, "destination"))
			if err != nil {
				t.Fatal(err)
			}
			if id := get(ev, "network.community_id"); len(want[key]) != 1 || id != want[key][0] {
				t.Errorf("held download of %s: community id %v, tshark %v", key, id, want[key])
			}
		}
		if held == 0 {
			t.Errorf("no held download\n%s", stderr)
		}
	})
	for _, seed := range []uint16{0, 4242} {
		for _, pcap := range caps {
			name := strings.TrimSuffix(filepath.Base(pcap), ".pcap")
			t.Run(fmt.Sprintf("seed%d/%s", seed, name), func(t *testing.T) {
				want, addrs := tsharkCommunityIDs(t, pcap, seed)
				if len(want) == 0 {
					t.Fatal("tshark computed no community id")
				}
				evs, _, stderr := replayWith(t, communityIDConfig(t, seed, addrs), "0s", pcap)
				n := map[string]int{}
				for _, ev := range evs {
					ds, _ := get(ev, "event.dataset").(string)
					id, _ := get(ev, "network.community_id").(string)
					transport, _ := get(ev, "network.transport").(string)
					if transport == "icmp" {
						if id != "" {
							t.Errorf("an ICMP action has community id %s", id)
						}
						continue
					}
					key, err := flowKey(transport, eventEndpoint(ev, "source"), eventEndpoint(ev, "destination"))
					if err != nil {
						t.Fatalf("%s event: %v", ds, err)
					}
					ids := want[key]
					if len(ids) != 1 {
						t.Fatalf("%s event of %s: tshark has ids %v", ds, key, ids)
					}
					if id != ids[0] {
						t.Errorf("%s event of %s: community id %q, tshark %s", ds, key, id, ids[0])
					}
					n[ds]++
				}
				if n["edgesensor.tls"]+n["edgesensor.file"] == 0 || n["edgesensor.action"] == 0 {
					t.Errorf("events checked: %v\n%s", n, stderr)
				}
				t.Logf("%v events match tshark", n)
			})
		}
	}
}

// communityIDConfig is a replay config under seed with enforcement in
// monitor mode listing addrs (every packet of theirs makes an action,
// nothing is dropped).
func communityIDConfig(t *testing.T, seed uint16, addrs []netip.Addr) string {
	t.Helper()
	return communityIDConfigMode(t, seed, addrs, "monitor")
}

// communityIDConfigMode is communityIDConfig in an enforcement mode.
func communityIDConfigMode(t *testing.T, seed uint16, addrs []netip.Addr, mode string) string {
	t.Helper()
	dir := t.TempDir()
	var list strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&list, "%s 9\n", a)
	}
	ips, names := filepath.Join(dir, "ips.txt"), filepath.Join(dir, "names.txt")
	if err := os.WriteFile(ips, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(names, []byte("# none\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "sensor.toml")
	body := fmt.Sprintf("[files]\nspool_dir = %q\n[metrics]\nlisten = \"\"\n[output]\ncommunity_id_seed = %d\n\n", filepath.Join(dir, "spool"), seed) +
		enforcementTables(ips, names, mode)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// eventEndpoint is source or destination of a decoded event.
func eventEndpoint(ev map[string]any, side string) netip.AddrPort {
	ip, _ := get(ev, side+".ip").(string)
	port, _ := get(ev, side+".port").(float64)
	a, _ := netip.ParseAddr(ip)
	return netip.AddrPortFrom(a, uint16(port))
}

// flowKey names a flow the same whichever way it is written.
func flowKey(transport string, a, b netip.AddrPort) (string, error) {
	if !a.IsValid() || !b.IsValid() {
		return "", fmt.Errorf("endpoints %v %v", a, b)
	}
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	b = netip.AddrPortFrom(b.Addr().Unmap(), b.Port())
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	return transport + " " + a.String() + " " + b.String(), nil
}

// tsharkCommunityIDs reads a capture with tshark's Community ID
// dissector under seed: the ids of each TCP and UDP flow, and every
// address seen.
func tsharkCommunityIDs(t *testing.T, pcap string, seed uint16) (map[string][]string, []netip.Addr) {
	t.Helper()
	out := tshark(t, pcap, "--enable-protocol", "communityid", "-o", "communityid.seed:"+strconv.Itoa(int(seed)),
		"-T", "fields", "-E", "separator=/t", "-E", "occurrence=f",
		"-e", "communityid", "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst",
		"-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport", "-e", "udp.dstport")
	ids := map[string][]string{}
	var addrs []netip.Addr
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 9 || f[0] == "" {
			continue
		}
		src, dst := f[1]+f[2], f[3]+f[4]
		transport, sp, dp := "tcp", f[5], f[6]
		if sp == "" {
			transport, sp, dp = "udp", f[7], f[8]
		}
		if src == "" || sp == "" {
			continue
		}
		sport, _ := strconv.Atoi(sp)
		dport, _ := strconv.Atoi(dp)
		sa, err1 := netip.ParseAddr(src)
		da, err2 := netip.ParseAddr(dst)
		if err1 != nil || err2 != nil {
			t.Fatalf("tshark line %q", l)
		}
		key, _ := flowKey(transport, netip.AddrPortFrom(sa, uint16(sport)), netip.AddrPortFrom(da, uint16(dport)))
		if !slices.Contains(ids[key], f[0]) {
			ids[key] = append(ids[key], f[0])
		}
		for _, a := range []netip.Addr{sa, da} {
			if !slices.Contains(addrs, a) {
				addrs = append(addrs, a)
			}
		}
	}
	return ids, addrs
}

// v6Conversations writes the TCP conversations of a capture again
// between IPv6 hosts (2001:db8:100::N for 10.200.0.N), with capBuilder:
// each one's client bytes, then the server's.
func v6Conversations(t *testing.T, path, from string) string {
	t.Helper()
	v6 := func(a netip.Addr) netip.Addr {
		b := netip.MustParseAddr("2001:db8:100::").As16()
		b4 := a.Unmap().As4()
		b[15] = b4[3]
		return netip.AddrFrom16(b)
	}
	b := newCapBuilder(t)
	for _, c := range testutil.TCPConns(t, from) {
		conn := b.dial(v6(c.Client.Addr()), v6(c.Server.Addr()), c.Server.Port())
		conn.send(true, c.ToServer)
		conn.send(false, c.ToClient)
		conn.close()
	}
	b.write(path)
	return path
}

// quicCapture writes RFC 9001's client and server Initials (SNI
// example.com) as one QUIC handshake over UDP.
func quicCapture(t *testing.T, path string, v6 bool) string {
	t.Helper()
	client := testutil.Pkt{UDP: true, V6: v6, Src: "10.201.0.1", Dst: "10.201.0.2", Sport: 50000, Dport: 443,
		Payload: testutil.ReadHex(t, "../../testdata/quic/rfc9001-a2-client-initial.hex")}
	if v6 {
		client.Src, client.Dst = "2001:db8:201::1", "2001:db8:201::2"
	}
	server := client.Reply(0, 0, "", testutil.ReadHex(t, "../../testdata/quic/rfc9001-a3-server-initial.hex"))
	first := time.Unix(1795394822, 0).UTC()
	writePcap(t, path, layers.LinkTypeEthernet, []packet{
		{ci: gopacket.CaptureInfo{Timestamp: first}, data: client.Frame()},
		{ci: gopacket.CaptureInfo{Timestamp: first.Add(time.Millisecond)}, data: server.Frame()},
	})
	return path
}
