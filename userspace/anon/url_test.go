package anon

import "testing"

func TestScrubURL(t *testing.T) {
	params := []string{"token*", "password", "API_KEY", "sig"}
	tests := []struct{ in, want string }{
		// User info.
		{"https://user:pw@example.com/a?b=c", "https://example.com/a?b=c"},
		{"https://user@example.com/", "https://example.com/"},
		{"https://user:p%40ss@example.com:8443/x", "https://example.com:8443/x"},
		{"https://a:b@c@example.com/", "https://example.com/"},
		{"//user:pw@host/path", "//host/path"},
		{"  https://u:p@h/", "  https://h/"},
		{"HTTP://u:p@h/", "HTTP://h/"},
		{"ftp://anon:me@ftp.example.org", "ftp://ftp.example.org"},
		{"http:u:p@h/x", "http:h/x"},
		{`http:\\u:p@h\x`, `http:\\h\x`},
		{"http:///u:p@h/", "http:///h/"},
		{"redis://:secret@cache:6379/0", "redis://cache:6379/0"},
		{"https://[::1]:443/@x", "https://[::1]:443/@x"},
		{"https://user:pw@[2001:db8::1]:8080/", "https://[2001:db8::1]:8080/"},
		// Malformed: unencoded delimiters in the password.
		{"https://user:pa/ss@host/path", "https://host/path"},
		{"https://user:pa?ss@host/path", "https://host/path"},
		{"https://user:pa#ss@host/path", "https://host/path"},
		{"https://user:pa ss@host/%zz", "https://host/%zz"},
		// Not credentials.
		{"https://medium.com/@alice/post", "https://medium.com/@alice/post"},
		{"https://host:8080/@alice", "https://host:8080/@alice"},
		{"mailto:alice@example.com", "mailto:alice@example.com"},
		{"/relative/path@x?token=1", "/relative/path@x?token=REDACTED"},
		{"https://host/?q=a@b", "https://host/?q=a@b"},
		{"", ""},
		{"not a url", "not a url"},
		// Parameters.
		{"https://h/p?token=abc&x=1", "https://h/p?token=REDACTED&x=1"},
		{"https://h/p?x=1&Token_ID=abc&tokens=&y", "https://h/p?x=1&Token_ID=REDACTED&tokens=&y"},
		{"https://h/p?PASSWORD=hunter2;api_key=k", "https://h/p?PASSWORD=REDACTED;api_key=REDACTED"},
		{"https://h/p?passwords=x&sig", "https://h/p?passwords=x&sig"},
		{"https://h/p?%74oken=abc", "https://h/p?%74oken=REDACTED"},
		{"https://h/p?api+key=1&api%5Fkey=2", "https://h/p?api+key=1&api%5Fkey=REDACTED"},
		{"https://h/p?a=%zz&token=a=b=c", "https://h/p?a=%zz&token=REDACTED"},
		{"https://h/p?x=%E2%82%AC#sec", "https://h/p?x=%E2%82%AC#sec"},
		{"https://h/cb#access_token_x=abc&state=s", "https://h/cb#access_token_x=abc&state=s"},
		{"https://h/cb#token=abc&state=s", "https://h/cb#token=REDACTED&state=s"},
		{"https://h/#/route?token=abc", "https://h/#/route?token=REDACTED"},
		{"https://u:p@h/p?sig=1#sig=2", "https://h/p?sig=REDACTED#sig=REDACTED"},
		{"https://h/p?a=1&&b=2&", "https://h/p?a=1&&b=2&"},
	}
	for _, tt := range tests {
		if got := ScrubURL(tt.in, params); got != tt.want {
			t.Errorf("ScrubURL(%q)\n got  %q\n want %q", tt.in, got, tt.want)
		}
	}
}

func TestScrubURLParamPatterns(t *testing.T) {
	const in = "https://h/?a=1&ab=2&b=3"
	tests := []struct {
		params []string
		want   string
	}{
		{nil, in},
		{[]string{""}, in},
		{[]string{"*"}, "https://h/?a=REDACTED&ab=REDACTED&b=REDACTED"},
		{[]string{"a"}, "https://h/?a=REDACTED&ab=2&b=3"},
		{[]string{"A*"}, "https://h/?a=REDACTED&ab=REDACTED&b=3"},
		{[]string{"ab*"}, "https://h/?a=1&ab=REDACTED&b=3"},
	}
	for _, tt := range tests {
		if got := ScrubURL(in, tt.params); got != tt.want {
			t.Errorf("ScrubURL(%q, %q) = %q, want %q", in, tt.params, got, tt.want)
		}
	}
}
