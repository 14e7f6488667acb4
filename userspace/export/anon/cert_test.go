package anon

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

var oidEmail = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

func TestDN(t *testing.T) {
	e := testEvent("192.0.2.24")
	// The name as Go's x509 package writes it, from a real pkix.Name.
	name := pkix.Name{
		CommonName:   "www.example.com",
		Organization: []string{"Example, Inc."},
		Country:      []string{"NL"},
		ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: oidEmail, Value: "Alice.Admin@Example.com"},
			{Type: asn1.ObjectIdentifier{2, 5, 4, 42}, Value: "Alice"},                      // givenName
			{Type: asn1.ObjectIdentifier{2, 5, 4, 4}, Value: "Smith"},                       // surname
			{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: "asmith"}, // uid
			{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, Value: "corp"},  // DC
		},
	}
	in := name.String()
	got := DN(in, e)
	want := "DC=corp,emailAddress=h(alice.admin@example.com),CN=www.example.com,O=Example\\, Inc.,C=NL"
	if got != want {
		t.Errorf("DN(%q)\n got  %q\n want %q", in, got, want)
	}
	// Without an e-mail writer the attribute goes.
	if got := DN(in, &Event{}); got != "DC=corp,CN=www.example.com,O=Example\\, Inc.,C=NL" {
		t.Errorf("no email: %q", got)
	}
	for _, tt := range []struct{ in, want string }{
		{"CN=admin@example.com,O=X", "CN=h(admin@example.com),O=X"},
		{"CN=192.0.2.24", `CN=\<client\>`},
		{"CN=a+UID=bob,O=Y", "CN=a,O=Y"},
		{"UID=bob+CN=a", "CN=a"},
		{"E=bob@x.org, CN = spaced ", "emailAddress=h(bob@x.org),CN=spaced"},
		{`CN=\41lice\2C x`, `CN=Alice\, x`},
		{"CN=#0c0568656c6c6f", "CN=hello"},
		{"CN=#zz", ""},
		{"garbage", ""},
		{"", ""},
	} {
		if got := DN(tt.in, e); got != tt.want {
			t.Errorf("DN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSAN(t *testing.T) {
	e := testEvent("192.0.2.24")
	r := &URLRules{}
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"www.example.com", "www.example.com", true},
		{"*.Example.com", "*.example.com", true},
		{"203.0.113.7", "203.0.113.7", true},
		{"192.0.2.24", "anon(192.0.2.24)", true},
		{"alice@example.com", "h(alice@example.com)", true},
		{"mailto:bob@example.com?subject=x", "h(bob@example.com)", true},
		{"https://user:pw@example.com/p?token=t", "https://example.com/p?token=REDACTED", true},
		{"spiffe://cluster.local/ns/x", "spiffe://cluster.local/ns/x", true},
		{"bad name", "", false},
	} {
		got, ok := SAN(tt.in, r, e)
		if got != tt.want || ok != tt.ok {
			t.Errorf("SAN(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := SAN("alice@example.com", r, &Event{}); ok {
		t.Error("an e-mail SAN left without an e-mail writer")
	}
}

func TestErrorText(t *testing.T) {
	e := testEvent("192.0.2.24")
	for in, want := range map[string]string{
		`x509: cannot parse URI "https://alice:pw@h/?t=1": invalid port`: `x509: cannot parse URI "…": invalid port`,
		`client records: not a TLS record`:                               `client records: not a TLS record`,
		`can't read 'alice' from 192.0.2.24`:                             `can't read "…" from <client>`,
		`mail from bob@example.com refused`:                              `mail from <email> refused`,
	} {
		if got := ErrorText(in, e); got != want {
			t.Errorf("ErrorText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestScrubText(t *testing.T) {
	e := testEvent("192.0.2.24")
	for _, tt := range []struct{ in, want string }{
		{"nothing here", "nothing here"},
		{"mail alice@example.com now", "mail h(alice@example.com) now"},
		{"mail alice%40example.com", "mail h(alice@example.com)"},
		{"from 192.0.2.24:5000", "from <client>:5000"},
		{"C:\\Users\\bob\\x", "C:\\Users\\<user>\\x"},
		{"http://user:pass@host/", "http://h(user:pass@host)/"},
	} {
		got, _ := ScrubText(tt.in, e, false)
		if got != tt.want {
			t.Errorf("ScrubText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
