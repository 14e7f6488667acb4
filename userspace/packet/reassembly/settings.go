package reassembly

import (
	"slices"
	"time"

	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/setting"
)

// Defaults of the [reassembly] table.
const (
	DefaultHandshakeMemory = setting.ByteSize(128 << 20)
	DefaultFragmentMemory  = setting.ByteSize(16 << 20)
	DefaultFragmentTimeout = setting.Duration(30 * time.Second)
	DefaultAckGrace        = setting.Duration(time.Second)
)

// Names of the overlap policies in reassembly.policy.
const (
	PolicyNameLinux = "linux"
	PolicyNameFirst = "first"
	PolicyNameLast  = "last"
)

// Settings is the [reassembly] table: how the sensor models the
// receiving hosts, and what reassembly may hold.
type Settings struct {
	// Policy resolves overlapping TCP segments with different bytes as the
	// hosts behind the sensor do: "linux", "first" or "last".
	Policy string `toml:"policy"`
	// Checksums: "auto" (full checksums required once an interface has
	// shown it carries them; offloaded senders' partial ones pass until
	// then), "verify", "offload" (partial ones always pass) or "off"
	// (datapath.Checksums applies it).
	Checksums string `toml:"checksums"`
	// HandshakeMemory bounds what the handshakes being followed hold, over
	// all workers (past it the least recently active is written early).
	HandshakeMemory setting.ByteSize `toml:"handshake_memory"`
	// FragmentMemory and FragmentTimeout bound IP fragment reassembly.
	FragmentMemory  setting.ByteSize `toml:"fragment_memory"`
	FragmentTimeout setting.Duration `toml:"fragment_timeout"`
	// AckGrace is how long an acknowledged hole in a stream may wait for
	// its bytes before it is taken for a loss (0: at once). Reassembled
	// IP fragments reach the sensor after the ACKs that followed them.
	AckGrace setting.Duration `toml:"ack_grace"`
}

// DefaultSettings is the [reassembly] table of the shipped sensor.toml.
func DefaultSettings() Settings {
	return Settings{
		Policy:          PolicyNameLinux,
		Checksums:       datapath.ChecksumsAuto,
		HandshakeMemory: DefaultHandshakeMemory,
		FragmentMemory:  DefaultFragmentMemory,
		FragmentTimeout: DefaultFragmentTimeout,
		AckGrace:        DefaultAckGrace,
	}
}

// Validate checks the [reassembly] table, found at key.
func (s *Settings) Validate(key string, p *setting.Problems) {
	switch s.Policy {
	case PolicyNameLinux, PolicyNameFirst, PolicyNameLast:
	default:
		p.Add(key+".policy", "%q is not a policy; use \"linux\", \"first\" or \"last\"", s.Policy)
	}
	if !slices.Contains(datapath.ChecksumModes, s.Checksums) {
		p.Add(key+".checksums", "%q is not a mode; use \"auto\", \"verify\", \"offload\" or \"off\"", s.Checksums)
	}
	if s.HandshakeMemory < 1<<20 || s.HandshakeMemory > 64<<30 {
		p.Add(key+".handshake_memory", "%s is out of range; use 1MiB to 64GiB (default %s)", s.HandshakeMemory, DefaultHandshakeMemory)
	}
	if s.FragmentMemory < 256<<10 || s.FragmentMemory > 4<<30 {
		p.Add(key+".fragment_memory", "%s is out of range; use 256KiB to 4GiB (default %s)", s.FragmentMemory, DefaultFragmentMemory)
	}
	if t := time.Duration(s.FragmentTimeout); t < time.Second || t > 5*time.Minute {
		p.Add(key+".fragment_timeout", "%s is out of range; use 1s to 5m (default %s)", t, time.Duration(DefaultFragmentTimeout))
	}
	if t := time.Duration(s.AckGrace); t < 0 || t > 10*time.Second {
		p.Add(key+".ack_grace", "%s is out of range; use 0s to 10s (default %s)", t, time.Duration(DefaultAckGrace))
	}
}

// OverlapPolicy is the reassembler's policy named by Policy (Linux's
// when the name is not one).
func (s *Settings) OverlapPolicy() Policy {
	switch s.Policy {
	case PolicyNameFirst:
		return PolicyFirst
	case PolicyNameLast:
		return PolicyLast
	}
	return PolicyLinux
}
