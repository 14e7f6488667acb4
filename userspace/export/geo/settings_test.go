package geo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/setting"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/rs/zerolog"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Settings
		want []string // "" for no problem
	}{
		{"default", DefaultSettings(), nil},
		{"both", Settings{GeoIPCity: "/var/lib/GeoIP/GeoLite2-City.mmdb", GeoIPASN: "/var/lib/GeoIP/GeoLite2-ASN.mmdb", ReloadCheck: setting.Duration(time.Second)}, nil},
		{"relative paths", Settings{GeoIPCity: "GeoLite2-City.mmdb", GeoIPASN: "./asn.mmdb", ReloadCheck: DefaultReloadCheck}, []string{
			`enrich.geoip_city: "GeoLite2-City.mmdb" must be the absolute path of a City or Country database (or "" for none)`,
			`enrich.geoip_asn: "./asn.mmdb" must be the absolute path of an ASN database (or "" for none)`,
		}},
		{"one file for both", Settings{GeoIPCity: "/db/x.mmdb", GeoIPASN: "/db/../db/x.mmdb", ReloadCheck: DefaultReloadCheck}, []string{
			"enrich.geoip_asn: is the same file as enrich.geoip_city",
		}},
		{"reload_check too short", Settings{ReloadCheck: setting.Duration(500 * time.Millisecond)}, []string{
			"enrich.reload_check: 500ms is out of range; use 1s to 24h (default 1m0s)",
		}},
		{"reload_check unset", Settings{}, []string{"enrich.reload_check: 0s is out of range"}},
		{"reload_check too long", Settings{ReloadCheck: setting.Duration(25 * time.Hour)}, []string{"enrich.reload_check: 25h0m0s is out of range"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p setting.Problems
			tc.s.Validate("enrich", &p)
			check(t, p, tc.want)
		})
	}
}

func check(t *testing.T, p setting.Problems, want []string) {
	t.Helper()
	if p.Len() != len(want) {
		t.Fatalf("%d problems, want %d: %v", p.Len(), len(want), p.Err())
	}
	if len(want) == 0 {
		return
	}
	got := p.Err().Error()
	for _, w := range want {
		// "…" stands for any text.
		rest := got
		for part := range strings.SplitSeq(w, "…") {
			i := strings.Index(rest, part)
			if i < 0 {
				t.Errorf("%s\nwant it to say: %s", got, w)
				break
			}
			rest = rest[i+len(part):]
		}
	}
}

func TestPreflight(t *testing.T) {
	dir := t.TempDir()
	city, asn := filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "asn.mmdb")
	citySpec(1).write(t, city)
	asnSpec(1).write(t, asn)
	country := filepath.Join(dir, "country.mmdb")
	s := citySpec(1)
	s.dbType = "GeoIP2-Country"
	s.write(t, country)
	anon := filepath.Join(dir, "anon.mmdb")
	s.dbType = "GeoIP2-Anonymous-IP"
	s.write(t, anon)
	junk := filepath.Join(dir, "junk.mmdb")
	os.WriteFile(junk, []byte("<html>404</html>"), 0o644)
	corrupt := filepath.Join(dir, "corrupt.mmdb")
	os.WriteFile(corrupt, corruptData(citySpec(1).encode(t)), 0o644)
	bare := filepath.Join(dir, "bare.mmdb")
	s = asnSpec(1)
	s.bare = true
	s.write(t, bare)
	flat := filepath.Join(dir, "flat.mmdb")
	dbSpec{dbType: "GeoLite2-City", records: map[string]mmdbtype.Map{
		"81.2.69.0/24": {"country": mmdbtype.String("GB"), "city": mmdbtype.String("London")},
	}}.write(t, flat)
	other := filepath.Join(dir, "other.mmdb")
	dbSpec{dbType: "Corp-ASN", records: map[string]mmdbtype.Map{
		"81.2.69.0/24": {"asn": mmdbtype.String("AS20712"), "name": mmdbtype.String("Andrews & Arnold Ltd")},
	}}.write(t, other)
	unreadable := filepath.Join(dir, "unreadable.mmdb")
	citySpec(1).write(t, unreadable)
	os.Chmod(unreadable, 0)

	for _, tc := range []struct {
		name string
		s    Settings
		want []string
	}{
		{"good", Settings{GeoIPCity: city, GeoIPASN: asn}, nil},
		{"a Country database", Settings{GeoIPCity: country}, nil},
		{"none", Settings{}, nil},
		{"no description", Settings{GeoIPASN: bare}, nil},
		{"swapped", Settings{GeoIPCity: asn, GeoIPASN: city}, []string{
			`enrich.geoip_city: ` + asn + ` is an ASN database (database_type "GeoLite2-ASN"), not a City or Country database; give it as enrich.geoip_asn, and here a City or Country database (GeoLite2-City.mmdb)`,
			`enrich.geoip_asn: ` + city + ` is a City or Country database (database_type "GeoLite2-City"), not an ASN database; give it as enrich.geoip_city, and here an ASN database (GeoLite2-ASN.mmdb)`,
		}},
		{"another type", Settings{GeoIPASN: anon}, []string{
			`enrich.geoip_asn: ` + anon + ` has database_type "GeoIP2-Anonymous-IP", which is not an ASN database; give an ASN database (GeoLite2-ASN.mmdb)`,
		}},
		{"missing", Settings{GeoIPCity: filepath.Join(dir, "none.mmdb")}, []string{"enrich.geoip_city: open " + dir + "/none.mmdb: no such file or directory"}},
		{"not a database", Settings{GeoIPCity: junk}, []string{"enrich.geoip_city: " + junk + ": error opening database: invalid MaxMind DB file (want a MaxMind DB file, GeoLite2-City.mmdb)"}},
		{"corrupt", Settings{GeoIPASN: corrupt}, []string{"enrich.geoip_asn: " + corrupt}}, // the type first
		{"corrupt data", Settings{GeoIPCity: corrupt}, []string{"enrich.geoip_city: " + corrupt + ": the record of 2001:480::/32 does not read as a City or Country database"}},
		{"another schema", Settings{GeoIPCity: flat}, []string{"enrich.geoip_city: " + flat + ": the record of 81.2.69.0/24 does not read as a City or Country database: …; give a City or Country database with MaxMind's schema (GeoLite2-City.mmdb)"}},
		{"other field names", Settings{GeoIPASN: other}, []string{"enrich.geoip_asn: " + other + ": none of its first 1 records has a field of an ASN database; give an ASN database with MaxMind's schema (GeoLite2-ASN.mmdb)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p setting.Problems
			tc.s.Preflight("enrich", &p)
			check(t, p, tc.want)
		})
	}
	if os.Geteuid() != 0 { // root reads anything
		var p setting.Problems
		(&Settings{GeoIPCity: unreadable}).Preflight("enrich", &p)
		check(t, p, []string{"enrich.geoip_city: open " + unreadable + ": permission denied"})
	}
}

// Open refuses what Preflight does, naming the key under [enrich].
func TestOpenErrorsNameKey(t *testing.T) {
	dir := t.TempDir()
	asn := filepath.Join(dir, "asn.mmdb")
	asnSpec(1).write(t, asn)
	_, err := Open(Settings{GeoIPCity: asn}, zerolog.Nop())
	if err == nil || !strings.HasPrefix(err.Error(), "enrich.geoip_city: "+asn+" is an ASN database") {
		t.Errorf("%v", err)
	}
	_, err = Open(Settings{GeoIPASN: asn, GeoIPCity: filepath.Join(dir, "none")}, zerolog.Nop())
	if err == nil || !strings.HasPrefix(err.Error(), "enrich.geoip_city: open ") {
		t.Errorf("%v", err)
	}
}
