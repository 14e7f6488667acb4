package uplink

import (
	"net/url"
	"path/filepath"
	"time"

	"github.com/edgesensor/edgesensor/userspace/setting"
)

// Settings is the [uplink] table: the cloud service.
type Settings struct {
	// URL of the cloud; "" means no uplink (nothing leaves).
	URL string `toml:"url"`
	// CAFile pins the server's CA; CertFile and KeyFile are the sensor's
	// client certificate.
	CAFile     string `toml:"ca_file"`
	CertFile   string `toml:"cert_file"`
	KeyFile    string `toml:"key_file"`
	ServerName string `toml:"server_name"`
	SensorID   string `toml:"sensor_id"`
	// SpoolDir keeps records until the cloud has them, bounded by
	// SpoolMax bytes and SpoolMaxAge (oldest dropped and counted).
	SpoolDir    string           `toml:"spool_dir"`
	SpoolMax    setting.ByteSize `toml:"spool_max"`
	SpoolMaxAge setting.Duration `toml:"spool_max_age"`
	Batch       int              `toml:"batch"`
	// AuditLog records every batch sent: time, categories, counts,
	// privacy modes, bytes.
	AuditLog string `toml:"audit_log"`
}

// DefaultSettings is the [uplink] table of the shipped sensor.toml.
func DefaultSettings() Settings {
	return Settings{
		SpoolDir:    "/var/lib/edgesensor/uplink",
		SpoolMax:    1 << 30,
		SpoolMaxAge: setting.Duration(7 * 24 * time.Hour),
		Batch:       500,
		AuditLog:    "/var/log/edgesensor/uplink-audit.log",
	}
}

// Validate checks the [uplink] table, found at key; enabled says whether
// the privacy settings share anything through it (an uplink that would
// carry nothing is never started, and needs no certificates).
func (s *Settings) Validate(key string, enabled bool, p *setting.Problems) {
	if enabled || s.URL != "" {
		if u, err := url.Parse(s.URL); err != nil || u.Scheme != "https" || u.Host == "" {
			p.Add(key+".url", "%q must be an https:// URL (TLS 1.3 with a client certificate)", s.URL)
		}
	}
	if enabled {
		for _, f := range []struct{ key, v string }{{"ca_file", s.CAFile}, {"cert_file", s.CertFile}, {"key_file", s.KeyFile}} {
			if f.v == "" {
				p.Add(key+"."+f.key, "missing; the uplink needs the cloud's CA and the sensor's client certificate and key")
			}
		}
		if !filepath.IsAbs(s.SpoolDir) {
			p.Add(key+".spool_dir", "%q must be an absolute directory path", s.SpoolDir)
		}
	}
	if s.SpoolMax < 1<<20 {
		p.Add(key+".spool_max", "%s is too small; use at least 1MiB (default 1GiB)", s.SpoolMax)
	}
	if d := time.Duration(s.SpoolMaxAge); d < time.Minute {
		p.Add(key+".spool_max_age", "%s is too short; use at least 1m (default 168h)", d)
	}
	if s.Batch < 1 || s.Batch > 10000 {
		p.Add(key+".batch", "%d is out of range; use 1 to 10000 (default 500)", s.Batch)
	}
	if s.AuditLog != "" && !filepath.IsAbs(s.AuditLog) {
		p.Add(key+".audit_log", "%q must be an absolute file path (or \"\" for none)", s.AuditLog)
	}
}

// Preflight checks, when enabled, what starting the uplink reads and
// writes: the CA, the client certificate and its key (loaded as New
// loads them), the spool directory and the audit log. Errors of the
// certificates name their keys under "uplink", as New's do.
func (s *Settings) Preflight(key string, enabled bool, p *setting.Problems) {
	if !enabled {
		return
	}
	n := p.Len()
	for _, f := range []struct{ key, v string }{{"ca_file", s.CAFile}, {"cert_file", s.CertFile}, {"key_file", s.KeyFile}} {
		if f.v != "" {
			p.Fail(key+"."+f.key, setting.Readable(f.v))
		}
	}
	if p.Len() == n && s.CAFile != "" && s.CertFile != "" && s.KeyFile != "" {
		p.Keyed(CheckTLS(Options{CAFile: s.CAFile, CertFile: s.CertFile, KeyFile: s.KeyFile}))
	}
	p.Fail(key+".spool_dir", setting.CanCreateDir(s.SpoolDir))
	if s.AuditLog != "" {
		p.Fail(key+".audit_log", setting.CanWriteFile(s.AuditLog, true))
	}
}
