package metrics

import (
	"net"

	"github.com/edgesensor/edgesensor/userspace/setting"
)

// DefaultListen is loopback only: exposing the figures is a choice.
const DefaultListen = "127.0.0.1:9750"

// Settings is the [metrics] table.
type Settings struct {
	// Listen is the address of /metrics and /healthz; "" turns them off.
	Listen string `toml:"listen"`
}

// DefaultSettings is the [metrics] table of the shipped sensor.toml.
func DefaultSettings() Settings { return Settings{Listen: DefaultListen} }

// Validate checks the [metrics] table, found at key.
func (s *Settings) Validate(key string, p *setting.Problems) {
	if s.Listen == "" {
		return
	}
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		p.Add(key+".listen", "%q is not host:port, e.g. %q; \"\" turns metrics off", s.Listen, DefaultListen)
	}
}
