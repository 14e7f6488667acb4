package config

import (
	"fmt"
	"math"

	"github.com/edgesensor/edgesensor/userspace/export/siem"
	"github.com/edgesensor/edgesensor/userspace/setting"
)

// Output is the [output] table: the primary event stream, written by the
// command, and the SIEM sinks beside it (siem's).
type Output struct {
	// Events is where NDJSON events go: "-" for stdout, or a file path.
	Events string `toml:"events"`
	// MaxSize rotates the events file past this size (0: never);
	// MaxBackups rotated files are kept, none older than MaxAge (0: any age).
	MaxSize    ByteSize `toml:"max_size"`
	MaxBackups int      `toml:"max_backups"`
	MaxAge     Duration `toml:"max_age"`
	Compress   bool     `toml:"compress"`
	// CommunityIDSeed seeds network.community_id (Community ID v1):
	// 0 to 65535. Other tools (Zeek, Suricata, Wireshark) must use the
	// same seed for the ids to match; most use the default, 0.
	CommunityIDSeed int `toml:"community_id_seed"`
	// Sinks are further destinations, each an [[output.sinks]] table.
	Sinks []siem.SinkConfig `toml:"sinks"`
}

// Seed is output.community_id_seed, once validated.
func (o *Output) Seed() uint16 { return uint16(o.CommunityIDSeed) }

func defaultOutput() Output { return Output{Events: "-", Sinks: []siem.SinkConfig{}} }

func (o *Output) validate(key string, p *setting.Problems) {
	if o.Events == "" {
		p.Add(key+".events", "empty; use \"-\" for stdout or a file path")
	}
	if o.MaxSize != 0 && o.MaxSize < 1<<20 {
		p.Add(key+".max_size", "%s is too small; use at least 1MiB, or 0 to never rotate", o.MaxSize)
	}
	if o.MaxBackups < 0 {
		p.Add(key+".max_backups", "%d is negative; use 0 (keep all) or more", o.MaxBackups)
	}
	if o.MaxAge < 0 {
		p.Add(key+".max_age", "negative; use a duration such as \"720h\", or 0 for any age")
	}
	if o.CommunityIDSeed < 0 || o.CommunityIDSeed > math.MaxUint16 {
		p.Add(key+".community_id_seed", "%d is out of range; use 0 to 65535, the seed the other tools that compute community ids use (0 unless they were told otherwise)", o.CommunityIDSeed)
	}
	siem.ValidateSinks(key+".sinks", o.Sinks, p)
	for i, s := range o.Sinks {
		if s.Type == "stdout" && o.Events == "-" {
			p.Add(fmt.Sprintf("%s.sinks[%d].type", key, i), "\"stdout\" while %s.events is \"-\" (stdout too) would interleave two streams; set %s.events to a file, or use a file sink", key, key)
		}
	}
}

// preflight checks the events file can be opened for appending (its
// directory is not made) and each sink's own preflight.
func (o *Output) preflight(key string, p *setting.Problems) {
	if o.Events != "-" && o.Events != "" {
		p.Fail(key+".events", setting.CanWriteFile(o.Events, false))
	}
	for i := range o.Sinks {
		o.Sinks[i].Preflight(fmt.Sprintf("%s.sinks[%d]", key, i), p)
	}
}
