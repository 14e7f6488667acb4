package craft

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Event is the part of a sensor event (one NDJSON line) a truth is
// checked against.
type Event struct {
	Event struct {
		Dataset string `json:"dataset"`
	} `json:"event"`
	Source      Endpoint `json:"source"`
	Destination Endpoint `json:"destination"`
	Network     struct {
		VLAN *struct {
			ID string `json:"id"`
		} `json:"vlan"`
	} `json:"network"`
	TLS  TLS `json:"tls"`
	File struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
		Hash *struct {
			SHA256 string `json:"sha256"`
		} `json:"hash"`
	} `json:"file"`
	Edgesensor struct {
		File struct {
			Complete bool   `json:"complete"`
			Cut      string `json:"cut"`
			Conflict bool   `json:"conflict"`
		} `json:"file"`
		Tunnel *struct {
			Type string          `json:"type"`
			ID   json.RawMessage `json:"id"`
		} `json:"tunnel"`
	} `json:"edgesensor"`
}

// TLS is the tls part of a sensor event: the client's server name and
// fingerprints, and the server's fingerprint when its hello was seen.
type TLS struct {
	Client struct {
		ServerName string `json:"server_name"`
		JA3        string `json:"ja3"`
		JA4        string `json:"ja4"`
	} `json:"client"`
	Server *struct {
		JA3S string `json:"ja3s"`
	} `json:"server"`
}

// Endpoint is an event's source or destination.
type Endpoint struct {
	IP   string `json:"ip"`
	Port int    `json:"port"`
}

// ReadEvents reads NDJSON events.
func ReadEvents(r io.Reader) ([]Event, error) {
	var evs []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("event is not JSON: %w", err)
		}
		evs = append(evs, e)
	}
	return evs, sc.Err()
}

// FlattenStats reads the JSON statistics of replay --stats into dotted
// names ("analysis.checksum_dropped") and their numbers.
func FlattenStats(b []byte) (map[string]float64, error) {
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	flat := map[string]float64{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			switch v := v.(type) {
			case map[string]any:
				walk(prefix+k+".", v)
			case float64:
				flat[prefix+k] = v
			}
		}
	}
	walk("", st)
	return flat, nil
}

// Counters are the sensor's names today for a truth counter; a
// counter is also met by any statistic whose name ends in the truth's
// name.
var Counters = map[string][]string{
	"tcp_out_of_window":     {"analysis.tcp_out_of_window", "analysis.tls_tcp_out_of_window"},
	"tcp_csum_bad":          {"analysis.checksum_dropped", "counters.csum_bad"},
	"ip_csum_bad":           {"analysis.checksum_dropped", "counters.csum_bad"},
	"csum_offload_detected": {"analysis.checksum_partial"},
	"tcp_urgent":            {"analysis.reassembly_urgent_bytes"},
	"frag_overlap":          {"fragments.overlaps"},
	"frag_tiny":             {"fragments.tiny"},
}

// Check lists where a sensor's report (its events and replay --stats
// figures) differs from the truth; none is a pass.
func Check(tr Truth, evs []Event, stats map[string]float64) []string {
	var bad []string
	var files, tlss []Event
	for _, e := range evs {
		switch e.Event.Dataset {
		case "edgesensor.file":
			files = append(files, e)
		case "edgesensor.tls":
			tlss = append(tlss, e)
		}
	}
	// A handshake is matched by its ports and fields: a flood may reuse
	// the real client's port from another address. Each event answers one
	// truth entry.
	used := make([]bool, len(tlss))
	fields := func(e *Event) [4]string {
		g := [4]string{e.TLS.Client.ServerName, e.TLS.Client.JA3, e.TLS.Client.JA4, ""}
		if e.TLS.Server != nil {
			g[3] = e.TLS.Server.JA3S
		}
		return g
	}
	for _, w := range tr.TLS {
		want := [4]string{w.SNI, w.JA3, w.JA4, w.JA3S}
		var near *Event
		found := false
		for i := range tlss {
			e := &tlss[i]
			if used[i] || e.Source.Port != w.ClientPort || e.Destination.Port != w.ServerPort {
				continue
			}
			if fields(e) == want {
				used[i], found = true, true
				break
			}
			near = e
		}
		switch {
		case found:
		case near == nil:
			bad = append(bad, fmt.Sprintf("no tls event %d->%d", w.ClientPort, w.ServerPort))
		default:
			g := fields(near)
			var diff []string
			for i, n := range []string{"sni", "ja3", "ja4", "ja3s"} {
				if g[i] != want[i] {
					diff = append(diff, fmt.Sprintf("%s %q want %q", n, g[i], want[i]))
				}
			}
			bad = append(bad, "tls "+strings.Join(diff, ", "))
		}
	}
	whole := func(e Event) bool { return e.Edgesensor.File.Complete && e.File.Hash != nil }
	known := map[string]bool{}
	for _, w := range tr.Files {
		known[w.SHA256] = true
	}
	for _, w := range tr.Files {
		n, want := 0, 0
		for _, x := range tr.Files {
			if x == w {
				want++
			}
		}
		for _, e := range files {
			if whole(e) && e.File.Hash.SHA256 == w.SHA256 && e.File.Name == w.Name && (w.Size == 0 || e.File.Size == w.Size) {
				n++
			}
		}
		if n < want {
			bad = append(bad, fmt.Sprintf("%s whole %d times, want %d", w.Name, n, want))
		}
	}
	for _, e := range files {
		if whole(e) && !known[e.File.Hash.SHA256] {
			bad = append(bad, fmt.Sprintf("wrong file %s (%.12s) reported whole", e.File.Name, e.File.Hash.SHA256))
		}
	}
	for _, w := range tr.NotFiles {
		for _, e := range files {
			if e.File.Name == w.Name || e.File.Hash != nil && e.File.Hash.SHA256 == w.SHA256 {
				bad = append(bad, fmt.Sprintf("not_file %s reported", w.Name))
			}
		}
	}
	for _, w := range tr.Incomplete {
		ok := false
		for _, e := range files {
			ok = ok || !e.Edgesensor.File.Complete && e.File.Hash == nil && e.Edgesensor.File.Cut == w.Cut &&
				(w.Name == "" || e.File.Name == w.Name)
		}
		if !ok {
			bad = append(bad, fmt.Sprintf("no incomplete %q with cut %s", w.Name, w.Cut))
		}
	}
	for _, name := range tr.Conflict {
		ok := false
		for _, e := range files {
			if e.File.Name != name {
				continue
			}
			if e.File.Hash != nil {
				bad = append(bad, fmt.Sprintf("conflicting %s reported with a hash (complete %v)", name, e.Edgesensor.File.Complete))
			}
			ok = ok || e.Edgesensor.File.Conflict && e.File.Hash == nil
		}
		if !ok {
			bad = append(bad, fmt.Sprintf("no conflict event for %s", name))
		}
	}
	if tu := tr.Tunnel; tu != nil {
		for _, e := range append(append([]Event(nil), tlss...), files...) {
			var miss []string
			if len(tu.VLANs) > 0 && (e.Network.VLAN == nil || e.Network.VLAN.ID != strconv.Itoa(int(tu.VLANs[0]))) {
				miss = append(miss, "network.vlan.id")
			}
			if tu.Type != "" && (e.Edgesensor.Tunnel == nil || e.Edgesensor.Tunnel.Type != tu.Type) {
				miss = append(miss, "edgesensor.tunnel.type "+tu.Type)
			}
			if tu.ID != 0 && (e.Edgesensor.Tunnel == nil || strings.Trim(string(e.Edgesensor.Tunnel.ID), `"`) != strconv.Itoa(int(tu.ID))) {
				miss = append(miss, fmt.Sprintf("edgesensor.tunnel.id %d", tu.ID))
			}
			if len(miss) > 0 {
				bad = append(bad, "event without "+strings.Join(miss, ", "))
				break
			}
		}
	}
	for name := range tr.Counters {
		met := false
		for k, v := range stats {
			if v > 0 && (strings.HasSuffix(k, name) || slices.Contains(Counters[name], k)) {
				met = true
			}
		}
		if !met {
			bad = append(bad, "counter "+name+" not counted")
		}
	}
	return bad
}
