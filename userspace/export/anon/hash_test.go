package anon

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"testing"
)

// refMAC is an independent HMAC-SHA256 hex prefix of n bytes.
func refMAC(key []byte, msg string, n int) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil)[:n])
}

func TestHashToken(t *testing.T) {
	key := []byte("user-key-user-key-user-key-user!")
	for _, s := range []string{"alice", "Alice", "", "WORKSTATION-7"} {
		if got, want := HashToken(key, s), refMAC(key, s, 16); got != want {
			t.Errorf("HashToken(%q) = %s, want %s", s, got, want)
		}
	}
	if HashToken(key, "alice") == HashToken(key, "Alice") {
		t.Error("HashToken folded case; it is documented as exact")
	}
	if HashToken(key, "alice") == HashToken([]byte("another key"), "alice") {
		t.Error("key did not change the hash")
	}
}

func TestHashEmail(t *testing.T) {
	key := []byte("email-key-email-key-email-key-em")
	h := func(s string) string { return refMAC(key, s, 8) }
	tests := []struct {
		in   string
		keep bool
		want string
	}{
		{"alice@example.com", true, h("alice@example.com") + "@example.com"},
		{"Alice@Example.COM", true, h("alice@example.com") + "@example.com"},
		{"  alice@example.com.\n", true, h("alice@example.com") + "@example.com"},
		{"Alice Smith <ALICE@example.com>", true, h("alice@example.com") + "@example.com"},
		{`"Smith, Alice" <alice@example.com>`, true, h("alice@example.com") + "@example.com"},
		{"Dr. A. Smith, PhD <alice@example.com>", true, h("alice@example.com") + "@example.com"},
		{"alice@example.com", false, h("alice@example.com")},
		{"alice@example.org", true, h("alice@example.org") + "@example.org"},
		{"bob+tag@sub.mail.example", true, h("bob+tag@sub.mail.example") + "@sub.mail.example"},
		{`"odd local"@example.com`, true, h("odd local@example.com") + "@example.com"},
		// Address literals are a host's address: the placeholder (no
		// Addr function) stands in; the hash is of the canonical form.
		{"user@[192.0.2.1]", true, h("user@[192.0.2.1]") + "@[<client>]"},
		{"user@[192.0.2.1]", false, h("user@[192.0.2.1]")},
		{"root@[IPv6:2001:DB8::3E22:FBFF:FEA1:B2C3]", true, h("root@[2001:db8::3e22:fbff:fea1:b2c3]") + "@[<client>]"},
		{"root@192.0.2.1", true, h("root@[192.0.2.1]") + "@[<client>]"},
		{"user@[not.an.addr]", true, h("user@[not.an.addr]")},
		{"jörg@bücher.example", true, h("jörg@bücher.example") + "@bücher.example"},
		// Unparsable: hashed whole, trimmed, no domain.
		{"not an address", true, h("not an address")},
		{" alice ", true, h("alice")},
		{"alice@", true, h("alice@")},
		{"@example.com", true, h("@example.com")},
		{"see alice@example.com now", true, h("see alice@example.com now")},
		{"alice@exa mple.com", true, h("alice@exa mple.com")},
		{"alice@secret stuff here", true, h("alice@secret stuff here")},
		{"alice@a..b", true, h("alice@a..b")},
		{"", true, h("")},
	}
	for _, tt := range tests {
		if got := HashEmail(key, tt.in, tt.keep, nil); got != tt.want {
			t.Errorf("HashEmail(%q, %v) = %q, want %q", tt.in, tt.keep, got, tt.want)
		}
	}
}

func TestHashEmailLiteralWrittenAsClient(t *testing.T) {
	key := []byte("email-key-email-key-email-key-em")
	e := testEvent("192.0.2.24")
	drop := &Event{Client: e.Client, Addr: func(netip.Addr) (string, bool) { return "", false }}
	h := refMAC(key, "root@[192.0.2.24]", 8)
	for _, tt := range []struct {
		e    *Event
		in   string
		want string
	}{
		{e, "root@[192.0.2.24]", h + "@[anon(192.0.2.24)]"},
		{e, "Root <root@[192.0.2.24]>", h + "@[anon(192.0.2.24)]"},
		{drop, "root@[192.0.2.24]", h},
		{e, "bob@192-0-2-24.dyn.example", refMAC(key, "bob@192-0-2-24.dyn.example", 8) + "@[anon(192.0.2.24)]"},
	} {
		if got := HashEmail(key, tt.in, true, tt.e); got != tt.want {
			t.Errorf("HashEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
