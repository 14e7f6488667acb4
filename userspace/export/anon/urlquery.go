package anon

import (
	"strings"
	"unicode"
)

// query rebuilds a query string (see URLRules).
func (r *URLRules) query(q string, e *Event, depth int) string {
	return r.pairs(q, "&;", e, depth)
}

// pairs rebuilds name=value pairs separated by any of seps.
func (r *URLRules) pairs(q, seps string, e *Event, depth int) string {
	var b strings.Builder
	b.Grow(len(q))
	for q != "" {
		pair, sep := q, ""
		if end := strings.IndexAny(q, seps); end >= 0 {
			pair, sep, q = q[:end], q[end:end+1], q[end+1:]
		} else {
			q = ""
		}
		b.WriteString(r.pair(pair, e, depth))
		b.WriteString(sep)
	}
	return b.String()
}

func (r *URLRules) pair(pair string, e *Event, depth int) string {
	if pair == "" {
		return ""
	}
	name, val, hasEq := strings.Cut(pair, "=")
	decName := Unescape(strings.ReplaceAll(name, "+", " "))
	if !hasEq {
		// A bare item is a value without a name ("?eyJhbGci..."),
		// unless it is a kept name.
		if r.keep(decName) && paramName(decName, e) {
			return pair
		}
		return r.value(Unescape(pair))
	}
	if !paramName(decName, e) {
		return r.value(Unescape(pair)) // not a name: the pair is a value
	}
	if val == "" {
		return pair
	}
	if !r.keep(decName) {
		return name + "=" + r.value(Unescape(strings.ReplaceAll(val, "+", " ")))
	}
	dec := Unescape(strings.ReplaceAll(val, "+", " "))
	if out, changed := r.keptValue(dec, e, depth); changed {
		return name + "=" + escapeURLPart(out, false)
	}
	return pair
}

// keptValue scrubs the value of a kept parameter.
func (r *URLRules) keptValue(v string, e *Event, depth int) (string, bool) {
	if looksLikeURL(v) {
		if depth+1 >= maxURLDepth {
			return Redacted, true
		}
		out, _ := r.scrub(v, e, depth+1)
		return out, out != v
	}
	return scrubDecoded(v, e, true)
}

// value is what stands for a value that does not leave.
func (r *URLRules) value(v string) string {
	if r.Hash {
		return HashToken(r.Key, v)[:16]
	}
	return Redacted
}

func (r *URLRules) keep(name string) bool { return matchAny(name, r.Keep) }

// paramName: what a parameter name looks like (letters, digits and
// -_.[]$, up to 64), and not a personal value itself.
func paramName(n string, e *Event) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.[]$", c) >= 0) {
			return false
		}
	}
	return e == nil || !e.Client.IsValid() || !ContainsAddr(n, e.IsClient)
}

// looksLikeURL: a scheme with "//", a scheme-relative "//host", or
// "www.".
func looksLikeURL(v string) bool {
	v = strings.TrimSpace(v)
	if i := schemeEnd(v); i > 1 && strings.HasPrefix(v[i+1:], "//") {
		return true
	}
	return strings.HasPrefix(v, "//") || len(v) > 4 && strings.EqualFold(v[:4], "www.")
}

// looksLikeJWT: three base64url parts, the first a JSON object ("eyJ").
func looksLikeJWT(s string) bool {
	if len(s) < 20 || !strings.HasPrefix(s, "eyJ") || strings.Count(s, ".") < 2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '=') {
			return false
		}
	}
	return true
}

func matchAny(name string, params []string) bool {
	for _, p := range params {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if prefix != "" && len(name) >= len(prefix) && strings.EqualFold(name[:len(prefix)], prefix) {
				return true
			}
		} else if p != "" && strings.EqualFold(name, p) {
			return true
		}
	}
	return false
}

// wholeEmail: s is one e-mail address and nothing else.
func wholeEmail(s string) bool {
	sp := findEmails(s)
	return len(sp) == 1 && sp[0].start == 0 && sp[0].end == len(s)
}

func isLetterOrDigit(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}
