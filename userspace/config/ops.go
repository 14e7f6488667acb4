package config

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
)

// Output is the [output] table: the primary event stream and the SIEM
// sinks beside it.
type Output struct {
	// Events is where NDJSON events go: "-" for stdout, or a file path.
	Events string `toml:"events"`
	// MaxSize rotates the events file past this size (0: never);
	// MaxBackups rotated files are kept, none older than MaxAge (0: any age).
	MaxSize    ByteSize `toml:"max_size"`
	MaxBackups int      `toml:"max_backups"`
	MaxAge     Duration `toml:"max_age"`
	Compress   bool     `toml:"compress"`
	// Sinks are further destinations, each an [[output.sinks]] table.
	Sinks []Sink `toml:"sinks"`
}

// Sink is one [[output.sinks]] table: a SIEM destination with its filter.
type Sink struct {
	Name   string `toml:"name"`
	Type   string `toml:"type"`   // stdout, file, syslog
	Format string `toml:"format"` // json, rfc5424, cef
	// file
	Path       string   `toml:"path"`
	MaxSize    ByteSize `toml:"max_size"`
	MaxBackups int      `toml:"max_backups"`
	MaxAge     Duration `toml:"max_age"`
	Compress   bool     `toml:"compress"`
	// syslog
	Network    string `toml:"network"` // udp, tcp, tls
	Address    string `toml:"address"` // host:port
	CAFile     string `toml:"ca_file"`
	CertFile   string `toml:"cert_file"`
	KeyFile    string `toml:"key_file"`
	ServerName string `toml:"server_name"`
	Facility   int    `toml:"facility"`
	AppName    string `toml:"app_name"`
	Hostname   string `toml:"hostname"`
	// filter and queue
	Datasets []string `toml:"datasets"`
	MinScore int      `toml:"min_score"`
	Queue    int      `toml:"queue"`
}

// Metrics is the [metrics] table.
type Metrics struct {
	// Listen is the address of /metrics and /healthz; "" turns them off.
	Listen string `toml:"listen"`
}

// DefaultMetricsListen is loopback only: exposing it is a choice.
const DefaultMetricsListen = "127.0.0.1:9750"

func (c *Config) validateOutput(bad func(key, format string, args ...any)) {
	o := &c.Output
	if o.Events == "" {
		bad("output.events", "empty; use \"-\" for stdout or a file path")
	}
	if o.MaxSize != 0 && o.MaxSize < 1<<20 {
		bad("output.max_size", "%s is too small; use at least 1MiB, or 0 to never rotate", o.MaxSize)
	}
	if o.MaxBackups < 0 {
		bad("output.max_backups", "%d is negative; use 0 (keep all) or more", o.MaxBackups)
	}
	if o.MaxAge < 0 {
		bad("output.max_age", "negative; use a duration such as \"720h\", or 0 for any age")
	}
	names := map[string]bool{}
	for i, s := range o.Sinks {
		key := fmt.Sprintf("output.sinks[%d]", i)
		if s.Name == "" {
			bad(key+".name", "missing; give every sink a name (it labels its logs and metrics)")
		} else if names[s.Name] {
			bad(key+".name", "%q is used twice; sink names are unique", s.Name)
		}
		names[s.Name] = true
		formats := []string{"json", "cef"}
		switch s.Type {
		case "stdout":
			if o.Events == "-" {
				bad(key+".type", "\"stdout\" while output.events is \"-\" (stdout too) would interleave two streams; set output.events to a file, or use a file sink")
			}
		case "file":
			if s.Path == "" || !filepath.IsAbs(s.Path) {
				bad(key+".path", "%q must be an absolute file path", s.Path)
			}
			if s.MaxSize != 0 && s.MaxSize < 1<<20 {
				bad(key+".max_size", "%s is too small; use at least 1MiB, or 0 to never rotate", s.MaxSize)
			}
		case "syslog":
			formats = []string{"rfc5424", "cef"}
			switch s.Network {
			case "udp", "tcp", "tls":
			default:
				bad(key+".network", "%q is not a transport; use \"udp\", \"tcp\" or \"tls\"", s.Network)
			}
			if _, _, err := net.SplitHostPort(s.Address); err != nil {
				bad(key+".address", "%q is not host:port, e.g. \"192.0.2.10:6514\"", s.Address)
			}
			if s.Facility < 0 || s.Facility > 23 {
				bad(key+".facility", "%d is out of range; use 0 to 23 (16 is local0)", s.Facility)
			}
			if s.Network != "tls" && (s.CAFile != "" || s.CertFile != "" || s.KeyFile != "") {
				bad(key+".network", "ca_file, cert_file and key_file need network = \"tls\"")
			}
			if (s.CertFile == "") != (s.KeyFile == "") {
				bad(key+".key_file", "cert_file and key_file go together; set both or neither")
			}
		default:
			bad(key+".type", "%q is not a sink type; use \"stdout\", \"file\" or \"syslog\"", s.Type)
		}
		if s.Format != "" && !slices.Contains(formats, s.Format) {
			bad(key+".format", "%q does not go with type %q; use one of %q", s.Format, s.Type, formats)
		}
		if s.MinScore < 0 || s.MinScore > 10 {
			bad(key+".min_score", "%d is out of range; use 0 to 10", s.MinScore)
		}
		if s.Queue < 0 || s.Queue > 1<<22 {
			bad(key+".queue", "%d is out of range; use 0 (default 10000) to 4194304", s.Queue)
		}
		for _, d := range s.Datasets {
			switch d {
			case "edgesensor.tls", "edgesensor.file", "edgesensor.verdict":
			default:
				bad(key+".datasets", "%q is not a dataset; use \"edgesensor.tls\", \"edgesensor.file\" or \"edgesensor.verdict\"", d)
			}
		}
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			bad("metrics.listen", "%q is not host:port, e.g. %q; \"\" turns metrics off", c.Metrics.Listen, DefaultMetricsListen)
		}
	}
}

// SinkFormat resolves a sink's default format.
func (s *Sink) SinkFormat() string {
	if s.Format != "" {
		return s.Format
	}
	if s.Type == "syslog" {
		return "rfc5424"
	}
	return "json"
}
