package intel

import (
	"fmt"
	"slices"
	"time"

	"github.com/edgesensor/edgesensor/userspace/setting"
)

// DefaultReload is how often the files are checked for changes.
const DefaultReload = setting.Duration(10 * time.Second)

// Settings is the [intel] table: local threat intelligence files.
type Settings struct {
	// Sources are the files, each an [[intel.sources]] table.
	Sources []SourceConfig `toml:"sources"`
	// Reload is how often the files are checked for changes (and
	// reloaded without a restart).
	Reload setting.Duration `toml:"reload"`
}

// SourceConfig is one [[intel.sources]] table; Source is what it
// configures.
type SourceConfig struct {
	Path   string `toml:"path"`
	Kind   string `toml:"kind"`   // sha256, sha1, md5, ip, domain, ja3, ja4 (not needed for STIX)
	Format string `toml:"format"` // lines, csv, stix; "" by extension
	Column string `toml:"column"` // csv: the value's column
	Allow  bool   `toml:"allow"`  // an allowlist
	Level  int    `toml:"level"`  // threat level of its entries, 1-10 (0: 10)
	Name   string `toml:"name"`   // shown in reasons; default the file name
}

// DefaultSettings is the [intel] table of the shipped sensor.toml.
func DefaultSettings() Settings {
	return Settings{Sources: []SourceConfig{}, Reload: DefaultReload}
}

// Validate checks the [intel] table, found at key.
func (s *Settings) Validate(key string, p *setting.Problems) {
	if d := time.Duration(s.Reload); d < time.Second || d > time.Hour {
		p.Add(key+".reload", "%s is out of range; use 1s to 1h (default %s)", d, time.Duration(DefaultReload))
	}
	for i := range s.Sources {
		s.Sources[i].Validate(fmt.Sprintf("%s.sources[%d]", key, i), p)
	}
}

// Validate checks one [[intel.sources]] table, found at key.
func (c *SourceConfig) Validate(key string, p *setting.Problems) {
	if c.Path == "" {
		p.Add(key+".path", "missing; name the intelligence file")
	}
	switch c.Format {
	case "", fmtLines, fmtCSV, fmtSTIX:
	default:
		p.Add(key+".format", "%q is not a format; use \"lines\", \"csv\" or \"stix\"", c.Format)
	}
	if c.Kind == "" {
		// STIX patterns carry their kinds; the format decides, as Load does.
		src := Source{Path: c.Path, Format: c.Format}
		if f, err := src.format(); err != nil || f != fmtSTIX {
			p.Add(key+".kind", "missing; say what the file lists: sha256, sha1, md5, ip, domain, ja3 or ja4")
		}
	} else if !slices.Contains(kindNames[1:], c.Kind) {
		p.Add(key+".kind", "%q is not a kind; use sha256, sha1, md5, ip, domain, ja3 or ja4", c.Kind)
	}
	if c.Level < 0 || c.Level > 10 {
		p.Add(key+".level", "%d is out of range; use 1 to 10, or 0 for 10", c.Level)
	}
	if c.Format == fmtCSV && c.Column == "" {
		p.Add(key+".column", "missing; name the CSV column that holds the values")
	}
}

// Source is the intelligence file c configures.
func (c *SourceConfig) Source() (Source, error) {
	src := Source{Path: c.Path, Format: c.Format, Column: c.Column, Allow: c.Allow, Level: c.Level, Name: c.Name}
	if c.Kind != "" {
		k, err := ParseKind(c.Kind)
		if err != nil {
			return src, err
		}
		src.Kind = k
	}
	return src, nil
}

// Load reads the sources into a Reloader, as the sensor does at start
// and on a reload, whose Sets consult feed (nil: none) after the files;
// nil when there are neither. Errors name the key (under key) and the
// file.
func (s *Settings) Load(key string, feed *Layer) (*Reloader, error) {
	if len(s.Sources) == 0 && feed == nil {
		return nil, nil
	}
	srcs := make([]Source, 0, len(s.Sources))
	for i := range s.Sources {
		src, err := s.Sources[i].Source()
		if err != nil {
			return nil, fmt.Errorf("%s.sources[%d].kind: %w", key, i, err)
		}
		srcs = append(srcs, src)
	}
	r, err := NewReloaderFeed(srcs, feed)
	if err != nil {
		return nil, fmt.Errorf("%s.sources: %w", key, err)
	}
	return r, nil
}

// Preflight loads the sources as the sensor does at start.
func (s *Settings) Preflight(key string, p *setting.Problems) {
	_, err := s.Load(key, nil)
	p.Keyed(err)
}
