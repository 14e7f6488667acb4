package privacy

import (
	"fmt"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/setting"
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
			case mode == ShareNone:
				d.Transform = "not sent: privacy." + cat + " is none" + p.noneWhy()
			case !p.allowed(r, cat):
				d.Transform = fmt.Sprintf("not sent: privacy.%s is none", r.class)
			default:
				d.Transform, d.Sent = p.describe(r.tr)
			}
			out = append(out, d)
		}
		if cat == TLS {
			d := Disclosed{Category: cat, Mode: mode, Field: "(a handshake whose client is unknown)",
				Transform: "not sent: neither hello was parsed (edgesensor.tls.missing lists client_hello and server_hello), " +
					"so the side taken for the client is a guess and the other side may be the real client; no record is made"}
			out = append(out, d)
		}
		if cat != TLS {
			d := Disclosed{Category: cat, Mode: mode, Field: "(file content)"}
			switch mode {
			case ShareFull:
				d.Sent = true
				d.Transform = fmt.Sprintf("uploaded only when the cloud does not know the SHA-256 and the file is at most %s (privacy.max_upload.%s)", setting.ByteSize(p.UploadLimit(cat)), cat)
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
		return p.describeAddr("privacy.client_ip")
	case tURL:
		values := "dropped (REDACTED)"
		if p.p.QueryValues == "hash" {
			values = "keyed-hashed (16 hex digits)"
		}
		kept := "none is kept"
		if len(p.p.QueryKeep) > 0 {
			kept = fmt.Sprintf("those of %s are kept, scrubbed of e-mail addresses, the client's address and user paths, URLs in them rebuilt the same way", strings.Join(p.p.QueryKeep, ", "))
		}
		addr, _ := p.describeAddr("privacy.client_ip")
		return "rebuilt from its parts: scheme; host checked as a host name or address (the client's address: " + addr +
			"); port; path with segments naming a user (/Users/NAME, /home/NAME, ~NAME, @NAME), e-mail addresses, " +
			"the client's address and JSON web tokens replaced (also percent- and double-encoded); query parameter names, their values " +
			values + " (privacy.query_values) unless the parameter is in privacy.query_keep: " + kept +
			"; user name, password and fragment never", true
	case tDomain:
		addr, _ := p.describeAddr("privacy.client_ip")
		return "the host of url.original, checked as a host name or address (anything else is not sent); user info and port removed; the client's address: " + addr, true
	case tServerName:
		addr, _ := p.describeAddr("privacy.client_ip")
		return "a host name, checked (anything else is not sent); the client's address: " + addr, true
	case tFileName:
		return "the name alone, without directories (percent-decoded first); e-mail addresses and the client's address replaced", true
	case tEmail:
		lit, _ := p.describeAddr("privacy.client_ip")
		if p.p.EmailDomain == "keep" {
			return "local part keyed-hashed, domain kept (privacy.email_domain); an address literal such as [192.0.2.1] is the sender's host: " + lit, true
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
	case tDN:
		return "rebuilt from the attributes CN, O, OU, C, L, ST, STREET, POSTALCODE, SERIALNUMBER, DC (values scrubbed of e-mail addresses, " +
			"the client's address and user paths) and emailAddress (" + p.describeEmail() + "); every other attribute (names of persons, user ids) dropped", true
	case tDNValue:
		return "e-mail addresses (" + p.describeEmail() + "), the client's address and user paths replaced", true
	case tSAN:
		return "DNS names checked; IP addresses (the client's: per privacy.client_ip); e-mail addresses and mailto: URIs " +
			p.describeEmail() + "; other URIs rebuilt like url.original", true
	case tErrorText:
		return "the message with quoted parts, e-mail addresses, the client's address and user paths removed; at most 256 bytes", true
	case tExtension:
		return "when 1 to 8 lower-case letters and digits", true
	case tMediaType:
		return "type/subtype only, parameters dropped", true
	case tTokenList:
		return "when a list of lower-case tokens", true
	case tMethod:
		return "when an HTTP token of at most 16 characters", true
	case tALPN:
		return "printable protocol names, scrubbed like free text", true
	case tText:
		return "as seen, with e-mail addresses, the client's address and user paths replaced", true
	case tTunnelType:
		return "one of " + strings.Join(tunnelTypes, ", "), true
	}
	return "never sent", false
}

// describeAddr says how an address of a person is written.
func (p *Policy) describeAddr(key string) (string, bool) {
	switch p.p.ClientIP {
	case "cryptopan":
		return "Crypto-PAn, keyed and prefix-preserving (" + key + ")", true
	case "truncate":
		return fmt.Sprintf("truncated to /%d (IPv4) and /%d (IPv6) (%s)", p.p.TruncateV4, p.p.TruncateV6, key), true
	case "hmac":
		return "keyed HMAC-SHA256, not an address (" + key + ")", true
	case "keep":
		return "as seen (" + key + " = keep)", true
	}
	return "not sent (" + key + " = drop)", false
}

// describeEmail says what becomes of an e-mail address outside the email
// category (certificates).
func (p *Policy) describeEmail() string {
	if p.modes[Email] == ShareNone {
		return "not sent: privacy.email is none"
	}
	if p.p.EmailDomain == "keep" {
		return "keyed-hashed, domain kept (privacy.email)"
	}
	return "keyed-hashed, domain dropped (privacy.email)"
}
