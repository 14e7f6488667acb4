package alertpcap

import (
	"path/filepath"
	"time"

	"github.com/edgesensor/edgesensor/userspace/setting"
)

// Defaults of the [capture_on_alert] table; a size, count or duration
// left 0 takes its default.
const (
	DefaultDir         = "/var/lib/edgesensor/pcap"
	DefaultMinScore    = 7
	DefaultFlowPackets = 64
	DefaultFlowBytes   = setting.ByteSize(256 << 10)
	DefaultMemory      = setting.ByteSize(64 << 20)
	DefaultQuota       = setting.ByteSize(1 << 30)
	DefaultSnaplen     = 65535
	DefaultFlowIdle    = setting.Duration(5 * time.Minute)
)

// Bounds of the values Validate accepts.
const (
	minSnaplen     = 64
	maxSnaplen     = 262144 // the largest snaplen Wireshark reads without complaint
	maxFlowPackets = 1 << 16
	minFlowBytes   = 2 << 10 // a full-size Ethernet frame fits
	minQuota       = 1 << 20
	minFlowIdle    = time.Second
	maxFlowIdle    = 24 * time.Hour
)

// Settings is the [capture_on_alert] table: keep the recent packets of
// the flows the data plane emits (TLS and QUIC handshakes, candidate file
// streams) in memory, and write a flow's packets to a pcapng file on the
// box when an event about it scores MinScore or more, or enforcement acts
// on it. The files never leave the box.
type Settings struct {
	// Enabled turns the keeper on; off by default.
	Enabled bool `toml:"enabled"`
	// Dir holds the pcapng files (absolute; created at start, mode 0700,
	// files 0600: they hold the traffic itself).
	Dir string `toml:"dir"`
	// MinScore is the event risk score (0-10) from which a flow is
	// written.
	MinScore int `toml:"min_score"`
	// OnAction writes the flow of every enforcement action too.
	OnAction bool `toml:"on_action"`
	// FlowPackets is the most packets kept per flow: the first half of
	// them as they come (the handshake, a request's headers), the rest a
	// ring of the most recent.
	FlowPackets int `toml:"flow_packets"`
	// FlowBytes is the most frame bytes kept per flow, split as
	// FlowPackets is.
	FlowBytes setting.ByteSize `toml:"flow_bytes"`
	// Memory bounds the frames kept across all flows, with a fixed
	// bookkeeping cost per packet and per flow counted in. It is split
	// evenly among up to 16 shards of the flows (each holding at least
	// one full flow); in a shard over its share the least recently
	// active flows are evicted (counted).
	Memory setting.ByteSize `toml:"memory"`
	// Quota bounds the pcapng files in Dir; the oldest files are deleted
	// (counted) to make room for a new one. Files already there at start
	// count.
	Quota setting.ByteSize `toml:"quota"`
	// Snaplen is how many bytes of each frame are kept.
	Snaplen int `toml:"snaplen"`
	// FlowIdle drops a flow no packet was seen of for this long (Sweep).
	FlowIdle setting.Duration `toml:"flow_idle"`
}

// DefaultSettings is the [capture_on_alert] table of the shipped
// sensor.toml: off, with the defaults above.
func DefaultSettings() Settings {
	return Settings{
		Dir:         DefaultDir,
		MinScore:    DefaultMinScore,
		OnAction:    true,
		FlowPackets: DefaultFlowPackets,
		FlowBytes:   DefaultFlowBytes,
		Memory:      DefaultMemory,
		Quota:       DefaultQuota,
		Snaplen:     DefaultSnaplen,
		FlowIdle:    DefaultFlowIdle,
	}
}

// Wants says whether an event of score (0-10; -1 while pending) is to be
// captured; action says the event is an enforcement action, captured
// with OnAction whatever its score. Always false when the keeper is off.
func (s *Settings) Wants(score int, action bool) bool {
	if !s.Enabled {
		return false
	}
	return action && s.OnAction || score >= 0 && score >= s.MinScore
}

// withDefaults fills the sizes, counts and durations left 0.
func (s Settings) withDefaults() Settings {
	if s.Dir == "" {
		s.Dir = DefaultDir
	}
	if s.FlowPackets == 0 {
		s.FlowPackets = DefaultFlowPackets
	}
	if s.FlowBytes == 0 {
		s.FlowBytes = DefaultFlowBytes
	}
	if s.Memory == 0 {
		s.Memory = DefaultMemory
	}
	if s.Quota == 0 {
		s.Quota = DefaultQuota
	}
	if s.Snaplen == 0 {
		s.Snaplen = DefaultSnaplen
	}
	if s.FlowIdle == 0 {
		s.FlowIdle = DefaultFlowIdle
	}
	return s
}

// flowCharge is the most memory one flow is charged: its frames, the
// bookkeeping of each packet and of the flow.
func (s *Settings) flowCharge() uint64 {
	return uint64(s.FlowBytes) + uint64(s.FlowPackets)*pktOverhead + flowOverhead
}

// maxFile is the largest file one flow makes: the frames padded, each
// packet's block, the headers and comments.
func (s *Settings) maxFile() uint64 {
	return uint64(s.FlowBytes) + uint64(s.FlowPackets)*(epbFixed+3) + maxHeaderBytes
}

// Validate checks the [capture_on_alert] table, found at key, by its
// values alone.
func (s *Settings) Validate(key string, p *setting.Problems) {
	if s.Dir != "" && !filepath.IsAbs(s.Dir) {
		p.Add(key+".dir", "%q must be an absolute directory path (default %s)", s.Dir, DefaultDir)
	}
	if s.MinScore < 0 || s.MinScore > 10 {
		p.Add(key+".min_score", "%d is out of range; use 0 to 10 (default %d)", s.MinScore, DefaultMinScore)
	}
	if s.FlowPackets < 0 || s.FlowPackets > maxFlowPackets {
		p.Add(key+".flow_packets", "%d is out of range; use 1 to %d, or 0 for %d", s.FlowPackets, maxFlowPackets, DefaultFlowPackets)
	}
	if s.Snaplen != 0 && (s.Snaplen < minSnaplen || s.Snaplen > maxSnaplen) {
		p.Add(key+".snaplen", "%d is out of range; use %d to %d, or 0 for %d", s.Snaplen, minSnaplen, maxSnaplen, DefaultSnaplen)
	}
	if s.FlowBytes != 0 && s.FlowBytes < minFlowBytes {
		p.Add(key+".flow_bytes", "%s is too small; use at least %s, or 0 for %s", s.FlowBytes, setting.ByteSize(minFlowBytes), DefaultFlowBytes)
	}
	if d := time.Duration(s.FlowIdle); d != 0 && (d < minFlowIdle || d > maxFlowIdle) {
		p.Add(key+".flow_idle", "%s is out of range; use %s to %s, or 0 for %s", d, minFlowIdle, maxFlowIdle, time.Duration(DefaultFlowIdle))
	}
	if s.Quota != 0 && s.Quota < minQuota {
		p.Add(key+".quota", "%s is too small; use at least %s, or 0 for %s", s.Quota, setting.ByteSize(minQuota), DefaultQuota)
	}
	if p.Len() > 0 {
		return // the checks below combine values checked above
	}
	d := s.withDefaults()
	if need := d.flowCharge(); uint64(d.Memory) < need {
		p.Add(key+".memory", "%s holds less than one flow (flow_bytes %s and bookkeeping: %d bytes); raise memory or lower flow_bytes", d.Memory, d.FlowBytes, need)
	}
	if need := d.maxFile(); uint64(d.Quota) < need {
		p.Add(key+".quota", "%s is less than one flow's file (up to %d bytes with flow_bytes %s); raise quota or lower flow_bytes", d.Quota, need, d.FlowBytes)
	}
}

// Preflight checks that the directory can be made and written, as New
// will; a disabled table is not checked.
func (s *Settings) Preflight(key string, p *setting.Problems) {
	if !s.Enabled {
		return
	}
	d := s.withDefaults()
	p.Fail(key+".dir", setting.CanCreateDir(d.Dir))
}
