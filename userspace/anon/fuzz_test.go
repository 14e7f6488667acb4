package anon

import (
	"net/url"
	"strings"
	"testing"
)

var fuzzParams = []string{"token*", "password", "sig"}

// rawPassword finds the password of in as net/url sees it, in its raw
// (undecoded) form, and in with the user info removed. ok is false when
// url.Parse finds no password.
func rawPassword(in string) (pass, without string, ok bool) {
	u, err := url.Parse(in)
	if err != nil || u.User == nil {
		return "", "", false
	}
	if _, has := u.User.Password(); !has {
		return "", "", false
	}
	// net/url cuts '#' then '?' and takes the authority after the first
	// "//" up to '/'; the user info ends at its last '@'.
	start := strings.Index(in, "//") + 2
	auth := in[start:]
	if end := strings.IndexAny(auth, "/?#"); end >= 0 {
		auth = auth[:end]
	}
	userinfo := auth[:strings.LastIndexByte(auth, '@')]
	_, pass, _ = strings.Cut(userinfo, ":")
	return pass, in[:start] + in[start+len(userinfo)+1:], true
}

func FuzzScrubURL(f *testing.F) {
	for _, s := range []string{
		"https://user:secretpw@example.com/a?token=abc&b=1#frag",
		"//user:secretpw@host/",
		"http://user:pa/ss@host/?sig=1",
		"http://user:pa?ss@host/",
		"http://a@b:cdef/@d",
		"HTTP:\\\\u:longpass@h\\x",
		"http:u:longpass@h",
		"redis://:hunter22@cache:6379/0;password=x",
		"https://[::1]:80/@x?token_a=1;TOKEN_B=2#/r?token=3",
		"mailto:alice@example.com?password=x",
		"https://h/?%74oken=x&token",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		plain := ScrubURL(in, nil)
		scrubbed := ScrubURL(in, fuzzParams)
		if again := ScrubURL(scrubbed, fuzzParams); again != scrubbed {
			t.Errorf("not idempotent: %q -> %q -> %q", in, scrubbed, again)
		}
		if len(plain) > len(in) {
			t.Errorf("user-info scrub grew %q to %q", in, plain)
		}
		pass, without, ok := rawPassword(in)
		if !ok || len(pass) < 4 || strings.Contains(without, pass) {
			return // no password, or one that also occurs elsewhere
		}
		if strings.Contains(plain, pass) {
			t.Errorf("password %q survives: %q -> %q", pass, in, plain)
		}
		// Redaction splices "REDACTED" between separators; skip passwords
		// that such a splice could spell.
		if !strings.Contains(Redacted, pass) && !strings.ContainsAny(pass, "=&;") && strings.Contains(scrubbed, pass) {
			t.Errorf("password %q survives redaction: %q -> %q", pass, in, scrubbed)
		}
	})
}

func FuzzStripUserPath(f *testing.F) {
	for _, s := range []string{
		`C:\Users\alice\Downloads\x.exe`, `/home/alice/x`, `/Users/bob`,
		`\\server\share\Users\bob\x`, `C:\Documents and Settings\bob\y`,
		`/root/x`, `x.exe`, `/home/home/Public/x`, `C:\Users\Public\x`, `//`, `/home/`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := StripUserPath(in)
		if again := StripUserPath(out); again != out {
			t.Errorf("not idempotent: %q -> %q -> %q", in, out, again)
		}
		inSegs, outSegs := splitSeps(in), splitSeps(out)
		if len(inSegs) != len(outSegs) || strings.Count(in, "/") != strings.Count(out, "/") || strings.Count(in, `\`) != strings.Count(out, `\`) {
			t.Fatalf("path shape changed: %q -> %q", in, out)
		}
		for i := range inSegs {
			afterRoot := i > 0 && isOneOf(inSegs[i-1], profileRoots)
			switch {
			case afterRoot && inSegs[i] != "" && !isOneOf(inSegs[i], sharedProfiles):
				if outSegs[i] != UserPlaceholder {
					t.Errorf("user segment %q of %q kept: %q", inSegs[i], in, out)
				}
			case outSegs[i] != inSegs[i]:
				t.Errorf("segment %q of %q changed to %q", inSegs[i], in, outSegs[i])
			}
		}
	})
}

// splitSeps splits on both path separators, keeping empty segments.
func splitSeps(s string) []string {
	var segs []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] == '\\' {
			segs = append(segs, s[start:i])
			start = i + 1
		}
	}
	return append(segs, s[start:])
}

func FuzzHashEmail(f *testing.F) {
	key := []byte("fuzz-key-fuzz-key-fuzz-key-fuzz!")
	for _, s := range []string{
		"alice@example.com", "Alice Smith <Alice@Example.com>", `"a b"@x.org`,
		"bob@bob.example", "no at sign", "x@[192.0.2.1]", "weird@@host", "<carol@x.y>",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, in string, keep bool) {
		out := HashEmail(key, in, keep)
		if out != HashEmail(key, in, keep) {
			t.Fatal("not deterministic")
		}
		hash, domain, hasDomain := strings.Cut(out, "@")
		if len(hash) != 16 || strings.Trim(hash, "0123456789abcdef") != "" {
			t.Fatalf("HashEmail(%q) = %q: pseudonym is not 16 hex chars", in, out)
		}
		if hasDomain && (!keep || domain == "" || domain != strings.ToLower(domain) ||
			!strings.Contains(strings.ToLower(in), domain)) {
			t.Fatalf("HashEmail(%q, %v) = %q: bad domain part", in, keep, out)
		}
		// The local part as a reader would see it: before the last '@',
		// after any display name.
		s := strings.TrimSpace(in)
		at := strings.LastIndexByte(s, '@')
		if at < 0 {
			return
		}
		local := s[:at]
		if lt := strings.LastIndexByte(local, '<'); lt >= 0 {
			local = local[lt+1:]
		}
		local = strings.ToLower(strings.Trim(local, `" `))
		if len(local) < 4 || strings.Contains(hash, local) || strings.Contains(domain, local) {
			return
		}
		if strings.Contains(strings.ToLower(out), local) {
			t.Errorf("HashEmail(%q) = %q contains the local part %q", in, out, local)
		}
	})
}
