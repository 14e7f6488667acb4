package anon

import (
	"net/url"
	"strings"
)

// Redacted replaces the value of a scrubbed query parameter.
const Redacted = "REDACTED"

// ScrubURL removes credentials and secret parameters from a URL, leaving
// every other byte as it was (nothing is re-encoded).
//
// User info ("user:password@") is removed from any URL with an authority:
// "scheme://", a scheme-relative "//", and for the special schemes (http,
// https, ws, wss, ftp) also the slash-less and backslash forms browsers
// accept. The scan is textual, so it works where url.Parse fails. When the
// authority looks like "user:pass" cut short by an unencoded '/', '?' or '#'
// in the password (its "port" is not a number) and an '@' follows, it
// removes everything up to the last '@': losing some of the URL beats
// publishing a password.
//
// Query parameters whose names match params (case-insensitively, after
// percent-decoding; a trailing '*' matches a prefix, "token*") get the value
// "REDACTED"; empty values stay empty. '&' and ';' both separate
// parameters. The fragment is treated the same way when it carries
// parameters ("#access_token=..." of OAuth implicit grants, or after a '?'
// in a hash route), since tokens travel there too. Values of other
// parameters are not inspected, so a URL nested in a parameter keeps its
// own credentials unless that parameter is listed.
func ScrubURL(raw string, params []string) string {
	// Repeat until nothing changes: what follows removed user info can
	// itself look like user info ("http://a@b:c/@d"), and stopping after
	// one pass would make the result depend on how often it was scrubbed.
	// Each pass shortens the string, so this ends.
	for {
		s := stripUserinfo(raw)
		if s == raw {
			break
		}
		raw = s
	}
	return redactParams(raw, params)
}

var specialSchemes = []string{"http", "https", "ws", "wss", "ftp"}

func isSlash(c byte) bool { return c == '/' || c == '\\' }

// stripUserinfo removes the user info of raw's authority, if it has one.
func stripUserinfo(raw string) string {
	i := 0
	for i < len(raw) && raw[i] <= ' ' { // browsers skip leading C0 and space
		i++
	}
	authStart := -1
	special := false
	if end := schemeEnd(raw[i:]); end > 0 {
		p := i + end + 1
		special = isOneOf(raw[i:i+end], specialSchemes)
		switch {
		case special:
			for p < len(raw) && isSlash(raw[p]) {
				p++
			}
			authStart = p
		case len(raw) >= p+2 && isSlash(raw[p]) && isSlash(raw[p+1]):
			authStart = p + 2
		}
	} else if len(raw) >= i+2 && isSlash(raw[i]) && isSlash(raw[i+1]) {
		authStart, special = i+2, true // scheme-relative: assume the web
	}
	if authStart < 0 {
		return raw
	}
	rest := raw[authStart:]
	authEnd := strings.IndexFunc(rest, func(r rune) bool {
		return r == '/' || r == '?' || r == '#' || (special && r == '\\')
	})
	if authEnd < 0 {
		authEnd = len(rest)
	}
	auth := rest[:authEnd]
	cut := strings.LastIndexByte(auth, '@')
	if cut < 0 && badPort(auth) {
		cut = strings.LastIndexByte(rest, '@')
	}
	if cut < 0 {
		return raw
	}
	return raw[:authStart] + rest[cut+1:]
}

// schemeEnd is the index of the ':' ending a URL scheme at the start of s,
// or -1.
func schemeEnd(s string) int {
	for i := 0; i < len(s); i++ {
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
	port := auth[hostEnd+c+1:]
	if port == "" {
		return true
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return true
		}
	}
	return false
}

// redactParams replaces listed parameter values in the query and in a
// parameter-carrying fragment.
func redactParams(s string, params []string) string {
	if len(params) == 0 {
		return s
	}
	hash := strings.IndexByte(s, '#')
	beforeHash, frag := s, ""
	if hash >= 0 {
		beforeHash, frag = s[:hash], s[hash+1:]
	}
	var b strings.Builder
	if q := strings.IndexByte(beforeHash, '?'); q >= 0 {
		b.WriteString(beforeHash[:q+1])
		redactPairs(&b, beforeHash[q+1:], params)
	} else {
		b.WriteString(beforeHash)
	}
	if hash >= 0 {
		b.WriteByte('#')
		start := 0
		if q := strings.IndexByte(frag, '?'); q >= 0 {
			start = q + 1 // hash route: "#/callback?token=..."
		}
		b.WriteString(frag[:start])
		redactPairs(&b, frag[start:], params)
	}
	return b.String()
}

// redactPairs copies a '&'/';'-separated parameter list to b, redacting the
// values of matching names.
func redactPairs(b *strings.Builder, q string, params []string) {
	for q != "" {
		end := strings.IndexAny(q, "&;")
		pair, sep := q, ""
		if end >= 0 {
			pair, sep, q = q[:end], q[end:end+1], q[end+1:]
		} else {
			q = ""
		}
		if eq := strings.IndexByte(pair, '='); eq >= 0 && eq < len(pair)-1 && paramMatches(pair[:eq], params) {
			b.WriteString(pair[:eq+1])
			b.WriteString(Redacted)
		} else {
			b.WriteString(pair)
		}
		b.WriteString(sep)
	}
}

// paramMatches compares a raw parameter name with the patterns, both raw
// and decoded, so "%74oken" cannot slip past "token".
func paramMatches(name string, params []string) bool {
	if matchAny(name, params) {
		return true
	}
	if strings.ContainsAny(name, "%+") {
		if dec, err := url.QueryUnescape(name); err == nil {
			return matchAny(dec, params)
		}
	}
	return false
}

func matchAny(name string, params []string) bool {
	for _, p := range params {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if len(name) >= len(prefix) && strings.EqualFold(name[:len(prefix)], prefix) {
				return true
			}
		} else if p != "" && strings.EqualFold(name, p) {
			return true
		}
	}
	return false
}
