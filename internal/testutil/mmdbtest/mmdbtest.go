// Package mmdbtest writes small MaxMind DB files for tests of the [enrich]
// databases, and reads answers back with libmaxminddb's mmdblookup, so a
// test compares what the sensor writes with another implementation's
// reading of the same file.
package mmdbtest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Addresses the fixture places.
const (
	London   = "81.2.69.142"   // every City field, and an AS
	Sweden   = "89.160.20.115" // non-ASCII names; an AS
	SanDiego = "2001:480::1"   // IPv6, every City field, and an AS
	ASNOnly  = "1.128.0.1"     // a location of 0, 0 and an AS
	Unknown  = "8.8.8.8"       // public, in neither database
	Private  = "10.1.2.3"      // placed by both, but private: never looked up
)

// Write writes a database of dbType ("GeoLite2-City", "GeoLite2-ASN")
// placing each network's record at path (by rename). Private and
// reserved networks may be placed.
func Write(t testing.TB, path, dbType string, records map[string]mmdbtype.Map) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		BuildEpoch:              1700000000,
		Languages:               []string{"en", "de"},
		Description:             map[string]string{"en": "edgesensor test " + dbType},
		IncludeReservedNetworks: true,
		RecordSize:              24,
	})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range records {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatalf("%s: %v", cidr, err)
		}
	}
	var b bytes.Buffer
	if _, err := tree.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".tmp", b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func names(en string) mmdbtype.Map {
	return mmdbtype.Map{"en": mmdbtype.String(en), "de": mmdbtype.String("de:" + en)}
}

func place(code, en string) mmdbtype.Map {
	return mmdbtype.Map{"iso_code": mmdbtype.String(code), "names": names(en)}
}

func continent(code, en string) mmdbtype.Map {
	return mmdbtype.Map{"code": mmdbtype.String(code), "names": names(en)}
}

// CityRecords are the City database of Fixture; name is London's city
// name (a test that reloads changes it).
func CityRecords(name string) map[string]mmdbtype.Map {
	return map[string]mmdbtype.Map{
		"81.2.69.0/24": {
			"continent":    continent("EU", "Europe"),
			"country":      place("GB", "United Kingdom"),
			"subdivisions": mmdbtype.Slice{place("ENG", "England"), place("WBK", "West Berkshire")},
			"city":         mmdbtype.Map{"names": names(name)},
			"location": mmdbtype.Map{
				"accuracy_radius": mmdbtype.Uint16(10),
				"latitude":        mmdbtype.Float64(51.5142),
				"longitude":       mmdbtype.Float64(-0.0931),
				"time_zone":       mmdbtype.String("Europe/London"),
			},
			"postal": mmdbtype.Map{"code": mmdbtype.String("EC2V")},
		},
		"89.160.20.112/28": {
			"continent":    continent("EU", "Europe"),
			"country":      place("SE", "Sweden"),
			"subdivisions": mmdbtype.Slice{place("E", "Östergötland County")},
			"city":         mmdbtype.Map{"names": names("Linköping")},
			"location": mmdbtype.Map{
				"latitude":  mmdbtype.Float64(58.4167),
				"longitude": mmdbtype.Float64(15.6167),
				"time_zone": mmdbtype.String("Europe/Stockholm"),
			},
		},
		"2001:480::/32": {
			"continent":    continent("NA", "North America"),
			"country":      place("US", "United States"),
			"subdivisions": mmdbtype.Slice{place("CA", "California")},
			"city":         mmdbtype.Map{"names": names("San Diego")},
			"location": mmdbtype.Map{
				"latitude":  mmdbtype.Float64(32.7203),
				"longitude": mmdbtype.Float64(-117.2239),
				"time_zone": mmdbtype.String("America/Los_Angeles"),
			},
			"postal": mmdbtype.Map{"code": mmdbtype.String("92101")},
		},
		"1.128.0.0/11": {
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(0), "longitude": mmdbtype.Float64(0)},
		},
		"10.0.0.0/8": {
			"country": place("GB", "United Kingdom"),
			"city":    mmdbtype.Map{"names": names("Private")},
		},
	}
}

// ASNRecords are the ASN database of Fixture.
func ASNRecords() map[string]mmdbtype.Map {
	as := func(n uint32, org string) mmdbtype.Map {
		return mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(n), "autonomous_system_organization": mmdbtype.String(org)}
	}
	return map[string]mmdbtype.Map{
		"1.128.0.0/11":  as(1221, "Telstra Pty Ltd"),
		"81.2.69.0/24":  as(20712, "Andrews & Arnold Ltd"),
		"89.160.0.0/17": as(29518, "Bredband2 AB"),
		"2001:480::/32": as(668, "DoD Network Information Center"),
		"10.0.0.0/8":    as(64512, "Private"),
	}
}

// Fixture writes a City and an ASN database into dir: city.mmdb and
// asn.mmdb.
func Fixture(t testing.TB, dir string) (city, asn string) {
	t.Helper()
	city, asn = filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "asn.mmdb")
	Write(t, city, "GeoLite2-City", CityRecords("London"))
	Write(t, asn, "GeoLite2-ASN", ASNRecords())
	return city, asn
}

// Bin is mmdblookup's path (Debian's mmdb-bin); the test is skipped
// without it.
func Bin(t testing.TB) string {
	t.Helper()
	if bin, err := exec.LookPath("mmdblookup"); err == nil {
		return bin
	}
	if _, err := os.Stat("/usr/bin/mmdblookup"); err != nil {
		t.Skip("mmdblookup (Debian's mmdb-bin) is not installed")
	}
	return "/usr/bin/mmdblookup"
}

// Value is mmdblookup's answer for addr in file at the lookup path (map
// keys and array indexes, -1 the last): a string, a float64 or a uint64,
// nil when the address or the path is not there.
func Value(t testing.TB, bin, file, addr string, path ...string) any {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"--file", file, "--ip", addr, "--"}, path...)...).CombinedOutput()
	text := strings.TrimSpace(string(out))
	switch {
	case strings.Contains(text, "Could not find an entry"),
		strings.Contains(text, "The lookup path does not match the data"),
		strings.Contains(text, "No data was found at the lookup path"):
		return nil
	case err != nil:
		t.Fatalf("mmdblookup %s %s %v: %v\n%s", file, addr, path, err, out)
	}
	i := strings.LastIndex(text, " <")
	if i < 0 || !strings.HasSuffix(text, ">") || strings.Contains(text, "\n") {
		t.Fatalf("mmdblookup %s %s %v: want one typed value, got %q", file, addr, path, text)
	}
	v, typ := text[:i], text[i+2:len(text)-1]
	switch typ {
	case "utf8_string":
		return strings.TrimSuffix(strings.TrimPrefix(v, `"`), `"`)
	case "double", "float":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatal(err)
		}
		return f
	case "uint16", "uint32", "uint64":
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Fatalf("mmdblookup %s %s %v: a value of type %s", file, addr, path, typ)
	return nil
}

// Want is what ECS's destination.geo and destination.as of a server at
// addr are, read from the files by mmdblookup, as encoding/json decodes
// them (map[string]any, float64; nil for none): the fields
// Elasticsearch's geoip processor writes.
func Want(t testing.TB, city, asn, addr string) (geo, as map[string]any) {
	t.Helper()
	bin := Bin(t)
	geo = map[string]any{}
	str := func(key string, path ...string) {
		if v, ok := Value(t, bin, city, addr, path...).(string); ok && v != "" {
			geo[key] = v
		}
	}
	str("continent_code", "continent", "code")
	str("continent_name", "continent", "names", "en")
	str("country_iso_code", "country", "iso_code")
	str("country_name", "country", "names", "en")
	str("region_name", "subdivisions", "-1", "names", "en")
	str("city_name", "city", "names", "en")
	str("postal_code", "postal", "code")
	str("timezone", "location", "time_zone")
	if c, ok := geo["country_iso_code"].(string); ok {
		if r, ok := Value(t, bin, city, addr, "subdivisions", "-1", "iso_code").(string); ok {
			geo["region_iso_code"] = c + "-" + r
		}
	}
	lat, okLat := Value(t, bin, city, addr, "location", "latitude").(float64)
	lon, okLon := Value(t, bin, city, addr, "location", "longitude").(float64)
	if okLat && okLon {
		geo["location"] = map[string]any{"lat": lat, "lon": lon}
	}
	if len(geo) == 0 {
		geo = nil
	}
	as = map[string]any{}
	if n, ok := Value(t, bin, asn, addr, "autonomous_system_number").(uint64); ok && n != 0 {
		as["number"] = float64(n)
	}
	if org, ok := Value(t, bin, asn, addr, "autonomous_system_organization").(string); ok && org != "" {
		as["organization"] = map[string]any{"name": org}
	}
	if len(as) == 0 {
		as = nil
	}
	return geo, as
}
