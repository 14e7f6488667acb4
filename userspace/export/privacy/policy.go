// Package privacy turns events into what may leave the box for the cloud:
// the customer's share modes pick the fields, the anonymisers transform
// them, and the same table explains itself to `edgesensor disclosure`.
package privacy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/edgesensor/edgesensor/userspace/export/anon"
	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
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

// FileCategory is the privacy category of a file category: code that
// runs (executables, scripts, shortcuts, packages, Java) is
// "executables"; what holds data (documents, archives, disk images) is
// "documents", the one that may hold personal content.
func FileCategory(c filetype.Category) string {
	switch c {
	case filetype.Executable, filetype.Script, filetype.Shortcut, filetype.Package, filetype.Java:
		return Executables
	}
	return Documents
}

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
	p       Settings
	key     *anon.Key
	cpan    *anon.CryptoPAn
	ipKey   []byte
	mailKey []byte
	userKey []byte
	hostKey []byte
	nameKey []byte
	idKey   []byte
	urls    *anon.URLRules
	ix      ruleIndex
	addrFn  func(netip.Addr) (string, bool)

	unknownSide atomic.Uint64 // handshake records not built: the client is unknown
	idMACs      sync.Pool     // HMACs under idKey, reused: one per record
}

// New builds the policy of the [privacy] table s; uplink says whether
// uplink.url is set (without one nothing is shared). key may be nil only
// when nothing is shared (every mode none).
func New(s *Settings, uplink bool, key *anon.Key) (*Policy, error) {
	p := &Policy{modes: map[string]string{}, p: *s, key: key, ix: buildIndex()}
	p.addrFn = p.personAddr
	any := false
	for _, c := range Categories {
		p.modes[c] = s.Mode(c, uplink)
		any = any || p.modes[c] != ShareNone
	}
	if !any {
		return p, nil
	}
	if key == nil {
		return nil, fmt.Errorf("privacy.key_file: no key loaded; create one with `edgesensor genkey %s`", s.KeyFile)
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
	p.urls = &anon.URLRules{Keep: s.QueryKeep, Hash: s.QueryValues == "hash", Key: key.SubKey("url-query")}
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
		if m != ShareNone {
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

// UnknownSide counts handshake events that made no record because
// neither hello was parsed, so which side is the client is not known.
func (p *Policy) UnknownSide() uint64 { return p.unknownSide.Load() }

// Record builds what of an event line may leave; ok is false when
// nothing may (its category's mode is none, it is not an event the
// cloud takes, or it is a handshake whose client side is unknown).
func (p *Policy) Record(r *ecs.Record) (Record, bool, error) {
	f, line := &r.Fields, r.Line
	rec := Record{Score: -1, Dataset: f.Dataset}
	if f.Scored {
		rec.Score = f.Score
	}
	i := skipWS(line, 0)
	if i >= len(line) || line[i] != '{' {
		return Record{}, false, errJSON
	}
	switch rec.Dataset {
	case "edgesensor.tls":
		rec.Category = TLS
	case "edgesensor.file":
		rec.Kind = f.Category
		cat, _ := filetype.ParseCategory(f.Category)
		rec.Category = FileCategory(cat)
		if f.Complete {
			rec.SHA256 = f.SHA256
		}
	default:
		return Record{}, false, nil
	}
	if p.modes[rec.Category] == ShareNone {
		return Record{}, false, nil
	}
	// Neither hello parsed: the side taken for the client is a guess, and
	// the other may be the real client.
	if rec.Category == TLS && f.UnknownSide {
		p.unknownSide.Add(1)
		return Record{}, false, nil
	}
	w := &walker{p: p, d: line, category: rec.Category, out: make([]byte, 0, len(line)), reasons: f.Reasons}
	// url.domain is the host of url.original: a Host header with user
	// info ("user:pass@host") may have been cut to the user name.
	w.urlHost, w.hasURL = anon.URLHost(f.URL), f.URL != ""
	w.ev.Addr = p.addrFn
	if a, err := netip.ParseAddr(f.Source.IP); err == nil {
		w.ev.Client = a.Unmap().WithZone("")
	}
	if p.modes[Email] != ShareNone {
		ev := &w.ev
		w.ev.Email = func(s string) (string, bool) {
			return anon.HashEmail(p.mailKey, s, p.p.EmailDomain == "keep", ev), true
		}
	}
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
	if !validJSON(w.out) {
		return Record{}, false, errJSON
	}
	// Keyed: an unkeyed hash of the local event would let the cloud
	// test guesses of what the record leaves out (the client's address
	// and port) against the id.
	rec.ID = p.recordID(line)
	rec.Body = w.out
	return rec, true, nil
}

// recordID is anon.HashToken(p.idKey, line) with a reused HMAC.
func (p *Policy) recordID(line []byte) string {
	m, _ := p.idMACs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, p.idKey)
	}
	m.Reset()
	m.Write(line)
	var sum [sha256.Size]byte
	id := hex.EncodeToString(m.Sum(sum[:0])[:16])
	p.idMACs.Put(m)
	return id
}

// unquote decodes a JSON string token ("" for anything else).
func unquote(raw []byte) string {
	var s string
	if len(raw) > 0 && raw[0] == '"' {
		if inner := raw[1 : len(raw)-1]; !hasEscape(inner) {
			return string(inner)
		}
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
		return category != TLS && p.modes[Metadata] != ShareNone
	case classEmail:
		return category != TLS && p.modes[Email] != ShareNone
	}
	return false
}

// text transforms one string leaf; false drops it.
func (p *Policy) text(tr transform, s string, ev *anon.Event) (string, bool) {
	switch tr {
	case tKeep:
		return s, true
	case tClientIP:
		a, err := netip.ParseAddr(s)
		if err != nil {
			return "", false // never pass on what we cannot anonymise
		}
		return p.personAddr(a)
	case tURL:
		return p.urls.URL(s, ev), true
	case tDomain, tServerName:
		return anon.Host(s, ev)
	case tFileName:
		n := anon.FileName(s, ev)
		return n, n != ""
	case tEmail:
		return anon.HashEmail(p.mailKey, s, p.p.EmailDomain == "keep", ev), true
	case tToken:
		return anon.HashToken(p.nameKey, s), true
	case tUser:
		if p.p.UserNames != "hash" {
			return "", false
		}
		return anon.HashToken(p.userKey, s), true
	case tHost, tUserAgent:
		mode := p.p.Hostnames
		if tr == tUserAgent {
			mode = p.p.UserAgent
		}
		switch mode {
		case "drop":
			return "", false
		case "hash":
			return anon.HashToken(p.hostKey, s), true
		}
		return s, true
	case tDN:
		d := anon.DN(s, ev)
		return d, d != ""
	case tDNValue:
		return anon.DNValue(s, ev), true
	case tSAN:
		return anon.SAN(s, p.urls, ev)
	case tErrorText:
		return anon.ErrorText(s, ev), true
	case tExtension:
		return s, len(s) <= 8 && isAlnumLower(s)
	case tMediaType:
		return mediaType(s)
	case tTokenList:
		return tokenList(s)
	case tMethod:
		return s, s != "" && len(s) <= 16 && isToken(s)
	case tALPN:
		if s == "" || len(s) > 64 || !printable(s) {
			return "", false
		}
		out, _ := anon.ScrubText(s, ev, true)
		return out, true
	case tTunnelType:
		return s, slices.Contains(tunnelTypes, s)
	case tText:
		out, _ := anon.ScrubText(s, ev, true)
		return out, true
	}
	return "", false
}

// personAddr writes an address that belongs to a person (the client, an
// e-mail address literal) as privacy.client_ip says.
func (p *Policy) personAddr(a netip.Addr) (string, bool) {
	a = a.Unmap().WithZone("")
	switch p.p.ClientIP {
	case "cryptopan":
		if p.cpan == nil {
			return "", false
		}
		return p.cpan.Anonymize(a).String(), true
	case "truncate":
		return anon.Truncate(a, p.p.TruncateV4, p.p.TruncateV6).String(), true
	case "hmac":
		if p.ipKey == nil {
			return "", false
		}
		return anon.HMACAddr(p.ipKey, a), true
	case "keep":
		return a.String(), true
	}
	return "", false
}

// mediaType keeps type/subtype of a media type, lower case, when both are
// RFC 9110 tokens.
func mediaType(s string) (string, bool) {
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	s = strings.ToLower(strings.TrimSpace(s))
	t, sub, ok := strings.Cut(s, "/")
	if !ok || t == "" || sub == "" || len(s) > 127 || !isToken(t) || !isToken(sub) {
		return "", false
	}
	return s, true
}

// codings are the transfer and content codings whose names leave; any
// other name (a sender's own words) is written "other".
var codings = []string{
	"content-length", "chunked", "close", // HTTP framing
	"gzip", "x-gzip", "deflate", "br", "compress", "x-compress", "zstd", "identity", // HTTP content codings
	"7bit", "8bit", "binary", "base64", "quoted-printable", "uuencode", // MIME
}

// tokenList keeps "gzip, br"-style lists of known coding names.
func tokenList(s string) (string, bool) {
	if s == "" || len(s) > 128 {
		return "", false
	}
	var b strings.Builder
	for i, t := range strings.Split(s, ",") {
		if i > 0 {
			b.WriteString(", ")
		}
		t = strings.ToLower(strings.TrimSpace(t))
		if !slices.Contains(codings, t) {
			t = "other"
		}
		b.WriteString(t)
	}
	return b.String(), true
}

// isToken: RFC 9110 token characters.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

func isAlnumLower(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
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
