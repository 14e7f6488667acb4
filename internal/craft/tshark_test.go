package craft

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// tsharkMisses are benign cases tshark 4.0 cannot read: a record
// version 0x03ff is not TLS to its heuristics, and a change_cipher_spec
// record before a ClientHello that spans two segments stops its
// reassembly. Logged, not failed: tshark is a peer.
var tsharkMisses = map[string]bool{"tls_recver_03ff_curl13": true, "tls_recver_03ff_curl12": true,
	"tls_recver_03ff_gopq": true, "tls_recver_03ff_nosni": true, "tls_ccs_first_gopq": true}

// tsharkSample are the cases checked by default: every made-up hello
// (whose JA3 this package computes), one of each split, framing,
// fragment and tunnel family. CRAFT_TSHARK_ALL=1 checks every TLS case.
func tsharkSample(name string) bool {
	if os.Getenv("CRAFT_TSHARK_ALL") != "" {
		return true
	}
	for _, p := range []string{"tls_big_hello_", "frag_quic_", "tls_seg1_curl13", "tls_seg5_curl12", "tls_rec1_",
		"tls_tiny_first_nosni", "tls_ccs_first_curl13", "tls_alert_first_curl12", "tls_recver_0300_gopq",
		"frag_tls_hello_gopq", "frag6_tls_hello", "encap_vxlan_tls", "encap_gtpu_tls", "encap_eompls_tls",
		"encap_ipv6_extchain_tls", "encap_pppoe_tls", "tls_decoy_badcsum_curl13"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// tshark is a peer, not the truth: on the benign splits, re-framings,
// fragments and tunnels it must find the truth's SNI, JA3 and JA3S (so
// the JA3 this package computes for the hellos it makes up, the 64 KiB
// ones and the QUIC one, is Wireshark's); where a decoy fools it, that
// is logged.
func TestTsharkAgreesOnHandshakes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tshark")
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	dir := t.TempDir()
	var cases []Case
	for _, c := range Cases() {
		if c.Flood || !tsharkSample(c.Name) {
			continue
		}
		var ps Packets
		tr, err := c.Build(corpus(t), testOptions(), &ps)
		if err != nil {
			t.Fatal(err)
		}
		if len(tr.TLS) > 0 {
			cases = append(cases, c)
		}
	}
	sem := make(chan struct{}, 2)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range cases {
		wg.Add(1)
		sem <- struct{}{}
		go func(c Case) {
			defer wg.Done()
			defer func() { <-sem }()
			start := time.Now()
			msg, fooled := tsharkCheck(t, c, dir)
			if d := time.Since(start); d > 5*time.Second {
				t.Logf("%s: tshark took %v", c.Name, d)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case msg == "":
			case strings.Contains(c.Name, "decoy") || tsharkMisses[c.Name]:
				t.Logf("%s: tshark fooled: %s", c.Name, msg)
			case fooled:
				t.Errorf("%s: %s", c.Name, msg)
			}
		}(c)
	}
	wg.Wait()
}

// tsharkCheck writes the case and compares tshark's hellos with the
// truth; it returns what differs.
func tsharkCheck(t *testing.T, c Case, dir string) (string, bool) {
	p := filepath.Join(dir, c.Name+".pcap")
	f, err := os.Create(p)
	if err != nil {
		return err.Error(), true
	}
	tr, err := c.WritePcap(corpus(t), testOptions(), f)
	f.Close()
	if err != nil {
		return err.Error(), true
	}
	args := []string{"-r", p, "-o", "tcp.desegment_tcp_streams:TRUE", "-d", "tcp.port==4433,tls",
		"-Y", "tls.handshake.type==1 || tls.handshake.type==2",
		"-T", "fields", "-e", "tcp.srcport", "-e", "udp.srcport", "-e", "tls.handshake.type",
		"-e", "tls.handshake.ja3", "-e", "tls.handshake.ja3s", "-e", "tls.handshake.extensions_server_name"}
	if strings.Contains(c.Name, "eompls") {
		args = append(args, "-d", "mpls.label==2000,pwethcw") // the pseudowire's payload: Ethernet with control word
	}
	var out bytes.Buffer
	cmd := exec.Command("tshark", args...)
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return "tshark: " + err.Error(), true
	}
	var msgs []string
	for _, w := range tr.TLS {
		var ja3, ja3s, sni string
		for _, line := range strings.Split(out.String(), "\n") {
			f := strings.Split(line, "\t")
			if len(f) < 6 {
				continue
			}
			port := f[0] // the innermost TCP port; else UDP (QUIC)
			if port == "" {
				port = f[1]
			}
			types := "," + f[2] + ","
			if strings.Contains(types, ",1,") && port == itoa(w.ClientPort) && ja3 == "" {
				ja3, sni = f[3], f[5]
			}
			if strings.Contains(types, ",2,") && port == itoa(w.ServerPort) && ja3s == "" {
				ja3s = f[4]
			}
		}
		if ja3 != w.JA3 || sni != w.SNI || ja3s != w.JA3S {
			msgs = append(msgs, "ja3/sni/ja3s "+ja3+" "+sni+" "+ja3s+", want "+w.JA3+" "+w.SNI+" "+w.JA3S)
		}
	}
	return strings.Join(msgs, "; "), len(msgs) > 0
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
