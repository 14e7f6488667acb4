package uplink

import (
	"net/url"
	"path/filepath"
	"time"

	"github.com/edgesensor/edgesensor/userspace/setting"
	"github.com/edgesensor/edgesensor/userspace/verdict/feed"
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

	// Contribute sends records (and, in mode full, samples) as [privacy]
	// allows; false sends none, whatever [privacy] says.
	Contribute bool `toml:"contribute"`
	// Lookups asks the cloud about each whole file's SHA-256 at once
	// (and nothing else), through a cache of CacheEntries answers, kept
	// CacheTTL (CacheTTLUnknown for "the cloud does not know it"); an
	// answer not in within LookupTimeout is given up, counted.
	Lookups         bool             `toml:"lookups"`
	LookupTimeout   setting.Duration `toml:"lookup_timeout"`
	CacheEntries    int              `toml:"cache_entries"`
	CacheTTL        setting.Duration `toml:"cache_ttl"`
	CacheTTLUnknown setting.Duration `toml:"cache_ttl_unknown"`
	// FeedKeyFile pins the public key (Ed25519, PEM) the cloud's intel
	// feed is signed with; "" takes no feed. FeedDir keeps the last good
	// feed across restarts and outages.
	FeedKeyFile string `toml:"feed_key_file"`
	FeedDir     string `toml:"feed_dir"`
}

// Feed says whether the sensor takes the cloud's feed.
func (s *Settings) Feed() bool { return s.URL != "" && s.FeedKeyFile != "" }

// Asks says whether the sensor asks the cloud anything without sending
// records: hash lookups or the feed.
func (s *Settings) Asks() bool { return s.URL != "" && (s.Lookups || s.FeedKeyFile != "") }

// DefaultSettings is the [uplink] table of the shipped sensor.toml.
func DefaultSettings() Settings {
	return Settings{
		SpoolDir:        "/var/lib/edgesensor/uplink",
		SpoolMax:        1 << 30,
		SpoolMaxAge:     setting.Duration(7 * 24 * time.Hour),
		Batch:           500,
		AuditLog:        "/var/log/edgesensor/uplink-audit.log",
		Contribute:      true,
		LookupTimeout:   setting.Duration(2 * time.Second),
		CacheEntries:    100000,
		CacheTTL:        setting.Duration(time.Hour),
		CacheTTLUnknown: setting.Duration(10 * time.Minute),
		FeedDir:         "/var/lib/edgesensor/feed",
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
	if d := time.Duration(s.LookupTimeout); d < 10*time.Millisecond || d > time.Minute {
		p.Add(key+".lookup_timeout", "%s is out of range; use 10ms to 1m (default 2s)", d)
	}
	if s.CacheEntries < 0 || s.CacheEntries > 10_000_000 {
		p.Add(key+".cache_entries", "%d is out of range; use 0 (no cache) to 10000000 (default 100000)", s.CacheEntries)
	}
	for _, d := range []struct {
		key string
		v   setting.Duration
		def string
	}{{"cache_ttl", s.CacheTTL, "1h"}, {"cache_ttl_unknown", s.CacheTTLUnknown, "10m"}} {
		if v := time.Duration(d.v); v < time.Second || v > 7*24*time.Hour {
			p.Add(key+"."+d.key, "%s is out of range; use 1s to 168h (default %s)", v, d.def)
		}
	}
	if s.FeedKeyFile != "" && !filepath.IsAbs(s.FeedDir) {
		p.Add(key+".feed_dir", "%q must be an absolute directory path (the last good feed is kept there)", s.FeedDir)
	}
	if (s.Lookups || s.FeedKeyFile != "") && s.URL == "" {
		what := "lookups"
		if s.FeedKeyFile != "" {
			what = "feed_key_file"
		}
		p.Add(key+"."+what, "set, but uplink.url is empty: set the cloud's URL, or unset it")
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
	if s.Feed() {
		if _, err := feed.LoadPublicKey(s.FeedKeyFile); err != nil {
			p.Add(key+".feed_key_file", "%v (want the feed's Ed25519 public key, PEM, as edgecloud gen-certs writes feed.pub)", err)
		}
		p.Fail(key+".feed_dir", setting.CanCreateDir(s.FeedDir))
	}
	if s.AuditLog != "" {
		p.Fail(key+".audit_log", setting.CanWriteFile(s.AuditLog, true))
	}
}
