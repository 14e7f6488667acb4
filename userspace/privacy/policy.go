// Package privacy turns events into what may leave the box for the cloud:
// the customer's share modes pick the fields, the anonymisers transform
// them, and the same table explains itself to `edgesensor disclosure`.
package privacy

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/anon"
	"github.com/edgesensor/edgesensor/userspace/config"
)

// Data categories, as in [privacy].
const (
	Executables = "executables"
	Documents   = "documents"
	Metadata    = "metadata"
	TLS         = "tls"
	Email       = "email"
)

// Categories in the order the disclosure lists them.
var Categories = []string{Executables, Documents, Metadata, TLS, Email}

// Record is one event as it may leave the box.
type Record struct {
	ID       string // stable: the same event gives the same ID (idempotency)
	Category string // executables, documents or tls
	Dataset  string
	Body     []byte // the anonymised JSON object
	SHA256   string // a whole file's hash, for the hash-first lookup
	Kind     string // file category as in events (executable, document, archive)
	Score    int    // the local risk score, -1 when none
}

// Policy is a loaded [privacy] config with its key. It is immutable: a
// reload or a key rotation builds a new one.
type Policy struct {
	modes   map[string]string // category → effective share mode
	p       config.Privacy
	key     *anon.Key
	cpan    *anon.CryptoPAn
	ipKey   []byte
	mailKey []byte
	userKey []byte
	hostKey []byte
	nameKey []byte
	idKey   []byte
	ix      ruleIndex
}

// New builds the policy of cfg. key may be nil only when nothing is
// shared (every mode none).
func New(cfg *config.Config, key *anon.Key) (*Policy, error) {
	p := &Policy{modes: map[string]string{}, p: cfg.Privacy, key: key, ix: buildIndex()}
	any := false
	for _, c := range Categories {
		p.modes[c] = cfg.Mode(c)
		any = any || p.modes[c] != config.ShareNone
	}
	if !any {
		return p, nil
	}
	if key == nil {
		return nil, fmt.Errorf("privacy.key_file: no key loaded; create one with `edgesensor genkey %s`", cfg.Privacy.KeyFile)
	}
	cp, err := key.CryptoPAn()
	if err != nil {
		return nil, fmt.Errorf("privacy: %w", err)
	}
	p.cpan = cp
	p.ipKey = key.SubKey(anon.PurposeHMACIP)
	p.mailKey = key.SubKey(anon.PurposeEmail)
	p.userKey = key.SubKey(anon.PurposeUser)
	p.hostKey = key.SubKey(anon.PurposeHost)
	p.nameKey = key.SubKey(anon.PurposeName)
	p.idKey = key.SubKey("record-id")
	return p, nil
}

// Mode is the effective share mode of a category.
func (p *Policy) Mode(category string) string { return p.modes[category] }

// Modes is a copy of every category's effective mode (for the audit log).
func (p *Policy) Modes() map[string]string {
	m := make(map[string]string, len(p.modes))
	for k, v := range p.modes {
		m[k] = v
	}
	return m
}

// Shares says whether anything at all may leave.
func (p *Policy) Shares() bool {
	for _, m := range p.modes {
		if m != config.ShareNone {
			return true
		}
	}
	return false
}

// KeyID identifies the key in use ("" without one).
func (p *Policy) KeyID() string {
	if p.key == nil {
		return ""
	}
	return p.key.ID()
}

// Record builds what of an event line may leave; ok is false when
// nothing may (its category's mode is none, or it is not an event the
// cloud takes).
func (p *Policy) Record(line []byte) (Record, bool, error) {
	rec := Record{Score: -1}
	var kind, complete, sha string
	w := &walker{p: p, d: line, collect: func(path []byte, raw []byte) {
		switch string(path) {
		case "event.dataset":
			rec.Dataset = unquote(raw)
		case "edgesensor.file.category":
			kind = unquote(raw)
		case "edgesensor.file.complete":
			complete = string(raw)
		case "file.hash.sha256":
			sha = unquote(raw)
		case "event.risk_score":
			var n float64
			if json.Unmarshal(raw, &n) == nil {
				rec.Score = int(n)
			}
		}
	}}
	i := w.ws(0)
	if i >= len(line) || line[i] != '{' {
		return Record{}, false, errJSON
	}
	if _, _, err := w.object(i); err != nil {
		return Record{}, false, err
	}
	switch rec.Dataset {
	case "edgesensor.tls":
		rec.Category = TLS
	case "edgesensor.file":
		rec.Kind = kind
		rec.Category = Documents
		if kind == config.CategoryExecutable {
			rec.Category = Executables
		}
		if complete == "true" {
			rec.SHA256 = sha
		}
	default:
		return Record{}, false, nil
	}
	if p.modes[rec.Category] == config.ShareNone {
		return Record{}, false, nil
	}
	w = &walker{p: p, d: line, category: rec.Category, out: make([]byte, 0, len(line))}
	_, wrote, err := w.object(i)
	if err != nil {
		return Record{}, false, err
	}
	if wrote {
		w.out = append(w.out, '}')
	} else {
		w.out = append(w.out[:0], '{', '}')
	}
	// The walker trusts its input's structure; what it wrote is checked
	// (smaller than what it read), so malformed input never leaves as a
	// malformed record.
	if !json.Valid(w.out) {
		return Record{}, false, errJSON
	}
	// Keyed: an unkeyed hash of the local event would let the cloud
	// test guesses of what the record leaves out (the client's address
	// and port) against the id.
	rec.ID = anon.HashToken(p.idKey, string(line))
	rec.Body = w.out
	return rec, true, nil
}

// unquote decodes a JSON string token ("" for anything else).
func unquote(raw []byte) string {
	var s string
	if len(raw) > 0 && raw[0] == '"' {
		json.Unmarshal(raw, &s)
	}
	return s
}

// allowed says whether a rule's class may leave with a record of category.
func (p *Policy) allowed(r *rule, category string) bool {
	switch r.class {
	case classEvent:
		return true // the record exists, so its category's mode allows it
	case classTLS:
		return category == TLS
	case classMeta:
		return category != TLS && p.modes[Metadata] != config.ShareNone
	case classEmail:
		return category != TLS && p.modes[Email] != config.ShareNone
	}
	return false
}

// apply transforms one leaf; false drops it.
func (p *Policy) apply(tr transform, v any) (any, bool) {
	if list, ok := v.([]any); ok && tr != tReasons {
		var out []any
		for _, e := range list {
			if nv, ok := p.apply(tr, e); ok {
				out = append(out, nv)
			}
		}
		return out, len(out) > 0
	}
	s, isStr := v.(string)
	switch tr {
	case tKeep:
		return v, true
	case tDrop:
		return nil, false
	case tClientIP:
		if !isStr {
			return nil, false
		}
		return p.clientIP(s)
	case tURL:
		if !isStr {
			return nil, false
		}
		return anon.ScrubURL(s, p.p.QueryParams), true
	case tFileName:
		if !isStr {
			return nil, false
		}
		return anon.StripUserPath(s), true
	case tEmail:
		if !isStr {
			return nil, false
		}
		return anon.HashEmail(p.mailKey, s, p.p.EmailDomain == "keep"), true
	case tToken:
		if !isStr {
			return nil, false
		}
		return anon.HashToken(p.nameKey, s), true
	case tUser:
		if !isStr || p.p.UserNames != "hash" {
			return nil, false
		}
		return anon.HashToken(p.userKey, s), true
	case tHost, tUserAgent:
		mode := p.p.Hostnames
		if tr == tUserAgent {
			mode = p.p.UserAgent
		}
		switch {
		case !isStr || mode == "drop":
			return nil, false
		case mode == "hash":
			return anon.HashToken(p.hostKey, s), true
		}
		return s, true
	case tReasons:
		list, ok := v.([]any)
		if !ok {
			return nil, false
		}
		out := make([]any, 0, len(list))
		for _, e := range list {
			if m, ok := e.(map[string]any); ok {
				out = append(out, map[string]any{"rule": m["rule"], "weight": m["weight"]})
			}
		}
		return out, true
	}
	return nil, false
}

// clientIP applies privacy.client_ip.
func (p *Policy) clientIP(s string) (any, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return nil, false // never pass on what we cannot anonymise
	}
	switch p.p.ClientIP {
	case "cryptopan":
		return p.cpan.Anonymize(a).String(), true
	case "truncate":
		return anon.Truncate(a, p.p.TruncateV4, p.p.TruncateV6).String(), true
	case "hmac":
		return anon.HMACAddr(p.ipKey, a), true
	case "keep":
		return a.String(), true
	}
	return nil, false
}

// lookup follows a path of keys through nested objects.
func lookup(m map[string]any, path ...string) any {
	var v any = m
	for _, k := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// str is lookup as a string ("true"/"false" for booleans).
func str(m map[string]any, path ...string) string {
	switch v := lookup(m, path...).(type) {
	case string:
		return v
	case bool:
		if v {
			return "true"
		}
		return "false"
	}
	return ""
}

// SensorID is the sensor's pseudonym for the cloud when uplink.sensor_id
// is not set: its host name, keyed-hashed (it changes with the key).
func (p *Policy) SensorID(hostname string) string {
	return anon.HashToken(p.hostKey, strings.ToLower(hostname))[:16]
}

// UploadLimit is privacy.max_upload of a file category.
func (p *Policy) UploadLimit(category string) int64 {
	if category == Executables {
		return int64(p.p.MaxUpload.Executables)
	}
	return int64(p.p.MaxUpload.Documents)
}
