package intel

import (
	"fmt"
	"strings"
)

// Kind is what an intelligence value is. Zero means "not given", which is
// only valid for STIX sources (their patterns carry the kind).
type Kind uint8

const (
	SHA256 Kind = iota + 1
	SHA1
	MD5
	IP // addresses and CIDRs, v4 and v6
	Domain
	JA3
	JA4
)

var kindNames = [...]string{"", "sha256", "sha1", "md5", "ip", "domain", "ja3", "ja4"}

// String is the config spelling of k.
func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind reads the config spelling of a kind, case-insensitively.
func ParseKind(s string) (Kind, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, n := range kindNames {
		if i != 0 && n == s {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("intel: unknown kind %q (want sha256, sha1, md5, ip, domain, ja3 or ja4)", s)
}

func (k Kind) valid() bool { return k >= SHA256 && k <= JA4 }
