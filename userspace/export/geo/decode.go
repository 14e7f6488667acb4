package geo

import (
	"errors"
	"math"

	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
)

// The records are read with hand-written cursor decoders: only the fields
// ECS has a place for, English names only, no maps or slices allocated.
// The strings the cursors return are copies (or entries of the reader's
// string cache), never slices of the mapped file, so an answer outlives
// the database it came from.

// maxString bounds every string read; a longer one makes the record an
// error (a name of a kilobyte is a corrupt or hostile file).
const maxString = 1024

// cityRecord is decoded straight into the answer it becomes (one
// allocation). The subdivision is the most specific (the last) one, as
// Elasticsearch's geoip processor takes it.
type cityRecord struct {
	g              Geo
	loc            Location
	regionISO      string
	hasLat, hasLon bool
}

// UnmarshalMaxMindDBCursor implements mmdbdata.CursorUnmarshaler.
func (r *cityRecord) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	m, err := c.Map()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	var next mmdbdata.Cursor
	for {
		key, v, ok := m.Next(next)
		if !ok {
			break
		}
		switch string(key) {
		case "continent":
			next, err = place(v, "code", &r.g.ContinentCode, &r.g.ContinentName)
		case "country":
			next, err = place(v, "iso_code", &r.g.CountryISOCode, &r.g.CountryName)
		case "subdivisions":
			next, err = r.subdivisions(v)
		case "city":
			next, err = place(v, "", nil, &r.g.CityName)
		case "location":
			next, err = r.location(v)
		case "postal":
			next, err = place(v, "code", &r.g.PostalCode, nil)
		default:
			next, err = v.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}

// subdivisions keeps the last element of the array.
func (r *cityRecord) subdivisions(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	s, err := c.Slice()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	var next mmdbdata.Cursor
	for {
		_, v, ok := s.Next(next)
		if !ok {
			break
		}
		r.regionISO, r.g.RegionName = "", ""
		if next, err = place(v, "iso_code", &r.regionISO, &r.g.RegionName); err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return s.End()
}

func (r *cityRecord) location(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	m, err := c.Map()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	var next mmdbdata.Cursor
	for {
		key, v, ok := m.Next(next)
		if !ok {
			break
		}
		switch string(key) {
		case "latitude":
			r.loc.Lat, next, err = v.ReadFloat()
			r.hasLat = err == nil
		case "longitude":
			r.loc.Lon, next, err = v.ReadFloat()
			r.hasLon = err == nil
		case "time_zone":
			r.g.Timezone, next, err = v.ReadStringMaxSize(maxString)
		default:
			next, err = v.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}

// place reads a map {codeKey: string, "names": {"en": string}, ...} into
// code and name (either may be nil: not wanted), skipping the rest.
func place(c mmdbdata.Cursor, codeKey string, code, name *string) (mmdbdata.Cursor, error) {
	m, err := c.Map()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	var next mmdbdata.Cursor
	for {
		key, v, ok := m.Next(next)
		if !ok {
			break
		}
		switch {
		case name != nil && string(key) == "names":
			next, err = english(v, name)
		case code != nil && string(key) == codeKey:
			*code, next, err = v.ReadStringMaxSize(maxString)
		default:
			next, err = v.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}

// english reads names["en"].
func english(c mmdbdata.Cursor, name *string) (mmdbdata.Cursor, error) {
	m, err := c.Map()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	var next mmdbdata.Cursor
	for {
		key, v, ok := m.Next(next)
		if !ok {
			break
		}
		if string(key) == "en" {
			*name, next, err = v.ReadStringMaxSize(maxString)
		} else {
			next, err = v.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}

// geo is the record's answer; nil when it holds none of the fields.
func (r *cityRecord) geo() *Geo {
	if r.g.CountryISOCode != "" && r.regionISO != "" {
		r.g.RegionISOCode = r.g.CountryISOCode + "-" + r.regionISO
	}
	if r.hasLat && r.hasLon {
		r.g.Location = &r.loc
	}
	if r.g == (Geo{}) {
		return nil
	}
	return &r.g
}

// asnRecord is what an ASN (or ISP) record gives, decoded straight into
// the answer it becomes.
type asnRecord struct {
	as     AS
	org    Organization
	number uint64
}

var errASNRange = errors.New("autonomous_system_number is larger than 32 bits")

// UnmarshalMaxMindDBCursor implements mmdbdata.CursorUnmarshaler.
func (r *asnRecord) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	m, err := c.Map()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	var next mmdbdata.Cursor
	for {
		key, v, ok := m.Next(next)
		if !ok {
			break
		}
		switch string(key) {
		case "autonomous_system_number":
			r.number, next, err = v.ReadUint()
			if err == nil && r.number > math.MaxUint32 {
				err = errASNRange
			}
		case "autonomous_system_organization":
			r.org.Name, next, err = v.ReadStringMaxSize(maxString)
		default:
			next, err = v.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}

// answer is the record's answer; nil when it holds neither field.
func (r *asnRecord) answer() *AS {
	if r.number == 0 && r.org.Name == "" {
		return nil
	}
	r.as.Number = uint32(r.number)
	if r.org.Name != "" {
		r.as.Organization = &r.org
	}
	return &r.as
}
