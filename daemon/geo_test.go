package daemon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/internal/testutil/mmdbtest"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/metrics"
)

const corpus = "../testdata/corpus/"

// tcpEvents are the data plane's events of a connection of the corpus,
// the server moved to server and the client's port moved by n (each
// connection its own flow): the client's stream, then the server's, cut
// into 1,448-byte segments, with a handshake and FINs (payload segments
// only for the handshake class, as the data plane sends them).
func tcpEvents(c testutil.TCPConn, class datapath.Class, server netip.Addr, n int, t0 time.Time) []datapath.Event {
	const isnC, isnS, mss = 1000, 5000000, 1448
	sv := netip.AddrPortFrom(server, c.Server.Port())
	client := c.Client.Addr()
	if server.Is6() {
		client = netip.MustParseAddr("fd00::10") // the same family
	}
	c.Client = netip.AddrPortFrom(client, c.Client.Port()+uint16(n))
	var evs []datapath.Event
	add := func(fromClient bool, seq, ack uint32, flags uint8, payload []byte) {
		if class != datapath.ClassStream && len(payload) == 0 {
			return
		}
		ev := datapath.Event{Time: t0.Add(time.Duration(len(evs)) * time.Microsecond), Interface: "eth1", Class: class,
			Proto: datapath.ProtoTCP, TCPFlags: flags, Seq: seq, Ack: ack, Payload: payload, PayloadLen: len(payload),
			Src: sv, Dst: c.Client}
		if fromClient {
			ev.Flags, ev.Src, ev.Dst = datapath.FlagFromClient, c.Client, sv
		}
		evs = append(evs, ev)
	}
	add(true, isnC, 0, datapath.TCPSyn, nil)
	add(false, isnS, isnC+1, datapath.TCPSyn|datapath.TCPAck, nil)
	cut := func(fromClient bool, b []byte, isn, ack uint32) {
		for off := 0; off < len(b); off += mss {
			add(fromClient, isn+1+uint32(off), ack, datapath.TCPAck|datapath.TCPPsh, b[off:min(off+mss, len(b))])
		}
	}
	cEnd := isnC + 1 + uint32(len(c.ToServer))
	sEnd := isnS + 1 + uint32(len(c.ToClient))
	cut(true, c.ToServer, isnC, isnS+1)
	cut(false, c.ToClient, isnS, cEnd)
	add(true, cEnd, sEnd, datapath.TCPFin|datapath.TCPAck, nil)
	add(false, sEnd, cEnd+1, datapath.TCPFin|datapath.TCPAck, nil)
	return evs
}

// geoConfig is a config whose [enrich] names the test databases.
func geoConfig(t *testing.T) (cfg config.Config, city, asn string) {
	t.Helper()
	dir := t.TempDir()
	city, asn = mmdbtest.Fixture(t, dir)
	cfg = config.Default()
	cfg.Enrich.GeoIPCity, cfg.Enrich.GeoIPASN = city, asn
	cfg.Files.SpoolDir = filepath.Join(dir, "spool")
	cfg.Sensor.Workers = 1
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Preflight(); err != nil {
		t.Fatal(err)
	}
	return cfg, city, asn
}

// The server side of TLS and file events carries what the [enrich]
// databases say of the server's address, as libmaxminddb's mmdblookup
// reads the same files; a server the databases do not know, or a private
// one (which they place), carries nothing; the client never does.
// Through the daemon's own start-up, as run and replay wire it.
func TestEventsCarryServerGeo(t *testing.T) {
	mmdbtest.Bin(t)
	cfg, city, asn := geoConfig(t)
	var buf bytes.Buffer
	an, err := start(&cfg, nil, &buf, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	tlsConn := testutil.TCPConns(t, corpus+"tls_curl13.pcap")[0]
	fileConn := testutil.TCPConns(t, corpus+"http_exe.pcap")[0]
	hs, fs := an.handshakes.NewShard(0), an.files.NewShard(0)
	servers := []string{mmdbtest.London, mmdbtest.SanDiego, mmdbtest.Sweden, mmdbtest.ASNOnly, mmdbtest.Unknown, mmdbtest.Private,
		mmdbtest.London} // again: from the cache
	t0 := time.Unix(1700000000, 0)
	for i, s := range servers {
		server := netip.MustParseAddr(s)
		at := t0.Add(time.Duration(i) * time.Second)
		for _, ev := range tcpEvents(tlsConn, datapath.ClassTLS, server, i, at) {
			hs.Handle(&ev)
		}
		for _, ev := range tcpEvents(fileConn, datapath.ClassStream, server, i, at) {
			fs.Handle(&ev)
		}
	}
	hs.Close()
	fs.Close()
	if err := an.files.Close(); err != nil {
		t.Fatal(err)
	}
	fams := scrape(geoFamilies(an))
	// As Prometheus takes them: valid names, help and labels.
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(metrics.NewCollector(geoFamilies(an))); err != nil {
		t.Fatal(err)
	}
	if mfs, err := reg.Gather(); err != nil || len(mfs) != 7 {
		t.Fatalf("%d families gathered: %v", len(mfs), err)
	}
	if err := an.closeOutputs(t.Context(), 0, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	if err := an.out.Flush(); err != nil {
		t.Fatal(err)
	}

	type endpoint struct {
		IP  string         `json:"ip"`
		Geo map[string]any `json:"geo"`
		AS  map[string]any `json:"as"`
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		var ev struct {
			Event struct {
				Dataset string `json:"dataset"`
			} `json:"event"`
			Source      endpoint `json:"source"`
			Destination endpoint `json:"destination"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		d := ev.Destination
		seen[ev.Event.Dataset+" "+d.IP]++
		wantGeo, wantAS := mmdbtest.Want(t, city, asn, d.IP)
		if d.IP == mmdbtest.Private {
			if wantGeo == nil || wantAS == nil {
				t.Fatalf("the fixture does not place %s", d.IP)
			}
			wantGeo, wantAS = nil, nil
		}
		if !reflect.DeepEqual(d.Geo, wantGeo) {
			t.Errorf("%s %s: destination.geo\n got %v\nwant %v", ev.Event.Dataset, d.IP, d.Geo, wantGeo)
		}
		if !reflect.DeepEqual(d.AS, wantAS) {
			t.Errorf("%s %s: destination.as\n got %v\nwant %v", ev.Event.Dataset, d.IP, d.AS, wantAS)
		}
		if ev.Source.Geo != nil || ev.Source.AS != nil {
			t.Errorf("%s: the client has geo or as: %s", ev.Event.Dataset, sc.Text())
		}
	}
	for _, ds := range []string{"edgesensor.tls", "edgesensor.file"} {
		for _, s := range servers[:len(servers)-1] {
			want := 1
			if s == mmdbtest.London {
				want = 2
			}
			if n := seen[ds+" "+s]; n != want {
				t.Errorf("%d %s events to %s, want %d (seen %v)", n, ds, s, want, seen)
			}
		}
	}
	// Every event's server was asked; the private ones were not looked
	// up; London the second time (twice: both datasets) came from the
	// cache, and so did the second dataset's lookup of each server.
	events := float64(2 * len(servers))
	want := map[string]float64{
		`enrich_lookups_total{result="all"}`:                                                  events,
		`enrich_lookups_total{result="skipped"}`:                                              2,
		`enrich_lookups_total{result="answered"}`:                                             events - 2 - 2,
		`enrich_lookups_total{result="cached"}`:                                               events - 2 - 5,
		`enrich_lookups_total{result="error"}`:                                                0,
		`enrich_hits_total{database="geoip_city"}`:                                            events - 2 - 2,
		`enrich_hits_total{database="geoip_asn"}`:                                             events - 2 - 2,
		`enrich_reloads_total{database="geoip_city"}`:                                         0,
		`enrich_reload_failures_total{database="geoip_asn"}`:                                  0,
		`enrich_reload_failing{database="geoip_city"}`:                                        0,
		`enrich_database_build_timestamp_seconds{database="geoip_city",type="GeoLite2-City"}`: 1700000000,
		`enrich_database_build_timestamp_seconds{database="geoip_asn",type="GeoLite2-ASN"}`:   1700000000,
		`enrich_cache_entries`:                                                                5,
	}
	for k, v := range want {
		if got, ok := fams[k]; !ok || got != v {
			t.Errorf("%s = %v (%t), want %v", k, got, ok, v)
		}
	}
}

// scrape reads families as "name{label="value",...}" → value.
func scrape(fams []metrics.Family) map[string]float64 {
	m := map[string]float64{}
	for _, f := range fams {
		emit := func(v float64, labels ...string) {
			k := f.Name
			if len(labels) > 0 {
				var parts []string
				for i, l := range labels {
					parts = append(parts, f.Labels[i]+`="`+l+`"`)
				}
				k += "{" + strings.Join(parts, ",") + "}"
			}
			m[k] = v
		}
		if f.Read != nil {
			f.Read(emit)
		}
	}
	return m
}

// Without [enrich] nothing is opened, nothing is asked of the events,
// and the families report nothing.
func TestNoEnrichNoLookups(t *testing.T) {
	cfg := config.Default()
	cfg.Files.SpoolDir = filepath.Join(t.TempDir(), "spool")
	var buf bytes.Buffer
	an, err := start(&cfg, nil, &buf, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if an.geo != nil || an.geoCache != nil {
		t.Error("databases opened without [enrich]")
	}
	if m := scrape(geoFamilies(an)); len(m) != 0 {
		t.Errorf("figures without databases: %v", m)
	}
	an.files.Close()
	if err := an.closeOutputs(t.Context(), 0, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
}

// A database replaced while the sensor runs is taken by the watcher
// start runs (enrich.reload_check), and the events that follow carry its
// answers, not the remembered ones.
func TestEnrichFollowsReplacedFile(t *testing.T) {
	cfg, city, _ := geoConfig(t)
	cfg.Enrich.ReloadCheck = config.Duration(time.Second)
	var buf bytes.Buffer
	an, err := start(&cfg, nil, &buf, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer an.closeOutputs(t.Context(), 0, zerolog.Nop())
	defer an.files.Close()
	london := netip.MustParseAddr(mmdbtest.London)
	name := func() string {
		g, _ := an.geoCache.Lookup(london)
		if g == nil {
			return ""
		}
		return g.CityName
	}
	if got := name(); got != "London" {
		t.Fatalf("city %q", got)
	}
	mmdbtest.Write(t, city, "GeoLite2-City", mmdbtest.CityRecords("London v2"))
	deadline := time.Now().Add(10 * time.Second)
	for name() != "London v2" {
		if time.Now().After(deadline) {
			t.Fatal("the replaced City database was not taken")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if m := scrape(geoFamilies(an)); m[`enrich_reloads_total{database="geoip_city"}`] != 1 {
		t.Errorf("reloads: %v", m)
	}
}
