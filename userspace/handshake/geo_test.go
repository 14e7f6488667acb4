package handshake

import (
	stdjson "encoding/json"
	"io"
	"net/netip"
	"testing"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/internal/testutil/mmdbtest"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/geo"
	"github.com/edgesensor/edgesensor/userspace/export/ndjson"
)

// moveServer puts the server of a capture's events at server.
func moveServer(evs []datapath.Event, server netip.Addr) {
	for i := range evs {
		if evs[i].Flags&datapath.FlagFromClient != 0 {
			evs[i].Dst = netip.AddrPortFrom(server, evs[i].Dst.Port())
		} else {
			evs[i].Src = netip.AddrPortFrom(server, evs[i].Src.Port())
		}
	}
}

// The server's address, and only it, is looked up; the answer is
// destination.geo and destination.as, written by the fast encoder as
// encoding/json writes it.
func TestEventCarriesServerGeo(t *testing.T) {
	tr := readTruth(t, "tls_curl13")
	evs := packetEvents(t, "tls_curl13", uint16(tr.TLS[0].ClientPort))
	server := netip.MustParseAddr("81.2.69.142")
	moveServer(evs, server)
	var asked []netip.Addr
	g := &geo.Geo{CountryISOCode: "GB", CityName: "Lon\"don <&>", Location: &geo.Location{Lat: 51.5142, Lon: -0.0931}}
	as := &geo.AS{Number: 20712, Organization: &geo.Organization{Name: "Andrews & Arnold Ltd"}}
	var written []*Event
	got := run(t, evs, Config{
		Geo: func(a netip.Addr) (*geo.Geo, *geo.AS) {
			asked = append(asked, a)
			return g, as
		},
		Score: func(e *Event) { written = append(written, e) },
	})
	if len(got) != 1 || len(asked) != 1 || asked[0] != server {
		t.Fatalf("%d events, looked up %v", len(got), asked)
	}
	if field(got[0], "destination.geo.city_name") != g.CityName || field(got[0], "destination.geo.location.lat") != 51.5142 ||
		field(got[0], "destination.as.number") != float64(20712) || field(got[0], "destination.as.organization.name") != "Andrews & Arnold Ltd" {
		t.Errorf("destination %v", field(got[0], "destination"))
	}
	if field(got[0], "source.geo") != nil || field(got[0], "source.as") != nil {
		t.Errorf("source %v", field(got[0], "source"))
	}
	want, err := stdjson.Marshal(written[0])
	if err != nil {
		t.Fatal(err)
	}
	var sh shard
	line, err := sh.encode(written[0])
	if err != nil {
		t.Fatal(err)
	}
	if string(line[:len(line)-1]) != string(want) {
		t.Errorf("fast encoder:\n%s\nencoding/json:\n%s", line, want)
	}
	// Nothing known: no field.
	got = run(t, evs, Config{Geo: func(netip.Addr) (*geo.Geo, *geo.AS) { return nil, nil }})
	if d := field(got[0], "destination").(map[string]any); len(d) != 2 {
		t.Errorf("destination %v", d)
	}
}

// BenchmarkHandshakeEventGeo is BenchmarkHandshakeEvent (tls_curl13, the
// server moved to a public address both test databases place) without
// enrichment, with every event asking the databases, with the daemon's
// cache in front of them, and with a private server (not looked up).
func BenchmarkHandshakeEventGeo(b *testing.B) {
	city, asn := mmdbtest.Fixture(b, b.TempDir())
	db, err := geo.Open(geo.Settings{GeoIPCity: city, GeoIPASN: asn, ReloadCheck: geo.DefaultReloadCheck}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	cache := geo.NewCache(db, geo.DefaultCacheEntries)
	tr := readTruth(b, "tls_curl13")
	for _, bc := range []struct {
		name   string
		lookup ecs.GeoLookup
		server string
	}{
		{"none", nil, mmdbtest.London},
		{"database", db.Lookup, mmdbtest.London},
		{"cached", cache.Lookup, mmdbtest.London},
		{"private", cache.Lookup, mmdbtest.Private},
	} {
		b.Run(bc.name, func(b *testing.B) {
			evs := packetEvents(b, "tls_curl13", uint16(tr.TLS[0].ClientPort))
			moveServer(evs, netip.MustParseAddr(bc.server))
			evs[len(evs)-1].Flags |= datapath.FlagHSDone
			evs[len(evs)-1].State = 2
			p := New(Config{Geo: bc.lookup}, ndjson.NewNDJSON(io.Discard))
			sh := p.NewShard(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range evs {
					evs[j].Zone = uint32(i)
					sh.Handle(&evs[j])
				}
			}
			b.StopTimer()
			if got := p.Stats.Events.Load(); got != uint64(b.N) {
				b.Fatalf("%d events for %d handshakes", got, b.N)
			}
		})
	}
}
