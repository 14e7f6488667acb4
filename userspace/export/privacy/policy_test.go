package privacy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/export/anon"
	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	evcat "github.com/edgesensor/edgesensor/userspace/export/events"
	"github.com/edgesensor/edgesensor/userspace/export/privacy/leaktest"
)

func testKey(t testing.TB) *anon.Key {
	k, err := anon.NewKey([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// events are real replayed events (the corpus) plus one hand-made event
// carrying personal data in every field that can hold it.
func events(t testing.TB) [][]byte {
	f, err := os.Open("testdata/events.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	// An IPv6 client too.
	v6 := bytes.Replace(out[len(out)-1], []byte(`"192.0.2.77"`), []byte(`"2001:db8:1234:5678::77"`), 1)
	return append(out, v6)
}

// testConfig is what the sensor gives a policy: the [privacy] table, and
// uplink.url.
type testConfig struct {
	Privacy Settings
	Uplink  struct{ URL string }
}

// newPolicy builds c's policy as the sensor does.
func newPolicy(c *testConfig, key *anon.Key) (*Policy, error) {
	return New(&c.Privacy, c.Uplink.URL != "", key)
}

func uplinked(edit func(*testConfig)) *testConfig {
	c := testConfig{Privacy: DefaultSettings()}
	c.Uplink.URL = "https://127.0.0.1:8443"
	if edit != nil {
		edit(&c)
	}
	return &c
}

// Personal data that must never reach the cloud, in any mode.
var secrets = []string{
	"s3cret", "alice:", "abc123", // URL credentials and token value
	"alice.smith@", "bob.jones@", "carol@", "Alice Smith", // e-mail addresses
	"alice.smith\"", "Bob Jones", // document authors (user names)
	"Salary review", "medical leave", "alice-private", // subject, title, mailbox
	`Users\\alice`, "DESKTOP-ALICE", "eth-alice-desk", // profile path, device names
	"/var/lib/edgesensor", "192.0.2.77", "2001:db8:1234:5678::77",
}

// modes is every combination a customer can choose, per knob.
func modes() map[string]func(*testConfig) {
	m := map[string]func(*testConfig){}
	for _, ip := range []string{"cryptopan", "truncate", "hmac", "drop", "keep"} {
		for _, share := range []string{"hash", "full"} {
			for _, email := range []string{"hash", "none"} {
				for _, users := range []string{"drop", "hash"} {
					for _, dom := range []string{"keep", "drop"} {
						for _, hosts := range []string{"drop", "hash"} {
							ip, share, email, users, dom, hosts := ip, share, email, users, dom, hosts
							m[strings.Join([]string{ip, share, email, users, dom, hosts}, "/")] = func(c *testConfig) {
								c.Privacy.ClientIP, c.Privacy.Share = ip, share
								c.Privacy.Executables, c.Privacy.Documents = share, share
								c.Privacy.Email, c.Privacy.UserNames, c.Privacy.EmailDomain = email, users, dom
								c.Privacy.Hostnames, c.Privacy.UserAgent = hosts, hosts
							}
						}
					}
				}
			}
		}
	}
	return m
}

func TestNothingPersonalLeavesInAnyMode(t *testing.T) {
	evs := events(t)
	for name, edit := range modes() {
		cfg := uplinked(edit)
		p, err := newPolicy(cfg, testKey(t))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range evs {
			r := recordOf(ev)
			rec, ok, err := p.Record(r)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				continue
			}
			n++
			// The flow's community id, an unkeyed hash of the raw
			// addresses, never leaves (TestCommunityIDNeverLeaves has
			// every dataset and every form of it).
			if cid := r.Fields.CommunityID; cid == "" || bytes.Contains(rec.Body, []byte(cid[2:])) {
				t.Fatalf("%s: community id %q missing from the event or left the box:\n%s", name, cid, rec.Body)
			}
			for _, s := range secrets {
				if cfg.Privacy.ClientIP == "keep" && (s == "192.0.2.77" || s == "2001:db8:1234:5678::77") {
					continue
				}
				if bytes.Contains(rec.Body, []byte(s)) {
					t.Fatalf("%s: %q left the box:\n%s", name, s, rec.Body)
				}
			}
			var src struct {
				Source map[string]any `json:"source"`
			}
			json.Unmarshal(rec.Body, &src)
			if _, has := src.Source["port"]; has {
				t.Fatalf("%s: client port left", name)
			}
		}
		if n != len(evs) {
			t.Fatalf("%s: %d of %d events made records", name, n, len(evs))
		}
	}
}

func record(t *testing.T, p *Policy, ev []byte) map[string]any {
	t.Helper()
	rec, ok, err := p.Record(recordOf(ev))
	if err != nil || !ok {
		t.Fatalf("no record: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func get(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func TestTransforms(t *testing.T) {
	evs := events(t)
	personal := evs[len(evs)-2]
	p, _ := newPolicy(uplinked(func(c *testConfig) { c.Privacy.Email = "hash"; c.Privacy.UserNames = "hash" }), testKey(t))
	m := record(t, p, personal)

	// Crypto-PAn keeps the prefix structure: same /24 in, same /24 out.
	ip := get(m, "source.ip").(string)
	a := netip.MustParseAddr(ip)
	other, _ := newPolicy(uplinked(nil), testKey(t))
	b := netip.MustParseAddr(get(record(t, other, bytes.Replace(personal, []byte("192.0.2.77"), []byte("192.0.2.200"), 1)), "source.ip").(string))
	if a == netip.MustParseAddr("192.0.2.77") || netip.PrefixFrom(a, 24).Masked() != netip.PrefixFrom(b, 24).Masked() {
		t.Errorf("cryptopan: %s and %s", a, b)
	}
	// The URL: rebuilt, every query value dropped by default, kept when
	// its parameter is on the keep-list, hashed with query_values.
	if u := get(m, "url.original").(string); u != "http://files.example.com/dl/invoice.exe?token=REDACTED&user=REDACTED&lang=REDACTED" {
		t.Errorf("url: %s", u)
	}
	kept, _ := newPolicy(uplinked(func(c *testConfig) { c.Privacy.QueryKeep = []string{"LANG"} }), testKey(t))
	if u := get(record(t, kept, personal), "url.original").(string); u != "http://files.example.com/dl/invoice.exe?token=REDACTED&user=REDACTED&lang=en" {
		t.Errorf("url, lang kept: %s", u)
	}
	hashed, _ := newPolicy(uplinked(func(c *testConfig) { c.Privacy.QueryValues = "hash" }), testKey(t))
	u1 := get(record(t, hashed, personal), "url.original").(string)
	if strings.Contains(u1, "abc123") || strings.Contains(u1, "REDACTED") || len(u1) != len("http://files.example.com/dl/invoice.exe?token=&user=&lang=")+3*16 {
		t.Errorf("url, values hashed: %s", u1)
	}
	if n := get(m, "file.name").(string); n != "invoice.exe" {
		t.Errorf("file name: %s", n)
	}
	from := get(m, "email.from.address").([]any)[0].(string)
	if !strings.HasSuffix(from, "@corp.example") || len(from) < len("@corp.example")+8 {
		t.Errorf("from: %s", from)
	}
	// Keyed hashes are stable within a key: the envelope and the header
	// name the same sender with the same token.
	if mf := get(m, "edgesensor.smtp.mail_from").(string); mf != from {
		t.Errorf("envelope %s vs header %s", mf, from)
	}
	if get(m, "edgesensor.file.document.author") == nil || get(m, "edgesensor.file.document.creator") != "Microsoft Word" {
		t.Errorf("document: %v", get(m, "edgesensor.file.document"))
	}
	for _, gone := range []string{"email.subject", "edgesensor.imap.mailbox", "edgesensor.file.document.title", "edgesensor.file.retained", "source.port", "user_agent.original"} {
		if get(m, gone) != nil {
			t.Errorf("%s left the box", gone)
		}
	}
	r := get(m, "edgesensor.score.reasons").([]any)[0].(map[string]any)
	if r["rule"] != "name.double_extension" || r["weight"] != 7.0 || r["text"] != nil {
		t.Errorf("reason: %v", r)
	}
	if get(m, "file.hash.sha256") == nil || get(m, "destination.ip") == nil {
		t.Error("the file's identity is missing")
	}

	// Truncate and hmac.
	tr, _ := newPolicy(uplinked(func(c *testConfig) { c.Privacy.ClientIP = "truncate" }), testKey(t))
	if got := get(record(t, tr, personal), "source.ip"); got != "192.0.2.0" {
		t.Errorf("truncate v4: %v", got)
	}
	if got := get(record(t, tr, evs[len(evs)-1]), "source.ip"); got != "2001:db8:1234::" {
		t.Errorf("truncate v6: %v", got)
	}
	hm, _ := newPolicy(uplinked(func(c *testConfig) { c.Privacy.ClientIP = "hmac" }), testKey(t))
	if got, _ := get(record(t, hm, personal), "source.ip").(string); len(got) < 16 || strings.Contains(got, ".") {
		t.Errorf("hmac: %v", got)
	}
	// The key matters: another key, another token.
	k2, _ := anon.NewKey([]byte("another key of thirty-two bytes!"))
	hm2, _ := newPolicy(uplinked(func(c *testConfig) { c.Privacy.ClientIP = "hmac" }), k2)
	if get(record(t, hm, personal), "source.ip") == get(record(t, hm2, personal), "source.ip") {
		t.Error("the hmac does not depend on the key")
	}
	// The record id is keyed too: without the key it cannot be used to
	// test guesses of the fields the record leaves out.
	r1, _, _ := hm.Record(recordOf(personal))
	r2, _, _ := hm2.Record(recordOf(personal))
	r3, _, _ := hm.Record(recordOf(personal))
	if r1.ID == r2.ID || r1.ID != r3.ID || len(r1.ID) != 32 || r1.ID != anon.HashToken(hm.idKey, string(personal)) {
		t.Errorf("record ids %s %s %s", r1.ID, r2.ID, r3.ID)
	}
}

func TestShareModesSelectRecords(t *testing.T) {
	evs := events(t)
	count := func(edit func(*testConfig)) map[string]int {
		p, err := newPolicy(uplinked(edit), testKey(t))
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, ev := range evs {
			if rec, ok, _ := p.Record(recordOf(ev)); ok {
				n[rec.Category]++
			}
		}
		return n
	}
	all := count(nil)
	if all[TLS] == 0 || all[Executables] == 0 || all[Documents] == 0 {
		t.Fatalf("records %v", all)
	}
	if n := count(func(c *testConfig) { c.Privacy.TLS = "none" }); n[TLS] != 0 || n[Executables] != all[Executables] {
		t.Errorf("tls none: %v", n)
	}
	if n := count(func(c *testConfig) { c.Privacy.Share = "none" }); len(n) != 0 {
		t.Errorf("share none: %v", n)
	}
	if n := count(func(c *testConfig) { c.Uplink.URL = "" }); len(n) != 0 {
		t.Errorf("no uplink: %v", n)
	}
	// metadata none: the file is still reported, its name and URL not.
	p, _ := newPolicy(uplinked(func(c *testConfig) { c.Privacy.Metadata = "none" }), testKey(t))
	m := record(t, p, evs[len(evs)-2])
	if get(m, "file.name") != nil || get(m, "url") != nil || get(m, "file.hash.sha256") == nil {
		t.Errorf("metadata none: %v", m)
	}
	// Without a key nothing is built.
	if _, err := newPolicy(uplinked(nil), nil); err == nil || !strings.Contains(err.Error(), "privacy.key_file") {
		t.Errorf("no key: %v", err)
	}
}

// The disclosure and the upload are one: every field a record carries
// is disclosed as sent for its category, and no field disclosed as not
// sent ever appears.
func TestDisclosureMatchesWhatIsSent(t *testing.T) {
	g := leaktest.NewGen(11)
	evs := append(events(t), personalEvents(g, g.Person())...)
	for name, edit := range modes() {
		p, _ := newPolicy(uplinked(edit), testKey(t))
		sent := map[string]map[string]bool{}
		for _, d := range p.Disclosure() {
			if sent[d.Category] == nil {
				sent[d.Category] = map[string]bool{}
			}
			sent[d.Category][d.Field] = d.Sent
		}
		for _, ev := range evs {
			rec, ok, _ := p.Record(recordOf(ev))
			if !ok {
				continue
			}
			var m map[string]any
			json.Unmarshal(rec.Body, &m)
			for _, leaf := range leaves("", m) {
				r := p.ix.find(leaf)
				if r == nil {
					t.Fatalf("%s: %s sent without a rule", name, leaf)
				}
				if !sent[rec.Category][r.path] {
					t.Fatalf("%s: %s sent in a %s record but disclosed as not sent", name, leaf, rec.Category)
				}
			}
		}
	}
	// Every rule is disclosed by its full name, in every category it
	// applies to: no wildcard hides what a subtree carries.
	p, _ := newPolicy(uplinked(nil), testKey(t))
	listed := map[string]int{}
	for _, d := range p.Disclosure() {
		if strings.Contains(d.Field, "*") {
			t.Errorf("wildcard in the disclosure: %+v", d)
		}
		listed[d.Field]++
	}
	for _, r := range rules {
		if listed[r.path] == 0 {
			t.Errorf("%s is not disclosed", r.path)
		}
	}
	// With nothing shared, the disclosure says so for every field.
	p, _ = newPolicy(uplinked(func(c *testConfig) { c.Privacy.Share = "none" }), testKey(t))
	for _, d := range p.Disclosure() {
		if d.Sent || !strings.Contains(d.Transform, "not sent") {
			t.Fatalf("share none discloses %+v", d)
		}
	}
}

func leaves(prefix string, m map[string]any) []string {
	var out []string
	for k, v := range m {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		if mm, ok := v.(map[string]any); ok {
			out = append(out, leaves(path, mm)...)
			continue
		}
		out = append(out, path)
	}
	return out
}

func FuzzRecord(f *testing.F) {
	for _, ev := range events(f) {
		f.Add(ev)
	}
	f.Add([]byte(`{"event":{"dataset":"edgesensor.file"},"source":{"ip":"10.1.2.3"},"url":{"original":"http://u:p@h/"}}`))
	g := leaktest.NewGen(12)
	for _, ev := range personalEvents(g, g.Person()) {
		f.Add(ev)
	}
	p, _ := newPolicy(uplinked(func(c *testConfig) { c.Privacy.Email = "hash" }), testKey(f))
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, ok, err := p.Record(fuzzRecordOf(line))
		if err != nil || !ok {
			return
		}
		if !json.Valid(rec.Body) {
			t.Fatalf("invalid JSON out: %s", rec.Body)
		}
		var m map[string]any
		json.Unmarshal(rec.Body, &m)
		for _, leaf := range leaves("", m) {
			if p.ix.find(leaf) == nil {
				t.Fatalf("%s sent without a rule: %s", leaf, rec.Body)
			}
		}
		var in struct {
			Source struct {
				IP string `json:"ip"`
			} `json:"source"`
		}
		json.Unmarshal(line, &in)
		if a, err := netip.ParseAddr(in.Source.IP); err == nil && a.IsValid() && in.Source.IP != "" {
			if bytes.Contains(rec.Body, []byte(`"ip":"`+in.Source.IP+`"`)) && !bytes.Contains(line, []byte(`"destination":{"ip":"`+in.Source.IP)) {
				t.Fatalf("client IP %s left as is: %s", in.Source.IP, rec.Body)
			}
		}
	})
}

func BenchmarkRecord(b *testing.B) {
	evs := events(b)
	recs := recordsOf(evs)
	p, _ := newPolicy(uplinked(nil), testKey(b))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := p.Record(recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// FuzzValidJSON: validJSON answers as json.Valid does.
func FuzzValidJSON(f *testing.F) {
	for _, ev := range events(f) {
		f.Add(ev)
	}
	for _, s := range []string{`{}`, `[]`, `{"a":[1,-0.5e+3,true,false,null,"\u00e9\n"]}`, `{"a":01}`, `"\x"`, `[1,]`, `{"a" 1}`, "\"\xff\"", ` 1 `, `-`, `1.`, `1e`, "\"\x1f\"", `[[[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid %v", b, got, want)
		}
	})
}

// The records of the test events, pinned: a change that alters a byte of
// what leaves for the cloud fails here (UPDATE_GOLDEN=1 rewrites the file
// after a change that means to).
func TestRecordsPinned(t *testing.T) {
	var b bytes.Buffer
	for _, mode := range []func(*testConfig){nil, func(c *testConfig) {
		c.Privacy.Share = ShareFull
		c.Privacy.Executables, c.Privacy.Documents, c.Privacy.TLS = ShareFull, ShareFull, ShareFull
	}} {
		p, err := newPolicy(uplinked(mode), testKey(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events(t) {
			rec, ok, err := p.Record(recordOf(ev))
			fmt.Fprintf(&b, "%v %v %s %s %s %d %s\n", ok, err, rec.ID, rec.Category, rec.SHA256, rec.Score, rec.Body)
		}
	}
	const path = "testdata/records.golden"
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		got := strings.Split(b.String(), "\n")
		for i, w := range strings.Split(string(want), "\n") {
			if i < len(got) && got[i] != w {
				t.Errorf("record %d:\n got %.600s\nwant %.600s", i, got[i], w)
			}
		}
	}
}

// recordOf is the record the privacy policy receives for a test line:
// its fields decoded through the event types, as the pipelines fill them.
// A test line the event types refuse is a broken fixture: it would be
// refused on its empty dataset and test nothing, so it stops the test.
func recordOf(line []byte) *ecs.Record {
	r, err := evcat.Record(line)
	if err != nil {
		panic(fmt.Sprintf("test event does not decode as an event: %v: %.300s", err, line))
	}
	return &r
}

// fuzzRecordOf is recordOf for arbitrary input: a line the event types
// refuse still reaches the allowlist walker, as a file event with the
// client address it names, since odd JSON must not get past the walker
// either.
func fuzzRecordOf(line []byte) *ecs.Record {
	if r, err := evcat.Record(line); err == nil {
		return &r
	}
	var in struct {
		Source struct {
			IP string `json:"ip"`
		} `json:"source"`
	}
	json.Unmarshal(line, &in)
	f := ecs.Fields{Dataset: "edgesensor.file", Category: "executable"}
	f.Source.IP = in.Source.IP
	return &ecs.Record{Fields: f, Line: line}
}

func recordsOf(lines [][]byte) []*ecs.Record {
	out := make([]*ecs.Record, len(lines))
	for i, l := range lines {
		out[i] = recordOf(l)
	}
	return out
}
