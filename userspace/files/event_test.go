package files

import "testing"

// url.domain is the host a Host header names, whatever else it carries:
// never the user name of "user:pass@host".
func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"files.example.com":         "files.example.com",
		"files.example.com:8080":    "files.example.com",
		"user:pass@files.example":   "files.example",
		"user@files.example:80":     "files.example",
		"a@b@files.example":         "files.example",
		"[2001:db8::1]:80":          "2001:db8::1",
		"user:pw@[2001:db8::1]:443": "2001:db8::1",
		"2001:db8::1":               "2001:db8::1",
	} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}
