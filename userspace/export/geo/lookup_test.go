package geo

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/rs/zerolog"
)

// probes are hits of every record, misses, and addresses never looked up.
var probes = []string{
	"81.2.69.142", "81.2.69.0", "81.2.69.255", // both databases
	"::ffff:81.2.69.142",                              // IPv4-mapped: the IPv4 answer
	"2002:5102:458e::1",                               // 6to4 of 81.2.69.142: the database's alias
	"89.160.20.112", "89.160.20.127", "89.160.20.128", // the /28 and past it (ASN only)
	"89.160.127.255", "89.160.128.0", // the end of the ASN /17, and past it
	"2001:480::1", "2001:480:ffff:ffff:ffff:ffff:ffff:ffff", "2001:481::", // IPv6 /32
	"2a02:cf40::1", "2a02:cf47:ffff::1", "2a02:cf48::1",
	"1.128.0.1", "1.159.255.255", "1.160.0.0",
	"50.114.1.1", "67.43.156.7",
	"175.16.199.1", "202.196.224.1", // found, nothing to say
	"12.81.92.1", // found in ASN, empty
	"149.101.100.3", "149.101.100.16",
	"2600:6000::1", "2600:6fff:ffff::1", "2600:7000::1",
	"8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", // misses
	"10.1.2.3", "127.0.0.1", "::1", "fe80::1", "192.0.2.1", "100.64.1.1",
	"255.255.255.255", "0.0.0.0", "::", "fc00::1", "2001:db8::1", "224.0.0.1",
}

// Every answer is what libmaxminddb reads from the same file, mapped to
// ECS.
func TestLookupMatchesMmdblookup(t *testing.T) {
	bin := mmdblookupBin(t)
	d, city, asn := fixture(t)
	var hits int
	for _, a := range probes {
		addr := netip.MustParseAddr(a)
		g, as := d.Lookup(addr)
		wg, was := wantGeo(mmdblookup(t, bin, city, a)), wantAS(mmdblookup(t, bin, asn, a))
		if !reflect.DeepEqual(g, wg) {
			t.Errorf("%s: geo\n got %s\nwant %s", a, js(g), js(wg))
		}
		if !reflect.DeepEqual(as, was) {
			t.Errorf("%s: as\n got %s\nwant %s", a, js(as), js(was))
		}
		if g != nil || as != nil {
			hits++
		}
	}
	if hits < 15 {
		t.Errorf("only %d of %d probes hit; the fixture is wrong", hits, len(probes))
	}
	st := d.Stats()
	if st.Lookups != uint64(len(probes)) || st.Hits != uint64(hits) || st.Errors != 0 || st.Faults != 0 {
		t.Errorf("stats %+v, want %d lookups, %d hits", st, len(probes), hits)
	}
	if st.Skipped != 12 {
		t.Errorf("skipped %d, want the 12 private and reserved probes", st.Skipped)
	}
}

// Spot checks of what the comparison relies on, so that it cannot agree
// on nothing.
func TestLookupAnswers(t *testing.T) {
	d, _, _ := fixture(t)
	g, as := d.Lookup(netip.MustParseAddr("::ffff:81.2.69.142"))
	want := &Geo{
		ContinentCode: "EU", ContinentName: "Europe",
		CountryISOCode: "GB", CountryName: "United Kingdom",
		RegionISOCode: "GB-WBK", RegionName: "West Berkshire",
		CityName: "London", PostalCode: "EC2V", Timezone: "Europe/London",
		Location: &Location{Lat: 51.5142, Lon: -0.0931},
	}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("geo %s", js(g))
	}
	if !reflect.DeepEqual(as, &AS{Number: 20712, Organization: &Organization{Name: "Andrews & Arnold Ltd"}}) {
		t.Errorf("as %s", js(as))
	}
	for addr, want := range map[string]string{
		"89.160.20.113": `{"continent_code":"EU","continent_name":"Europe","country_iso_code":"SE","country_name":"Sweden","region_iso_code":"SE-E","region_name":"Östergötland County","city_name":"Linköping","timezone":"Europe/Stockholm","location":{"lat":58.4167,"lon":15.6167}}`,
		"1.130.1.1":     `{"location":{"lat":0,"lon":0}}`,
		"50.114.9.9":    `{"country_iso_code":"DE","region_name":"Bavaria"}`,
		"67.43.156.1":   `{"region_name":"Bavaria"}`,
		"2a02:cf41::":   `{"continent_code":"EU","continent_name":"Europe","country_iso_code":"NO","country_name":"Norway"}`,
		"175.16.199.1":  `null`,
		"8.8.8.8":       `null`,
	} {
		if g, _ := d.Lookup(netip.MustParseAddr(addr)); js(g) != want {
			t.Errorf("%s: %s, want %s", addr, js(g), want)
		}
	}
	for addr, want := range map[string]string{
		"149.101.100.1": `{"number":4200000001}`,
		"12.81.92.1":    `null`,
		"2600:6000::1":  `{"number":237,"organization":{"name":"Merit Network Inc."}}`,
	} {
		if _, as := d.Lookup(netip.MustParseAddr(addr)); js(as) != want {
			t.Errorf("%s: %s, want %s", addr, js(as), want)
		}
	}
}

// Private and reserved addresses are not looked up, even where a
// database places them.
func TestLookupSkipsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	spec := citySpec(1)
	spec.reserved = true
	spec.records["10.0.0.0/8"] = spec.records["81.2.69.0/24"]
	spec.records["fc00::/7"] = spec.records["81.2.69.0/24"]
	spec.records["192.0.2.0/24"] = spec.records["81.2.69.0/24"]
	spec.write(t, path)
	d, err := Open(Settings{GeoIPCity: path}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if bin := mmdblookupBin(t); mmdblookup(t, bin, path, "10.1.2.3") == nil {
		t.Fatal("the fixture does not place 10.1.2.3")
	}
	for _, a := range []string{"10.1.2.3", "::ffff:10.1.2.3", "fc00::1", "192.0.2.7", "fe80::1%eth0"} {
		if g, as := d.Lookup(netip.MustParseAddr(a)); g != nil || as != nil {
			t.Errorf("%s: %v %v, want nothing", a, g, as)
		}
	}
	if g, _ := d.Lookup(netip.MustParseAddr("81.2.69.1")); g == nil {
		t.Error("a public address is not answered")
	}
	if g, as := d.Lookup(netip.Addr{}); g != nil || as != nil {
		t.Error("the zero Addr is answered")
	}
}

// An IPv4-only database answers IPv6 addresses with nothing, not errors.
func TestLookupIPv4OnlyDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "country.mmdb")
	spec := citySpec(1)
	spec.dbType, spec.ipv4Only = "GeoLite2-Country", true
	spec.write(t, path)
	d, err := Open(Settings{GeoIPCity: path}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	bin := mmdblookupBin(t)
	for _, a := range []string{"81.2.69.142", "::ffff:81.2.69.142", "2001:480::1", "8.8.8.8"} {
		g, _ := d.Lookup(netip.MustParseAddr(a))
		if want := wantGeo(mmdblookup(t, bin, path, netip.MustParseAddr(a).Unmap().String())); !reflect.DeepEqual(g, want) {
			t.Errorf("%s: %s, want %s", a, js(g), js(want))
		}
	}
	if st := d.Stats(); st.Errors != 0 || st.Hits != 2 {
		t.Errorf("stats %+v", st)
	}
}

// Unknown fields are absent from the JSON, and a nil answer is null (the
// field omitted where it is embedded with omitempty).
func TestJSONOmitsUnknown(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{&Geo{CountryISOCode: "SE"}, `{"country_iso_code":"SE"}`},
		{&Geo{Location: &Location{}}, `{"location":{"lat":0,"lon":0}}`},
		{&AS{Number: 3}, `{"number":3}`},
		{&AS{Organization: &Organization{Name: "X"}}, `{"organization":{"name":"X"}}`},
		{struct {
			G *Geo `json:"geo,omitempty"`
			A *AS  `json:"as,omitempty"`
		}{}, `{}`},
	} {
		if got := js(tc.v); got != tc.want {
			t.Errorf("%s, want %s", got, tc.want)
		}
	}
}

// Answers share no memory with the mapping: they stay readable after the
// database is unmapped (a string into the mapping would fault here).
func TestAnswersOutliveDatabase(t *testing.T) {
	d, _, _ := fixture(t)
	var gs []*Geo
	var ases []*AS
	for range 3 { // the string cache admits strings on a repeat
		for _, a := range []string{"81.2.69.142", "89.160.20.120", "2001:480::1"} {
			g, as := d.Lookup(netip.MustParseAddr(a))
			gs, ases = append(gs, g), append(ases, as)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	var n int
	for _, g := range gs {
		n += len(js(g))
	}
	for _, as := range ases {
		n += len(js(as))
	}
	if n < 1000 {
		t.Errorf("%d bytes of answers", n)
	}
	if g, as := d.Lookup(netip.MustParseAddr("81.2.69.142")); g != nil || as != nil {
		t.Error("a closed DB answers")
	}
	var nilDB *DB
	if g, as := nilDB.Lookup(netip.MustParseAddr("81.2.69.142")); g != nil || as != nil || nilDB.Reload() != nil {
		t.Error("the nil DB answers")
	}
}

// With no databases, Open gives a DB that answers nothing.
func TestOpenNothing(t *testing.T) {
	d, err := Open(DefaultSettings(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if g, as := d.Lookup(netip.MustParseAddr("81.2.69.142")); g != nil || as != nil {
		t.Error("answered")
	}
	if err := d.Reload(); err != nil {
		t.Error(err)
	}
	d.Run(t.Context()) // returns at once
	if st := d.Stats(); len(st.Files) != 0 || st.Lookups != 1 {
		t.Errorf("%+v", st)
	}
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
