package score

import (
	"fmt"
	"path/filepath"

	"github.com/edgesensor/edgesensor/userspace/setting"
	"github.com/edgesensor/edgesensor/userspace/verdict/yara"
)

// Settings is the [score] table.
type Settings struct {
	// Threshold is the score (0-10) from which an event's verdict is
	// malicious.
	Threshold int `toml:"threshold"`
	// YARARules are rules files matched against every spooled candidate
	// (a binary built with the yara tag).
	YARARules []string `toml:"yara_rules"`
}

// DefaultSettings is the [score] table of the shipped sensor.toml.
func DefaultSettings() Settings {
	return Settings{Threshold: DefaultThreshold, YARARules: []string{}}
}

// Validate checks the [score] table, found at key.
func (s *Settings) Validate(key string, p *setting.Problems) {
	if s.Threshold < 1 || s.Threshold > 10 {
		p.Add(key+".threshold", "%d is out of range; use 1 to 10 (default %d)", s.Threshold, DefaultThreshold)
	}
	for i, r := range s.YARARules {
		if !filepath.IsAbs(r) {
			p.Add(fmt.Sprintf("%s.yara_rules[%d]", key, i), "%q must be an absolute path to a rules file", r)
		}
	}
}

// Preflight compiles the rules as the sensor does at start (a binary
// without YARA refuses any).
func (s *Settings) Preflight(key string, p *setting.Problems) {
	r, err := s.CompileYARA()
	if err != nil {
		p.Fail(key+".yara_rules", err)
		return
	}
	if r != nil {
		r.Close()
	}
}

// CompileYARA compiles YARARules; nil when there are none.
func (s *Settings) CompileYARA() (*yara.Rules, error) {
	if len(s.YARARules) == 0 {
		return nil, nil
	}
	return yara.Compile(s.YARARules)
}
