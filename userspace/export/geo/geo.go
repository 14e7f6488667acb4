// Package geo enriches the server side of events (destination.geo.* and
// destination.as.*) from MaxMind-format databases: a City or Country
// database (GeoLite2, GeoIP2, DB-IP's lite editions) and an ASN database.
//
// The files are memory-mapped and checked for change every
// enrich.reload_check; a changed file is opened, its type checked against
// its key, verified whole (maxminddb's Verify: for a GeoLite2-City-sized
// file, seconds of one core and much short-lived garbage, in Run's
// goroutine, never in a lookup) and its first records read, before it
// replaces the running one under a write lock held for a pointer swap. A
// file that does not load keeps the running database. Replace the files by rename, as geoipupdate does: a
// file rewritten in place changes under the running mapping, so until the
// next check its answers may be missing or wrong (never a crash: a read
// past a truncated file is caught, counted as a fault, and triggers an
// immediate check).
//
// Names are the English ones ("en"). The fields follow what
// Elasticsearch's geoip processor writes, so events enriched here and
// events enriched by an ingest pipeline compare: region_* is the most
// specific subdivision, region_iso_code is "<country>-<subdivision>"
// (ISO 3166-2, "GB-WBK").
package geo

// Geo is ECS geo.* of an endpoint. A field the database does not know is
// absent; nil (not an empty Geo) is "nothing known".
type Geo struct {
	ContinentCode  string    `json:"continent_code,omitempty"`   // two letters: EU, NA, AS, AF, OC, SA, AN
	ContinentName  string    `json:"continent_name,omitempty"`   // in English
	CountryISOCode string    `json:"country_iso_code,omitempty"` // ISO 3166-1 alpha-2: GB
	CountryName    string    `json:"country_name,omitempty"`     // in English
	RegionISOCode  string    `json:"region_iso_code,omitempty"`  // ISO 3166-2 of the most specific subdivision: GB-WBK
	RegionName     string    `json:"region_name,omitempty"`      // the most specific subdivision, in English
	CityName       string    `json:"city_name,omitempty"`        // in English
	PostalCode     string    `json:"postal_code,omitempty"`      // as the database has it (a prefix in some countries)
	Timezone       string    `json:"timezone,omitempty"`         // IANA time zone: Europe/London
	Location       *Location `json:"location,omitempty"`
}

// Location is geo.location, a geo_point. It is present only when the
// database gives both coordinates, so {0, 0} is a real place.
type Location struct {
	Lat float64 `json:"lat"` // latitude, degrees: approximate, to the database's accuracy
	Lon float64 `json:"lon"` // longitude, degrees
}

// AS is ECS as.* of an endpoint; nil is "nothing known".
type AS struct {
	Number       uint32        `json:"number,omitempty"` // the autonomous system number
	Organization *Organization `json:"organization,omitempty"`
}

// Organization is as.organization.
type Organization struct {
	Name string `json:"name"` // the organization the AS is registered to
}
