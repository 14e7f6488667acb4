package geo

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/rs/zerolog"
)

// names is a names map with an English name and another language, which
// Lookup must not take.
func names(en string) mmdbtype.Map {
	return mmdbtype.Map{"en": mmdbtype.String(en), "de": mmdbtype.String("de:" + en)}
}

func mmPlace(code, en string, id uint32) mmdbtype.Map {
	m := mmdbtype.Map{"geoname_id": mmdbtype.Uint32(id), "names": names(en)}
	if code != "" {
		m["iso_code"] = mmdbtype.String(code)
	}
	return m
}

// cityRecords is a City-like database: version changes a name, so a test
// sees which file answered.
func cityRecords(version int) map[string]mmdbtype.Map {
	london := "London"
	if version > 1 {
		london = fmt.Sprintf("London v%d", version)
	}
	europe := mmdbtype.Map{"code": mmdbtype.String("EU"), "geoname_id": mmdbtype.Uint32(6255148), "names": names("Europe")}
	na := mmdbtype.Map{"code": mmdbtype.String("NA"), "geoname_id": mmdbtype.Uint32(6255149), "names": names("North America")}
	return map[string]mmdbtype.Map{
		// Everything, two subdivisions (the last is the region), and
		// fields ECS has no place for.
		"81.2.69.0/24": {
			"continent":          europe,
			"country":            mmPlace("GB", "United Kingdom", 2635167),
			"registered_country": mmPlace("GB", "United Kingdom", 2635167),
			"subdivisions": mmdbtype.Slice{
				mmPlace("ENG", "England", 6269131),
				mmPlace("WBK", "West Berkshire", 3333217),
			},
			"city": mmdbtype.Map{"geoname_id": mmdbtype.Uint32(2643743), "names": names(london)},
			"location": mmdbtype.Map{
				"accuracy_radius": mmdbtype.Uint16(10),
				"latitude":        mmdbtype.Float64(51.5142),
				"longitude":       mmdbtype.Float64(-0.0931),
				"time_zone":       mmdbtype.String("Europe/London"),
			},
			"postal": mmdbtype.Map{"code": mmdbtype.String("EC2V")},
			"traits": mmdbtype.Map{"is_anycast": mmdbtype.Bool(false)},
		},
		// Non-ASCII names, no postal code.
		"89.160.20.112/28": {
			"continent":    europe,
			"country":      mmPlace("SE", "Sweden", 2661886),
			"subdivisions": mmdbtype.Slice{mmPlace("E", "Östergötland County", 2685867)},
			"city":         mmdbtype.Map{"names": names("Linköping")},
			"location": mmdbtype.Map{
				"latitude":  mmdbtype.Float64(58.4167),
				"longitude": mmdbtype.Float64(15.6167),
				"time_zone": mmdbtype.String("Europe/Stockholm"),
			},
		},
		// IPv6.
		"2001:480::/32": {
			"continent":    na,
			"country":      mmPlace("US", "United States", 6252001),
			"subdivisions": mmdbtype.Slice{mmPlace("CA", "California", 5332921)},
			"city":         mmdbtype.Map{"names": names("San Diego")},
			"location": mmdbtype.Map{
				"latitude":   mmdbtype.Float64(32.7203),
				"longitude":  mmdbtype.Float64(-117.2239),
				"time_zone":  mmdbtype.String("America/Los_Angeles"),
				"metro_code": mmdbtype.Uint16(825),
			},
			"postal": mmdbtype.Map{"code": mmdbtype.String("92101")},
		},
		// Country level only, as a Country database has it.
		"2a02:cf40::/29": {
			"continent": europe,
			"country":   mmPlace("NO", "Norway", 3144096),
		},
		// A location of 0, 0 is still a location.
		"1.128.0.0/11": {
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(0), "longitude": mmdbtype.Float64(0)},
		},
		// No English name: the code alone; no country: no region code.
		"50.114.0.0/16": {
			"country":      mmdbtype.Map{"iso_code": mmdbtype.String("DE"), "names": mmdbtype.Map{"de": mmdbtype.String("Deutschland")}},
			"subdivisions": mmdbtype.Slice{mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Bavaria")}}},
		},
		"67.43.156.0/24": {
			"subdivisions": mmdbtype.Slice{mmPlace("BY", "Bavaria", 2951839)},
		},
		// Found, but nothing ECS has a place for: no Geo.
		"175.16.199.0/24":  {"registered_country": mmPlace("CN", "China", 1814991)},
		"202.196.224.0/20": {},
	}
}

func asnRecords(version int) map[string]mmdbtype.Map {
	telstra := "Telstra Pty Ltd"
	if version > 1 {
		telstra = fmt.Sprintf("Telstra v%d", version)
	}
	return map[string]mmdbtype.Map{
		"1.128.0.0/11":  {"autonomous_system_number": mmdbtype.Uint32(1221), "autonomous_system_organization": mmdbtype.String(telstra)},
		"81.2.69.0/24":  {"autonomous_system_number": mmdbtype.Uint32(20712), "autonomous_system_organization": mmdbtype.String("Andrews & Arnold Ltd")},
		"89.160.0.0/17": {"autonomous_system_number": mmdbtype.Uint32(29518), "autonomous_system_organization": mmdbtype.String("Bredband2 AB")},
		// A number above 2^31, and no organization.
		"149.101.100.0/28": {"autonomous_system_number": mmdbtype.Uint32(4200000001)},
		"2600:6000::/20":   {"autonomous_system_number": mmdbtype.Uint32(237), "autonomous_system_organization": mmdbtype.String("Merit Network Inc.")},
		"2001:480::/32":    {"autonomous_system_number": mmdbtype.Uint32(668), "autonomous_system_organization": mmdbtype.String("DoD Network Information Center")},
		// Found, empty: no AS.
		"12.81.92.0/22": {},
	}
}

type dbSpec struct {
	dbType   string
	records  map[string]mmdbtype.Map
	build    int64
	ipv4Only bool
	reserved bool // allow private and reserved networks
	bare     bool // no description or languages, as mmdbwriter writes by default
}

func citySpec(version int) dbSpec {
	return dbSpec{dbType: "GeoLite2-City", records: cityRecords(version), build: 1700000000 + int64(version)}
}

func asnSpec(version int) dbSpec {
	return dbSpec{dbType: "GeoLite2-ASN", records: asnRecords(version), build: 1700000000 + int64(version)}
}

// build writes the database.
func (s dbSpec) encode(t testing.TB) []byte {
	t.Helper()
	opts := mmdbwriter.Options{
		DatabaseType:            s.dbType,
		BuildEpoch:              s.build,
		Languages:               []string{"en", "de"},
		Description:             map[string]string{"en": "edgesensor geo test"},
		IncludeReservedNetworks: s.reserved,
		RecordSize:              24,
	}
	if s.ipv4Only {
		opts.IPVersion = 4
	}
	if s.bare {
		opts.Description, opts.Languages = nil, nil
	}
	tree, err := mmdbwriter.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range s.records {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if s.ipv4Only && n.IP.To4() == nil {
			continue
		}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatalf("%s: %v", cidr, err)
		}
	}
	var b bytes.Buffer
	if _, err := tree.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// write puts the database at path, atomically (a rename).
func (s dbSpec) write(t testing.TB, path string) {
	t.Helper()
	replace(t, path, s.encode(t))
}

func replace(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// overwrite rewrites the file in place (same inode): truncate and write.
func overwrite(t testing.TB, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// bumpMtime makes a rewrite within the file system's timestamp
// granularity still look changed.
func bumpMtime(t testing.TB, path string, by time.Duration) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime().Add(by), fi.ModTime().Add(by)); err != nil {
		t.Fatal(err)
	}
}

// fixture writes a City and an ASN database of version 1 and opens them.
func fixture(t testing.TB) (d *DB, city, asn string) {
	t.Helper()
	dir := t.TempDir()
	city, asn = filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "asn.mmdb")
	citySpec(1).write(t, city)
	asnSpec(1).write(t, asn)
	d, err := Open(Settings{GeoIPCity: city, GeoIPASN: asn, ReloadCheck: DefaultReloadCheck}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, city, asn
}

// mmdblookup is libmaxminddb's answer for addr: the record as a tree of
// map[string]any, []any, string, float64, uint64 and bool; nil for a miss.
func mmdblookup(t testing.TB, bin, file, addr string) map[string]any {
	t.Helper()
	out, err := exec.Command(bin, "--file", file, "--ip", addr).CombinedOutput()
	text := string(out)
	switch {
	case strings.Contains(text, "Could not find an entry"):
		return nil
	case strings.Contains(text, "IPv6 address in an IPv4-only database"):
		return nil
	case err != nil:
		t.Fatalf("mmdblookup %s %s: %v\n%s", file, addr, err, out)
	}
	p := &dumpParser{t: t, sc: bufio.NewScanner(strings.NewReader(text))}
	v := p.value(p.next())
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("mmdblookup %s: not a map: %v\n%s", addr, v, out)
	}
	return m
}

// dumpParser reads libmaxminddb's data dump: one token a line, "{", "}",
// "[", "]", `"key": ` and `value <type>`.
type dumpParser struct {
	t  testing.TB
	sc *bufio.Scanner
}

func (p *dumpParser) next() string {
	for p.sc.Scan() {
		if l := strings.TrimSpace(p.sc.Text()); l != "" {
			return l
		}
	}
	p.t.Fatal("mmdblookup: output ends early")
	return ""
}

func (p *dumpParser) value(l string) any {
	switch l {
	case "{":
		m := map[string]any{}
		for {
			k := p.next()
			if k == "}" {
				return m
			}
			if !strings.HasPrefix(k, `"`) || !strings.HasSuffix(k, `":`) {
				p.t.Fatalf("mmdblookup: want a key, got %q", k)
			}
			m[k[1:len(k)-2]] = p.value(p.next())
		}
	case "[":
		var s []any
		for {
			e := p.next()
			if e == "]" {
				return s
			}
			s = append(s, p.value(e))
		}
	}
	i := strings.LastIndex(l, " <")
	if i < 0 || !strings.HasSuffix(l, ">") {
		p.t.Fatalf("mmdblookup: want a typed value, got %q", l)
	}
	v, typ := l[:i], l[i+2:len(l)-1]
	switch typ {
	case "utf8_string":
		return strings.TrimSuffix(strings.TrimPrefix(v, `"`), `"`)
	case "double", "float":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			p.t.Fatal(err)
		}
		return f
	case "uint16", "uint32", "uint64":
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			p.t.Fatal(err)
		}
		return n
	case "boolean":
		return v == "true"
	}
	return v
}

// wantGeo maps libmaxminddb's record to ECS as the package documents it,
// independently of decode.go.
func wantGeo(rec map[string]any) *Geo {
	str := func(path ...any) string {
		var v any = rec
		for _, k := range path {
			switch k := k.(type) {
			case string:
				m, _ := v.(map[string]any)
				v = m[k]
			case int:
				s, _ := v.([]any)
				if len(s) == 0 {
					return ""
				}
				v = s[len(s)-1] // -1: the last
			}
		}
		s, _ := v.(string)
		return s
	}
	g := Geo{
		ContinentCode:  str("continent", "code"),
		ContinentName:  str("continent", "names", "en"),
		CountryISOCode: str("country", "iso_code"),
		CountryName:    str("country", "names", "en"),
		RegionName:     str("subdivisions", -1, "names", "en"),
		CityName:       str("city", "names", "en"),
		PostalCode:     str("postal", "code"),
		Timezone:       str("location", "time_zone"),
	}
	if c, r := g.CountryISOCode, str("subdivisions", -1, "iso_code"); c != "" && r != "" {
		g.RegionISOCode = c + "-" + r
	}
	loc, _ := rec["location"].(map[string]any)
	lat, okLat := loc["latitude"].(float64)
	lon, okLon := loc["longitude"].(float64)
	if okLat && okLon {
		g.Location = &Location{Lat: lat, Lon: lon}
	}
	if g == (Geo{}) {
		return nil
	}
	return &g
}

func wantAS(rec map[string]any) *AS {
	n, _ := rec["autonomous_system_number"].(uint64)
	org, _ := rec["autonomous_system_organization"].(string)
	if n == 0 && org == "" {
		return nil
	}
	as := &AS{Number: uint32(n)}
	if org != "" {
		as.Organization = &Organization{Name: org}
	}
	return as
}

func mmdblookupBin(t testing.TB) string {
	bin, err := exec.LookPath("mmdblookup")
	if err != nil {
		if _, err := os.Stat("/usr/bin/mmdblookup"); err != nil {
			t.Skip("mmdblookup (Debian's mmdb-bin) is not installed")
		}
		bin = "/usr/bin/mmdblookup"
	}
	return bin
}
