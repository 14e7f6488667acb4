package anon

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

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

// FuzzURL checks the URL rules against net/url's reading of the input:
// no password, no value of a parameter that is not kept and no fragment
// survives (each when it does not also occur elsewhere in the input),
// and the result is the same every time.
func FuzzURL(f *testing.F) {
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
		"https://h/?next=http%3A%2F%2Fu%3Asecretpw%40h2%2F&keep=http://u:pw2222@h3/",
		"https://h/Users/alice/x?keep=alice@example.com",
		"",
	} {
		f.Add(s)
	}
	r := &URLRules{Keep: []string{"keep", "lang"}}
	f.Fuzz(func(t *testing.T, in string) {
		out := r.URL(in, nil)
		if out != r.URL(in, nil) {
			t.Fatal("not deterministic")
		}
		u, err := url.Parse(in)
		if err != nil {
			return
		}
		decIn, decOut := Unescape(in), Unescape(out)
		secretIn := func(decOut, what, v string) {
			v = Unescape(v)
			if len(strings.TrimSpace(v)) < 6 || strings.Count(decIn, v) > 1 || strings.Contains(Redacted, v) ||
				strings.Contains(UserPlaceholder, v) {
				return
			}
			if strings.Contains(decOut, v) {
				t.Errorf("%s %q survives: %q -> %q", what, v, in, out)
			}
		}
		secret := func(what, v string) { secretIn(decOut, what, v) }
		if pass, without, ok := rawPassword(in); ok && !strings.Contains(without, pass) {
			secret("password", pass)
		}
		if u.Fragment != "" {
			// What the rest of the URL becomes may spell the same text (a
			// host "0" is written 0.0.0.0): only a fragment that adds it
			// survives.
			rest, _, _ := strings.Cut(in, "#")
			if v := Unescape(u.EscapedFragment()); !strings.Contains(Unescape(r.URL(rest, nil)), v) {
				secret("fragment", u.EscapedFragment())
			}
		}
		// The same holds for the query: query values are looked for in
		// what follows the rewritten authority and path, which may spell
		// them on their own (host "0" -> 0.0.0.0).
		head, _, _ := strings.Cut(in, "#")
		head, _, _ = strings.Cut(head, "?")
		queryOut := decOut
		if headOut := Unescape(r.URL(head, nil)); strings.HasPrefix(decOut, headOut) {
			queryOut = decOut[len(headOut):]
		}
		for _, pair := range strings.FieldsFunc(u.RawQuery, func(r rune) bool { return r == '&' || r == ';' }) {
			name, val, ok := strings.Cut(pair, "=")
			if !ok {
				secretIn(queryOut, "bare value", pair)
				continue
			}
			if dec, err := url.QueryUnescape(name); err == nil && matchAny(dec, r.Keep) {
				continue
			}
			if !strings.ContainsAny(val, "=&;?#") {
				secretIn(queryOut, "value of "+name, val)
			}
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
		prevRoot := false
		for i := range inSegs {
			switch {
			case prevRoot && inSegs[i] != "" && !isOneOf(inSegs[i], sharedProfiles):
				if outSegs[i] != UserPlaceholder {
					t.Errorf("user segment %q of %q kept: %q", inSegs[i], in, out)
				}
			case outSegs[i] != inSegs[i]:
				t.Errorf("segment %q of %q changed to %q", inSegs[i], in, outSegs[i])
			}
			if inSegs[i] != "" {
				prevRoot = isOneOf(inSegs[i], profileRoots)
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
		out := HashEmail(key, in, keep, nil)
		if out != HashEmail(key, in, keep, nil) {
			t.Fatal("not deterministic")
		}
		hash, domain, hasDomain := strings.Cut(out, "@")
		if len(hash) != 16 || strings.Trim(hash, "0123456789abcdef") != "" {
			t.Fatalf("HashEmail(%q) = %q: pseudonym is not 16 hex chars", in, out)
		}
		if hasDomain && strings.HasPrefix(domain, "[") {
			// An address literal: written as a client's address.
			if !keep || domain != "["+ClientPlaceholder+"]" {
				t.Fatalf("HashEmail(%q, %v) = %q: literal not written as the client", in, keep, out)
			}
		} else if hasDomain && (!keep || domain == "" || domain != strings.ToLower(domain) ||
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
		if len(local) < 4 || strings.Contains(local, "@") || strings.Contains(hash, local) || strings.Contains(domain, local) {
			return
		}
		if strings.Contains(strings.ToLower(out), local) {
			t.Errorf("HashEmail(%q) = %q contains the local part %q", in, out, local)
		}
	})
}

// FuzzReplaceAddrs: after the client's address is replaced, the text no
// longer spells it in its canonical forms, and the replacement never
// panics or loops on any input.
func FuzzReplaceAddrs(f *testing.F) {
	for _, s := range []string{
		"/logs/192.0.2.24.txt", "ip-192-0-2-24.dyn", "::ffff:c000:218", "3221226008", "x:::FFFF:192.0.2.24:80",
		"2001-db8--1.ipv6-literal.net", "cafe192.0.2.24", "0xc0.0.2.0x18", "192.0.2.24.24.24", "",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	v4 := netip.MustParseAddr("192.0.2.24")
	v6 := netip.MustParseAddr("2001:db8::1")
	f.Fuzz(func(t *testing.T, in string, four bool) {
		c := v6
		if four {
			c = v4
		}
		match := func(a netip.Addr) bool { return SameHost(a, c) }
		out, _ := ReplaceAddrs(in, match, "<client>")
		if again, changed := ReplaceAddrs(out, match, "<client>"); changed && again != out && ContainsAddr(out, match) && !ContainsAddr(in, match) {
			t.Errorf("replacement created an address: %q -> %q", in, out)
		}
		low := strings.ToLower(out)
		for _, form := range []string{c.String(), "::ffff:" + c.String()} {
			i := strings.Index(low, form)
			if i < 0 {
				continue
			}
			end := i + len(form)
			// Glued to more digits it is another number.
			if (i == 0 || !isDigit(low[i-1]) && low[i-1] != '.') && (end == len(low) || !isDigit(low[end]) && !(low[end] == '.' && end+1 < len(low) && isDigit(low[end+1]))) {
				t.Errorf("client %s left in %q -> %q", c, in, out)
			}
		}
	})
}

// FuzzDN: whatever the name, only allowlisted attribute types come out,
// and without an e-mail writer no e-mail address does.
func FuzzDN(f *testing.F) {
	for _, s := range []string{
		"CN=www.example.com,O=Example\\, Inc.,C=NL",
		"1.2.840.113549.1.9.1=#16116164696e406578616d706c652e636f6d,CN=x",
		"UID=bob+CN=a,2.5.4.4=#1305536d697468", "E=bob@x.org", "CN=#zz", "CN=\\", "=,+;", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := DN(in, &Event{})
		for _, a := range parseDN(out) {
			if _, ok := dnKept[strings.ToUpper(a.typ)]; !ok {
				t.Errorf("DN(%q) = %q: attribute %q left", in, out, a.typ)
			}
			if ContainsEmail(a.val) {
				t.Errorf("DN(%q) = %q: e-mail address in %q", in, out, a.val)
			}
		}
	})
}

// FuzzHost: what Host returns is a valid host name or an address.
func FuzzHost(f *testing.F) {
	for _, s := range []string{"files.example.com", "user:pass@h:80", "[::1]:8", "192.0.2.24", "0x7f.1", "a b", "bücher.example", ""} {
		f.Add(s)
	}
	e := &Event{Client: netip.MustParseAddr("192.0.2.24")}
	f.Fuzz(func(t *testing.T, in string) {
		out, ok := Host(in, e)
		if !ok {
			return
		}
		if _, err := netip.ParseAddr(out); err != nil && out != ClientPlaceholder && !validHostName(out) {
			t.Errorf("Host(%q) = %q: neither a host name nor an address", in, out)
		}
		if strings.ContainsAny(out, "@/ ") {
			t.Errorf("Host(%q) = %q", in, out)
		}
	})
}

// FuzzScrubText: whatever the text, what ScrubText, ErrorText and
// FileName return holds no e-mail address and does not spell the
// client's address.
func FuzzScrubText(f *testing.F) {
	for _, s := range []string{
		"mail alice@example.com from 192.0.2.24", `C:\Users\bob\x a@b@c`, "x509: cannot parse URI \"https://u:p@h\"",
		"0@0!@0", "%40%40", "ip-192-0-2-24.dyn", "",
	} {
		f.Add(s)
	}
	e := &Event{Client: netip.MustParseAddr("192.0.2.24")}
	f.Fuzz(func(t *testing.T, in string) {
		for _, out := range []string{first(ScrubText(in, e, true)), ErrorText(in, e), FileName(in, e)} {
			out = Unescape(out) // as it would be read
			if ContainsEmail(out) {
				t.Errorf("%q -> %q: an e-mail address is left", in, out)
			}
			if ContainsAddr(out, e.IsClient) {
				t.Errorf("%q -> %q: the client's address is left", in, out)
			}
		}
	})
}

func first(s string, _ bool) string { return s }

// withoutHost takes the host out of a rebuilt URL where it stands, after
// the user info of the authority: the same letters may occur earlier,
// inside a percent-encoding ("%3E" before the host "E").
func withoutHost(u string) string {
	h := URLHost(u)
	i := strings.Index(u, "//")
	if h == "" || i < 0 {
		return u
	}
	auth := u[i+2:]
	if end := strings.IndexAny(auth, "/?#"); end >= 0 {
		auth = auth[:end]
	}
	at := i + 2 + strings.LastIndexByte(auth, '@') + 1
	if j := strings.Index(u[at:i+2+len(auth)], h); j >= 0 {
		return u[:at+j] + u[at+j+len(h):]
	}
	return u
}

// FuzzURLClient: a rebuilt URL, read percent-decoded, holds no e-mail
// address and does not spell the client's address, kept parameters
// included.
func FuzzURLClient(f *testing.F) {
	for _, s := range []string{
		"http://192.0.2.24/logs/192.0.2.24.txt?ip=192.0.2.24&keep=alice@example.com",
		"http://[::ffff:c000:218]/u/alice%40example.com", "/a/3221226008?keep=http://192.0.2.24/x@y", "",
	} {
		f.Add(s)
	}
	r := &URLRules{Keep: []string{"keep"}}
	e := &Event{Client: netip.MustParseAddr("192.0.2.24")}
	f.Fuzz(func(t *testing.T, in string) {
		// The host is another address or name, checked as a whole (it may
		// contain a spelling of the client inside another address).
		u := withoutHost(r.URL(in, e))
		out := Unescape(u)
		if ContainsEmail(out) {
			t.Errorf("URL(%q) = %q: an e-mail address is left", in, out)
		}
		if ContainsAddr(out, e.IsClient) {
			t.Errorf("URL(%q) = %q: the client's address is left", in, out)
		}
	})
}
