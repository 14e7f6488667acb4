package leaktest

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/export/ecs/communityid"
)

// Server is the server of the flows a Person's events describe (port 80).
var Server = netip.MustParseAddr("203.0.113.80")

// Person is the personal data of one client: what a crafted capture or
// event carries and what must never leave.
type Person struct {
	User, User2    string // login names (profile paths, login=, user info)
	Password       string
	Token, Token2  string // opaque credentials
	JWT            string
	Email, Email2  string
	Device         string // a host name of the client's machine
	Words          string // a subject line, a title, a display name
	V4             netip.Addr
	V6             netip.Addr
	Outer1, Outer2 netip.Addr // tunnel endpoints: the customer's equipment
	// Port is the client's port of its IPv4 flow to Server:80, and
	// CommunityID that flow's community id (seed 0), as the sensor's
	// events carry it: an unkeyed hash of the raw addresses.
	Port        uint16
	CommunityID string
}

// Person makes one with fresh random values.
func (g *Gen) Person() *Person {
	p := &Person{
		User: g.Name(), User2: g.Name(), Password: g.Password(), Token: g.Token(), Token2: g.Token(),
		JWT: g.JWT(), Email: g.Email(), Email2: g.Email(),
		Device: strings.ToUpper(g.Word(7)) + "-PC", Words: g.Word(7) + " " + g.Word(8),
		V4: g.ClientV4(), V6: g.ClientV6(), Outer1: g.ClientV4(), Outer2: g.ClientV4(),
		Port: uint16(40000 + g.R.IntN(20000)),
	}
	p.CommunityID = communityid.String(0, communityid.TCP, netip.AddrPortFrom(p.V4, p.Port), netip.AddrPortFrom(Server, 80))
	return p
}

// Secrets are p's values as secrets. The JWT's header is the same for
// every token (it names the algorithm), so only its payload and
// signature are secrets.
func (p *Person) Secrets() []Secret {
	jwt := p.JWT[strings.IndexByte(p.JWT, '.')+1:]
	return []Secret{
		{User, p.User}, {User, p.User2}, {Password, p.Password}, {Token, p.Token}, {Token, p.Token2}, {Token, jwt},
		{Email, p.Email}, {Email, p.Email2}, {Local, p.Email[:strings.IndexByte(p.Email, '@')]},
		{Local, p.Email2[:strings.IndexByte(p.Email2, '@')]},
		{Device, p.Device}, {Words, p.Words}, {Words, strings.Fields(p.Words)[1]},
		{IPv4, p.V4.String()}, {IPv6, p.V6.String()},
		{Outer, p.Outer1.String()}, {Outer, p.Outer2.String()}, {Token, p.CommunityID[2:]},
	}
}

// Without drops the secrets of the given kinds (those a mode lets leave
// by the customer's choice, e.g. client addresses under client_ip keep).
func Without(s []Secret, kinds ...string) []Secret {
	var out []Secret
	for _, x := range s {
		keep := true
		for _, k := range kinds {
			keep = keep && x.Kind != k
		}
		if keep {
			out = append(out, x)
		}
	}
	return out
}

// ClientSpelling is one random spelling of the client's address (v4 or
// v6), as a request could carry it; encoded picks percent-encoding.
func (g *Gen) ClientSpelling(a netip.Addr) string {
	sp := AddrSpellings(a)
	s := sp[g.R.IntN(len(sp))]
	switch g.R.IntN(4) {
	case 0:
		return PctEncode(s, true, g.R.IntN(2) == 0)
	case 1:
		return strings.ReplaceAll(PctEncode(s, true, true), "%", "%25") // double-encoded
	}
	return s
}

// encode writes s percent-encoded once, twice or not (where it is still
// a valid URL part), in a random hex case.
func (g *Gen) encode(s string) string {
	switch g.R.IntN(3) {
	case 0:
		return PctEncode(s, false, g.R.IntN(2) == 0)
	case 1:
		return strings.ReplaceAll(PctEncode(s, false, true), "%", "%25")
	}
	return PctEncode(s, false, true)
}

// URLs are request targets carrying p's data in every place a URL can:
// user info, query values (names credentials travel under and ordinary
// ones), a URL nested in a parameter (encoded and double-encoded), user
// names in profile paths, e-mail addresses and the client's address in
// paths, a JSON web token in a path, matrix parameters, fragments. host
// is the server's name; client is p's address the request came from (the
// only address of p's the sensor can know in that flow).
// Each ends in a file name (name).
func (g *Gen) URLs(p *Person, host, name string, client netip.Addr) []string {
	root := func(r string) string { return g.Case(r) }
	enc := g.encode
	nested := "http://" + p.User2 + ":" + p.Password + "@evil.example/cb?token=" + p.Token2 + "&mail=" + p.Email2
	query := strings.Join([]string{
		"X-Amz-Credential=" + p.Token, "X-Amz-Signature=" + p.Token2, "id_token=" + p.JWT, "refresh_token=" + p.Token,
		"client_secret=" + p.Token2, "api-key=" + p.Token, "pw=" + enc(p.Password), "jwt=" + p.JWT,
		"q=" + enc(p.Email), "to=" + enc(p.Email2), "login=" + p.User, "ip=" + g.ClientSpelling(client),
		"next=" + enc(nested), "lang=en",
	}, "&")
	lit := client.String()
	if client.Is6() {
		lit = "[" + lit + "]"
	}
	return []string{
		"http://" + p.User + ":" + enc(p.Password) + "@" + host + "/dl/" + name + "?" + query + "#access_token=" + p.Token,
		"/" + root("Users") + "/" + g.Case(p.User) + "/Downloads/" + name + "?lang=en#" + p.Token2,
		"/" + root("home") + "/" + enc(p.User2) + "/" + name,
		"/~" + p.User + "/" + name,
		"/%7E" + p.User2 + "/" + name + ";jsessionid=" + p.Token,
		"/u/" + enc(p.Email) + "/" + name,
		"/logs/" + g.ClientSpelling(client) + "/" + name,
		"/r/" + enc("http://"+p.User+":"+p.Password+"@files.example/"+name),
		"/t/" + p.JWT + "/" + name,
		"/C:" + enc(`\Users\`+p.User2+`\`) + name,
		"/profile/" + enc(p.Email2) + "?ip=" + lit,
	}
}

// FileNames are names as senders write them with the user's profile path
// in front (Windows, UNC, Unix), for Content-Disposition and multipart
// parts.
func (g *Gen) FileNames(p *Person, name string) []string {
	return []string{
		`C:\` + g.Case("Users") + `\` + p.User + `\Downloads\` + name,
		`\\` + strings.ToLower(p.Device) + `\` + g.Case("Users") + `\` + p.User2 + `\` + name,
		`/home/` + p.User + `/` + name,
		fmt.Sprintf(`C:\Documents and Settings\%s\Desktop\%s`, p.User2, name),
	}
}
