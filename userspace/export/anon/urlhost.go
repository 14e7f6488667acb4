package anon

import (
	"net/netip"
	"strings"
)

// URLHost is the host of a URL's authority, user info and port removed,
// as the URL rules read it ("" when the URL has none): what url.domain
// must be, whatever a Host header that carried user info was cut to.
func URLHost(raw string) string {
	s := strings.TrimLeft(raw, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
	rest, special := "", false
	if end := schemeEnd(s); end > 1 {
		rest = s[end+1:]
		special = isOneOf(s[:end], specialSchemes) && !strings.EqualFold(s[:end], "file")
		switch {
		case special:
			rest = strings.TrimLeft(rest, `/\`)
		case strings.HasPrefix(rest, "//"):
			rest = rest[2:]
		default:
			return ""
		}
	} else if strings.HasPrefix(s, "//") {
		rest, special = s[2:], true
	} else {
		return ""
	}
	host, _, _ := splitAuthority(rest, special)
	return host
}

// Host is what of a host (a Host header, url.domain) may leave: user
// info and port removed, an address in any spelling read as one (the
// client's written by e.Addr, any other in its canonical form), a host
// name checked (letters, IDN included, digits, '-', '_' in labels of at
// most 63, at most 253 in all) and lower-cased. A name that spells the
// client's address (192-0-2-1.dyn.example) is the client's address. ok is
// false when nothing valid is left.
func Host(raw string, e *Event) (string, bool) {
	s := strings.TrimSpace(raw)
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		s = s[at+1:]
	}
	host, _ := splitHostPort(s)
	return hostText(host, e, false)
}

// hostText checks one host; bracket puts IPv6 addresses in brackets (as
// URLs write them).
func hostText(h string, e *Event, bracket bool) (string, bool) {
	h = Unescape(h)
	if h == "" || len(h) > 255 {
		return "", false
	}
	if a, ok := ParseHost(h); ok {
		if e.IsClient(a) {
			t, ok := e.addrText(a)
			if !bracket {
				return t, ok
			}
			if !ok {
				t = ClientPlaceholder
			}
			if _, err := netip.ParseAddr(t); err == nil && strings.IndexByte(t, ':') >= 0 {
				return "[" + t + "]", true
			}
			return escapeURLPart(t, false), true
		}
		if bracket && a.Is6() {
			return "[" + a.String() + "]", true
		}
		return a.String(), true
	}
	name := strings.TrimSuffix(strings.ToLower(h), ".")
	if !validHostName(name) {
		return "", false
	}
	if e != nil && e.Client.IsValid() && ContainsAddr(name, e.IsClient) {
		if bracket {
			return escapeURLPart(ClientPlaceholder, false), true
		}
		return e.addrText(e.Client)
	}
	return name, true
}

// validHostName: dot-separated labels of 1 to 63 letters (IDN letters
// included, as UTF-8), digits, '-' and '_'; 253 at most.
func validHostName(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' ||
				r >= 0x80 && r != 0xfffd && isLetterOrDigit(r)) {
				return false
			}
		}
	}
	return true
}
