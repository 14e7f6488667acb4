package privacy

import (
	"fmt"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/config"
)

// Disclosed is one field of one category and what becomes of it.
type Disclosed struct {
	Category  string `json:"category"`
	Mode      string `json:"mode"`
	Field     string `json:"field"`
	Sent      bool   `json:"sent"`
	Transform string `json:"transform"`
	Note      string `json:"note,omitempty"`
}

// Disclosure lists, per record category, every field the rule table
// knows and whether and how it leaves under this policy. It reads the
// same table and the same decisions (allowed, the transform switch) as
// Record.
func (p *Policy) Disclosure() []Disclosed {
	var out []Disclosed
	for _, cat := range []string{Executables, Documents, TLS} {
		mode := p.modes[cat]
		for i := range rules {
			r := &rules[i]
			if !applies(r, cat) {
				continue
			}
			d := Disclosed{Category: cat, Mode: mode, Field: r.path, Note: r.note}
			switch {
			case mode == config.ShareNone:
				d.Transform = "not sent: privacy." + cat + " is none" + p.noneWhy()
			case !p.allowed(r, cat):
				d.Transform = fmt.Sprintf("not sent: privacy.%s is none", r.class)
			default:
				d.Transform, d.Sent = p.describe(r.tr)
			}
			out = append(out, d)
		}
		if cat != TLS {
			d := Disclosed{Category: cat, Mode: mode, Field: "(file content)"}
			switch mode {
			case config.ShareFull:
				d.Sent = true
				d.Transform = fmt.Sprintf("uploaded only when the cloud does not know the SHA-256 and the file is at most %s (privacy.max_upload.%s)", config.ByteSize(p.UploadLimit(cat)), cat)
			default:
				d.Transform = "not sent: privacy." + cat + " is not full"
			}
			out = append(out, d)
		}
	}
	return out
}

// noneWhy adds the reason every mode is none, when it is global.
func (p *Policy) noneWhy() string {
	if !p.Shares() {
		return " (nothing leaves: privacy.share is none or uplink.url is empty)"
	}
	return ""
}

// applies says whether a rule's field can occur in a record of cat.
func applies(r *rule, cat string) bool {
	switch r.class {
	case classTLS:
		return cat == TLS
	case classMeta, classEmail:
		return cat != TLS
	}
	// Event fields: file fields only on file records.
	file := strings.HasPrefix(r.path, "file.") || strings.HasPrefix(r.path, "edgesensor.file.")
	return !file || cat != TLS
}

// describe says what a transform does under this config; sent is false
// when the field is dropped.
func (p *Policy) describe(tr transform) (string, bool) {
	switch tr {
	case tKeep:
		return "as seen", true
	case tDrop:
		return "never sent", false
	case tClientIP:
		switch p.p.ClientIP {
		case "cryptopan":
			return "Crypto-PAn, keyed and prefix-preserving (privacy.client_ip)", true
		case "truncate":
			return fmt.Sprintf("truncated to /%d (IPv4) and /%d (IPv6) (privacy.client_ip)", p.p.TruncateV4, p.p.TruncateV6), true
		case "hmac":
			return "keyed HMAC-SHA256, not an address (privacy.client_ip)", true
		case "keep":
			return "as seen (privacy.client_ip = keep)", true
		}
		return "not sent (privacy.client_ip = drop)", false
	case tURL:
		return fmt.Sprintf("user name and password removed; values of %d query parameters scrubbed (privacy.query_params)", len(p.p.QueryParams)), true
	case tFileName:
		return "user-profile path segments removed", true
	case tEmail:
		if p.p.EmailDomain == "keep" {
			return "local part keyed-hashed, domain kept (privacy.email_domain)", true
		}
		return "local part keyed-hashed, domain dropped (privacy.email_domain)", true
	case tToken:
		return "keyed hash", true
	case tUser:
		if p.p.UserNames == "hash" {
			return "keyed hash (privacy.user_names)", true
		}
		return "not sent (privacy.user_names = drop)", false
	case tHost, tUserAgent:
		key, mode := "privacy.hostnames", p.p.Hostnames
		if tr == tUserAgent {
			key, mode = "privacy.user_agent", p.p.UserAgent
		}
		switch mode {
		case "hash":
			return "keyed hash (" + key + ")", true
		case "keep":
			return "as seen (" + key + " = keep)", true
		}
		return "not sent (" + key + " = drop)", false
	case tReasons:
		return "rule and weight of each reason; reason texts dropped", true
	}
	return "never sent", false
}
