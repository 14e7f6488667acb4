package enforce

import (
	"net/netip"
	"slices"
	"time"

	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
)

// Limits of the data plane (bpf/types.h, bpf/maps.h).
const (
	// MaxLists is how many lists have their own freshness and counters;
	// sources beyond the last fold into it.
	MaxLists = 64
	// MaxAllow bounds each family's allowlist table.
	MaxAllow = 4096
	// PrefilterBits: one prefilter bit per /24 of IPv4 and per top 24
	// bits of IPv6.
	PrefilterBits  = 24
	PrefilterWords = 1 << (PrefilterBits - 6)
)

// Entry is one blocklist entry as the data plane holds it.
type Entry struct {
	Prefix netip.Prefix // an address is a whole-length prefix
	List   uint16
	Level  uint8
	Until  time.Time // zero: never lapses
}

// Tables are a whole set of lists, replaced at once in the data plane.
type Tables struct {
	// Lists names each list id: the intel sources, in config order.
	Lists []string
	// Entries are the blocklist entries at or above the threshold.
	Entries []Entry
	// Allow are the allowlisted prefixes: the intel's IP allow entries
	// and [enforcement] allow. Past MaxAllow per family the rest are
	// left out and counted in AllowDropped (Validate bounds the config's
	// own; the intel's can be more).
	Allow        []netip.Prefix
	AllowDropped int
	// Below counts blocklist entries under the threshold, not loaded;
	// TooBroad, prefixes shorter than min_prefix_v4/_v6, left out;
	// FeedAllowLeftOut, the feed's allow entries a local block overlaps
	// (the data plane's allowlist would beat it).
	Below, TooBroad, FeedAllowLeftOut int
	// NextExpiry is when the first entry lapses (zero: none does): the
	// tables are built again then, so that an expired longer prefix
	// stops hiding a shorter one still in force (the data plane's LPM
	// lookup finds only the longest).
	NextExpiry time.Time
}

// ListID is the id of the list a source's entries carry.
func (t *Tables) ListID(source string) uint16 {
	if i := slices.Index(t.Lists, source); i >= 0 {
		return uint16(i)
	}
	return uint16(len(t.Lists) - 1)
}

// Build makes the tables for set under s. A nil set gives the config's
// allowlist and no blocklist.
func Build(set *intel.Set, s *Settings) *Tables {
	t := &Tables{}
	for _, st := range set.Stats() {
		if !slices.Contains(t.Lists, st.Name) {
			t.Lists = append(t.Lists, st.Name)
		}
	}
	if len(t.Lists) > MaxLists {
		t.Lists = append(t.Lists[:MaxLists-1], "other")
	}
	if len(t.Lists) == 0 {
		t.Lists = []string{"none"}
	}
	var n4, n6 int
	addAllow := func(p netip.Prefix) {
		n := &n6
		if p.Addr().Is4() {
			n = &n4
		}
		if *n >= MaxAllow {
			t.AllowDropped++
			return
		}
		*n++
		t.Allow = append(t.Allow, p)
	}
	for _, p := range s.AllowPrefixes() {
		addAllow(p)
	}
	t.Entries = make([]Entry, 0, set.Counts()["ip"]+set.FeedIPs())
	var feedAllow []intel.IPEntry
	// The local files' loaded prefixes, when the feed lists addresses
	// too: a prefix both list is loaded once, as the files say.
	var local map[netip.Prefix]bool
	if set.FeedIPs() > 0 {
		local = map[netip.Prefix]bool{}
	}
	set.IPEntries(func(e intel.IPEntry) {
		switch {
		case e.Allow && e.Feed:
			feedAllow = append(feedAllow, e) // checked below, out of the feed's lock
		case e.Feed && local[e.Prefix]:
		case e.Allow:
			addAllow(e.Prefix)
			t.noteExpiry(e.Until)
		case e.Level < s.Threshold:
			t.Below++
		case e.Prefix.Bits() < s.minPrefix(e.Prefix.Addr().Is4()):
			t.TooBroad++
		default:
			t.Entries = append(t.Entries, Entry{Prefix: e.Prefix, List: t.ListID(e.Source), Level: uint8(e.Level), Until: e.Until})
			t.noteExpiry(e.Until)
			if local != nil && !e.Feed {
				local[e.Prefix] = true
			}
		}
	})
	// The feed's allow entries keep their addresses out of the feed's
	// blocklists, not out of the local files': the data plane's allowlist
	// beats every block, so a feed allow entry goes there only when no
	// local block covers it or lies inside it.
	var starts []netip.Addr // the local blocks' first addresses, in order
	if len(feedAllow) > 0 {
		for p := range local {
			starts = append(starts, p.Addr())
		}
		slices.SortFunc(starts, netip.Addr.Compare)
	}
	for _, e := range feedAllow {
		if overlapsLocal(e.Prefix, local, starts) {
			t.FeedAllowLeftOut++
			continue
		}
		addAllow(e.Prefix)
		t.noteExpiry(e.Until)
	}
	return t
}

// overlapsLocal says whether a local block covers p or lies inside it.
func overlapsLocal(p netip.Prefix, local map[netip.Prefix]bool, starts []netip.Addr) bool {
	for b := 0; b <= p.Bits(); b++ {
		if q, _ := p.Addr().Prefix(b); local[q] {
			return true
		}
	}
	first := p.Masked().Addr()
	i, _ := slices.BinarySearchFunc(starts, first, netip.Addr.Compare)
	return i < len(starts) && p.Contains(starts[i])
}

// noteExpiry keeps the earliest expiry in NextExpiry (an allow entry's
// too: it must stop overruling blocks when it lapses).
func (t *Tables) noteExpiry(until time.Time) {
	if !until.IsZero() && (t.NextExpiry.IsZero() || until.Before(t.NextExpiry)) {
		t.NextExpiry = until
	}
}

// Prefilter is the data plane's prefilter for the entries of one family
// (of its prefix entries alone, shorter than an address, with
// prefixesOnly): a bit per top PrefilterBits bits of address that some
// entry covers.
func Prefilter(entries []Entry, v6, prefixesOnly bool) []uint64 {
	bits := make([]uint64, PrefilterWords)
	for _, e := range entries {
		if e.Prefix.Addr().Is6() != v6 || (prefixesOnly && e.Prefix.IsSingleIP()) {
			continue
		}
		b := e.Prefix.Addr().AsSlice()
		top := uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])
		n := uint32(1)
		if l := e.Prefix.Bits(); l < PrefilterBits {
			n = 1 << (PrefilterBits - l)
			top &^= n - 1
		}
		setRange(bits, top, n)
	}
	return bits
}

// setRange sets bits [from, from+n).
func setRange(bits []uint64, from, n uint32) {
	for n > 0 {
		if from&63 == 0 && n >= 64 {
			bits[from>>6] = ^uint64(0)
			from, n = from+64, n-64
			continue
		}
		bits[from>>6] |= 1 << (from & 63)
		from, n = from+1, n-1
	}
}

// Reason says why a flow was blocked (flow_block.reason).
type Reason uint8

const (
	ReasonNone Reason = iota
	ReasonSNI
	ReasonJA3
	ReasonJA4
	ReasonFile
)

var reasonNames = [...]string{"", "sni", "ja3", "ja4", "file"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Handshake decides whether a handshake is blocked: its SNI, JA3 or JA4
// hits a blocklist at or above threshold and none of them an allowlist.
// It returns the deciding hit (the highest level) and its reason.
func Handshake(set *intel.Set, threshold int, sni, ja3, ja4 string) (intel.Hit, Reason, bool) {
	if set == nil {
		return intel.Hit{}, ReasonNone, false
	}
	var best intel.Hit
	reason := ReasonNone
	consider := func(h intel.Hit, ok bool, r Reason) bool {
		if !ok {
			return true
		}
		if h.Allow {
			return false
		}
		if h.Level >= threshold && (reason == ReasonNone || h.Level > best.Level) {
			best, reason = h, r
		}
		return true
	}
	if sni != "" {
		if h, ok := set.Domain(sni); !consider(h, ok, ReasonSNI) {
			return intel.Hit{}, ReasonNone, false
		}
	}
	if ja3 != "" {
		if h, ok := set.JA3(ja3); !consider(h, ok, ReasonJA3) {
			return intel.Hit{}, ReasonNone, false
		}
	}
	if ja4 != "" {
		if h, ok := set.JA4(ja4); !consider(h, ok, ReasonJA4) {
			return intel.Hit{}, ReasonNone, false
		}
	}
	return best, reason, reason != ReasonNone
}
