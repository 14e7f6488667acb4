package anon

import (
	"net/netip"
	"strings"
)

// Placeholders stand where a personal value was removed from a text that
// otherwise leaves; they cannot be mistaken for a value (and in URLs they
// are percent-encoded).
const (
	UserPlaceholder   = "<user>"
	EmailPlaceholder  = "<email>"
	ClientPlaceholder = "<client>"
	TokenPlaceholder  = "<token>"
	HostPlaceholder   = "<host>"
)

// Event is what the scrubbers know of the event being anonymised and how
// the policy writes the personal values they find.
type Event struct {
	// Client is the event's client address (the zero Addr when unknown).
	Client netip.Addr
	// Addr writes an address that belongs to a person (the client, an
	// e-mail address literal) as privacy.client_ip says; ok false drops
	// it. Nil writes ClientPlaceholder.
	Addr func(netip.Addr) (string, bool)
	// Email writes an e-mail address as privacy.email says; ok false
	// (or a nil Email) leaves EmailPlaceholder in a text, and drops an
	// address that stands alone.
	Email func(string) (string, bool)
}

// IsClient says whether a is, or embeds, the event's client.
func (e *Event) IsClient(a netip.Addr) bool { return e != nil && SameHost(a, e.Client) }

// addrText is the client's address as privacy.client_ip writes it, or
// the placeholder.
func (e *Event) addrText(a netip.Addr) (string, bool) {
	if e == nil || e.Addr == nil {
		return ClientPlaceholder, true
	}
	return e.Addr(a)
}

// emailSpan is an e-mail address found in a text: local@domain.
type emailSpan struct{ start, at, end int }

// findEmails finds local@domain in s: a local part of the characters RFC
// 5322 allows unquoted, a domain of host-name characters (IDN letters
// included) or an address literal in brackets. A bare "@name" is not one.
func findEmails(s string) []emailSpan {
	var out []emailSpan
	from := 0
	for {
		k := strings.IndexByte(s[from:], '@')
		if k < 0 {
			return out
		}
		at := from + k
		from = at + 1
		start := at
		for start > 0 && localChar(s[start-1]) {
			start--
		}
		// "user:pass@host": the user goes with the password.
		if start > 1 && s[start-1] == ':' && localChar(s[start-2]) {
			start--
			for start > 0 && localChar(s[start-1]) {
				start--
			}
		}
		for start < at && (s[start] == '.' || s[start] == '/') {
			start++
		}
		if len(out) > 0 && start < out[len(out)-1].end {
			start = out[len(out)-1].end // what the previous address took
		}
		if start == at {
			continue
		}
		end := at + 1
		if end < len(s) && s[end] == '[' {
			// An address literal, however long: a limit on its length
			// would let a replacement inside it (shorter than what it
			// replaced) make it an address afterwards.
			c := strings.IndexByte(s[end:], ']')
			if c < 0 {
				continue
			}
			end += c + 1
		} else {
			for end < len(s) && domainChar(s[end]) {
				end++
			}
			for end > at+1 && (s[end-1] == '.' || s[end-1] == '-') {
				end--
			}
			if end == at+1 {
				continue
			}
		}
		out = append(out, emailSpan{start, at, end})
		from = end
	}
}

func localChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c >= 0x80 ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0
}

func domainChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c >= 0x80 ||
		c == '-' || c == '.' || c == '_'
}

// ContainsEmail says whether s holds something shaped like an e-mail
// address.
func ContainsEmail(s string) bool { return len(findEmails(s)) > 0 }

// ScrubText removes the personal values a free text can carry: e-mail
// addresses (written by e.Email, or EmailPlaceholder when emailPlaceholder
// or e.Email is nil), the client's address in any spelling
// (ClientPlaceholder), and user names in profile paths
// (StripUserPath). It looks at s percent-decoded: when that differs and
// something was removed, the decoded, scrubbed text is returned.
// changed says whether anything was removed.
func ScrubText(s string, e *Event, emailPlaceholder bool) (string, bool) {
	dec := Unescape(s)
	out, changed := scrubDecoded(dec, e, emailPlaceholder)
	if !changed {
		return s, false
	}
	return out, true
}

func scrubDecoded(s string, e *Event, emailPlaceholder bool) (string, bool) {
	changed := false
	if spans := findEmails(s); len(spans) > 0 {
		var b strings.Builder
		last := 0
		for _, sp := range spans {
			b.WriteString(s[last:sp.start])
			h, ok := "", false
			if !emailPlaceholder && e != nil && e.Email != nil {
				h, ok = e.Email(s[sp.start:sp.end])
			}
			if !ok {
				h = EmailPlaceholder
			}
			b.WriteString(h)
			last = sp.end
		}
		b.WriteString(s[last:])
		s, changed = b.String(), true
	}
	if e != nil && e.Client.IsValid() {
		if r, ok := ReplaceAddrs(s, e.IsClient, ClientPlaceholder); ok {
			s, changed = r, true
		}
	}
	if r := StripUserPath(s); r != s {
		s, changed = r, true
	}
	return s, changed
}
