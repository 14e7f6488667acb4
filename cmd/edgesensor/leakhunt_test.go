package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/cloudtest"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
	"github.com/edgesensor/edgesensor/userspace/export/privacy"
	"github.com/edgesensor/edgesensor/userspace/export/privacy/leaktest"
)

// TestPrivilegedUplinkLeakHunt: see leakCapture for the traffic. Each
// mode gets new random values; the values are taken from the generator
// and, independently, from the capture by tshark; the search covers the
// cloud's record log, its log of every request (decoded bodies, headers,
// paths) and every file it stored.
func TestPrivilegedUplinkLeakHunt(t *testing.T) {
	testutil.RequireBPF(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatal("tshark is needed to read the captures independently: run scripts/deps.sh")
	}
	cloudBin := cloudtest.Build(t)
	pki := t.TempDir()
	if err := cloudapi.GenerateCerts(pki); err != nil {
		t.Fatal(err)
	}
	g := leaktest.NewGen(leaktest.Seed(t))
	modes := []struct {
		name, privacy string
		keep          []string // privacy.query_keep
		allowed       []string // kinds the mode lets leave by the customer's choice
		uplink        string   // more [uplink] keys
	}{
		{"default", "", nil, nil, ""},
		{"truncate+hashes", "client_ip = \"truncate\"\nemail = \"hash\"\nuser_names = \"hash\"\nuser_agent = \"hash\"\nquery_values = \"hash\"\n", nil, nil, ""},
		{"hmac+domain-drop", "client_ip = \"hmac\"\nemail = \"hash\"\nemail_domain = \"drop\"\nhostnames = \"drop\"\n", nil, nil, ""},
		{"drop+keep-list", "client_ip = \"drop\"\nemail = \"hash\"\nquery_keep = [\"lang\", \"next\", \"q\", \"ip\", \"to\"]\n", []string{"lang", "next", "q", "ip", "to"}, nil, ""},
		{"full-content", "share = \"full\"\nexecutables = \"full\"\ndocuments = \"full\"\nemail = \"hash\"\n", nil, nil, ""},
		{"metadata-none+tls-none", "metadata = \"none\"\ntls = \"none\"\nemail = \"hash\"\n", nil, nil, ""},
		{"cryptopan+keep-list-hash", "email = \"hash\"\nquery_values = \"hash\"\nquery_keep = [\"next\", \"q\", \"ip\", \"to\"]\n", []string{"next", "q", "ip", "to"}, nil, ""},
		{"keep-addresses+devices", "client_ip = \"keep\"\nemail = \"hash\"\nuser_agent = \"keep\"\nhostnames = \"keep\"\nquery_values = \"hash\"\n", nil,
			[]string{leaktest.IPv4, leaktest.IPv6, leaktest.Device}, ""},
		// No records: the files' SHA-256 values are all that leave.
		{"lookups-only", "share = \"none\"\n", nil, nil, "lookups = true\n"},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := g.Person()
			dir := t.TempDir()
			pcap := filepath.Join(dir, "leak.pcap")
			leakCapture(t, g, p, pcap)

			// The values are on the wire, as an independent dissector
			// reads it (no tunnels in these captures: no outer addresses,
			// no community id).
			injected := leaktest.Without(p.Secrets(), leaktest.Outer)
			for i, s := range injected {
				if s.Value == p.CommunityID[2:] {
					injected = append(injected[:i], injected[i+1:]...)
					break
				}
			}
			verbose := []byte(tshark(t, pcap, "-V"))
			found := map[string]bool{}
			for _, f := range leaktest.Search(map[string][]byte{"tshark -V": verbose}, injected) {
				found[f.Secret.String()] = true
			}
			for _, s := range injected {
				if !found[s.String()] {
					t.Fatalf("%s is not in the capture as tshark reads it", s)
				}
			}
			wire := wireSecrets(t, pcap, m.keep)
			if len(wire) < 20 {
				t.Fatalf("tshark found only %d personal values: %v", len(wire), wire)
			}
			secrets := leaktest.Without(append(injected, wire...), m.allowed...)

			data := filepath.Join(dir, "cloud")
			reqLog := filepath.Join(dir, "requests.ndjson")
			c := cloudtest.Run(t, cloudBin, pki, cloudtest.FreePort(t), data, cloudapi.ServerCertFile, cloudapi.ServerKeyFile, "--request-log", reqLog)
			cfg := cloudtest.UplinkConfig(t, dir, pki, c.Addr, m.privacy)
			b, _ := os.ReadFile(cfg)
			os.WriteFile(cfg, append(bytes.Replace(b, []byte("[files]\n"), []byte("[files]\nuploads = true\n"), 1), m.uplink...), 0o600)
			evs, st, stderr := replayWith(t, cfg, "60s", pcap)
			got := c.Received(t)

			// The sensor saw the values (the test can fail).
			local, _ := json.Marshal(evs)
			seen := map[string]bool{}
			for _, f := range leaktest.Search(map[string][]byte{"events": local}, injected) {
				seen[f.Secret.Kind] = true
			}
			for _, k := range []string{leaktest.User, leaktest.Password, leaktest.Token, leaktest.Email, leaktest.IPv4, leaktest.IPv6, leaktest.Device, leaktest.Words} {
				if !seen[k] {
					t.Errorf("no %s in the local events: the capture did not reach the pipelines", k)
				}
			}
			files, tlsRecs := 0, 0
			for _, r := range got {
				if r["category"] == "tls" {
					tlsRecs++
				} else {
					files++
				}
			}
			wantTLS, wantFiles := 1, 14
			switch m.name {
			case "metadata-none+tls-none":
				wantTLS = 0
			case "lookups-only":
				wantTLS, wantFiles = 0, 0
				if n := c.Stats(t).Lookups; n < 14 {
					t.Errorf("the cloud answered %d hash lookups, want one per whole file (14 or more)", n)
				}
			}
			if files < wantFiles || (wantFiles == 0 && files > 0) || tlsRecs != wantTLS || uint64(len(got)) != st["uplink_records"] || st["uplink_delivered"] != st["uplink_records"] {
				t.Errorf("cloud has %d file and %d tls records (want %d); sensor made %d, delivered %d\n%s",
					files, tlsRecs, wantTLS, st["uplink_records"], st["uplink_delivered"], stderr)
			}
			if wantTLS == 1 && st["uplink_unknown_side"] != 1 {
				var hs []string
				for _, e := range evs {
					if get(e, "event.dataset") == "edgesensor.tls" {
						b, _ := json.Marshal(map[string]any{"source": e["source"], "destination": e["destination"], "edgesensor": e["edgesensor"]})
						hs = append(hs, string(b))
					}
				}
				t.Errorf("handshakes without a known client: %d, want 1; handshake events:\n%s", st["uplink_unknown_side"], strings.Join(hs, "\n"))
			}

			c.Stop()
			// Everything the cloud received or stored.
			hay := map[string][]byte{}
			for _, f := range []string{c.RecordLog, reqLog} {
				if b, err := os.ReadFile(f); err == nil {
					hay[filepath.Base(f)] = b
				}
			}
			filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					if b, err := os.ReadFile(path); err == nil {
						hay[path] = b
					}
				}
				return nil
			})
			if len(hay) < 3 {
				t.Fatalf("nothing to search: %v", hay)
			}
			for _, f := range leaktest.Search(hay, secrets) {
				t.Errorf("leak: %s", f)
			}
			checkRequests(t, reqLog, cfg, got)
		})
	}
}

// checkRequests: every request carries only what the disclosure lists:
// the batch keys, the record envelope, the lookup's hashes, the headers,
// and record fields disclosed as sent for their category.
func checkRequests(t *testing.T, reqLog, cfg string, records []map[string]any) {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"disclosure", "--json", "-c", cfg}, &out, &out); err != nil {
		t.Fatalf("disclosure: %v", err)
	}
	var d struct {
		Fields []privacy.Disclosed `json:"fields"`
		Batch  []privacy.Disclosed `json:"batch"`
		Asks   []privacy.Disclosed `json:"asks"`
	}
	if err := json.Unmarshal(out.Bytes(), &d); err != nil {
		t.Fatalf("disclosure --json: %v", err)
	}
	sent := map[string]bool{}
	for _, f := range append(append(d.Fields, d.Batch...), d.Asks...) {
		if f.Sent {
			sent[f.Category+" "+f.Field] = true
		}
	}
	headers := map[string]bool{"User-Agent": true, "Content-Type": true, "Content-Length": true, "Content-Encoding": true,
		"Accept-Encoding": true, "Idempotency-Key": true}
	data, _ := os.ReadFile(reqLog)
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var r struct {
			Method, Path string
			Header       map[string][]string
			Body         string
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("request log: %v", err)
		}
		for h := range r.Header {
			if !headers[h] {
				t.Errorf("%s %s sent header %s", r.Method, r.Path, h)
			}
		}
		switch r.Path {
		case cloudapi.PathEvents:
			var b map[string]json.RawMessage
			json.Unmarshal([]byte(r.Body), &b)
			for k := range b {
				if !sent["(every batch) "+k] {
					t.Errorf("batch key %s is not disclosed", k)
				}
			}
			var recs []map[string]json.RawMessage
			json.Unmarshal(b["records"], &recs)
			for _, rec := range recs {
				for k := range rec {
					if !sent["(every record) "+k] {
						t.Errorf("record key %s is not disclosed", k)
					}
				}
			}
		case cloudapi.PathLookup:
			var b map[string]json.RawMessage
			json.Unmarshal([]byte(r.Body), &b)
			if len(b) != 1 || b["sha256"] == nil || !(sent["(other requests) POST /v1/lookup"] || sent["(lookups and feed) POST /v1/lookup sha256"]) {
				t.Errorf("lookup body %s", r.Body)
			}
		}
	}
	for _, r := range records {
		rec, _ := r["record"].(map[string]any)
		for _, leaf := range leafPaths("", rec) {
			if !sent[r["category"].(string)+" "+leaf] {
				t.Errorf("%s sent in a %s record, not disclosed as sent", leaf, r["category"])
			}
		}
	}
}

func leafPaths(prefix string, m map[string]any) []string {
	var out []string
	for k, v := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		if mm, ok := v.(map[string]any); ok {
			out = append(out, leafPaths(p, mm)...)
		} else {
			out = append(out, p)
		}
	}
	return out
}
