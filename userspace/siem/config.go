package siem

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
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

// SinkConfig is one destination for the event lines.
type SinkConfig struct {
	Name   string // for logs and stats; unique
	Type   string // "stdout" | "file" | "syslog"
	Format string // stdout, file: "json" (default) or "cef"; syslog: "rfc5424" (default, the JSON line as MSG) or "cef" (CEF as MSG)

	// Writer replaces os.Stdout for a stdout sink (tests, embedding).
	Writer io.Writer

	// file
	Path       string
	MaxSize    int64         // bytes before rotating; rounded up to whole MiB (lumberjack's unit); 0: 100 MiB
	MaxBackups int           // rotated files kept; 0: all
	MaxAge     time.Duration // rotated files older are removed; rounded up to whole days; 0: never
	Compress   bool          // gzip rotated files

	// syslog
	Network      string // "udp" | "tcp" | "tls"
	Address      string // host:port
	CAFile       string // tls: CA bundle (PEM) the server must chain to; empty: system pool
	CertFile     string // tls: client certificate (PEM), with KeyFile
	KeyFile      string
	ServerName   string        // tls: name to verify; empty: the host of Address
	Facility     int           // 0..23; default 16 (local0)
	AppName      string        // default "edgesensor"
	Hostname     string        // default os.Hostname()
	MaxMessage   int           // udp: longer messages are truncated; default 8192, at most 65507
	WriteTimeout time.Duration // tcp, tls: a write that takes longer fails and reconnects; default 10 s

	// filter
	Datasets []string // event.dataset values sent; empty: all
	MinScore int      // events scoring below are not sent; when > 0, unscored and pending (-1) events are not sent either
	Queue    int      // lines waiting for this sink; default 10000
}

// Validate checks one sink's configuration. The error names the field
// and says what would be accepted.
func Validate(c SinkConfig) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("sinks[%s].%s: %s", c.Name, field, fmt.Sprintf(format, args...)))
	}
	if c.Name == "" {
		bad("name", "empty; give each sink a unique name")
	}
	switch c.Type {
	case "stdout", "file":
		if c.Format != "" && c.Format != "json" && c.Format != "cef" {
			bad("format", "%q is not json or cef (for a %s sink)", c.Format, c.Type)
		}
	case "syslog":
		if c.Format != "" && c.Format != "rfc5424" && c.Format != "cef" {
			bad("format", "%q is not rfc5424 or cef (for a syslog sink; rfc5424 carries the JSON line as MSG)", c.Format)
		}
	default:
		bad("type", "%q is not stdout, file or syslog", c.Type)
	}
	if c.Type == "file" {
		if c.Path == "" {
			bad("path", "empty; a file sink needs the file to write to")
		}
		if c.MaxSize < 0 {
			bad("max_size", "%d is negative; use 0 for the default (100 MiB)", c.MaxSize)
		}
		if c.MaxBackups < 0 {
			bad("max_backups", "%d is negative; use 0 to keep all", c.MaxBackups)
		}
		if c.MaxAge < 0 {
			bad("max_age", "%v is negative; use 0 to keep files of any age", c.MaxAge)
		}
	}
	if c.Type == "syslog" {
		switch c.Network {
		case "udp", "tcp", "tls":
		default:
			bad("network", "%q is not udp, tcp or tls", c.Network)
		}
		if err := checkAddress(c.Address); err != nil {
			bad("address", "%v", err)
		}
		if c.Network != "tls" {
			for _, f := range []struct{ name, v string }{{"ca_file", c.CAFile}, {"cert_file", c.CertFile}, {"key_file", c.KeyFile}, {"server_name", c.ServerName}} {
				if f.v != "" {
					bad(f.name, "set but network is %q; it only applies to tls", c.Network)
				}
			}
		}
		if (c.CertFile == "") != (c.KeyFile == "") {
			bad("cert_file", "cert_file and key_file go together; set both for a client certificate or neither")
		}
		if c.Facility < 0 || c.Facility > 23 {
			bad("facility", "%d is not 0..23 (16 is local0)", c.Facility)
		}
		if !printASCII(c.AppName) || len(c.AppName) > 48 {
			bad("app_name", "%q must be at most 48 printable US-ASCII characters without spaces", c.AppName)
		}
		if !printASCII(c.Hostname) || len(c.Hostname) > 255 {
			bad("hostname", "%q must be at most 255 printable US-ASCII characters without spaces", c.Hostname)
		}
		if c.MaxMessage != 0 && (c.MaxMessage < minDatagram || c.MaxMessage > MaxDatagram) {
			bad("max_message", "%d is not %d..%d; use 0 for %d", c.MaxMessage, minDatagram, MaxDatagram, DefaultMaxDatagram)
		}
		if c.WriteTimeout < 0 {
			bad("write_timeout", "%v is negative; use 0 for %v", c.WriteTimeout, DefaultWriteTimeout)
		}
	}
	for i, d := range c.Datasets {
		if d == "" {
			bad("datasets", "entry %d is empty; list dataset names such as edgesensor.file", i)
		}
	}
	if c.MinScore > 10 {
		bad("min_score", "%d is above 10, the highest score; nothing would be sent", c.MinScore)
	}
	if c.Queue < 0 {
		bad("queue", "%d is negative; use 0 for %d", c.Queue, DefaultQueue)
	}
	return errors.Join(errs...)
}

func checkAddress(a string) error {
	if a == "" {
		return errors.New("empty; give host:port of the syslog receiver")
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", a, err)
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
