package datapath

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/edgesensor/edgesensor/userspace/packet/csum"
)

// Checksum policies (reassembly.checksums).
const (
	ChecksumsAuto    = "auto"
	ChecksumsVerify  = "verify"
	ChecksumsOffload = "offload"
	ChecksumsOff     = "off"
)

// Checksums decides which packets a receiving host would drop for a
// wrong TCP, UDP or IPv4 header checksum. A sender with checksum offload
// leaves only the pseudo-header sum (or 0) in the field; a capture taken
// on it, or an XDP program on its veth, sees that. Such partial checksums
// pass where the interface is known to carry them, and, in auto mode,
// until the interface has shown it carries full ones (a router's wire
// always does), after which only full checksums pass. An interface whose
// checksums are mostly wrong (generic XDP on GRO'd packets) is not
// checked at all in auto mode. Safe for concurrent use.
type Checksums struct {
	mode string
	mu   sync.Mutex
	ifs  map[string]*ifChecks
	// OnStrict, when set, is called once per interface that auto mode
	// decides carries full checksums (the data plane can then require
	// them too); OnOff when it decides not to check one.
	OnStrict, OnOff func(iface string, ifindex uint32)
	// Counts of what was checked: full, partial and wrong checksums, and
	// packets dropped for them under the policy.
	full, partial, wrong, dropped atomic.Uint64
}

// Counts adds the checksum figures to m, named checksum_*.
func (c *Checksums) Counts(m map[string]uint64) {
	if c == nil {
		return
	}
	m["checksum_full"] = c.full.Load()
	m["checksum_partial"] = c.partial.Load()
	m["checksum_wrong"] = c.wrong.Load()
	m["checksum_dropped"] = c.dropped.Load()
}

// What auto mode needs to see before it decides.
const (
	autoStrictAfter = 128 // full checksums, with partial ones under 1 in 64
	autoOffAfter    = 256 // checked packets, of which more than half wrong
)

type ifChecks struct {
	full, partial, bad, checked atomic.Uint64
	state                       atomic.Uint32 // csTolerant, csStrict, csOff
}

const (
	csTolerant uint32 = iota
	csStrict
	csOff
)

// NewChecksums follows mode (one of the Checksums* constants; "" is auto).
func NewChecksums(mode string) *Checksums {
	if mode == "" {
		mode = ChecksumsAuto
	}
	return &Checksums{mode: mode, ifs: map[string]*ifChecks{}}
}

func (c *Checksums) iface(name string) *ifChecks {
	c.mu.Lock()
	defer c.mu.Unlock()
	ic := c.ifs[name]
	if ic == nil {
		ic = &ifChecks{}
		switch c.mode {
		case ChecksumsVerify:
			ic.state.Store(csStrict)
		case ChecksumsOff:
			ic.state.Store(csOff)
		}
		c.ifs[name] = ic
	}
	return ic
}

// Verdict classifies one packet's checksums.
type Verdict uint8

// Verdicts.
const (
	Unchecked Verdict = iota // nothing to check, or not all of it captured
	Full                     // every checksum right
	Partial                  // the L4 field holds only the pseudo-header sum, or 0
	Wrong
)

// Bad reports whether ev's host would drop it for a checksum, under the
// policy of its interface, and learns from it in auto mode.
func (c *Checksums) Bad(ev *Event) bool {
	if c == nil || c.mode == ChecksumsOff {
		return false
	}
	v := Check(ev)
	switch v {
	case Unchecked:
		return false
	case Full:
		c.full.Add(1)
	case Partial:
		c.partial.Add(1)
	case Wrong:
		c.wrong.Add(1)
	}
	bad := c.judge(ev, v)
	if bad {
		c.dropped.Add(1)
	}
	return bad
}

func (c *Checksums) judge(ev *Event, v Verdict) bool {
	ic := c.iface(ev.Interface)
	st := ic.state.Load()
	if c.mode == ChecksumsAuto && st == csTolerant {
		c.learn(ic, ev, v)
		st = ic.state.Load()
	}
	switch st {
	case csOff:
		return false
	case csStrict:
		return v != Full
	}
	if c.mode == ChecksumsOffload || st == csTolerant {
		return v == Wrong
	}
	return v != Full
}

func (c *Checksums) learn(ic *ifChecks, ev *Event, v Verdict) {
	n := ic.checked.Add(1)
	switch v {
	case Full:
		ic.full.Add(1)
	case Partial:
		ic.partial.Add(1)
	case Wrong:
		ic.bad.Add(1)
	}
	switch {
	case ic.full.Load() >= autoStrictAfter && ic.partial.Load()*64 <= ic.full.Load():
		if ic.state.CompareAndSwap(csTolerant, csStrict) && c.OnStrict != nil {
			c.OnStrict(ev.Interface, ev.Ifindex)
		}
	case n >= autoOffAfter && ic.bad.Load()*2 > n:
		if ic.state.CompareAndSwap(csTolerant, csOff) && c.OnOff != nil {
			c.OnOff(ev.Interface, ev.Ifindex)
		}
	}
}

// Mode reports what an interface's checksums are held to: "tolerant"
// (partial ones pass), "strict" or "off".
func (c *Checksums) Mode(iface string) string {
	if c == nil {
		return "off"
	}
	return [...]string{"tolerant", "strict", "off"}[c.iface(iface).state.Load()]
}

// Check classifies the checksums of ev's innermost IPv4 header and TCP or
// UDP segment. A frame cut short, a fragment or a malformed header is
// Unchecked.
func Check(ev *Event) Verdict {
	f := ev.Frame
	l3, l4 := ev.L3Off, ev.L4Off
	if ev.Class == ClassFrag || l3 <= 0 || l4 <= l3 || l4 > len(f) {
		return Unchecked
	}
	var l4len int
	partialIP := false
	switch f[l3] >> 4 {
	case 4:
		ihl := int(f[l3]&0x0f) * 4
		if ihl < 20 || l3+ihl > len(f) || l3+ihl != l4 {
			return Unchecked
		}
		tot := int(binary.BigEndian.Uint16(f[l3+2:]))
		if tot < ihl || l3+tot > len(f) {
			return Unchecked
		}
		if !csum.IPv4HeaderValid(f[l3 : l3+ihl]) {
			if binary.BigEndian.Uint16(f[l3+10:]) != 0 {
				return Wrong
			}
			partialIP = true // no header checksum at all (tools, some captures)
		}
		l4len = tot - ihl
	case 6:
		if l3+40 > len(f) {
			return Unchecked
		}
		l4len = int(binary.BigEndian.Uint16(f[l3+4:])) - (l4 - l3 - 40)
		if l4len < 0 || l4+l4len > len(f) {
			return Unchecked
		}
	default:
		return Unchecked
	}
	seg := f[l4 : l4+l4len]
	if ev.Proto == ProtoUDP && len(seg) >= 8 && seg[6]|seg[7] == 0 && f[l3]>>4 == 4 {
		return Full // UDP over IPv4 without a checksum (RFC 768)
	}
	if ev.Proto != ProtoTCP && ev.Proto != ProtoUDP {
		return Unchecked
	}
	switch csum.L4(ev.Src.Addr(), ev.Dst.Addr(), ev.Proto, seg) {
	case csum.Valid:
		if partialIP {
			return Partial
		}
		return Full
	case csum.Partial:
		return Partial
	}
	return Wrong
}
