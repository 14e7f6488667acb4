package metrics

import (
	"net"
	"time"

	"github.com/edgesensor/edgesensor/userspace/setting"
)

// DefaultListen is loopback only: exposing the figures is a choice.
const DefaultListen = "127.0.0.1:9750"

// Settings is the [metrics] table.
type Settings struct {
	// Listen is the address of /metrics and /healthz; "" turns them off.
	Listen string `toml:"listen"`
	// QuietAfter is how long an attached interface may see no packets,
	// or no TLS/QUIC handshakes, before it is reported quiet (log,
	// /healthz, edgesensor_interface_quiet); 0 turns the check off.
	QuietAfter setting.Duration `toml:"quiet_after"`
}

// DefaultQuietAfter: long enough for a quiet night on a small site's
// link to carry some handshake, short enough for a NOC to act the same
// shift.
const DefaultQuietAfter = 10 * time.Minute

// DefaultSettings is the [metrics] table of the shipped sensor.toml.
func DefaultSettings() Settings {
	return Settings{Listen: DefaultListen, QuietAfter: setting.Duration(DefaultQuietAfter)}
}

// Validate checks the [metrics] table, found at key.
func (s *Settings) Validate(key string, p *setting.Problems) {
	if d := time.Duration(s.QuietAfter); d != 0 && (d < 10*time.Second || d > 7*24*time.Hour) {
		p.Add(key+".quiet_after", "%v is out of range; use 10s to 168h, or 0 to turn the check off", d)
	}
	if s.Listen == "" {
		return
	}
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		p.Add(key+".listen", "%q is not host:port, e.g. %q; \"\" turns metrics off", s.Listen, DefaultListen)
	}
}
