package privacy

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// The [enrich] fields of the server go wherever destination.ip goes, in
// every mode, as they are; the client's (never filled by the sensor)
// never leave, whatever a line carries.
func TestServerGeoLeavesWithTheServer(t *testing.T) {
	serverGeo := map[string]any{
		"continent_code": "EU", "continent_name": "Europe", "country_iso_code": "GB", "country_name": "United Kingdom",
		"region_iso_code": "GB-WBK", "region_name": "West Berkshire", "city_name": "London", "postal_code": "EC2V",
		"timezone": "Europe/London", "location": map[string]any{"lat": 51.5142, "lon": -0.0931},
	}
	serverAS := map[string]any{"number": float64(20712), "organization": map[string]any{"name": "Andrews & Arnold Ltd"}}
	clientGeo := map[string]any{"city_name": "Clientville", "postal_code": "CL1 3NT", "location": map[string]any{"lat": 12.345, "lon": 6.789}}
	clientAS := map[string]any{"number": float64(64999), "organization": map[string]any{"name": "Client Home ISP"}}
	var lines [][]byte
	for _, ev := range events(t) {
		var m map[string]any
		if err := json.Unmarshal(ev, &m); err != nil {
			t.Fatal(err)
		}
		d, s := m["destination"].(map[string]any), m["source"].(map[string]any)
		if d == nil || s == nil {
			continue
		}
		d["geo"], d["as"] = serverGeo, serverAS
		s["geo"], s["as"] = clientGeo, clientAS
		line, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	if len(lines) < 10 {
		t.Fatalf("%d events", len(lines))
	}
	for name, edit := range modes() {
		p, err := newPolicy(uplinked(edit), testKey(t))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, line := range lines {
			rec, ok, err := p.Record(recordOf(line))
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				continue
			}
			n++
			var out struct {
				Source, Destination map[string]any
			}
			if err := json.Unmarshal(rec.Body, &out); err != nil {
				t.Fatal(err)
			}
			if out.Destination["ip"] == nil {
				t.Fatalf("%s: no destination.ip: %s", name, rec.Body)
			}
			if !reflect.DeepEqual(out.Destination["geo"], serverGeo) || !reflect.DeepEqual(out.Destination["as"], serverAS) {
				t.Fatalf("%s: destination %v", name, out.Destination)
			}
			for _, s := range []string{"Clientville", "CL1 3NT", "12.345", "64999", "Client Home ISP"} {
				if strings.Contains(string(rec.Body), s) {
					t.Fatalf("%s: the client's %q left: %s", name, s, rec.Body)
				}
			}
		}
		if n == 0 {
			t.Fatalf("%s: no records", name)
		}
	}
}
