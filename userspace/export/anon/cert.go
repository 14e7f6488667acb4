package anon

import (
	"encoding/hex"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Certificates: a server's certificate names its owner, and sometimes a
// person: an e-mail address in an rfc822Name SAN, in the emailAddress
// attribute of the subject or issuer (which Go's pkix.Name.String writes
// as "1.2.840.113549.1.9.1=#16..." with the value hex-encoded DER), a
// given name or surname, a user id. What leaves is rebuilt from an
// allowlist of attribute types.

// dnKept are the attribute types whose values leave (scrubbed): they
// name an organisation and its server, not a person.
var dnKept = map[string]string{
	"CN": "CN", "2.5.4.3": "CN",
	"O": "O", "2.5.4.10": "O",
	"OU": "OU", "2.5.4.11": "OU",
	"C": "C", "2.5.4.6": "C",
	"L": "L", "2.5.4.7": "L",
	"ST": "ST", "S": "ST", "2.5.4.8": "ST",
	"STREET": "STREET", "2.5.4.9": "STREET",
	"POSTALCODE": "POSTALCODE", "2.5.4.17": "POSTALCODE",
	"SERIALNUMBER": "SERIALNUMBER", "2.5.4.5": "SERIALNUMBER",
	"DC": "DC", "0.9.2342.19200300.100.1.25": "DC",
}

// dnEmail are the names of the emailAddress attribute (PKCS #9).
var dnEmail = []string{"1.2.840.113549.1.9.1", "EMAILADDRESS", "EMAIL", "E"}

// DN rebuilds a distinguished name in RFC 4514 form: attributes of the
// types in dnKept keep their values with e-mail addresses (written by
// e.Email, else EmailPlaceholder), the client's address and user paths
// scrubbed (ScrubText); emailAddress attributes become "emailAddress=" and
// e.Email's pseudonym, or are left out when e.Email drops them; every other
// attribute (given name, surname, user id, title, anything unknown) is left
// out. Hex-encoded values ("#16...") are decoded first.
func DN(dn string, e *Event) string {
	var b strings.Builder
	rdnOpen := false
	for _, a := range parseDN(dn) {
		if a.newRDN {
			rdnOpen = false
		}
		typ := strings.ToUpper(a.typ)
		var name, val string
		if t, ok := dnKept[typ]; ok {
			name, val = t, DNValue(a.val, e)
		} else if isOneOf(typ, dnEmail) {
			if e == nil || e.Email == nil {
				continue
			}
			h, ok := e.Email(a.val)
			if !ok {
				continue
			}
			name, val = "emailAddress", h
		} else {
			continue
		}
		switch {
		case rdnOpen:
			b.WriteByte('+')
		case b.Len() > 0:
			b.WriteByte(',')
		}
		rdnOpen = true
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(escapeDN(val))
	}
	return b.String()
}

// DNValue scrubs one attribute value (tls.server.x509.*.common_name).
func DNValue(v string, e *Event) string {
	out, _ := scrubDecoded(v, e, false)
	return out
}

type dnAttr struct {
	typ, val string
	newRDN   bool // the first attribute of its RDN
}

// parseDN splits an RFC 4514 name into attributes, undoing escapes
// ("\,", "\2C") and decoding hex values ("#0c05..."). Malformed parts are
// skipped: what cannot be read cannot be checked, so it never leaves.
func parseDN(dn string) []dnAttr {
	var out []dnAttr
	newRDN := true
	for i := 0; i < len(dn) && len(out) < 64; {
		for i < len(dn) && (dn[i] == ' ' || dn[i] == ',' || dn[i] == ';' || dn[i] == '+') {
			if dn[i] != '+' {
				newRDN = true
			}
			i++
		}
		eq := strings.IndexByte(dn[i:], '=')
		if eq < 0 {
			break
		}
		typ := strings.TrimSpace(dn[i : i+eq])
		i += eq + 1
		for i < len(dn) && dn[i] == ' ' {
			i++
		}
		var val []byte
		hexVal := i < len(dn) && dn[i] == '#'
		j := i
		for j < len(dn) {
			c := dn[j]
			if c == ',' || c == '+' || c == ';' {
				break
			}
			if c == '\\' && j+1 < len(dn) {
				if j+2 < len(dn) && unhex(dn[j+1]) >= 0 && unhex(dn[j+2]) >= 0 {
					val = append(val, byte(unhex(dn[j+1])<<4|unhex(dn[j+2])))
					j += 3
					continue
				}
				val = append(val, dn[j+1])
				j += 2
				continue
			}
			val = append(val, c)
			j++
		}
		sepPlus := j < len(dn) && dn[j] == '+'
		v := strings.TrimRight(string(val), " ")
		ok := true
		if hexVal {
			v, ok = derString(v[1:])
		}
		if ok && typ != "" {
			out = append(out, dnAttr{typ: typ, val: v, newRDN: newRDN})
			newRDN = false
		}
		i = j
		if sepPlus {
			i++ // stays in the RDN
		}
	}
	return out
}

// derString decodes the hex of a DER string value (UTF8String,
// PrintableString, T61String, IA5String, BMPString, UniversalString).
func derString(h string) (string, bool) {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) < 2 {
		return "", false
	}
	tag, n := b[0], int(b[1])
	b = b[2:]
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 2 || len(b) < k {
			return "", false
		}
		n = 0
		for _, x := range b[:k] {
			n = n<<8 | int(x)
		}
		b = b[k:]
	}
	if n > len(b) {
		return "", false
	}
	b = b[:n]
	switch tag {
	case 0x0c, 0x13, 0x14, 0x16, 0x1a:
		if !utf8.Valid(b) {
			return "", false
		}
		return string(b), true
	case 0x1e: // BMPString: UTF-16BE
		if len(b)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		return string(utf16.Decode(u)), true
	case 0x1c: // UniversalString: UTF-32BE
		if len(b)%4 != 0 {
			return "", false
		}
		var s []rune
		for i := 0; i < len(b); i += 4 {
			s = append(s, rune(b[i])<<24|rune(b[i+1])<<16|rune(b[i+2])<<8|rune(b[i+3]))
		}
		return string(s), true
	}
	return "", false
}

// escapeDN escapes a value as RFC 4514 (and pkix.Name.String) do.
func escapeDN(v string) string {
	var b strings.Builder
	b.Grow(len(v) + 8)
	for i := 0; i < len(v); i++ {
		c := v[i]
		esc := false
		switch c {
		case ',', '+', '"', '\\', '<', '>', ';':
			esc = true
		case ' ':
			esc = i == 0 || i == len(v)-1
		case '#':
			esc = i == 0
		}
		if esc {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// SAN is what of one subject alternative name leaves: a DNS name (a
// leading "*." allowed) checked as a host name, an IP address (the
// client's written by e.Addr), an rfc822Name or mailto: URI written by
// e.Email, another URI rebuilt by rules. ok is false when nothing is left.
func SAN(v string, rules *URLRules, e *Event) (string, bool) {
	v = strings.TrimSpace(v)
	if strings.ContainsAny(v, ".:") {
		if a, ok := ParseHost(v); ok {
			if e.IsClient(a) {
				return e.addrText(a)
			}
			return a.String(), true
		}
	}
	if i := schemeEnd(v); i > 1 {
		if strings.EqualFold(v[:i], "mailto") {
			addr, _, _ := strings.Cut(v[i+1:], "?")
			return emailOf(Unescape(addr), e)
		}
		return rules.URL(v, e), true
	}
	if strings.IndexByte(v, '@') >= 0 {
		return emailOf(v, e)
	}
	name := strings.ToLower(strings.TrimSuffix(v, "."))
	wild := strings.HasPrefix(name, "*.")
	if wild {
		name = name[2:]
	}
	if !validHostName(name) {
		return "", false
	}
	if e != nil && e.Client.IsValid() && ContainsAddr(name, e.IsClient) {
		return e.addrText(e.Client)
	}
	if wild {
		name = "*." + name
	}
	return name, true
}

func emailOf(addr string, e *Event) (string, bool) {
	if e == nil || e.Email == nil {
		return "", false
	}
	return e.Email(addr)
}

// ErrorText is what of a parser's error message leaves: quoted parts
// (which quote the input: Go's x509 errors quote a URI they cannot
// parse) become "…", the rest is cut at 256 bytes, then ScrubText's
// rules apply.
func ErrorText(s string, e *Event) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '`' || c == '\'' && (i == 0 || !isAlnum(s[i-1])) {
			if end := closingQuote(s, i); end > i {
				b.WriteString(`"…"`)
				i = end
				continue
			}
		}
		b.WriteByte(c)
	}
	out := b.String()
	if len(out) > 256 {
		cut := 256
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + " …"
	}
	if d := Unescape(out); d != out {
		if sd, changed := scrubDecoded(d, e, true); changed {
			return sd // what was encoded is read decoded
		}
	}
	out, _ = scrubDecoded(out, e, true)
	return out
}

// closingQuote finds the quote closing the one at s[i] (a backslash
// escapes inside double quotes), or runs to the end.
func closingQuote(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q == '"':
			j++
		case s[j] == q:
			return j
		}
	}
	return len(s) - 1
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
