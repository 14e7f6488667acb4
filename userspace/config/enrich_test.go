package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil/mmdbtest"
)

// [enrich] mistakes are refused by Validate (Parse, Load: check-config
// and run alike), each naming its key and the fix.
func TestEnrichErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		toml string
		want []string
	}{
		{"[enrich]\ngeoip_city = \"GeoLite2-City.mmdb\"\n", []string{"enrich.geoip_city", "absolute path of a City or Country database"}},
		{"[enrich]\ngeoip_asn = \"./asn.mmdb\"\n", []string{"enrich.geoip_asn", "absolute path of an ASN database"}},
		{"[enrich]\ngeoip_city = \"/db/x.mmdb\"\ngeoip_asn = \"/db/x.mmdb\"\n", []string{"enrich.geoip_asn", "same file as enrich.geoip_city"}},
		{"[enrich]\nreload_check = \"500ms\"\n", []string{"enrich.reload_check", "1s to 24h"}},
		{"[enrich]\nreload_check = \"0s\"\n", []string{"enrich.reload_check", "out of range"}},
		{"[enrich]\nreload_check = 60\n", []string{"reload_check"}},
		{"[enrich]\ngeoip_cty = \"/db/city.mmdb\"\n", []string{`unknown key "enrich.geoip_cty"`, `did you mean "enrich.geoip_city"`}},
	} {
		_, err := Parse(tc.toml)
		if err == nil {
			t.Errorf("%q: no error", tc.toml)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", tc.toml, err, w)
			}
		}
	}
	c, err := Parse("[enrich]\ngeoip_city = \"/var/lib/GeoIP/GeoLite2-City.mmdb\"\nreload_check = \"5m\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Enrich.GeoIPCity != "/var/lib/GeoIP/GeoLite2-City.mmdb" || c.Enrich.GeoIPASN != "" ||
		time.Duration(c.Enrich.ReloadCheck) != 5*time.Minute || !c.Enrich.Enabled() {
		t.Errorf("%+v", c.Enrich)
	}
	if d := Default(); d.Enrich.Enabled() || time.Duration(d.Enrich.ReloadCheck) != time.Minute {
		t.Errorf("default %+v", d.Enrich)
	}
}

// Preflight (check-config, and run before it starts) opens the files as
// the sensor will, naming the key of the one that does not load.
func TestEnrichPreflight(t *testing.T) {
	dir := t.TempDir()
	city, asn := mmdbtest.Fixture(t, dir)
	for _, tc := range []struct {
		name       string
		city, asn  string
		want, none []string
	}{
		{"good", city, asn, nil, nil},
		{"missing", filepath.Join(dir, "none.mmdb"), asn, []string{"enrich.geoip_city", "no such file"}, []string{"enrich.geoip_asn"}},
		{"swapped", asn, city, []string{"enrich.geoip_city", "is an ASN database", "enrich.geoip_asn", "is a City or Country database"}, nil},
		{"not a database", city, filepath.Join("/", "etc", "hostname"), []string{"enrich.geoip_asn", "want a MaxMind DB file"}, []string{"enrich.geoip_city"}},
	} {
		c := Default()
		c.Enrich.GeoIPCity, c.Enrich.GeoIPASN = tc.city, tc.asn
		c.Files.SpoolDir = filepath.Join(dir, "spool")
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		err := c.Preflight()
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: passed", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", tc.name, err, w)
			}
		}
		for _, w := range tc.none {
			if strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q names %q", tc.name, err, w)
			}
		}
	}
}

// A reload that changes [enrich] says it needs a restart (a changed
// database file is the watcher's, without a reload).
func TestEnrichKeysNeedARestart(t *testing.T) {
	a := Default()
	b, err := Parse("[enrich]\ngeoip_city = \"/db/city.mmdb\"\ngeoip_asn = \"/db/asn.mmdb\"\nreload_check = \"10s\"\n[ports]\nhttp = [80, 8081]\n")
	if err != nil {
		t.Fatal(err)
	}
	changed := Diff(&a, &b)
	if want := []string{"enrich.geoip_asn", "enrich.geoip_city", "enrich.reload_check", "ports.http"}; !reflect.DeepEqual(changed, want) {
		t.Fatalf("Diff = %v, want %v", changed, want)
	}
	live, restart := SplitLive(changed)
	if !reflect.DeepEqual(live, []string{"ports.http"}) || !reflect.DeepEqual(restart, []string{"enrich.geoip_asn", "enrich.geoip_city", "enrich.reload_check"}) {
		t.Errorf("live %v, restart %v", live, restart)
	}
}
