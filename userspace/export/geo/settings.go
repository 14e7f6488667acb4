package geo

import (
	"path/filepath"
	"time"

	"github.com/edgesensor/edgesensor/userspace/setting"
)

// DefaultReloadCheck is how often the databases are checked for change.
const DefaultReloadCheck = setting.Duration(time.Minute)

// Settings is the [enrich] table: the databases the server side of each
// event (destination.*) is enriched from. Both files are optional; with
// neither, events carry no destination.geo or destination.as.
type Settings struct {
	// GeoIPCity is a City or Country database (GeoLite2-City,
	// GeoIP2-Country, DBIP-City-Lite, ...), for destination.geo.*.
	GeoIPCity string `toml:"geoip_city"`
	// GeoIPASN is an ASN database (GeoLite2-ASN, or GeoIP2-ISP), for
	// destination.as.*.
	GeoIPASN string `toml:"geoip_asn"`
	// ReloadCheck is how often the files' identity, size and mtime are
	// compared with the loaded ones; a changed file is loaded anew.
	ReloadCheck setting.Duration `toml:"reload_check"`
}

// DefaultSettings is the [enrich] table of the shipped sensor.toml: no
// databases.
func DefaultSettings() Settings {
	return Settings{ReloadCheck: DefaultReloadCheck}
}

// Enabled says whether any database is configured.
func (s *Settings) Enabled() bool { return s.GeoIPCity != "" || s.GeoIPASN != "" }

// Validate checks the [enrich] table, found at key, by its values alone.
func (s *Settings) Validate(key string, p *setting.Problems) {
	for _, f := range s.files() {
		if f.path != "" && !filepath.IsAbs(f.path) {
			p.Add(key+"."+f.kind.field(), "%q must be the absolute path of %s (or \"\" for none)", f.path, f.kind.what())
		}
	}
	if s.GeoIPCity != "" && filepath.Clean(s.GeoIPCity) == filepath.Clean(s.GeoIPASN) {
		p.Add(key+".geoip_asn", "is the same file as %s.geoip_city; give geoip_city a City or Country database and geoip_asn an ASN database", key)
	}
	if d := time.Duration(s.ReloadCheck); d < time.Second || d > 24*time.Hour {
		p.Add(key+".reload_check", "%s is out of range; use 1s to 24h (default %s)", d, time.Duration(DefaultReloadCheck))
	}
}

// Preflight opens and verifies each configured database as Open will,
// and checks that its type fits its key: a City or Country database as
// geoip_city, an ASN database as geoip_asn.
func (s *Settings) Preflight(key string, p *setting.Problems) {
	for _, f := range s.files() {
		if f.path == "" {
			continue
		}
		k := key + "." + f.kind.field()
		if err := setting.Readable(f.path); err != nil {
			p.Fail(k, err)
			continue
		}
		h, err := load(f.path, f.kind, key)
		if err != nil {
			p.Fail(k, err)
			continue
		}
		h.r.Close()
	}
}

type file struct {
	kind kind
	path string
}

func (s *Settings) files() []file {
	return []file{{kindCity, s.GeoIPCity}, {kindASN, s.GeoIPASN}}
}
