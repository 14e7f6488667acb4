// Package enforce turns the sensor's verdicts into the tables the data
// plane acts on: blocklisted addresses and prefixes (from the intel's IP
// entries at or above the threshold), allowlists that always win, and the
// decision to block a flow whose handshake hits the intel. It knows no
// kernel: package sensor writes what it builds.
package enforce

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/edgesensor/edgesensor/userspace/setting"
	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
)

// Mode is what a blocklist hit does.
type Mode uint8

const (
	Off     Mode = iota // nothing is decided
	Monitor             // decided, counted and reported as would_block; nothing dropped
	Block               // dropped (and a blocked TCP flow reset)
)

var modeNames = [...]string{"off", "monitor", "block"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ParseMode reads the config spelling of a mode.
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return Mode(i), nil
		}
	}
	return Off, fmt.Errorf("unknown mode %q", s)
}

// Defaults of the [enforcement] table.
const (
	DefaultThreshold       = 7
	DefaultMaxAge          = 10 * time.Minute
	DefaultFlowBlockFor    = 10 * time.Minute
	DefaultMaxBlockedFlows = 65536
	DefaultMinPrefixV4     = 8
	DefaultMinPrefixV6     = 16
	DefaultHoldTimeout     = 3 * time.Second
	DefaultHelloHold       = 250 * time.Millisecond
)

// Hold fallbacks (on_timeout) and ways of handing a clean download's
// held packet on (hold_release).
const (
	OnTimeoutPermit = "permit"
	OnTimeoutBlock  = "block"

	ReleaseReinject   = "reinject"
	ReleaseRetransmit = "retransmit"
)

// Settings is the [enforcement] table.
type Settings struct {
	// Mode: "off" (the default), "monitor" or "block".
	Mode string `toml:"mode"`
	// Threshold: blocklist entries and handshake hits at or above this
	// threat level are acted on.
	Threshold int `toml:"threshold"`
	// MaxAge is how long the data plane keeps a list in force without
	// the daemon confirming it: a dead sensor's lists lapse after it.
	MaxAge setting.Duration `toml:"max_age"`
	// Allow lists addresses and prefixes never acted on (management
	// networks, the sensor's uplink, the cloud): a packet with either
	// address in one passes, whatever the blocklists say.
	Allow []string `toml:"allow"`
	// FlowBlockFor is how long a flow blocked for its handshake stays
	// blocked; MaxBlockedFlows bounds how many are at once.
	FlowBlockFor    setting.Duration `toml:"flow_block_for"`
	MaxBlockedFlows int              `toml:"max_blocked_flows"`
	// MinPrefixV4 and MinPrefixV6: blocklist prefixes shorter than these
	// are left out (a feed line 0.0.0.0/0 must not blackhole the site).
	MinPrefixV4 int `toml:"min_prefix_v4"`
	MinPrefixV6 int `toml:"min_prefix_v6"`
	// HoldTimeout: in block mode, the packet completing an HTTP download
	// is held until the file's verdict, at most this long ("0s": hold
	// nothing). The data plane lets held packets through by itself once
	// it passes without word from the daemon (fail open).
	HoldTimeout setting.Duration `toml:"hold_timeout"`
	// OnTimeout: what a download whose verdict is late gets, "permit"
	// or "block".
	OnTimeout string `toml:"on_timeout"`
	// HoldRelease: how a clean download's held packet goes on:
	// "reinject" (at once) or "retransmit" (the sender's next
	// retransmission passes: one retransmission timeout later).
	HoldRelease string `toml:"hold_release"`
	// HoldCloud: a held download whose hash the privacy policy lets the
	// cloud see also waits for the cloud's lookup (within hold_timeout).
	HoldCloud bool `toml:"hold_cloud"`
	// HelloHold: in block mode, while the intel holds handshake entries
	// that block at the threshold (domains, JA3, JA4:
	// intel.Set.Handshakes), a TLS handshake's server packets wait in
	// the data plane until its ClientHello is judged, at most this long
	// ("0s": none wait, and a server that answers before the verdict
	// gets its first flight through).
	HelloHold setting.Duration `toml:"hello_hold"`
}

// minPrefix is the shortest blocklist prefix taken for a family.
func (s *Settings) minPrefix(v4 bool) int {
	if v4 {
		return s.MinPrefixV4
	}
	return s.MinPrefixV6
}

// DefaultSettings is the [enforcement] table of the shipped sensor.toml.
func DefaultSettings() Settings {
	return Settings{
		Mode:            "off",
		Allow:           []string{},
		Threshold:       DefaultThreshold,
		MaxAge:          setting.Duration(DefaultMaxAge),
		FlowBlockFor:    setting.Duration(DefaultFlowBlockFor),
		MaxBlockedFlows: DefaultMaxBlockedFlows,
		MinPrefixV4:     DefaultMinPrefixV4,
		MinPrefixV6:     DefaultMinPrefixV6,
		HoldTimeout:     setting.Duration(DefaultHoldTimeout),
		OnTimeout:       OnTimeoutPermit,
		HoldRelease:     ReleaseReinject,
		HelloHold:       setting.Duration(DefaultHelloHold),
	}
}

// Validate checks the table, found at key.
func (s *Settings) Validate(key string, p *setting.Problems) {
	if _, err := ParseMode(s.Mode); err != nil {
		p.Add(key+".mode", "%q is not a mode; use \"off\", \"monitor\" (decide and report, drop nothing) or \"block\"", s.Mode)
	}
	if s.Threshold < 1 || s.Threshold > 10 {
		p.Add(key+".threshold", "%d is out of range; use 1 to 10 (threat levels at or above it are acted on)", s.Threshold)
	}
	if d := time.Duration(s.MaxAge); d < 10*time.Second || d > 7*24*time.Hour {
		p.Add(key+".max_age", "%v is out of range; use 10s to 168h", d)
	}
	if d := time.Duration(s.FlowBlockFor); d < time.Second || d > 24*time.Hour {
		p.Add(key+".flow_block_for", "%v is out of range; use 1s to 24h", d)
	}
	if s.MaxBlockedFlows < 1 || s.MaxBlockedFlows > 1<<20 {
		p.Add(key+".max_blocked_flows", "%d is out of range; use 1 to 1048576", s.MaxBlockedFlows)
	}
	for i, a := range s.Allow {
		if _, err := intel.ParsePrefix(strings.TrimSpace(a)); err != nil {
			p.Add(fmt.Sprintf("%s.allow[%d]", key, i), "%q is not an address or CIDR prefix, e.g. \"192.0.2.0/24\" or \"2001:db8::1\"", a)
		}
	}
	if s.MinPrefixV4 < 0 || s.MinPrefixV4 > 32 {
		p.Add(key+".min_prefix_v4", "%d is out of range; use 0 to 32", s.MinPrefixV4)
	}
	if s.MinPrefixV6 < 0 || s.MinPrefixV6 > 128 {
		p.Add(key+".min_prefix_v6", "%d is out of range; use 0 to 128", s.MinPrefixV6)
	}
	if d := time.Duration(s.HoldTimeout); d != 0 && (d < 100*time.Millisecond || d > time.Minute) {
		p.Add(key+".hold_timeout", "%v is out of range; use 100ms to 1m, or \"0s\" to hold no download", d)
	}
	if d := time.Duration(s.HelloHold); d != 0 && (d < 10*time.Millisecond || d > 5*time.Second) {
		p.Add(key+".hello_hold", "%v is out of range; use 10ms to 5s, or \"0s\" to hold no server's packets for a hello's verdict", d)
	}
	if s.OnTimeout != OnTimeoutPermit && s.OnTimeout != OnTimeoutBlock {
		p.Add(key+".on_timeout", "%q is not a fallback; use \"permit\" (a late verdict lets the download finish) or \"block\"", s.OnTimeout)
	}
	if s.HoldRelease != ReleaseReinject && s.HoldRelease != ReleaseRetransmit {
		p.Add(key+".hold_release", "%q is not a release; use \"reinject\" (hand the held packet on at once) or \"retransmit\"", s.HoldRelease)
	}
	if len(s.Allow) > MaxAllow {
		p.Add(key+".allow", "%d entries; at most %d", len(s.Allow), MaxAllow)
	}
}

// ModeValue is the parsed Mode (Off when invalid: Validate refuses that).
func (s *Settings) ModeValue() Mode {
	m, _ := ParseMode(s.Mode)
	return m
}

// AllowPrefixes are the parsed Allow entries.
func (s *Settings) AllowPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, a := range s.Allow {
		if p, err := intel.ParsePrefix(strings.TrimSpace(a)); err == nil {
			out = append(out, p)
		}
	}
	return out
}
