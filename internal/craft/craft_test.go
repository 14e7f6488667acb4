package craft

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func build(t testing.TB, c Case, opt Options) (Packets, Truth) {
	t.Helper()
	var ps Packets
	tr, err := c.Build(corpus(t), opt, &ps)
	if err != nil {
		t.Fatal(err)
	}
	return ps, tr
}

func testOptions() Options { return Options{Seed: 1, Flood: SmallFloods()} }

// Every frame of every case decodes with gopacket down to TCP or UDP
// (or an IP fragment), with times increasing, and fits a 1500-byte MTU
// (so tcpreplay can put it on a veth).
func TestCasesParse(t *testing.T) {
	for _, c := range Cases() {
		ps, tr := build(t, c, testOptions())
		if len(ps) == 0 {
			t.Errorf("%s: no packets", c.Name)
			continue
		}
		if tr.Pcap != c.Name+".pcap" || tr.Case == "" {
			t.Errorf("%s: truth names %q %q", c.Name, tr.Pcap, tr.Case)
		}
		for i, p := range ps {
			if len(p.Data) > 1514 {
				t.Errorf("%s: packet %d is a %d-byte frame", c.Name, i, len(p.Data))
				break
			}
			if i > 0 && !p.Time.After(ps[i-1].Time) {
				t.Errorf("%s: packet %d not after the one before", c.Name, i)
				break
			}
			pk := gopacket.NewPacket(p.Data, layers.LayerTypeEthernet, gopacket.Default)
			if f := pk.ErrorLayer(); f != nil && !strings.HasPrefix(c.Name, "encap_eompls") {
				t.Errorf("%s: packet %d: %v", c.Name, i, f.Error())
				break
			}
			if strings.HasPrefix(c.Name, "encap_eompls") {
				continue // gopacket cannot tell the control word from IP: innermost() takes it apart
			}
			if pk.Layer(layers.LayerTypeTCP) == nil && pk.Layer(layers.LayerTypeUDP) == nil &&
				pk.Layer(gopacket.LayerTypeFragment) == nil && pk.Layer(layers.LayerTypeIPv6Fragment) == nil {
				t.Errorf("%s: packet %d has no transport: %v", c.Name, i, pk)
				break
			}
		}
	}
}

// The same seed gives the same bytes; another seed other bytes.
func TestCasesDeterministic(t *testing.T) {
	for _, c := range Cases() {
		if !strings.HasPrefix(c.Name, "tls_seg10") && !strings.HasPrefix(c.Name, "flood") &&
			c.Name != "window_decoy" && c.Name != "frag6_overlap" && c.Name != "encap_gtpu_tls" {
			continue
		}
		a, ta := build(t, c, testOptions())
		b, tb := build(t, c, testOptions())
		ja, _ := json.Marshal(ta)
		jb, _ := json.Marshal(tb)
		if !samePackets(a, b) || !bytes.Equal(ja, jb) {
			t.Errorf("%s: two builds with one seed differ", c.Name)
		}
		o := testOptions()
		o.Seed = 2
		if d, _ := build(t, c, o); samePackets(a, d) {
			t.Errorf("%s: seeds 1 and 2 give the same bytes", c.Name)
		}
	}
}

func samePackets(a, b Packets) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Time.Equal(b[i].Time) || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

// seenFile is a whole HTTP response body a receiver got.
type seenFile struct{ name, sha string }

// httpFiles pairs the requests of a connection with its responses and
// returns the bodies whose Content-Length is all there. It stops at the
// first thing that is not an HTTP message (the stream after a hole, or
// a decoy's bytes).
func httpFiles(up, down []byte) []seenFile {
	var names []string
	for len(up) > 0 {
		head, rest, ok := bytes.Cut(up, []byte("\r\n\r\n"))
		if !ok {
			break
		}
		f := strings.Fields(strings.SplitN(string(head), "\r\n", 2)[0])
		if len(f) < 2 {
			break
		}
		names = append(names, path.Base(f[1]))
		up = rest
	}
	var out []seenFile
	for i := 0; len(down) > 0; i++ {
		head, rest, ok := bytes.Cut(down, []byte("\r\n\r\n"))
		if !ok || !bytes.HasPrefix(head, []byte("HTTP/1.1 ")) {
			break
		}
		n := -1
		for _, l := range strings.Split(string(head), "\r\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "content-length") {
				n, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		if n < 0 || len(rest) < n {
			break
		}
		sum := sha256.Sum256(rest[:n])
		name := ""
		if i < len(names) {
			name = names[i]
		}
		out = append(out, seenFile{name: name, sha: hex.EncodeToString(sum[:])})
		down = rest[n:]
	}
	return out
}

// helloOfStream parses the ClientHello (or ServerHello) that opens a
// stream after any records of other types.
func helloOfStream(b []byte, client bool) (*Hello, error) {
	rs, _ := ParseRecords(b)
	var hs []byte
	started := false
	for _, r := range rs {
		if r.Type != recHandshake {
			if started {
				break
			}
			continue
		}
		started = true
		hs = append(hs, r.Body...)
	}
	typ, body, err := splitMessage(hs)
	if err != nil {
		return nil, err
	}
	if want := map[bool]uint8{true: hsClientHello, false: hsServerHello}[client]; typ != want {
		return nil, fmt.Errorf("handshake message %d", typ)
	}
	return ParseHello(body, client)
}

// counterDrops maps the truth's counter names to the receiver's.
var counterDrops = map[string]string{"tcp_csum_bad": "tcp_csum", "ip_csum_bad": "ip_csum",
	"csum_offload_detected": "offloaded", "tcp_out_of_window": "overwindow", "frag_overlap": "frag_overlap",
	"frag_tiny": "frag6_tiny", "tcp_urgent": "urgent"}

// verdict lists where what a receiver got differs from the truth.
func verdict(t *testing.T, r *receiver, tr Truth, counters bool) []string {
	var bad []string
	// Handshakes.
	for _, w := range tr.TLS {
		var got [4]string
		found := false
		for _, c := range r.all {
			if int(c.client.Port()) != w.ClientPort || int(c.server.Port()) != w.ServerPort {
				continue
			}
			found = true
			ch, err := helloOfStream(c.d[0].app, true)
			if err != nil {
				bad = append(bad, fmt.Sprintf("client hello: %v", err))
				break
			}
			got = [4]string{ch.SNI(), ch.JA3(), "", ch.JA4(false)}
			if sh, err := helloOfStream(c.d[1].app, false); err == nil {
				got[2] = sh.JA3S()
			}
		}
		if !found { // QUIC: the Initial itself must come out of the fragments whole
			initial, err := corpus(t).QUIC("rfc9001-a2-client-initial")
			if err != nil {
				t.Fatal(err)
			}
			ok := false
			for _, u := range r.udp {
				ok = ok || bytes.Equal(u, initial)
			}
			if !ok {
				bad = append(bad, "QUIC Initial not reassembled")
			}
			continue
		}
		if want := [4]string{w.SNI, w.JA3, w.JA3S, w.JA4}; got != want {
			bad = append(bad, fmt.Sprintf("sni/ja3/ja3s/ja4 %q, want %q", got, want))
		}
	}
	// Files of HTTP connections.
	legit := map[string]bool{} // non-candidate files of the sources: a receiver may get them
	for _, src := range []string{"http_keepalive"} {
		s, _ := corpus(t).Source(src)
		for _, f := range s.Truth.NotFiles {
			legit[f.SHA256] = true
		}
	}
	decoy := map[string]bool{}
	for _, f := range tr.NotFiles {
		if !legit[f.SHA256] {
			decoy[f.SHA256] = true
		}
	}
	want := map[seenFile]int{}
	for _, f := range tr.Files {
		want[seenFile{f.Name, f.SHA256}]++
	}
	unwanted := map[string]bool{}
	for _, f := range tr.Incomplete {
		unwanted[f.Name] = true
	}
	conflicts := 0
	seen := map[seenFile]int{}
	mail := false // the receiver model does not read mail: its files are not checked
	for _, c := range r.all {
		conflicts += c.d[0].conflict + c.d[1].conflict
		mail = mail || c.server.Port() == 25
		if c.server.Port() != 80 {
			continue
		}
		for _, f := range httpFiles(c.d[0].app, c.d[1].app) {
			seen[f]++
			switch {
			case decoy[f.sha]:
				bad = append(bad, fmt.Sprintf("decoy %s taken", f.sha[:12]))
			case unwanted[f.name] && f.name != "":
				bad = append(bad, fmt.Sprintf("%s whole, the truth says incomplete", f.name))
			case want[f] == 0 && !legit[f.sha] && !contains(tr.Conflict, f.name):
				bad = append(bad, fmt.Sprintf("%s (%s) is no file of the truth", f.name, f.sha[:12]))
			}
		}
	}
	if !mail && len(tr.Incomplete) == 0 {
		for f, n := range want {
			if seen[f] < n {
				bad = append(bad, fmt.Sprintf("%s whole %d times, want %d", f.name, seen[f], n))
			}
		}
	}
	for _, name := range tr.Conflict {
		ok := false
		for f := range seen {
			ok = ok || f.name == name
		}
		if !ok || conflicts == 0 {
			bad = append(bad, fmt.Sprintf("conflict %s: Linux's copy whole %v, conflicting copies %d", name, ok, conflicts))
		}
	}
	for name := range tr.Counters {
		if counters && r.drops[counterDrops[name]] == 0 {
			bad = append(bad, fmt.Sprintf("counter %s: the receiver saw none (%v)", name, r.drops))
		}
	}
	sort.Strings(bad)
	return bad
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// What a Linux receiver takes from every case is what the case's truth
// says: the handshake's fingerprints, the files whole (or, where the
// capture lacks bytes, not whole), no decoy, and the counters the truth
// names are things the receiver did drop.
func TestCasesGiveLinuxTheTruth(t *testing.T) {
	for _, c := range Cases() {
		ps, tr := build(t, c, testOptions())
		r, err := receive(ps, false, c.Name == "csum_offloaded")
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if bad := verdict(t, r, tr, true); len(bad) > 0 {
			t.Errorf("%s: %s", c.Name, strings.Join(bad, "; "))
		}
	}
}

// attacks are the cases whose decoys fool a reassembler that checks
// nothing and keeps the first copy of every byte: each must.
var attacks = []string{"csum_tcp_decoy", "csum_ip_decoy", "window_decoy", "noack_decoy", "after_fin_decoy",
	"overlap_linux_inorder_wins", "overlap_linux_longer_same_start", "overlap_linux_fin_replaced", "rst_bad_seq", "syn_midstream",
	"tfo_unacked", "urgent_byte", "frag4_overlap", "frag6_overlap", "frag6_tiny_first"}

func TestAttacksFoolANaiveReassembler(t *testing.T) {
	names := append([]string(nil), attacks...)
	for _, s := range tlsSources {
		for _, k := range []string{"decoy_badcsum", "decoy_overlap", "decoy_inorder"} {
			names = append(names, "tls_"+k+"_"+shortName(s))
		}
	}
	for _, name := range names {
		c, ok := Lookup(name)
		if !ok {
			t.Fatalf("no case %s", name)
		}
		ps, tr := build(t, c, testOptions())
		r, err := receive(ps, true, false)
		if err != nil {
			t.Fatal(err)
		}
		if bad := verdict(t, r, tr, false); len(bad) == 0 {
			t.Errorf("%s: a naive reassembler gets the truth: the attack does not bite", name)
		} else {
			t.Logf("%s: naive: %s", name, strings.Join(bad, "; "))
		}
	}
	// An offloaded capture read with checksums checked loses everything.
	c, _ := Lookup("csum_offloaded")
	ps, tr := build(t, c, testOptions())
	r, _ := receive(ps, false, false)
	if bad := verdict(t, r, tr, false); len(bad) == 0 {
		t.Errorf("csum_offloaded: checksums are right")
	}
}
