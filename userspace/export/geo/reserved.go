package geo

import "net/netip"

// reserved4 and reserved6 are the special-purpose blocks (IANA registries,
// RFC 6890 and later) netip's predicates do not cover: no database places
// them.
var (
	reserved4 = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
		netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (CGN)
		netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
		netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
		netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
		netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
		netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
		netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	}
	reserved6 = []netip.Prefix{
		netip.MustParsePrefix("100::/64"),      // discard-only
		netip.MustParsePrefix("2001:2::/48"),   // benchmarking
		netip.MustParsePrefix("2001:db8::/32"), // documentation
		netip.MustParsePrefix("3fff::/20"),     // documentation
		netip.MustParsePrefix("5f00::/16"),     // SRv6 SIDs
	}
)

// global reports whether a (unmapped, without zone) is worth looking up:
// not private, loopback, link-local, multicast, unspecified or otherwise
// reserved.
func global(a netip.Addr) bool {
	if !a.IsValid() || a.IsUnspecified() || a.IsLoopback() || a.IsPrivate() ||
		a.IsLinkLocalUnicast() || a.IsMulticast() {
		return false
	}
	reserved := reserved6
	if a.Is4() {
		reserved = reserved4
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
