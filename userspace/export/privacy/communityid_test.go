package privacy

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/ecs/communityid"
	"github.com/edgesensor/edgesensor/userspace/export/privacy/leaktest"
	"github.com/edgesensor/edgesensor/userspace/files"
	"github.com/edgesensor/edgesensor/userspace/handshake"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// idEvent is one event of the sensor's own types, as a line, with the
// community id of its flow.
type idEvent struct {
	name string
	line []byte
	id   string
}

// communityIDEvents are events of every dataset built with the sensor's
// event types the way the pipelines and the daemon build them, each
// carrying its flow's community id under seed: a TLS handshake (IPv4), a
// QUIC one (IPv6, UDP), an HTTP download (IPv4) and a mail attachment
// (IPv6), an enforcement action and the cloud's verdict on the
// download's hash (which carries the download's id).
func communityIDEvents(t *testing.T, g *leaktest.Gen, seed uint16) []idEvent {
	t.Helper()
	ts := time.Date(2026, 11, 23, 0, 46, 6, 0, time.UTC)
	c4 := netip.AddrPortFrom(g.ClientV4(), uint16(40000+g.R.IntN(20000)))
	c6 := netip.AddrPortFrom(g.ClientV6(), uint16(40000+g.R.IntN(20000)))
	s4 := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr("203.0.113.80"), port) }
	s6 := func(port uint16) netip.AddrPort {
		return netip.AddrPortFrom(netip.MustParseAddr("2001:db8:203::80"), port)
	}
	base := func(dataset, transport, proto string, ipProto uint8, c, s netip.AddrPort) ecs.Base {
		start := ts
		b := ecs.Base{Timestamp: ts, Event: ecs.Event{Kind: "event", Category: []string{"network"}, Type: []string{"info"}, Dataset: dataset,
			Start: &start, End: &start},
			Observer: ecs.ObserverOf("eth0"), Source: ecs.EndpointOf(c), Destination: ecs.EndpointOf(s),
			Network: ecs.NetworkOf(transport, proto, c.Addr(), [2]uint16{})}
		b.Network.CommunityID = communityid.String(seed, ipProto, c, s)
		return b
	}
	var out []idEvent
	add := func(name string, v any, id string) {
		line, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if id == "" {
			t.Fatalf("%s: no community id", name)
		}
		out = append(out, idEvent{name, line, id})
	}
	for _, h := range []struct {
		name, transport, proto string
		ipProto                uint8
		c, s                   netip.AddrPort
	}{
		{"tls", "tcp", "tls", communityid.TCP, c4, s4(443)},
		{"quic", "udp", "quic", communityid.UDP, c6, s6(443)},
	} {
		ev := &handshake.Event{Base: base(handshake.Dataset, h.transport, h.proto, h.ipProto, h.c, h.s)}
		ev.TLS.VersionProtocol = "tls"
		ev.TLS.Client = &handshake.TLSClient{ServerName: "www.example.com", JA3: "0123", JA4: "t13d", SupportedCiphers: []string{}}
		ev.Edgesensor.TLS.Complete, ev.Edgesensor.TLS.End = true, "finished"
		add(h.name, ev, ev.Network.CommunityID)
	}
	sha := strings.Repeat("ab", 32)
	var download string
	for _, f := range []struct {
		name, proto, category string
		c, s                  netip.AddrPort
	}{
		{"http-download", "http", "executable", c4, s4(80)},
		{"smtp-attachment", "smtp", "document", c6, s6(25)},
	} {
		ev := &files.Event{Base: base(files.Dataset, "tcp", f.proto, communityid.TCP, f.c, f.s)}
		ev.File = files.File{Name: "setup.exe", Extension: "exe", Size: 4096, Hash: &files.Hash{SHA256: sha}}
		ev.Edgesensor.File = files.FileDetails{Category: f.category, Complete: true, Direction: "download", Analysed: true}
		sc := score.Result{Verdict: "clean"}
		ev.Event.RiskScore, ev.Edgesensor.Score = &sc.Score, &sc
		add(f.name, ev, ev.Network.CommunityID)
		if download == "" {
			download = ev.Network.CommunityID
		}
	}
	act := ecs.NewActionEvent(ts, true, 9)
	act.Source, act.Destination = ecs.EndpointOf(s4(443)), ecs.EndpointOf(c4)
	act.Network.Transport, act.Network.Type = "tcp", "ipv4"
	act.Network.CommunityID = communityid.String(seed, communityid.TCP, s4(443), c4)
	act.Rule.Name, act.Rule.Category = "c2", "address"
	add("action", act, act.Network.CommunityID)
	v := ecs.NewVerdictEvent(ts, "alert", 9, sha, ecs.Verdict{Source: "cloud", Via: "feed", CloudScore: 9, CloudVerdict: "malicious"})
	v.SetCommunityID(download)
	add("verdict", v, download)
	return out
}

// forms are the textual forms a community id could leave in: as
// written, its base64 alone, the digest in hex (either case) and its
// base64 without padding or in the URL alphabet.
func forms(id string) []string {
	b64 := strings.TrimPrefix(id, communityid.Prefix)
	raw, _ := base64.StdEncoding.DecodeString(b64)
	return []string{id, b64, hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw)),
		base64.RawStdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw)}
}

// The community id is an unkeyed hash of the raw addresses and ports:
// anyone can test guesses of the client's address against it. Events of
// every dataset, built by the sensor's types and carrying their flows'
// real ids (seed 0 and another), go through every privacy setting a
// customer can choose: the outputs read the id from the record's fields,
// and no form of it is in any record made for the cloud. The file and
// TLS events do make records, so the test is not vacuous.
func TestCommunityIDNeverLeaves(t *testing.T) {
	g := leaktest.NewGen(leaktest.Seed(t))
	for _, seed := range []uint16{0, uint16(1 + g.R.IntN(65535))} {
		evs := communityIDEvents(t, g, seed)
		for _, ev := range evs {
			if got := recordOf(ev.line).Fields.CommunityID; got != ev.id {
				t.Fatalf("seed %d: %s: the record's fields carry community id %q, want %q", seed, ev.name, got, ev.id)
			}
			if !bytes.Contains(ev.line, []byte(`"community_id":"`+ev.id+`"`)) {
				t.Fatalf("seed %d: %s: no network.community_id in %s", seed, ev.name, ev.line)
			}
		}
		all := leakModes()
		for name, edit := range modes() {
			all["modes/"+name] = edit
		}
		for name, edit := range all {
			cfg := uplinked(edit)
			p, err := newPolicy(cfg, testKey(t))
			if err != nil {
				t.Fatal(err)
			}
			made := map[string]bool{}
			for _, ev := range evs {
				rec, ok, err := p.Record(recordOf(ev.line))
				if err != nil {
					t.Fatalf("%s: %s: %v", name, ev.name, err)
				}
				if !ok {
					continue
				}
				made[ev.name] = true
				if bytes.Contains(rec.Body, []byte("community_id")) {
					t.Fatalf("%s: %s: network.community_id left: %s", name, ev.name, rec.Body)
				}
				for _, other := range evs {
					for _, f := range forms(other.id) {
						if bytes.Contains(rec.Body, []byte(f)) || strings.Contains(rec.ID, f) {
							t.Fatalf("%s: %s: the community id of %s (%q) left: %s", name, ev.name, other.name, f, rec.Body)
						}
					}
				}
			}
			// What may leave under the defaults, and never what the
			// cloud does not take.
			want := fmt.Sprint(map[string]bool{"tls": true, "quic": true, "http-download": true, "smtp-attachment": true})
			if cfg.Privacy.TLS != ShareNone && cfg.Privacy.Executables != ShareNone && cfg.Privacy.Documents != ShareNone &&
				fmt.Sprint(made) != want {
				t.Fatalf("%s: records of %v, want of %s", name, made, want)
			}
			if made["action"] || made["verdict"] {
				t.Fatalf("%s: an action or verdict event made a record", name)
			}
		}
	}
}

// The disclosure says the community id never leaves, and why, in every
// category and under every setting.
func TestDisclosureSaysCommunityIDNeverLeaves(t *testing.T) {
	for name, edit := range modes() {
		p, _ := newPolicy(uplinked(edit), testKey(t))
		cats := map[string]bool{}
		for _, d := range p.Disclosure() {
			if d.Field != "network.community_id" {
				continue
			}
			cats[d.Category] = true
			if d.Sent || !strings.Contains(d.Transform, "not sent") && d.Transform != "never sent" ||
				!strings.Contains(d.Note, "unkeyed hash") {
				t.Fatalf("%s: %+v", name, d)
			}
		}
		if len(cats) != 3 {
			t.Fatalf("%s: network.community_id disclosed for %v, want every category", name, cats)
		}
	}
}
