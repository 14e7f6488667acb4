package siem

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/kafka"
	"github.com/edgesensor/edgesensor/userspace/setting"
)

// Defaults for fields left zero.
const (
	DefaultQueue        = 10000
	DefaultFacility     = 16 // local0
	DefaultAppName      = "edgesensor"
	DefaultWriteTimeout = 10 * time.Second
	// DefaultMaxDatagram is the UDP message limit: rsyslog's default
	// maxMessageSize, so what we send is what a stock receiver keeps.
	DefaultMaxDatagram = 8192
	// MaxDatagram is the largest UDP payload IPv4 can carry.
	MaxDatagram = 65507
	// minDatagram is RFC 5424's 480 octets every receiver must accept.
	minDatagram = 480
)

// SinkConfig is one destination for the event lines: one
// [[output.sinks]] table of sensor.toml.
type SinkConfig struct {
	Name   string `toml:"name"`   // for logs and stats; unique
	Type   string `toml:"type"`   // "stdout" | "file" | "syslog" | "kafka"
	Format string `toml:"format"` // stdout, file: "json" (default) or "cef"; syslog: "rfc5424" (default, the JSON line as MSG) or "cef" (CEF as MSG)

	// Writer replaces os.Stdout for a stdout sink (tests, embedding).
	Writer io.Writer `toml:"-"`

	// file
	Path       string           `toml:"path"`
	MaxSize    setting.ByteSize `toml:"max_size"`    // bytes before rotating; rounded up to whole MiB (lumberjack's unit); 0: 100 MiB
	MaxBackups int              `toml:"max_backups"` // rotated files kept; 0: all
	MaxAge     setting.Duration `toml:"max_age"`     // rotated files older are removed; rounded up to whole days; 0: never
	Compress   bool             `toml:"compress"`    // gzip rotated files

	// syslog
	Network      string        `toml:"network"`     // "udp" | "tcp" | "tls"
	Address      string        `toml:"address"`     // host:port
	CAFile       string        `toml:"ca_file"`     // tls: CA bundle (PEM) the server must chain to; empty: system pool
	CertFile     string        `toml:"cert_file"`   // tls: client certificate (PEM), with KeyFile
	KeyFile      string        `toml:"key_file"`    // tls: the client certificate's key
	ServerName   string        `toml:"server_name"` // tls: name to verify; empty: the host of Address
	Facility     int           `toml:"facility"`    // 0..23; default 16 (local0)
	AppName      string        `toml:"app_name"`    // default "edgesensor"
	Hostname     string        `toml:"hostname"`    // default os.Hostname()
	MaxMessage   int           `toml:"-"`           // udp: longer messages are truncated; default 8192, at most 65507
	WriteTimeout time.Duration `toml:"-"`           // tcp, tls: a write that takes longer fails and reconnects; default 10 s

	// kafka (TLS with ca_file, cert_file, key_file, server_name)
	kafka.Settings

	// filter
	Datasets []string `toml:"datasets"`  // event.dataset values sent; empty: all
	MinScore int      `toml:"min_score"` // events scoring below are not sent; when > 0, unscored and pending (-1) events are not sent either
	Queue    int      `toml:"queue"`     // lines waiting for this sink; default 10000
}

// Datasets a sink may select.
var Datasets = []string{"edgesensor.tls", "edgesensor.file", "edgesensor.verdict", "edgesensor.action"}

// maxQueue bounds a sink's queue (lines).
const maxQueue = 1 << 22

// ValidateSinks checks sinks, found at key (each at key[i]): every
// sink's own settings, and that their names are unique.
func ValidateSinks(key string, sinks []SinkConfig, p *setting.Problems) {
	names := make(map[string]bool, len(sinks))
	for i := range sinks {
		k := fmt.Sprintf("%s[%d]", key, i)
		sinks[i].Validate(k, p)
		if n := sinks[i].Name; n != "" && names[n] {
			p.Add(k+".name", "%q is used twice; sink names are unique", n)
		}
		names[sinks[i].Name] = true
	}
}

// Validate checks one sink's settings, found at key. Each mistake names
// the key and says what would be accepted.
func (c *SinkConfig) Validate(key string, p *setting.Problems) {
	if c.Name == "" {
		p.Add(key+".name", "missing; give every sink a name (it labels its logs and metrics)")
	}
	formats := []string{"json", "cef"}
	switch c.Type {
	case "stdout":
	case "file":
		if c.Path == "" || !filepath.IsAbs(c.Path) {
			p.Add(key+".path", "%q must be an absolute file path", c.Path)
		}
		if c.MaxSize != 0 && c.MaxSize < 1<<20 {
			p.Add(key+".max_size", "%s is too small; use at least 1MiB, or 0 for the default (100MiB)", c.MaxSize)
		}
		if c.MaxBackups < 0 {
			p.Add(key+".max_backups", "%d is negative; use 0 to keep all", c.MaxBackups)
		}
		if c.MaxAge < 0 {
			p.Add(key+".max_age", "%v is negative; use 0 to keep files of any age", time.Duration(c.MaxAge))
		}
	case "syslog":
		formats = []string{"rfc5424", "cef"}
		c.validateSyslog(key, p)
	case "kafka":
		formats = []string{"json"}
		c.Settings.Validate(key, p)
		if !kafka.ValidName(c.Name) {
			p.Add(key+".name", "%q names the sink's spool file; use letters, digits, '.', '_' and '-' (not starting with '.')", c.Name)
		}
		for _, f := range []struct {
			name string
			set  bool
		}{{"path", c.Path != ""}, {"network", c.Network != ""}, {"address", c.Address != ""}, {"facility", c.Facility != 0},
			{"app_name", c.AppName != ""}, {"max_size", c.MaxSize != 0}, {"max_backups", c.MaxBackups != 0}} {
			if f.set {
				p.Add(key+"."+f.name, "set on a kafka sink, where it does nothing; remove it")
			}
		}
		if !c.Settings.TLS {
			for _, f := range []struct{ name, v string }{{"ca_file", c.CAFile}, {"cert_file", c.CertFile}, {"key_file", c.KeyFile}, {"server_name", c.ServerName}} {
				if f.v != "" {
					p.Add(key+"."+f.name, "set but tls is false; it only applies with tls = true")
				}
			}
		}
		if (c.CertFile == "") != (c.KeyFile == "") {
			p.Add(key+".key_file", "cert_file and key_file go together; set both for a client certificate or neither")
		}
	default:
		p.Add(key+".type", "%q is not a sink type; use \"stdout\", \"file\", \"syslog\" or \"kafka\"", c.Type)
	}
	if c.Type != "kafka" && (len(c.Brokers) > 0 || c.Topic != "" || c.Key != "" || c.Compression != "" || c.Linger != 0 ||
		c.BatchMaxBytes != 0 || c.Settings.TLS || c.SASL != "" || c.SASLUser != "" || c.SASLPasswordFile != "" || c.SpoolDir != "" || c.SpoolMaxBytes != 0) {
		p.Add(key+".type", "%q, but Kafka keys (brokers, topic, key, compression, linger, batch_max_bytes, tls, sasl*, spool_*) are set; they only apply to type = \"kafka\"", c.Type)
	}
	if c.Format != "" && !slices.Contains(formats, c.Format) {
		p.Add(key+".format", "%q does not go with type %q; use one of %q", c.Format, c.Type, formats)
	}
	for _, d := range c.Datasets {
		if !slices.Contains(Datasets, d) {
			p.Add(key+".datasets", "%q is not a dataset; use \"edgesensor.tls\", \"edgesensor.file\" or \"edgesensor.verdict\"", d)
		}
	}
	if c.MinScore < 0 || c.MinScore > 10 {
		p.Add(key+".min_score", "%d is out of range; use 0 to 10", c.MinScore)
	}
	if c.Queue < 0 || c.Queue > maxQueue {
		p.Add(key+".queue", "%d is out of range; use 0 (default %d) to %d", c.Queue, DefaultQueue, maxQueue)
	}
}

func (c *SinkConfig) validateSyslog(key string, p *setting.Problems) {
	switch c.Network {
	case "udp", "tcp", "tls":
	default:
		p.Add(key+".network", "%q is not a transport; use \"udp\", \"tcp\" or \"tls\"", c.Network)
	}
	if err := checkAddress(c.Address); err != nil {
		p.Add(key+".address", "%v, e.g. \"192.0.2.10:6514\"", err)
	}
	if c.Network != "tls" {
		for _, f := range []struct{ name, v string }{{"ca_file", c.CAFile}, {"cert_file", c.CertFile}, {"key_file", c.KeyFile}, {"server_name", c.ServerName}} {
			if f.v != "" {
				p.Add(key+"."+f.name, "set but network is %q; it only applies to network = \"tls\"", c.Network)
			}
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		p.Add(key+".key_file", "cert_file and key_file go together; set both for a client certificate or neither")
	}
	if c.Facility < 0 || c.Facility > 23 {
		p.Add(key+".facility", "%d is out of range; use 0 to 23 (16 is local0)", c.Facility)
	}
	if !printASCII(c.AppName) || len(c.AppName) > 48 {
		p.Add(key+".app_name", "%q must be at most 48 printable US-ASCII characters without spaces", c.AppName)
	}
	if !printASCII(c.Hostname) || len(c.Hostname) > 255 {
		p.Add(key+".hostname", "%q must be at most 255 printable US-ASCII characters without spaces", c.Hostname)
	}
	if c.MaxMessage != 0 && (c.MaxMessage < minDatagram || c.MaxMessage > MaxDatagram) {
		p.Add(key+".max_message", "%d is not %d..%d; use 0 for %d", c.MaxMessage, minDatagram, MaxDatagram, DefaultMaxDatagram)
	}
	if c.WriteTimeout < 0 {
		p.Add(key+".write_timeout", "%v is negative; use 0 for %v", c.WriteTimeout, DefaultWriteTimeout)
	}
}

// Preflight checks, without changing anything, what New will open for
// the sink: a file sink's file (and the directories above it), a TLS
// sink's CA, client certificate and key, loaded as New loads them, a
// kafka sink's spool directory and password file.
func (c *SinkConfig) Preflight(key string, p *setting.Problems) {
	switch {
	case c.Type == "file" && c.Path != "":
		p.Fail(key+".path", setting.CanWriteFile(c.Path, true))
	case c.Type == "kafka":
		c.Settings.Preflight(key, p)
		if c.Settings.TLS {
			c.preflightTLS(key, p)
		}
	case c.Type == "syslog" && c.Network == "tls":
		c.preflightTLS(key, p)
	}
}

// preflightTLS loads the CA, client certificate and key as New will.
func (c *SinkConfig) preflightTLS(key string, p *setting.Problems) {
	n := p.Len()
	for _, f := range []struct{ name, v string }{{"ca_file", c.CAFile}, {"cert_file", c.CertFile}, {"key_file", c.KeyFile}} {
		if f.v != "" {
			p.Fail(key+"."+f.name, setting.Readable(f.v))
		}
	}
	if p.Len() == n {
		_, err := tlsConfig(key, *c)
		p.Keyed(err)
	}
}

func checkAddress(a string) error {
	if a == "" {
		return errors.New("empty; give host:port of the syslog receiver")
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port", a)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", a)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%q: port %q is not 1..65535", a, port)
	}
	return nil
}

// printASCII reports whether s is PRINTUSASCII (RFC 5424: 33..126).
func printASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}

// withDefaults fills what was left zero.
func withDefaults(c SinkConfig) SinkConfig {
	if c.Format == "" {
		c.Format = "json"
		if c.Type == "syslog" {
			c.Format = "rfc5424"
		}
	}
	if c.Queue == 0 {
		c.Queue = DefaultQueue
	}
	if c.Facility == 0 {
		// 0 is kern, which a sensor has no business claiming.
		c.Facility = DefaultFacility
	}
	if c.AppName == "" {
		c.AppName = DefaultAppName
	}
	if c.Hostname == "" {
		c.Hostname = sanitizeHost(os.Hostname())
	}
	if c.MaxMessage == 0 {
		c.MaxMessage = DefaultMaxDatagram
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.Type == "stdout" && c.Writer == nil {
		c.Writer = os.Stdout
	}
	return c
}

// sanitizeHost makes os.Hostname's answer a valid RFC 5424 HOSTNAME.
func sanitizeHost(h string, err error) string {
	if err != nil || h == "" {
		return "-"
	}
	b := []byte(h)
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '_'
		}
	}
	if len(b) > 255 {
		b = b[:255]
	}
	return string(b)
}

// Probe reports, as warnings, what a sink would find now: a kafka sink's
// brokers not answering or topics missing. Other sinks have nothing to
// ask (a syslog receiver down is only seen when writing).
func (c *SinkConfig) Probe(timeout time.Duration) []string {
	if c.Type != "kafka" {
		return nil
	}
	var tc *tls.Config
	if c.Settings.TLS {
		var err error
		if tc, err = tlsConfig("sinks["+c.Name+"]", *c); err != nil {
			return []string{err.Error()}
		}
	}
	return kafka.Probe(c.Settings, tc, timeout)
}
