package privacy

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/ecs/communityid"
	"github.com/edgesensor/edgesensor/userspace/export/privacy/leaktest"
)

// personalEvents are events as the pipelines write them, carrying p's
// data in every field that can hold personal data, and in fields the
// allowlist drops or does not list (tunnel endpoints, the flow's real
// community id, enforcement, fields yet to come). The last one is a
// handshake with neither hello, whose destination is the real client.
func personalEvents(g *leaktest.Gen, p *leaktest.Person) [][]byte {
	var out [][]byte
	add := func(m map[string]any) {
		b, err := json.Marshal(m)
		if err != nil {
			panic(err)
		}
		out = append(out, b)
	}
	base := func(dataset string, client, server string) map[string]any {
		// The flow's community id as the sensor computes it (p's own
		// for its IPv4 flow to the server).
		port := uint16(40000 + g.R.IntN(20000))
		if client == p.V4.String() && server == leaktest.Server.String() {
			port = p.Port
		}
		ca := netip.MustParseAddr(client)
		cid := communityid.String(0, communityid.TCP, netip.AddrPortFrom(ca, port), netip.AddrPortFrom(netip.MustParseAddr(server), 80))
		family := map[bool]string{true: "ipv4", false: "ipv6"}[ca.Is4()]
		return map[string]any{
			"@timestamp":  "2026-11-23T00:46:06.7304Z",
			"event":       map[string]any{"kind": "event", "category": []string{"file"}, "dataset": dataset, "risk_score": 7, "action": "blocked"},
			"observer":    map[string]any{"ingress": map[string]any{"interface": map[string]any{"name": "eth-" + p.Device}}, "product": "edgesensor", "type": "sensor"},
			"source":      map[string]any{"ip": client, "port": port},
			"destination": map[string]any{"ip": server, "port": 80},
			"network": map[string]any{"transport": "tcp", "protocol": "http", "type": family, "community_id": cid,
				"vlan": map[string]any{"id": "42"}},
		}
	}
	tunnel := map[string]any{"type": "vxlan", "id": 4242, "layers": []string{"eth", "ipv4", "udp", "vxlan"}, "vlans": []int{7},
		"outer": map[string]any{"source": map[string]any{"ip": p.Outer1.String()}, "destination": map[string]any{"ip": p.Outer2.String()}}}
	enforcement := map[string]any{"reason": "mail from " + p.Email, "rule": "user " + p.User, "list": p.Device}
	names := g.FileNames(p, "setup.exe")
	urls4 := g.URLs(p, "files.example.com", "setup.exe", p.V4)
	urls6 := g.URLs(p, "files.example.com", "setup.exe", p.V6)
	for i, u := range urls4 {
		client, addr := p.V4.String(), p.V4
		if i%3 == 2 {
			client, addr, u = p.V6.String(), p.V6, urls6[i]
		}
		ev := base("edgesensor.file", client, serverFor(addr))
		host := []string{p.User + ":" + p.Password + "@files.example.com", "[::ffff:" + p.V4.String() + "]", g.ClientSpelling(addr), "files.example.com"}[i%4]
		if addr.Is6() && i%4 == 1 {
			host = "[" + strings.ToUpper(p.V6.String()) + "]:443"
		}
		ev["file"] = map[string]any{"name": names[i%len(names)], "extension": "exe", "size": 4096, "mime_type": "application/x-dosexec; name=" + p.User,
			"hash": map[string]any{"sha256": strings.Repeat("ab", 32)},
			"pe":   map[string]any{"company": "Built by " + p.Email, "original_file_name": `C:\Users\` + p.User + `\tool.exe`, "description": "from " + client}}
		// url.domain as the file pipeline writes it: the Host header
		// with a port cut off at its one colon (so "user:pass@host"
		// becomes "user"); url.original with the Host in front.
		domain := host
		if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.Count(host, ":") == 1 {
			domain = host[:i]
		}
		if strings.HasPrefix(u, "/") {
			u = "http://" + host + u
		}
		ev["url"] = map[string]any{"original": u, "domain": domain}
		ev["http"] = map[string]any{"request": map[string]any{"method": "GET"}, "response": map[string]any{"status_code": 200, "mime_type": "application/x-dosexec"}}
		ev["user_agent"] = map[string]any{"original": "Mozilla/5.0 (" + p.Device + ")"}
		ev["email"] = map[string]any{
			"from":       map[string]any{"address": []string{p.Words + " <" + p.Email + ">"}},
			"to":         map[string]any{"address": []string{"root@[" + p.V4.String() + "]", p.Email2}},
			"cc":         map[string]any{"address": []string{"frank@[IPv6:" + strings.ToUpper(p.V6.String()) + "]", p.User + "@" + p.V4.String()}},
			"subject":    p.Words,
			"message_id": "<" + p.Token + "@" + strings.ToLower(p.Device) + ".example>",
		}
		ev["edgesensor"] = map[string]any{
			"file": map[string]any{"category": "executable", "complete": true, "claimed_type": "application/octet-stream; name=\"" + names[0] + "\"",
				"content_encoding": "x-" + p.User, "transfer": "content-length", "conflict": true, "retained": "/var/lib/x/" + p.User,
				"document": map[string]any{"author": p.User, "last_modified_by": p.User2, "title": p.Words, "creator": "Microsoft Word",
					"producer": "Writer /home/" + p.User2 + "/bin", "company": p.Email2}},
			"smtp":        map[string]any{"mail_from": p.Email, "rcpt_to": []string{"root@[" + p.V4.String() + "]", "frank@[IPv6:" + p.V6.String() + "]"}},
			"imap":        map[string]any{"mailbox": "INBOX/" + p.User},
			"score":       map[string]any{"verdict": "malicious", "reasons": []map[string]any{{"rule": "name.double_extension", "text": names[0] + " " + p.Email, "weight": 7}}},
			"tunnel":      tunnel,
			"enforcement": enforcement,
			"later":       map[string]any{"field": p.Token},
		}
		add(ev)
	}

	// A TLS 1.2 handshake whose server certificate names people.
	email := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	subject := pkix.Name{CommonName: "www.example.com", Organization: []string{"Example"}, ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: email, Value: p.Email},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 42}, Value: p.User},
		{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: p.User2},
	}}.String()
	issuer := pkix.Name{CommonName: "CA of " + p.Email2, ExtraNames: []pkix.AttributeTypeAndValue{{Type: email, Value: strings.ToUpper(p.Email2)}}}.String()
	for _, client := range []netip.Addr{p.V4, p.V6} {
		ev := base("edgesensor.tls", client.String(), serverFor(client))
		ev["tls"] = map[string]any{"version": "1.2", "version_protocol": "tls", "cipher": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "next_protocol": "h2",
			"established": true, "resumed": false,
			"client": map[string]any{"server_name": "www.example.com", "ja3": "x", "ja4": "t12d", "ja4_r": "t12d_1", "supported_ciphers": []string{"A"}},
			"server": map[string]any{"ja3s": "y", "subject": subject, "issuer": issuer,
				"x509": map[string]any{
					"alternative_names": []string{"www.example.com", p.Email, "mailto:" + p.Email2, "https://" + p.User + ":" + p.Password + "@www.example.com/?t=" + p.Token, client.String()},
					"subject":           map[string]any{"common_name": []string{"www.example.com"}, "distinguished_name": subject},
					"issuer":            map[string]any{"common_name": []string{"CA of " + p.Email2}, "distinguished_name": issuer},
					"serial_number":     "01", "public_key_size": 2048,
				}}}
		ev["edgesensor"] = map[string]any{"tls": map[string]any{
			"complete": true, "end": "finished", "packets": 6, "conflict": false,
			"error":  `x509: cannot parse URI "https://` + p.User + `:` + p.Password + `@h/?t=` + p.Token + `": invalid port`,
			"client": map[string]any{"alpn": []string{"h2", "x-" + p.Email}, "extensions": []int{0, 10}, "outer_server_name": "public.example.com"},
			"server": map[string]any{"certificate_error": "bad rfc822Name '" + p.Email + "'", "extensions": []int{43}},
		}, "tunnel": tunnel}
		add(ev)
	}

	// Neither hello parsed: the side taken for the client is the server,
	// and the real client is in destination.ip.
	ev := base("edgesensor.tls", leaktest.Server.String(), p.V4.String())
	ev["edgesensor"] = map[string]any{"tls": map[string]any{"complete": false, "missing": []string{"client_hello", "server_hello"}, "end": "not_tls"}}
	add(ev)
	return out
}

// serverFor is the server of a client's flows in personalEvents: of the
// client's family.
func serverFor(client netip.Addr) string {
	if client.Is4() {
		return leaktest.Server.String()
	}
	return "2001:db8:203::80"
}

// leakModes are the privacy settings a customer can choose, crossed.
func leakModes() map[string]func(*testConfig) {
	m := map[string]func(*testConfig){}
	for name, edit := range modes() {
		for _, q := range []string{"drop", "hash"} {
			for _, keep := range [][]string{nil, {"lang", "next", "q", "ip"}} {
				name, edit, q, keep := fmt.Sprintf("%s/query_%s/keep%d", name, q, len(keep)), edit, q, keep
				m[name] = func(c *testConfig) {
					edit(c)
					c.Privacy.QueryValues, c.Privacy.QueryKeep = q, keep
				}
			}
		}
	}
	return m
}

// excluded are the kinds a mode lets leave by the customer's choice.
func excluded(c *testConfig) []string {
	var k []string
	if c.Privacy.ClientIP == "keep" {
		k = append(k, leaktest.IPv4, leaktest.IPv6)
	}
	if c.Privacy.UserAgent == "keep" || c.Privacy.Hostnames == "keep" {
		k = append(k, leaktest.Device)
	}
	return k
}

// TestNoPersonalValueLeavesProperty: random personal values, in every
// form, in every field an event can carry them in (and in fields the
// allowlist does not know), through every privacy mode: none of them, in
// any textual form, is in any record. Each event's community id (the
// flow's, as the outputs read it from the record's fields) is one of
// them.
func TestNoPersonalValueLeavesProperty(t *testing.T) {
	g := leaktest.NewGen(leaktest.Seed(t))
	records := 0
	for name, edit := range leakModes() {
		cfg := uplinked(edit)
		p, err := newPolicy(cfg, testKey(t))
		if err != nil {
			t.Fatal(err)
		}
		person := g.Person()
		secrets := leaktest.Without(person.Secrets(), excluded(cfg)...)
		evs := personalEvents(g, person)
		for _, line := range evs {
			cid := recordOf(line).Fields.CommunityID
			if !strings.HasPrefix(cid, communityid.Prefix) {
				t.Fatalf("an event without a community id: %q", cid)
			}
			secrets = append(secrets, leaktest.Secret{Kind: leaktest.Token, Value: cid[len(communityid.Prefix):]})
		}
		hay := map[string][]byte{}
		for i, line := range evs {
			rec, ok, err := p.Record(recordOf(line))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if ok {
				records++
				hay[fmt.Sprintf("record %d (%s)", i, rec.Category)] = rec.Body
			}
		}
		if len(hay) == 0 && cfg.Privacy.Share != ShareNone {
			t.Fatalf("%s: no records", name)
		}
		if f := leaktest.Search(hay, secrets); len(f) > 0 {
			for _, x := range f[:min(len(f), 8)] {
				t.Errorf("%s: %s", name, x)
			}
			t.FailNow()
		}
	}
	t.Logf("%d modes, %d records", len(leakModes()), records)
}

// The property test can fail: the same events through a policy that
// keeps everything are full of findings.
func TestLeakSearchSeesRawEvents(t *testing.T) {
	g := leaktest.NewGen(1)
	person := g.Person()
	hay := map[string][]byte{}
	for i, line := range personalEvents(g, person) {
		hay[fmt.Sprint(i)] = line
	}
	found := map[string]bool{}
	for _, f := range leaktest.Search(hay, person.Secrets()) {
		found[f.Secret.String()] = true
	}
	for _, s := range person.Secrets() {
		if !found[s.String()] {
			t.Errorf("%s is in no event: the property test would not notice it leaking", s)
		}
	}
}

// Fields the allowlist does not name never leave, whatever they hold:
// the tunnel's outer addresses, the community id, enforcement decisions,
// fields yet to be added; the harmless ones it names do.
func TestFieldsNotListedNeverLeave(t *testing.T) {
	g := leaktest.NewGen(2)
	person := g.Person()
	p, _ := newPolicy(uplinked(func(c *testConfig) { c.Privacy.ClientIP = "keep"; c.Privacy.Email = "hash" }), testKey(t))
	for _, line := range personalEvents(g, person)[:3] {
		m := record(t, p, line)
		for _, gone := range []string{"network.community_id", "network.vlan", "edgesensor.tunnel.outer", "edgesensor.tunnel.id",
			"edgesensor.tunnel.layers", "edgesensor.tunnel.vlans", "event.action", "edgesensor.enforcement", "edgesensor.later",
			"edgesensor.file.retained", "source.port"} {
			if v := get(m, gone); v != nil {
				t.Errorf("%s left: %v", gone, v)
			}
		}
		if get(m, "edgesensor.tunnel.type") != "vxlan" || get(m, "edgesensor.file.conflict") != true {
			t.Errorf("listed harmless fields missing: %v", m["edgesensor"])
		}
		for _, leaf := range leaves("", m) {
			if p.ix.find(leaf) == nil {
				t.Errorf("%s sent without a rule", leaf)
			}
		}
	}
	// A listed field holding another shape than its rule's is dropped.
	line := []byte(`{"event":{"dataset":"edgesensor.tls","kind":{"x":"` + person.User + `"},"category":[{"a":1}],"duration":"` + person.User + `"},` +
		`"edgesensor":{"tls":{"complete":"` + person.User + `","extensions":[1,"` + person.User + `"],"packets":3}}}`)
	// (No event type decodes such a line: the record's fields are given.)
	rec, ok, err := p.Record(&ecs.Record{Fields: ecs.Fields{Dataset: "edgesensor.tls"}, Line: line})
	if err != nil || !ok {
		t.Fatalf("record: %v %v", ok, err)
	}
	if bytes.Contains(rec.Body, []byte(person.User)) || !bytes.Contains(rec.Body, []byte(`"packets":3`)) {
		t.Errorf("shapes: %s", rec.Body)
	}
}

func TestUnknownClientSideNotSent(t *testing.T) {
	g := leaktest.NewGen(3)
	evs := personalEvents(g, g.Person())
	p, _ := newPolicy(uplinked(nil), testKey(t))
	if _, ok, _ := p.Record(recordOf(evs[len(evs)-1])); ok || p.UnknownSide() != 1 {
		t.Errorf("a handshake without hellos made a record (counted %d)", p.UnknownSide())
	}
	// QUIC the same: Initials that did not decrypt either way.
	quic := bytes.Replace(evs[len(evs)-1], []byte(`"end":"not_tls"`), []byte(`"end":"timeout","quic":{"version":"1","initial_packets":2,"decrypted":0,"undecryptable":2}`), 1)
	quic = bytes.Replace(quic, []byte(`"transport":"tcp"`), []byte(`"transport":"udp"`), 1)
	quic = bytes.Replace(quic, []byte(`"protocol":"http"`), []byte(`"protocol":"quic"`), 1)
	if _, ok, _ := p.Record(recordOf(quic)); ok || p.UnknownSide() != 2 || !bytes.Contains(quic, []byte(`"quic":{`)) || !bytes.Contains(quic, []byte(`"udp"`)) {
		t.Errorf("a QUIC handshake without hellos made a record (counted %d): %s", p.UnknownSide(), quic)
	}
	// One hello is enough to know the sides.
	one := bytes.Replace(evs[len(evs)-1], []byte(`"client_hello",`), nil, 1)
	if _, ok, _ := p.Record(recordOf(one)); !ok {
		t.Errorf("a handshake with its ClientHello made no record: %s", one)
	}
}

// Certificate e-mail addresses are hashed under privacy.email, and gone
// when it is none.
func TestCertificateEmails(t *testing.T) {
	g := leaktest.NewGen(4)
	person := g.Person()
	tlsEvent := personalEvents(g, person)[len(g.URLs(person, "h", "x", person.V4))]
	for _, mode := range []string{"hash", "none"} {
		p, _ := newPolicy(uplinked(func(c *testConfig) { c.Privacy.Email = mode }), testKey(t))
		m := record(t, p, tlsEvent)
		sans, _ := get(m, "tls.server.x509.alternative_names").([]any)
		subject, _ := get(m, "tls.server.subject").(string)
		hashed := 0
		for _, s := range sans {
			if strings.HasSuffix(s.(string), "@"+strings.SplitN(person.Email, "@", 2)[1]) {
				hashed++
			}
		}
		switch mode {
		case "hash":
			if hashed != 1 || !strings.Contains(subject, "emailAddress=") || !strings.Contains(subject, "CN=www.example.com") {
				t.Errorf("hash: sans %v subject %q", sans, subject)
			}
		case "none":
			if hashed != 0 || strings.Contains(subject, "emailAddress") || len(sans) != 3 {
				t.Errorf("none: sans %v subject %q", sans, subject)
			}
		}
		if strings.Contains(subject, "2.5.4.42") || strings.Contains(subject, "0.9.2342") {
			t.Errorf("person attributes left: %q", subject)
		}
	}
}

// E-mail address literals are the client's address: anonymised like
// source.ip, never as seen.
func TestEmailLiterals(t *testing.T) {
	g := leaktest.NewGen(5)
	person := g.Person()
	ev := personalEvents(g, person)[0]
	for _, ip := range []string{"cryptopan", "truncate", "hmac", "drop"} {
		p, _ := newPolicy(uplinked(func(c *testConfig) { c.Privacy.ClientIP = ip; c.Privacy.Email = "hash" }), testKey(t))
		m := record(t, p, ev)
		rcpt := get(m, "edgesensor.smtp.rcpt_to").([]any)
		src, _ := get(m, "source.ip").(string)
		lit := rcpt[0].(string)
		switch ip {
		case "drop":
			if strings.Contains(lit, "@") || src != "" {
				t.Errorf("drop: %v, source %q", rcpt, src)
			}
		case "hmac":
			if lit[17:] != "["+src+"]" {
				t.Errorf("%s: literal %q, source %q", ip, lit, src)
			}
		default:
			if lit[17:] != "["+src+"]" || strings.Contains(lit, person.V4.String()) {
				t.Errorf("%s: literal %q, source %q", ip, lit, src)
			}
		}
	}
}

// BenchmarkRecordPersonal is BenchmarkRecord on events full of personal
// data (every URL form, certificates naming people, address literals):
// what the rebuilding of free text costs at its most.
func BenchmarkRecordPersonal(b *testing.B) {
	g := leaktest.NewGen(1)
	recs := recordsOf(personalEvents(g, g.Person()))
	p, _ := newPolicy(uplinked(func(c *testConfig) { c.Privacy.Email = "hash" }), testKey(b))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := p.Record(recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// Every encapsulation the sensor names may leave as edgesensor.tunnel.type
// (and only those): the allowlist follows the decapsulator's names.
func TestTunnelTypesAreTheDecapsulatorsNames(t *testing.T) {
	for _, want := range []string{"vlan", "mpls", "pppoe", "ipip", "6in4", "ip6ip6", "4in6", "gre", "vxlan", "geneve", "gtpu"} {
		if !slices.Contains(tunnelTypes, want) {
			t.Errorf("tunnel type %q may not leave", want)
		}
	}
	for _, bad := range []string{"", "unknown", "sit", "10.0.0.1"} {
		if slices.Contains(tunnelTypes, bad) {
			t.Errorf("%q may leave as a tunnel type", bad)
		}
	}
}
