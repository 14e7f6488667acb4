package intel

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// decodeHex fills dst from exactly 2*len(dst) hex digits of either case.
func decodeHex(dst []byte, v []byte) error {
	if len(v) != 2*len(dst) {
		return fmt.Errorf("want %d hex digits, got %d characters", 2*len(dst), len(v))
	}
	if _, err := hex.Decode(dst, v); err != nil {
		return errors.New("not hexadecimal")
	}
	return nil
}

// ParsePrefix reads an address (a whole-length prefix) or CIDR as the
// intel stores it. IPv4-mapped IPv6 values are turned into IPv4 so that
// both spellings meet in one table, and a CIDR with host bits set is
// masked rather than refused (feeds do that).
func ParsePrefix(v string) (netip.Prefix, error) {
	if strings.IndexByte(v, '/') < 0 {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return netip.Prefix{}, errors.New("not an IP address or CIDR")
		}
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("IP address with a zone")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return netip.Prefix{}, errors.New("not an IP address or CIDR")
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			// Spans more than the mapped range; keep it as IPv6.
			return p.Masked(), nil
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// normDomain lower-cases a domain and drops a trailing dot and a leading
// "*." (every entry already matches its subdomains). Names must be ASCII:
// internationalised names are listed in their xn-- form.
func normDomain(v string) (string, error) {
	v = strings.TrimSuffix(strings.ToLower(v), ".")
	v = strings.TrimPrefix(v, "*.")
	if v == "" || len(v) > 253 {
		return "", errors.New("domain length out of range")
	}
	label := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '.':
			if label == 0 {
				return "", errors.New("empty domain label")
			}
			if v[i-1] == '-' {
				return "", errors.New("domain label ends with '-'")
			}
			label = 0
			continue
		case c == '-' && label == 0:
			return "", errors.New("domain label starts with '-'")
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return "", fmt.Errorf("character %q not allowed in a domain", c)
		}
		if label++; label > 63 {
			return "", errors.New("domain label longer than 63")
		}
	}
	if label == 0 {
		return "", errors.New("empty domain label")
	}
	if v[len(v)-1] == '-' {
		return "", errors.New("domain label ends with '-'")
	}
	return v, nil
}

// normJA4 checks the JA4 shape a_b_c: a is protocol (t, q, d), two
// version characters, SNI (d, i), two-digit cipher and extension counts
// and two ALPN characters; b and c are 12 hex digits (truncated SHA-256).
func normJA4(v string) (string, error) {
	v = strings.ToLower(v)
	bad := errors.New("not a JA4 fingerprint (want like t13d1516h2_8daaf6152771_02713d6af862)")
	if len(v) != 36 || v[10] != '_' || v[23] != '_' {
		return "", bad
	}
	a := v[:10]
	if strings.IndexByte("tqd", a[0]) < 0 || strings.IndexByte("di", a[3]) < 0 ||
		!alnum(a[1:3]) || !digits(a[4:8]) || !alnum(a[8:10]) {
		return "", bad
	}
	var scratch [6]byte
	if decodeHex(scratch[:], []byte(v[11:23])) != nil || decodeHex(scratch[:], []byte(v[24:])) != nil {
		return "", bad
	}
	return v, nil
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
