package anon

import (
	"net/mail"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"
)

// HashToken is a keyed pseudonym for a user name, host name or similar
// token: HMAC-SHA256, first 16 bytes in hex (32 chars). The input is hashed
// exactly as given; callers normalise first where the namespace is
// case-insensitive (DNS names, Windows accounts), so one entity keeps one
// pseudonym.
func HashToken(key []byte, s string) string {
	return macHex(key, []byte(s), 16)
}

// emailHashBytes is the pseudonym length for e-mail addresses: 8 bytes, 16
// hex chars, enough to keep distinct mailboxes apart in one deployment.
const emailHashBytes = 8

// HashEmail pseudonymises one e-mail address. The pseudonym is the keyed
// hash of the whole lowercased address (local@domain), so the same local
// part at two domains gets unrelated pseudonyms. With keepDomain the
// lowercased domain is appended: "Alice <Alice@Example.COM>" becomes
// "<16 hex>@example.com"; without it the result is the 16 hex chars alone.
//
// A domain that is an address (the literals "[192.0.2.1]" and
// "[IPv6:2001:db8::1]", or a bare address) names a host, usually the
// sender's own machine: it is written as e.Addr writes a client's
// address ("[<anonymised>]", or left out when e.Addr drops it), never as
// seen. The pseudonym hashes the literal in its canonical form, so the
// spellings of one address get one pseudonym. A host name that spells
// the client's address is treated the same way.
//
// A display name is dropped. Input that is not one recognisable address
// (no '@', empty parts, a domain that is not a host name or address
// literal) is hashed whole, trimmed, and returned without a domain, so
// nothing of it leaks. Lists are the caller's job.
func HashEmail(key []byte, addr string, keepDomain bool, e *Event) string {
	local, domain, ok := splitEmail(addr)
	if !ok {
		return macHex(key, []byte(strings.TrimSpace(addr)), emailHashBytes)
	}
	local, domain = strings.ToLower(local), strings.ToLower(domain)
	lit, isAddr := literalAddr(domain)
	if isAddr {
		domain = "[" + lit.String() + "]"
	}
	h := macHex(key, []byte(local+"@"+domain), emailHashBytes)
	if !keepDomain {
		return h
	}
	if !isAddr && e != nil && e.Client.IsValid() && ContainsAddr(domain, e.IsClient) {
		lit, isAddr = e.Client, true
	}
	if isAddr {
		t, ok := e.addrText(lit)
		if !ok {
			return h
		}
		return h + "@[" + t + "]"
	}
	return h + "@" + domain
}

// literalAddr reads an e-mail domain that is an address: "[192.0.2.1]",
// "[IPv6:...]" or a bare address.
func literalAddr(d string) (netip.Addr, bool) {
	if strings.HasPrefix(d, "[") || strings.ContainsAny(d, ":") || strings.Trim(d, "0123456789.") == "" {
		return ParseHost(d)
	}
	return netip.Addr{}, false
}

// splitEmail finds the mailbox in addr, with or without a display name,
// preferring net/mail and falling back to a bare "local@domain".
func splitEmail(addr string) (local, domain string, ok bool) {
	s := strings.TrimSpace(addr)
	parsed := false
	if a, err := mail.ParseAddress(s); err == nil {
		s, parsed = a.Address, true
	} else if i := strings.LastIndexByte(s, '<'); i >= 0 && strings.HasSuffix(s, ">") {
		s = strings.TrimSpace(s[i+1 : len(s)-1]) // "Name <addr>" net/mail rejects
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", "", false
	}
	local, domain = s[:at], strings.TrimSuffix(s[at+1:], ".")
	// Outside net/mail's grammar only a plain local part counts: with
	// spaces or brackets it is more likely prose around an address.
	if !parsed && strings.ContainsFunc(local, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`<>,;"()[]\`, r) || r == utf8.RuneError
	}) {
		return "", "", false
	}
	if !validDomain(domain) {
		return "", "", false
	}
	return local, domain, true
}

// validDomain accepts host names (IDN letters allowed) and bracketed address
// literals: only then is the domain safe to publish unhashed.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 || !utf8.ValidString(d) {
		return false
	}
	if strings.HasPrefix(d, "[") {
		_, ok := ParseHost(d)
		return ok // only literals that are addresses
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}
