package anon

import (
	"net/netip"
	"strings"
	"testing"
)

// testEvent is an event whose client is 192.0.2.24 (and, for IPv6,
// 2001:db8:1:2:3e22:fbff:fea1:b2c3), written "anon(<addr>)".
func testEvent(client string) *Event {
	return &Event{
		Client: netip.MustParseAddr(client),
		Addr:   func(a netip.Addr) (string, bool) { return "anon(" + a.String() + ")", true },
		Email:  func(s string) (string, bool) { return "h(" + strings.ToLower(s) + ")", true },
	}
}

func TestURLUserInfo(t *testing.T) {
	r := &URLRules{}
	tests := []struct{ in, want string }{
		{"https://user:pw@example.com/a", "https://example.com/a"},
		{"https://user@example.com/", "https://example.com/"},
		{"https://user:p%40ss@example.com:8443/x", "https://example.com:8443/x"},
		{"https://a:b@c@example.com/", "https://example.com/"},
		{"//user:pw@host/path", "//host/path"},
		{"  https://u:p@h/", "https://h/"},
		{"HTTP://u:p@h/", "http://h/"},
		{"ftp://anon:me@ftp.example.org", "ftp://ftp.example.org"},
		{"http:u:p@h/x", "http://h/x"},
		{`http:\\u:p@h\x`, `http://h\x`},
		{"http:///u:p@h/", "http://h/"},
		{"redis://:secret@cache:6379/0", "redis://cache:6379/0"},
		{"https://[::1]:443/@x", "https://[::1]:443/@%3Cuser%3E"},
		{"https://user:pw@[2001:db8::1]:8080/", "https://[2001:db8::1]:8080/"},
		// Malformed: unencoded delimiters in the password.
		{"https://user:pa/ss@host/path", "https://host/path"},
		{"https://user:pa?ss@host/path", "https://host/path"},
		{"https://user:pa#ss@host/path", "https://host/path"},
		{"https://user:pa ss@host/%zz", "https://host/%zz"},
		// Ports that are not ports go; hosts that are not hosts too.
		{"https://host:8080/", "https://host:8080/"},
		{"https://host:80x/", "https://host/"},
		{"https://ho st/", "https://%3Chost%3E/"},
		{"https://Files.EXAMPLE./x", "https://files.example/x"},
		{"https://0xC0.0x00.2.1/x", "https://192.0.2.1/x"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := r.URL(tt.in, nil); got != tt.want {
			t.Errorf("URL(%q)\n got  %q\n want %q", tt.in, got, tt.want)
		}
	}
}

func TestURLQueryAllowlist(t *testing.T) {
	key := []byte("query-key-query-key-query-key-qu")
	drop := &URLRules{Keep: []string{"lang", "utm_*", "next"}}
	hash := &URLRules{Keep: []string{"lang"}, Hash: true, Key: key}
	h := func(v string) string { return refMAC(key, v, 16)[:16] }
	tests := []struct {
		r       *URLRules
		in, out string
	}{
		// Values go unless kept; names stay; empty values stay empty.
		{drop, "https://h/p?X-Amz-Credential=AKIA123&X-Amz-Signature=abc&lang=en",
			"https://h/p?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&lang=en"},
		{drop, "https://h/p?id_token=a;refresh_token=b;client_secret=c;api-key=d;pw=e;jwt=f&x=&&y",
			"https://h/p?id_token=REDACTED;refresh_token=REDACTED;client_secret=REDACTED;api-key=REDACTED;pw=REDACTED;jwt=REDACTED&x=&&REDACTED"},
		{drop, "https://h/?LANG=de&utm_source=news&Utm_Medium=x", "https://h/?LANG=de&utm_source=news&Utm_Medium=x"},
		{hash, "https://h/?q=alice%40example.com&lang=en", "https://h/?q=" + h("alice@example.com") + "&lang=en"},
		{hash, "https://h/?q=alice@example.com", "https://h/?q=" + h("alice@example.com")},
		{hash, "https://h/?q=alice%2540example.com", "https://h/?q=" + h("alice@example.com")},
		// A bare item is a value, a pair whose name is no name too.
		{drop, "https://h/?eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "https://h/?REDACTED"},
		{drop, "https://h/?alice@example.com=1&a%20b=2", "https://h/?REDACTED&REDACTED"},
		// Kept values are scrubbed; nested URLs rebuilt.
		{drop, "https://h/?next=http://user:pass@evil.example/x?token=t%26lang=en", "https://h/?next=http:%2F%2Fevil.example%2Fx%3Ftoken%3DREDACTED%26lang%3Den"},
		{drop, "https://h/?next=http%3A%2F%2Fuser%3Apass%40evil.example%2F", "https://h/?next=http:%2F%2Fevil.example%2F"},
		{drop, "https://h/?next=http%253A%252F%252Fuser%253Apass%2540evil.example%252F", "https://h/?next=http:%2F%2Fevil.example%2F"},
		{drop, "https://h/?lang=alice%40example.com", "https://h/?lang=%3Cemail%3E"},
		{drop, "https://h/?lang=192.0.2.24", "https://h/?lang=%3Cclient%3E"},
		// Fragments never leave.
		{drop, "https://h/cb#access_token=abc&state=s", "https://h/cb"},
		{drop, "https://h/#/route?token=abc", "https://h/"},
		// Matrix parameters are parameters.
		{drop, "https://h/app;jsessionid=0123ABC/x", "https://h/app;jsessionid=REDACTED/x"},
	}
	e := testEvent("192.0.2.24")
	for _, tt := range tests {
		if got := tt.r.URL(tt.in, e); got != tt.out {
			t.Errorf("URL(%q)\n got  %q\n want %q", tt.in, got, tt.out)
		}
	}
}

func TestURLPaths(t *testing.T) {
	r := &URLRules{}
	e := testEvent("192.0.2.24")
	tests := []struct{ in, want string }{
		{"https://h/dl/setup.exe", "https://h/dl/setup.exe"},
		{"https://h/Users/alice/Downloads/x.exe", "https://h/Users/%3Cuser%3E/Downloads/x.exe"},
		{"https://h/USERS/Alice/x", "https://h/USERS/%3Cuser%3E/x"},
		{"https://h/users/Public/x", "https://h/users/Public/x"},
		{"https://h/home/bob", "https://h/home/%3Cuser%3E"},
		{"https://h/~carol/x.exe", "https://h/~%3Cuser%3E/x.exe"},
		{"https://h/%7Ecarol/x.exe", "https://h/~%3Cuser%3E/x.exe"},
		{"https://h/@dave/post", "https://h/@%3Cuser%3E/post"},
		{"https://h/u/alice%40example.com/x", "https://h/u/%3Cemail%3E/x"},
		{"https://h/u/alice%2540example.com/x", "https://h/u/%3Cemail%3E/x"},
		{"https://h/u/ALICE@EXAMPLE.COM", "https://h/u/%3Cemail%3E"},
		{"https://h/logs/192.0.2.24.txt", "https://h/logs/%3Cclient%3E.txt"},
		{"https://h/logs/%31%39%32.0.2.24/x", "https://h/logs/%3Cclient%3E/x"},
		{"https://h/a/::ffff:192.0.2.24/x", "https://h/a/%3Cclient%3E/x"},
		{"https://h/a/3221226008/x", "https://h/a/%3Cclient%3E/x"},
		{"https://h/a/192.0.2.25/x", "https://h/a/192.0.2.25/x"},
		{"https://h/C:%5CUsers%5Cerin%5Cx.exe", "https://h/C:/Users/%3Cuser%3E/x.exe"},
		{"https://h/redirect/http://user:pass@evil.example/x", "https://h/redirect/http://%3Cuser%3E@evil.example/x"},
		{"https://h/t/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln/x", "https://h/t/%3Ctoken%3E/x"},
		{"mailto:alice@example.com", "mailto:%3Cemail%3E"},
		{"file:///C:/Users/frank/x.doc", "file:///C:/Users/%3Cuser%3E/x.doc"},
		{"/relative/Users/alice?x=1", "/relative/Users/%3Cuser%3E?x=REDACTED"},
	}
	for _, tt := range tests {
		if got := r.URL(tt.in, e); got != tt.want {
			t.Errorf("URL(%q)\n got  %q\n want %q", tt.in, got, tt.want)
		}
	}
}

func TestURLClientHost(t *testing.T) {
	r := &URLRules{}
	v4, v6 := testEvent("192.0.2.24"), testEvent("2001:db8:1:2:3e22:fbff:fea1:b2c3")
	tests := []struct {
		e       *Event
		in, out string
	}{
		{v4, "http://192.0.2.24/x", "http://anon(192.0.2.24)/x"},
		{v4, "http://[::ffff:192.0.2.24]:8080/x", "http://anon(192.0.2.24):8080/x"},
		{v4, "http://3221226008/", "http://anon(192.0.2.24)/"},
		{v4, "http://0300.0.2.030/", "http://anon(192.0.2.24)/"},
		{v4, "http://192-0-2-24.dyn.example/", "http://%3Cclient%3E/"},
		{v4, "http://203.0.113.5/", "http://203.0.113.5/"},
		{v6, "http://[2001:DB8:1:2:3E22:FBFF:FEA1:B2C3]/", "http://anon(2001:db8:1:2:3e22:fbff:fea1:b2c3)/"},
		{v6, "http://[fe80::3e22:fbff:fea1:b2c3%25eth0]/", "http://anon(fe80::3e22:fbff:fea1:b2c3)/"},
	}
	for _, tt := range tests {
		if got := r.URL(tt.in, tt.e); got != tt.out {
			t.Errorf("URL(%q)\n got  %q\n want %q", tt.in, got, tt.out)
		}
	}
	// Without an Addr function the placeholder stands in.
	if got := r.URL("http://192.0.2.24/", &Event{Client: netip.MustParseAddr("192.0.2.24")}); got != "http://%3Cclient%3E/" {
		t.Errorf("placeholder: %q", got)
	}
}

func TestHost(t *testing.T) {
	e := testEvent("192.0.2.24")
	drop := &Event{Client: e.Client, Addr: func(netip.Addr) (string, bool) { return "", false }}
	tests := []struct {
		e      *Event
		in     string
		out    string
		wantOK bool
	}{
		{e, "files.example.com", "files.example.com", true},
		{e, "user:pass@Files.Example:8080", "files.example", true},
		{e, "[2001:db8::1]:443", "2001:db8::1", true},
		{e, "192.0.2.24:80", "anon(192.0.2.24)", true},
		{e, "[::ffff:c000:218]", "anon(192.0.2.24)", true},
		{drop, "192.0.2.24", "", false},
		{e, "bücher.example", "bücher.example", true},
		{e, "bad host", "", false},
		{e, "a..b", "", false},
		{e, "evil.example/path", "", false},
		{e, "", "", false},
	}
	for _, tt := range tests {
		got, ok := Host(tt.in, tt.e)
		if got != tt.out || ok != tt.wantOK {
			t.Errorf("Host(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.out, tt.wantOK)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		"a%40b":           "a@b",
		"a%2540b":         "a@b",
		"a%252540b":       "a@b",
		"%u0061lice":      "alice",
		"%zz%4":           "%zz%4",
		"plain":           "plain",
		"%25252525252540": "%252540", // four rounds, no more
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestURLHost(t *testing.T) {
	for in, want := range map[string]string{
		"http://alice:pw@files.example.com:8080/x": "files.example.com",
		"http://alice:pa/ss@files.example.com/x":   "files.example.com",
		"HTTP:\\\\u@h\\x":                          "h",
		"//u:p@[::1]:80/":                          "[::1]",
		"/origin/form":                             "",
		"mailto:a@b.example":                       "",
		"file:///C:/x":                             "",
	} {
		if got := URLHost(in); got != want {
			t.Errorf("URLHost(%q) = %q, want %q", in, got, want)
		}
	}
}
