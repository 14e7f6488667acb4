package anon

import (
	"strings"
)

// Redacted replaces a URL query value that does not leave.
const Redacted = "REDACTED"

// maxURLDepth bounds how deep URLs nested in kept query values are
// followed; one nested deeper is redacted whole.
const maxURLDepth = 3

// URLRules say what of a URL leaves. A URL is rebuilt from its parts, each
// allowed by a rule, never passed on minus a list of bad parts:
//
//   - scheme: kept (lower case) when it is one;
//   - user info: never (also the malformed "user:pa/ss@host");
//   - host: a host name or address checked as such (Host); the client's
//     address written as privacy.client_ip says; anything else is
//     HostPlaceholder;
//   - port: kept when it is a port number;
//   - path: kept, except segments that name a user (after a profile root
//     such as /Users/ or /home/, or "~name" and "@name"), hold an e-mail
//     address, the client's address or a JSON web token, looked at
//     percent-decoded (however often it was encoded); matrix parameters
//     (";jsessionid=...") are query parameters;
//   - query: parameter names kept when they look like names; values
//     dropped (Redacted) or keyed-hashed, unless the name is on Keep:
//     then the value is kept, but scrubbed of e-mail addresses, the
//     client's address and user paths, and a URL in it is rebuilt by the
//     same rules (nested URLs, to maxURLDepth);
//   - fragment: never (tokens travel there: "#access_token=...").
type URLRules struct {
	// Keep names the query parameters whose values leave
	// (case-insensitive, after percent-decoding; "prefix*" matches a
	// prefix).
	Keep []string
	// Hash keyed-hashes the other values (16 hex digits) instead of
	// dropping them, so equal values stay equal.
	Hash bool
	Key  []byte
}

// URL rebuilds raw under the rules. e gives the client and how its
// address is written; nil knows no client.
//
// The parts are checked one by one; a last check reads the whole result
// decoded, for what only the parts joined spell (a scheme's ':' before a
// path's ":c000:201"): when it finds an e-mail address or the client's
// address, only the scheme and host are kept.
func (r *URLRules) URL(raw string, e *Event) string {
	out, auth := r.scrub(raw, e, 0)
	// The host is checked on its own (and in keep mode is the client's
	// address by the customer's choice); what follows it starts at a
	// '/', '?' or nothing, which no spelling crosses.
	if !leaks(out[auth:], e) {
		return out
	}
	return out[:auth] + "/" + escapeURLPart(TokenPlaceholder, false)
}

// leaks: the decoded text holds an e-mail address or the client's.
func leaks(s string, e *Event) bool {
	d := Unescape(s)
	if strings.IndexByte(d, '@') >= 0 && ContainsEmail(d) {
		return true
	}
	return e != nil && e.Client.IsValid() && ContainsAddr(d, e.IsClient)
}

var specialSchemes = []string{"http", "https", "ws", "wss", "ftp", "file"}

func isSlash(c byte) bool { return c == '/' || c == '\\' }

// scrub rebuilds raw; auth is where what follows its authority starts
// (0 without one).
func (r *URLRules) scrub(raw string, e *Event, depth int) (out string, auth int) {
	s := strings.TrimLeft(raw, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
	var b strings.Builder
	b.Grow(len(s) + 16)
	rest := s
	special := false
	hasAuth := false
	if end := schemeEnd(s); end > 1 { // one letter is a drive: C:\Users
		scheme := strings.ToLower(s[:end])
		rest = s[end+1:]
		special = isOneOf(scheme, specialSchemes)
		b.WriteString(scheme)
		b.WriteByte(':')
		switch {
		case scheme == "file":
			// file:///C:/x has an empty host; file://server/share one.
			if strings.HasPrefix(rest, "//") || strings.HasPrefix(rest, `\\`) {
				rest, hasAuth = rest[2:], true
			}
		case special:
			for rest != "" && isSlash(rest[0]) {
				rest = rest[1:]
			}
			hasAuth = true
		case strings.HasPrefix(rest, "//"):
			rest, hasAuth = rest[2:], true
		}
	} else if strings.HasPrefix(s, "//") {
		rest, hasAuth, special = s[2:], true, true // scheme-relative: the web
	}
	if hasAuth {
		b.WriteString("//")
		var host, port string
		host, port, rest = splitAuthority(rest, special)
		if host != "" {
			h, ok := hostText(host, e, true)
			if !ok {
				h = escapeURLPart(HostPlaceholder, false)
			}
			b.WriteString(h)
			if port != "" {
				b.WriteByte(':')
				b.WriteString(port)
			}
		}
		auth = b.Len()
	}
	// What follows the authority: path, query, fragment.
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i] // the fragment never leaves
	}
	path, query, hasQuery := strings.Cut(rest, "?")
	b.WriteString(r.path(path, e))
	if hasQuery {
		b.WriteByte('?')
		b.WriteString(r.query(query, e, depth))
	}
	return b.String(), auth
}

// splitAuthority cuts the authority off rest and splits it into host and
// port (user info dropped). A password with an unencoded '/', '?' or '#'
// ends the authority early in a parser's eyes ("user:pa/ss@host"): when
// what would be the port is not a number and an '@' follows, everything
// up to the last '@' goes (losing some of the URL beats publishing a
// password).
func splitAuthority(rest string, special bool) (host, port, after string) {
	for {
		end := strings.IndexFunc(rest, func(r rune) bool {
			return r == '/' || r == '?' || r == '#' || special && r == '\\'
		})
		if end < 0 {
			end = len(rest)
		}
		auth := rest[:end]
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			rest = rest[at+1:]
			continue
		}
		if badPort(auth) {
			if at := strings.LastIndexByte(rest, '@'); at >= 0 {
				rest = rest[at+1:]
				continue
			}
		}
		host, port = splitHostPort(auth)
		return host, port, rest[end:]
	}
}

// splitHostPort splits "host:port", "[v6]:port" and a bare IPv6 address;
// a port that is not a number is dropped.
func splitHostPort(auth string) (host, port string) {
	switch {
	case strings.HasPrefix(auth, "["):
		if c := strings.IndexByte(auth, ']'); c > 0 {
			host, port = auth[:c+1], strings.TrimPrefix(auth[c+1:], ":")
		} else {
			host = auth
		}
	case strings.Count(auth, ":") == 1:
		host, port, _ = strings.Cut(auth, ":")
	default:
		host = auth
	}
	if len(port) > 5 || strings.Trim(port, "0123456789") != "" {
		port = ""
	}
	return host, port
}

// schemeEnd is the index of the ':' ending a URL scheme at the start of s,
// or -1.
func schemeEnd(s string) int {
	for i := 0; i < len(s) && i < 32; i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return i
		default:
			return -1
		}
	}
	return -1
}

// badPort reports whether a '@'-less authority ends in ":x" with x not a
// port number, the shape of "user:pass" cut short by a delimiter in the
// password.
func badPort(auth string) bool {
	hostEnd := 0
	if strings.HasPrefix(auth, "[") { // IPv6 literal: its colons are not ports
		hostEnd = strings.IndexByte(auth, ']')
		if hostEnd < 0 {
			return false
		}
	}
	c := strings.LastIndexByte(auth[hostEnd:], ':')
	if c < 0 {
		return false
	}
	if hostEnd == 0 && strings.Count(auth, ":") > 1 {
		if _, ok := ParseHost(auth); ok {
			return false // a bare IPv6 address
		}
	}
	port := auth[hostEnd+c+1:]
	if port == "" {
		return true
	}
	return strings.Trim(port, "0123456789") != ""
}

// path rebuilds a URL path (see URLRules). Unchanged paths are returned
// byte for byte; a changed one is written decoded and re-encoded.
func (r *URLRules) path(p string, e *Event) string {
	if p == "" {
		return ""
	}
	dec := Unescape(p)
	var segs []string
	var seps []byte
	start := 0
	for i := 0; i <= len(dec); i++ {
		if i < len(dec) && !isSlash(dec[i]) {
			continue
		}
		segs = append(segs, dec[start:i])
		if i < len(dec) {
			seps = append(seps, dec[i])
		}
		start = i + 1
	}
	changed := false
	prevRoot := false
	out := make([]string, len(segs))
	for i, seg := range segs {
		o, c := r.segment(seg, prevRoot, e)
		out[i], changed = o, changed || c
		if seg != "" {
			prevRoot = isOneOf(seg, profileRoots)
		}
	}
	if !changed {
		return p
	}
	var b strings.Builder
	for i, o := range out {
		b.WriteString(o)
		if i < len(seps) {
			b.WriteByte('/')
		}
	}
	return b.String()
}

// segment scrubs one decoded path segment, returning it encoded; changed
// says whether anything was removed.
func (r *URLRules) segment(seg string, afterRoot bool, e *Event) (string, bool) {
	if seg == "" {
		return "", false
	}
	name, params, hasParams := strings.Cut(seg, ";")
	out, changed := name, false
	switch {
	case afterRoot && !isOneOf(name, sharedProfiles):
		out, changed = UserPlaceholder, true
	case len(name) > 1 && (name[0] == '~' || name[0] == '@') && !strings.Contains(name[1:], "@"):
		out, changed = name[:1]+UserPlaceholder, true
	case looksLikeJWT(name):
		out, changed = TokenPlaceholder, true
	default:
		if at := strings.LastIndexByte(name, '@'); at >= 0 && (strings.IndexByte(name[:at], ':') >= 0 || !wholeEmail(name)) {
			// User info of a URL nested in the path ("user:pass@host"):
			// whatever precedes the '@' goes.
			out, changed = UserPlaceholder+name[at:], true
		}
		if s, c := scrubDecoded(out, e, true); c {
			out, changed = s, true
		}
	}
	enc := escapeURLPart(out, false)
	if hasParams {
		q := r.pairs(params, ";", e, maxURLDepth)
		enc += ";" + q
		changed = changed || q != params
	}
	return enc, changed
}
