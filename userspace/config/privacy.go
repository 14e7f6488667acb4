package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// Share modes of a data category: what of it may leave the box.
const (
	ShareNone = "none" // nothing
	ShareHash = "hash" // metadata and hashes, anonymised
	ShareFull = "full" // also file content (executables, documents)
)

// ShareRank orders the modes so the global share can cap a category's.
func ShareRank(m string) int {
	switch m {
	case ShareHash:
		return 1
	case ShareFull:
		return 2
	}
	return 0
}

// Privacy is the [privacy] table: what leaves the box for the cloud, and
// how it is anonymised first. Local SIEM outputs are not affected.
type Privacy struct {
	// Share caps every category: "none" makes the sensor fully
	// on-premises (no connection to the cloud at all).
	Share string `toml:"share"`
	// Categories, each "none", "hash" or "full" (content upload: files).
	Executables string `toml:"executables"`
	Documents   string `toml:"documents"`
	Metadata    string `toml:"metadata"`
	TLS         string `toml:"tls"`
	Email       string `toml:"email"`
	// KeyFile holds the anonymisation key (mode 0600, the sensor's own).
	KeyFile string `toml:"key_file"`
	// ClientIP: cryptopan, truncate, hmac, drop or keep.
	ClientIP   string `toml:"client_ip"`
	TruncateV4 int    `toml:"truncate_v4"`
	TruncateV6 int    `toml:"truncate_v6"`
	// QueryKeep names the URL query parameters whose values may leave
	// ("name", or "prefix*"), scrubbed of e-mail addresses, the client's
	// address and user paths; every other value is dropped or hashed
	// (QueryValues). User info and fragments never leave.
	QueryKeep []string `toml:"query_keep"`
	// QueryValues: "drop" or "hash" (keyed) for the values not kept.
	QueryValues string `toml:"query_values"`
	// QueryParams was the list of parameters whose values were scrubbed
	// (a denylist); it is refused with a pointer to QueryKeep.
	QueryParams []string `toml:"query_params"`
	// UserNames: drop or hash. EmailDomain: keep or drop (the local part
	// is always keyed-hashed). Hostnames and UserAgent: drop, hash or keep.
	UserNames   string `toml:"user_names"`
	EmailDomain string `toml:"email_domain"`
	Hostnames   string `toml:"hostnames"`
	UserAgent   string `toml:"user_agent"`
	// MaxUpload is the largest file content uploaded per category.
	MaxUpload UploadSizes `toml:"max_upload"`
}

// UploadSizes is a content-upload limit per file category.
type UploadSizes struct {
	Executables ByteSize `toml:"executables"`
	Documents   ByteSize `toml:"documents"`
}

// Uplink is the [uplink] table: the cloud service.
type Uplink struct {
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
	SpoolDir    string   `toml:"spool_dir"`
	SpoolMax    ByteSize `toml:"spool_max"`
	SpoolMaxAge Duration `toml:"spool_max_age"`
	Batch       int      `toml:"batch"`
	// AuditLog records every batch sent: time, categories, counts,
	// privacy modes, bytes.
	AuditLog string `toml:"audit_log"`
}

func defaultPrivacy() Privacy {
	return Privacy{
		Share:       ShareHash,
		Executables: ShareHash,
		Documents:   ShareHash,
		Metadata:    ShareHash,
		TLS:         ShareHash,
		Email:       ShareNone,
		KeyFile:     "/etc/edgesensor/anon.key",
		ClientIP:    "cryptopan",
		TruncateV4:  24,
		TruncateV6:  48,
		QueryKeep:   []string{},
		QueryValues: "drop",
		UserNames:   "drop",
		EmailDomain: "keep",
		Hostnames:   "hash",
		UserAgent:   "drop",
		MaxUpload:   UploadSizes{Executables: 32 << 20, Documents: 32 << 20},
	}
}

func defaultUplink() Uplink {
	return Uplink{
		SensorID:    "",
		SpoolDir:    "/var/lib/edgesensor/uplink",
		SpoolMax:    1 << 30,
		SpoolMaxAge: Duration(7 * 24 * time.Hour),
		Batch:       500,
		AuditLog:    "/var/log/edgesensor/uplink-audit.log",
	}
}

// Mode returns the effective share mode of a category (executables,
// documents, metadata, tls, email): its own, capped by Share, and none
// without an uplink.
func (c *Config) Mode(category string) string {
	if c.Uplink.URL == "" || c.Privacy.Share == ShareNone {
		return ShareNone
	}
	var m string
	p := &c.Privacy
	switch category {
	case "executables":
		m = p.Executables
	case "documents":
		m = p.Documents
	case "metadata":
		m = p.Metadata
	case "tls":
		m = p.TLS
	case "email":
		m = p.Email
	default:
		return ShareNone
	}
	if ShareRank(m) > ShareRank(p.Share) {
		return p.Share
	}
	return m
}

// UplinkEnabled says whether anything may leave the box at all.
func (c *Config) UplinkEnabled() bool {
	for _, cat := range []string{"executables", "documents", "metadata", "tls", "email"} {
		if c.Mode(cat) != ShareNone {
			return true
		}
	}
	return false
}

func (c *Config) validatePrivacy(bad func(key, format string, args ...any)) {
	p := &c.Privacy
	for _, m := range []struct{ key, v string }{
		{"privacy.share", p.Share}, {"privacy.executables", p.Executables}, {"privacy.documents", p.Documents},
		{"privacy.metadata", p.Metadata}, {"privacy.tls", p.TLS}, {"privacy.email", p.Email},
	} {
		switch m.v {
		case ShareNone, ShareHash, ShareFull:
		default:
			bad(m.key, "%q is not a share mode; use \"none\", \"hash\" or \"full\"", m.v)
		}
	}
	for _, m := range []struct{ key, v string }{{"privacy.metadata", p.Metadata}, {"privacy.tls", p.TLS}, {"privacy.email", p.Email}} {
		if m.v == ShareFull {
			bad(m.key, "\"full\" is for file content; use \"none\" or \"hash\"")
		}
	}
	switch p.ClientIP {
	case "cryptopan", "truncate", "hmac", "drop", "keep":
	default:
		bad("privacy.client_ip", "%q is not a mode; use \"cryptopan\", \"truncate\", \"hmac\", \"drop\" or \"keep\"", p.ClientIP)
	}
	if p.TruncateV4 < 0 || p.TruncateV4 > 32 {
		bad("privacy.truncate_v4", "%d is out of range; use 0 to 32 prefix bits (default 24)", p.TruncateV4)
	}
	if p.TruncateV6 < 0 || p.TruncateV6 > 128 {
		bad("privacy.truncate_v6", "%d is out of range; use 0 to 128 prefix bits (default 48)", p.TruncateV6)
	}
	if len(p.QueryParams) > 0 {
		bad("privacy.query_params", "is no longer used: every query value is now dropped (or hashed, privacy.query_values) "+
			"unless its parameter is named in privacy.query_keep; delete privacy.query_params and list in privacy.query_keep "+
			"only parameters whose values may leave, e.g. query_keep = [\"lang\"]")
	}
	for i, q := range p.QueryKeep {
		if !validParamPattern(q) {
			bad(fmt.Sprintf("privacy.query_keep[%d]", i), "%q is not a parameter name; use a name such as \"lang\" or a prefix such as \"utm_*\" (letters, digits, - _ . [ ] $)", q)
		}
	}
	if p.QueryValues != "drop" && p.QueryValues != "hash" {
		bad("privacy.query_values", "%q is not a mode; use \"drop\" or \"hash\"", p.QueryValues)
	}
	if p.UserNames != "drop" && p.UserNames != "hash" {
		bad("privacy.user_names", "%q is not a mode; use \"drop\" or \"hash\"", p.UserNames)
	}
	if p.EmailDomain != "keep" && p.EmailDomain != "drop" {
		bad("privacy.email_domain", "%q is not a mode; use \"keep\" or \"drop\"", p.EmailDomain)
	}
	for _, m := range []struct{ key, v string }{{"privacy.hostnames", p.Hostnames}, {"privacy.user_agent", p.UserAgent}} {
		switch m.v {
		case "drop", "hash", "keep":
		default:
			bad(m.key, "%q is not a mode; use \"drop\", \"hash\" or \"keep\"", m.v)
		}
	}
	u := &c.Uplink
	if c.UplinkEnabled() || u.URL != "" {
		if pu, err := url.Parse(u.URL); err != nil || pu.Scheme != "https" || pu.Host == "" {
			bad("uplink.url", "%q must be an https:// URL (TLS 1.3 with a client certificate)", u.URL)
		}
	}
	if c.UplinkEnabled() {
		if !filepath.IsAbs(p.KeyFile) {
			bad("privacy.key_file", "%q must be an absolute path to the anonymisation key (create one with `edgesensor genkey PATH`)", p.KeyFile)
		}
		for _, f := range []struct{ key, v string }{{"uplink.ca_file", u.CAFile}, {"uplink.cert_file", u.CertFile}, {"uplink.key_file", u.KeyFile}} {
			if f.v == "" {
				bad(f.key, "missing; the uplink needs the cloud's CA and the sensor's client certificate and key")
			}
		}
		if !filepath.IsAbs(u.SpoolDir) {
			bad("uplink.spool_dir", "%q must be an absolute directory path", u.SpoolDir)
		}
	}
	if u.SpoolMax < 1<<20 {
		bad("uplink.spool_max", "%s is too small; use at least 1MiB (default 1GiB)", u.SpoolMax)
	}
	if d := time.Duration(u.SpoolMaxAge); d < time.Minute {
		bad("uplink.spool_max_age", "%s is too short; use at least 1m (default 168h)", d)
	}
	if u.Batch < 1 || u.Batch > 10000 {
		bad("uplink.batch", "%d is out of range; use 1 to 10000 (default 500)", u.Batch)
	}
	if u.AuditLog != "" && !filepath.IsAbs(u.AuditLog) {
		bad("uplink.audit_log", "%q must be an absolute file path (or \"\" for none)", u.AuditLog)
	}
}

// validParamPattern: a query parameter name, or a prefix of one followed
// by '*'.
func validParamPattern(q string) bool {
	q = strings.TrimSuffix(q, "*")
	if q == "" || len(q) > 64 {
		return false
	}
	for i := 0; i < len(q); i++ {
		c := q[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.[]$", c) >= 0) {
			return false
		}
	}
	return true
}
