package daemon

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/sensor"
	"github.com/edgesensor/edgesensor/userspace/export/ecs/communityid"
	"github.com/edgesensor/edgesensor/userspace/export/events"
	"github.com/edgesensor/edgesensor/userspace/export/ndjson"
	"github.com/edgesensor/edgesensor/userspace/export/uplink"
)

// A verdict event carries the community id of the file event that
// reported its hash: the latest flow's when several carried the file,
// kept when a later event of the hash has none, and none once the memo
// forgot the hash.
func TestVerdictCarriesTheFilesCommunityID(t *testing.T) {
	var buf bytes.Buffer
	out := ndjson.NewNDJSON(&buf)
	c := &cloudLink{out: out, scores: newScoreMemo(2)}
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	c.scores.put(a, 3, "1:first")
	c.scores.put(a, 8, "1:latest")
	c.scores.put(a, 8, "")
	verdict := func(sha string) (string, []byte) {
		t.Helper()
		buf.Reset()
		c.onVerdict(uplink.Verdict{SHA256: sha, Score: 9, Verdict: "malicious", Source: "lookup"})
		out.Flush()
		line := bytes.TrimSpace(buf.Bytes())
		rec, err := events.Record(line)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Fields.SHA256 != sha || rec.Fields.Score != 9 {
			t.Fatalf("verdict fields %+v", rec.Fields)
		}
		return rec.Fields.CommunityID, line
	}
	if id, line := verdict(a); id != "1:latest" || !bytes.Contains(line, []byte(`"network":{"community_id":"1:latest"}`)) {
		t.Errorf("community id %q: %s", id, line)
	}
	// Two more hashes: the memo (of two) forgets the first.
	c.scores.put(b, 1, "1:b")
	c.scores.put(strings.Repeat("c", 64), 1, "1:c")
	if id, line := verdict(a); id != "" || bytes.Contains(line, []byte(`"network"`)) {
		t.Errorf("forgotten hash: community id %q: %s", id, line)
	}
	if id, _ := verdict(b); id != "1:b" {
		t.Errorf("community id %q, want 1:b", id)
	}
}

// An action event has the community id of its packet's flow, the same
// either way, and none where it could not be the flow's.
func TestActionCommunityID(t *testing.T) {
	cl, sv := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("192.0.2.80:443")
	for _, c := range []struct {
		name     string
		proto    uint8
		src, dst netip.AddrPort
		want     string
	}{
		{"tcp", 6, sv, cl, communityid.String(5, communityid.TCP, cl, sv)},
		{"udp", 17, cl, sv, communityid.String(5, communityid.UDP, sv, cl)},
		{"gre", 47, cl, sv, communityid.String(5, 47, netip.AddrPortFrom(cl.Addr(), 0), netip.AddrPortFrom(sv.Addr(), 0))},
		{"icmp", 1, netip.AddrPortFrom(cl.Addr(), 0), netip.AddrPortFrom(sv.Addr(), 0), ""},
		{"icmpv6", 58, netip.MustParseAddrPort("[fd00::1]:0"), netip.MustParseAddrPort("[fd00::2]:0"), ""},
		{"fragment", 6, netip.AddrPortFrom(cl.Addr(), 0), netip.AddrPortFrom(sv.Addr(), 0), ""},
	} {
		got := actionCommunityID(5, &sensor.Action{Proto: c.proto, Src: c.src, Dst: c.dst})
		if got != c.want || c.want == "" && got != "" {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		if c.want != "" && !strings.HasPrefix(got, communityid.Prefix) {
			t.Errorf("%s: %q", c.name, got)
		}
	}
}
