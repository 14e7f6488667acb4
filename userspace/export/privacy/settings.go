package privacy

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/export/anon"
	"github.com/edgesensor/edgesensor/userspace/setting"
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

// Settings is the [privacy] table: what leaves the box for the cloud,
// and how it is anonymised first. Local SIEM outputs are not affected.
type Settings struct {
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
	Executables setting.ByteSize `toml:"executables"`
	Documents   setting.ByteSize `toml:"documents"`
}

// DefaultSettings is the [privacy] table of the shipped sensor.toml.
func DefaultSettings() Settings {
	return Settings{
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

// Mode returns the effective share mode of a category (executables,
// documents, metadata, tls, email): its own, capped by Share, and none
// without an uplink (uplink: uplink.url is set).
func (s *Settings) Mode(category string, uplink bool) string {
	if !uplink || s.Share == ShareNone {
		return ShareNone
	}
	var m string
	switch category {
	case Executables:
		m = s.Executables
	case Documents:
		m = s.Documents
	case Metadata:
		m = s.Metadata
	case TLS:
		m = s.TLS
	case Email:
		m = s.Email
	default:
		return ShareNone
	}
	if ShareRank(m) > ShareRank(s.Share) {
		return s.Share
	}
	return m
}

// Shares says whether anything at all may leave the box.
func (s *Settings) Shares(uplink bool) bool {
	for _, c := range Categories {
		if s.Mode(c, uplink) != ShareNone {
			return true
		}
	}
	return false
}

// Validate checks the [privacy] table, found at key; shares says whether
// anything leaves under it (Shares).
func (s *Settings) Validate(key string, shares bool, p *setting.Problems) {
	for _, m := range []struct{ key, v string }{
		{"share", s.Share}, {Executables, s.Executables}, {Documents, s.Documents},
		{Metadata, s.Metadata}, {TLS, s.TLS}, {Email, s.Email},
	} {
		switch m.v {
		case ShareNone, ShareHash, ShareFull:
		default:
			p.Add(key+"."+m.key, "%q is not a share mode; use \"none\", \"hash\" or \"full\"", m.v)
		}
	}
	for _, m := range []struct{ key, v string }{{Metadata, s.Metadata}, {TLS, s.TLS}, {Email, s.Email}} {
		if m.v == ShareFull {
			p.Add(key+"."+m.key, "\"full\" is for file content; use \"none\" or \"hash\"")
		}
	}
	switch s.ClientIP {
	case "cryptopan", "truncate", "hmac", "drop", "keep":
	default:
		p.Add(key+".client_ip", "%q is not a mode; use \"cryptopan\", \"truncate\", \"hmac\", \"drop\" or \"keep\"", s.ClientIP)
	}
	if s.TruncateV4 < 0 || s.TruncateV4 > 32 {
		p.Add(key+".truncate_v4", "%d is out of range; use 0 to 32 prefix bits (default 24)", s.TruncateV4)
	}
	if s.TruncateV6 < 0 || s.TruncateV6 > 128 {
		p.Add(key+".truncate_v6", "%d is out of range; use 0 to 128 prefix bits (default 48)", s.TruncateV6)
	}
	if len(s.QueryParams) > 0 {
		p.Add(key+".query_params", "is no longer used: every query value is now dropped (or hashed, %[1]s.query_values) "+
			"unless its parameter is named in %[1]s.query_keep; delete %[1]s.query_params and list in %[1]s.query_keep "+
			"only parameters whose values may leave, e.g. query_keep = [\"lang\"]", key)
	}
	for i, q := range s.QueryKeep {
		if !validParamPattern(q) {
			p.Add(fmt.Sprintf("%s.query_keep[%d]", key, i), "%q is not a parameter name; use a name such as \"lang\" or a prefix such as \"utm_*\" (letters, digits, - _ . [ ] $)", q)
		}
	}
	if s.QueryValues != "drop" && s.QueryValues != "hash" {
		p.Add(key+".query_values", "%q is not a mode; use \"drop\" or \"hash\"", s.QueryValues)
	}
	if s.UserNames != "drop" && s.UserNames != "hash" {
		p.Add(key+".user_names", "%q is not a mode; use \"drop\" or \"hash\"", s.UserNames)
	}
	if s.EmailDomain != "keep" && s.EmailDomain != "drop" {
		p.Add(key+".email_domain", "%q is not a mode; use \"keep\" or \"drop\"", s.EmailDomain)
	}
	for _, m := range []struct{ key, v string }{{"hostnames", s.Hostnames}, {"user_agent", s.UserAgent}} {
		switch m.v {
		case "drop", "hash", "keep":
		default:
			p.Add(key+"."+m.key, "%q is not a mode; use \"drop\", \"hash\" or \"keep\"", m.v)
		}
	}
	if shares && !filepath.IsAbs(s.KeyFile) {
		p.Add(key+".key_file", "%q must be an absolute path to the anonymisation key (create one with `edgesensor genkey PATH`)", s.KeyFile)
	}
}

// Preflight loads the anonymisation key, as a policy that shares needs
// it (New).
func (s *Settings) Preflight(key string, shares bool, p *setting.Problems) {
	if shares {
		_, err := anon.LoadKey(s.KeyFile)
		p.Fail(key+".key_file", err)
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
