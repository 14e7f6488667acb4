package intel

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"time"
)

// Hit is a lookup's answer: the entry that matched and where it came from.
type Hit struct {
	Kind   Kind
	Value  string // the listed value: the hash, the CIDR or address, the (parent) domain
	Level  int    // threat level 0..10; allowlist hits report their own level (0 by default)
	Source string // the source's Name
	Allow  bool   // true: an allowlist matched, the caller should not alert
}

// Set is a loaded body of intelligence. It is never modified after Load
// returns it, so concurrent readers need no locking. A nil *Set matches
// nothing.
type Set struct {
	sha256  map[[32]byte]entry
	sha1    map[[20]byte]entry
	md5     map[[16]byte]entry
	ja3     map[[16]byte]entry
	ja4     map[string]entry
	domains map[string]entry
	// One table per prefix length, indexed by the masked address.
	v4     [33]map[[4]byte]entry
	v6     [129]map[[16]byte]entry
	v4lens []uint8 // lengths present, longest first
	v6lens []uint8
	// ipUntil holds the expiry of IP entries that have one (STIX
	// valid_until); a zero time means the entry does not expire.
	ipUntil map[netip.Prefix]time.Time

	sources []string
	stats   []SourceStats

	// hsBlock counts the handshake entries (JA3, JA4, domain) that block,
	// by threshold level: whether any reaches enforcement's threshold
	// decides if the hello gate need be up (Handshakes), asked every
	// quarter second, so kept as entries come and go, not counted then.
	hsBlock [maxLevel + 1]int

	// feed is the cloud's feed, consulted after the tables above; nil
	// without one.
	feed *Layer
}

func (s *Set) hit(k Kind, v string, e entry) Hit {
	return Hit{Kind: k, Value: v, Level: int(e.level), Source: s.sources[e.src], Allow: e.allow}
}

// pick prefers an allow hit, then the higher level.
func pick(best Hit, ok bool, h Hit) Hit {
	if !ok || (h.Allow && !best.Allow) || (h.Allow == best.Allow && h.Level > best.Level) {
		return h
	}
	return best
}

// Hash looks up whichever of the three digests are given (hex, any case;
// "" skips one). An allow hit on any digest wins; otherwise the highest
// level block hit is returned.
func (s *Set) Hash(sha256, sha1, md5 string) (Hit, bool) {
	h, ok := s.hashLocal(sha256, sha1, md5)
	return s.withFeed(h, ok, func(f *Set) (Hit, bool) { return f.hashLocal(sha256, sha1, md5) })
}

func (s *Set) hashLocal(sha256, sha1, md5 string) (Hit, bool) {
	if s == nil {
		return Hit{}, false
	}
	var best Hit
	found := false
	if sha256 != "" && len(s.sha256) > 0 {
		var k [32]byte
		if decodeHex(k[:], []byte(sha256)) == nil {
			if e, ok := s.sha256[k]; ok {
				best, found = pick(best, found, s.hit(SHA256, hex.EncodeToString(k[:]), e)), true
			}
		}
	}
	if sha1 != "" && len(s.sha1) > 0 {
		var k [20]byte
		if decodeHex(k[:], []byte(sha1)) == nil {
			if e, ok := s.sha1[k]; ok {
				best, found = pick(best, found, s.hit(SHA1, hex.EncodeToString(k[:]), e)), true
			}
		}
	}
	if md5 != "" && len(s.md5) > 0 {
		var k [16]byte
		if decodeHex(k[:], []byte(md5)) == nil {
			if e, ok := s.md5[k]; ok {
				best, found = pick(best, found, s.hit(MD5, hex.EncodeToString(k[:]), e)), true
			}
		}
	}
	return best, found
}

// IP finds the longest listed prefix containing a, except that an
// allowlisted prefix containing a (at any length) wins over block
// entries. IPv4-mapped IPv6 addresses are looked up as IPv4.
func (s *Set) IP(a netip.Addr) (Hit, bool) {
	h, ok := s.ipLocal(a)
	return s.withFeed(h, ok, func(f *Set) (Hit, bool) { return f.ipLocal(a) })
}

func (s *Set) ipLocal(a netip.Addr) (Hit, bool) {
	if s == nil || !a.IsValid() {
		return Hit{}, false
	}
	a = a.Unmap().WithZone("")
	var best Hit
	found := false
	consider := func(p netip.Prefix, e entry) bool {
		if s.expired(p) {
			return false
		}
		v := p.String()
		if p.IsSingleIP() {
			v = p.Addr().String()
		}
		if !found {
			best, found = s.hit(IP, v, e), true
		} else if e.allow && !best.Allow {
			best = s.hit(IP, v, e)
		}
		return best.Allow // nothing can beat an allow hit
	}
	if a.Is4() {
		for _, n := range s.v4lens {
			p := netip.PrefixFrom(a, int(n)).Masked()
			if e, ok := s.v4[n][p.Addr().As4()]; ok && consider(p, e) {
				break
			}
		}
	} else {
		for _, n := range s.v6lens {
			p := netip.PrefixFrom(a, int(n)).Masked()
			if e, ok := s.v6[n][p.Addr().As16()]; ok && consider(p, e) {
				break
			}
		}
	}
	return best, found
}

// withFeed completes a local lookup's answer with the feed's, which q
// gives from the feed's set.
func (s *Set) withFeed(h Hit, ok bool, q func(*Set) (Hit, bool)) (Hit, bool) {
	if s == nil || s.feed == nil || (ok && h.Allow) {
		return h, ok
	}
	var fh Hit
	var fok bool
	s.feed.read(func(f *Set) { fh, fok = q(f) })
	return merge(h, ok, fh, fok)
}

// merge decides between a local hit and the feed's: a local allow wins
// (the caller returns it before asking the feed), a local block stays
// over a feed allow, and between two blocks the higher level wins.
func merge(local Hit, lok bool, feed Hit, fok bool) (Hit, bool) {
	switch {
	case !fok:
		return local, lok
	case !lok:
		return feed, true
	case local.Allow || feed.Allow || feed.Level <= local.Level:
		return local, true
	}
	return feed, true
}

// expired says whether the IP entry p has lapsed.
func (s *Set) expired(p netip.Prefix) bool {
	if len(s.ipUntil) == 0 {
		return false
	}
	t, ok := s.ipUntil[p]
	return ok && !t.IsZero() && !t.After(now())
}

// IPEntry is one IP entry of a Set.
type IPEntry struct {
	Prefix netip.Prefix // an address is a whole-length prefix
	Level  int
	Source string
	Allow  bool
	Until  time.Time // when it lapses; zero: never
	Feed   bool      // the cloud's feed listed it (after the local files)
}

// IPEntries calls fn for every IP entry not yet expired, IPv4 first, each
// family longest prefix first; then the feed's, the same way (fn must not
// query the Set: the feed is read-locked meanwhile).
func (s *Set) IPEntries(fn func(IPEntry)) {
	if s == nil {
		return
	}
	emit := func(p netip.Prefix, e entry) {
		if s.expired(p) {
			return
		}
		fn(IPEntry{Prefix: p, Level: int(e.level), Source: s.sources[e.src], Allow: e.allow, Until: s.ipUntil[p]})
	}
	for _, n := range s.v4lens {
		for a, e := range s.v4[n] {
			emit(netip.PrefixFrom(netip.AddrFrom4(a), int(n)), e)
		}
	}
	for _, n := range s.v6lens {
		for a, e := range s.v6[n] {
			emit(netip.PrefixFrom(netip.AddrFrom16(a), int(n)), e)
		}
	}
	if s.feed != nil {
		s.feed.read(func(f *Set) {
			f.IPEntries(func(e IPEntry) {
				e.Feed = true
				fn(e)
			})
		})
	}
}

// FeedIPs is the number of IP entries of the feed the set consults.
func (s *Set) FeedIPs() int {
	if s == nil || s.feed == nil {
		return 0
	}
	return s.feed.Counts()["ip"]
}

// Domain matches name or any parent of it: "evil.example" matches
// "a.b.evil.example". Case and a trailing dot are ignored, as is a port
// after a single colon (HTTP Host). An allow entry at any level wins;
// otherwise the most specific block entry is returned.
func (s *Set) Domain(name string) (Hit, bool) {
	h, ok := s.domainLocal(name)
	return s.withFeed(h, ok, func(f *Set) (Hit, bool) { return f.domainLocal(name) })
}

func (s *Set) domainLocal(name string) (Hit, bool) {
	if s == nil || len(s.domains) == 0 || name == "" {
		return Hit{}, false
	}
	if i := strings.IndexByte(name, ':'); i >= 0 && strings.Count(name, ":") == 1 {
		name = name[:i]
	}
	name = strings.TrimSuffix(name, ".")
	if hasUpper(name) {
		name = strings.ToLower(name)
	}
	var best Hit
	found := false
	for n := name; ; {
		if e, ok := s.domains[n]; ok {
			if !found || (e.allow && !best.Allow) {
				best, found = s.hit(Domain, n, e), true
			}
			if best.Allow {
				break
			}
		}
		i := strings.IndexByte(n, '.')
		if i < 0 {
			break
		}
		n = n[i+1:]
	}
	return best, found
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// JA3 looks up a JA3 fingerprint (32 hex digits, any case).
func (s *Set) JA3(v string) (Hit, bool) {
	h, ok := s.ja3Local(v)
	return s.withFeed(h, ok, func(f *Set) (Hit, bool) { return f.ja3Local(v) })
}

func (s *Set) ja3Local(v string) (Hit, bool) {
	if s == nil || len(s.ja3) == 0 {
		return Hit{}, false
	}
	var k [16]byte
	if decodeHex(k[:], []byte(v)) != nil {
		return Hit{}, false
	}
	e, ok := s.ja3[k]
	if !ok {
		return Hit{}, false
	}
	return s.hit(JA3, hex.EncodeToString(k[:]), e), true
}

// JA4 looks up a JA4 fingerprint (a_b_c form, any case).
func (s *Set) JA4(v string) (Hit, bool) {
	h, ok := s.ja4Local(v)
	return s.withFeed(h, ok, func(f *Set) (Hit, bool) { return f.ja4Local(v) })
}

func (s *Set) ja4Local(v string) (Hit, bool) {
	if s == nil || len(s.ja4) == 0 {
		return Hit{}, false
	}
	if hasUpper(v) {
		v = strings.ToLower(v)
	}
	e, ok := s.ja4[v]
	if !ok {
		return Hit{}, false
	}
	return s.hit(JA4, v, e), true
}

// Handshakes says whether any entry can block a handshake at threshold:
// a domain, JA3 or JA4 entry of that level or above that is no allowlist
// entry, here or in the feed.
func (s *Set) Handshakes(threshold int) bool {
	if s == nil {
		return false
	}
	for l := max(threshold, 0); l <= maxLevel; l++ {
		if s.hsBlock[l] > 0 {
			return true
		}
	}
	found := false
	if s.feed != nil {
		s.feed.read(func(f *Set) { found = f.Handshakes(threshold) })
	}
	return found
}

// maxLevel is the highest threat level.
const maxLevel = 10

// countHS keeps hsBlock as a handshake entry old (had: there was one)
// gives way to now.
func (s *Set) countHS(old entry, had bool, now entry) {
	if had {
		s.uncountHS(old)
	}
	if !now.allow {
		s.hsBlock[min(now.level, maxLevel)]++
	}
}

func (s *Set) uncountHS(old entry) {
	if !old.allow {
		s.hsBlock[min(old.level, maxLevel)]--
	}
}

// Counts is the number of distinct entries per kind, for logs.
func (s *Set) Counts() map[string]int {
	m := map[string]int{}
	if s == nil {
		return m
	}
	m["sha256"] = len(s.sha256)
	m["sha1"] = len(s.sha1)
	m["md5"] = len(s.md5)
	m["ja3"] = len(s.ja3)
	m["ja4"] = len(s.ja4)
	m["domain"] = len(s.domains)
	ips := 0
	for _, t := range s.v4 {
		ips += len(t)
	}
	for _, t := range s.v6 {
		ips += len(t)
	}
	m["ip"] = ips
	return m
}

// SourceStats says what one file contributed, for logs.
type SourceStats struct {
	Name    string
	Path    string
	Entries int // values accepted (before duplicates across files merge)
	Bad     int // values or lines skipped as malformed or unsupported
	Skipped int // STIX indicators skipped as revoked or expired
}

// Stats is per source, in the order the sources were given.
func (s *Set) Stats() []SourceStats {
	if s == nil {
		return nil
	}
	st := append([]SourceStats(nil), s.stats...)
	if s.feed != nil {
		s.feed.read(func(f *Set) { st = append(st, f.stats...) })
	}
	return st
}
