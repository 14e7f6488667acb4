// Package feed reads the cloud's threat-intelligence feed: snapshots and
// deltas of intel entries, each signed with Ed25519 by a key the sensor
// pins (separate from the uplink's TLS certificates), versioned so that
// nothing old is replayed and no delta is applied out of turn, and
// expiring so that a feed nobody refreshes cannot be passed off later.
// Nothing in a message is used before its signature, format, version and
// expiry are checked; a refused message leaves the last good feed as it
// was.
//
// A message is text, so that a million-entry snapshot parses in a
// fraction of a second with no per-entry allocation:
//
//	edgesensor-feed/1 <base64 signature over everything after this line>
//	{"format":"edgesensor-feed/1","kind":"delta","version":8,"base":7,...}
//	+ sha256 <hex> <level|allow> <source index> [<expiry, unix seconds>]
//	- domain <name>
package feed

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
)

// Format names this version of the message format.
const Format = "edgesensor-feed/1"

// Message kinds.
const (
	KindSnapshot = "snapshot" // the whole feed at Version
	KindDelta    = "delta"    // the changes from Base to Version (Base+1)
)

// Bounds of one message: past them it is refused whole.
const (
	MaxMessage = 256 << 20 // bytes
	MaxEntries = 4_000_000 // entries added or removed
	maxHeader  = 64 << 10  // bytes of the header line
	maxSources = 256
	maxSource  = 64 // bytes of a source name
)

// Key names an entry: what it matches.
type Key struct {
	Kind  string // sha256, sha1, md5, ip, domain, ja3, ja4
	Value string
}

// Entry is one piece of intelligence.
type Entry struct {
	Key
	Level   int       // threat level 0..10
	Allow   bool      // an allowlist entry: it keeps the value out of the feed's blocklists
	Source  string    // who said so (a cloud verdict, a partner feed)
	Expires time.Time // zero: until removed
}

// Header is a message's first signed line.
type Header struct {
	Format  string    `json:"format"`
	Kind    string    `json:"kind"`
	Version uint64    `json:"version"`
	Base    uint64    `json:"base,omitempty"` // a delta's: the version it applies to
	Issued  time.Time `json:"issued"`
	// Expires: the message is refused after this (a captured message
	// replayed to a sensor that lost its state).
	Expires time.Time `json:"expires"`
	Sources []string  `json:"sources"`
	// Adds and Removes count the entry lines that follow.
	Adds    int `json:"adds"`
	Removes int `json:"removes"`
}

// Message is one snapshot or delta, as the cloud builds it.
type Message struct {
	Header
	Add    []Entry
	Remove []Key // a delta's
}

// Opened is a message whose signature, fields and entries checked: its
// header and its entries ready for an intel.Layer.
type Opened struct {
	Header
	Batch *intel.Batch
}

// Errors a message is refused for (wrapped with detail).
var (
	ErrSignature = errors.New("feed: bad signature")
	ErrMalformed = errors.New("feed: malformed message")
	ErrExpired   = errors.New("feed: message expired")
	ErrVersion   = errors.New("feed: version out of turn")
)

// Sign encodes m and signs it (the cloud's side). The header's format,
// sources and counts are filled from m.
func Sign(priv ed25519.PrivateKey, m *Message) ([]byte, error) {
	h := m.Header
	if h.Format == "" {
		h.Format = Format
	}
	idx := map[string]int{}
	h.Sources = nil
	for _, e := range m.Add {
		if _, ok := idx[e.Source]; !ok {
			idx[e.Source] = len(h.Sources)
			h.Sources = append(h.Sources, e.Source)
		}
	}
	h.Adds, h.Removes = len(m.Add), len(m.Remove)
	head, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("feed: encoding header: %w", err)
	}
	var p bytes.Buffer
	p.Grow(len(head) + 1 + len(m.Add)*90 + len(m.Remove)*80)
	p.Write(head)
	p.WriteByte('\n')
	num := make([]byte, 0, 20)
	for _, e := range m.Add {
		p.WriteString("+ ")
		p.WriteString(e.Kind)
		p.WriteByte(' ')
		p.WriteString(e.Value)
		p.WriteByte(' ')
		if e.Allow {
			p.WriteString("allow")
		} else {
			p.Write(strconv.AppendInt(num[:0], int64(e.Level), 10))
		}
		p.WriteByte(' ')
		p.Write(strconv.AppendInt(num[:0], int64(idx[e.Source]), 10))
		if !e.Expires.IsZero() {
			p.WriteByte(' ')
			p.Write(strconv.AppendInt(num[:0], e.Expires.Unix(), 10))
		}
		p.WriteByte('\n')
	}
	for _, k := range m.Remove {
		p.WriteString("- ")
		p.WriteString(k.Kind)
		p.WriteByte(' ')
		p.WriteString(k.Value)
		p.WriteByte('\n')
	}
	payload := p.Bytes()
	sig := ed25519.Sign(priv, payload)
	out := make([]byte, 0, len(Format)+1+base64.StdEncoding.EncodedLen(len(sig))+1+len(payload))
	out = append(out, Format...)
	out = append(out, ' ')
	out = base64.StdEncoding.AppendEncode(out, sig)
	out = append(out, '\n')
	return append(out, payload...), nil
}

// Open checks a signed message against pub and returns it: the signature
// first (nothing unsigned is even parsed), then the header, every entry
// and the expiry at now.
func Open(pub ed25519.PublicKey, raw []byte, now time.Time) (*Opened, error) {
	m, err := open(pub, raw)
	if err != nil {
		return nil, err
	}
	if !now.Before(m.Expires) {
		return nil, fmt.Errorf("%w: version %d expired at %s", ErrExpired, m.Version, m.Expires.Format(time.RFC3339))
	}
	return m, nil
}

// open is Open without the expiry: the signature, header and entries.
func open(pub ed25519.PublicKey, raw []byte) (*Opened, error) {
	payload, err := verify(pub, raw)
	if err != nil {
		return nil, err
	}
	return parse(payload)
}

// verify checks the signature line and returns the payload it signs.
func verify(pub ed25519.PublicKey, raw []byte) ([]byte, error) {
	if len(raw) > MaxMessage {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(raw), MaxMessage)
	}
	nl := bytes.IndexByte(raw, '\n')
	if nl < 0 || nl > 200 {
		return nil, fmt.Errorf("%w: no signature line", ErrMalformed)
	}
	format, sig64, ok := bytes.Cut(raw[:nl], []byte{' '})
	if !ok || string(format) != Format {
		return nil, fmt.Errorf("%w: the signature line is not %q and a signature", ErrMalformed, Format)
	}
	// Decode needs DecodedLen of its input in the buffer, not the length
	// it will write: a signature's 64 bytes alone panicked on 88
	// characters holding line breaks, which Decode skips (FuzzOpen). The
	// input's length is checked first, so the buffer stays on the stack.
	if len(sig64) != base64.StdEncoding.EncodedLen(ed25519.SignatureSize) {
		return nil, fmt.Errorf("%w: signature encoding", ErrMalformed)
	}
	var buf [ed25519.SignatureSize + 2]byte // DecodedLen(88)
	n, err := base64.StdEncoding.Strict().Decode(buf[:], sig64)
	if err != nil || n != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature encoding", ErrMalformed)
	}
	payload := raw[nl+1:]
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, payload, buf[:n]) {
		return nil, ErrSignature
	}
	return payload, nil
}

// parse reads a verified payload: the header line, then exactly the
// entry lines it announces, each checked as the intel loads values.
func parse(payload []byte) (*Opened, error) {
	h, rest, err := parseHeader(payload)
	if err != nil {
		return nil, err
	}
	return parseEntries(h, rest)
}

// parseHeader reads and checks a verified payload's header line; rest is
// the entry lines.
func parseHeader(payload []byte) (h *Header, rest []byte, err error) {
	nl := bytes.IndexByte(payload, '\n')
	if nl < 0 || nl > maxHeader {
		return nil, nil, fmt.Errorf("%w: no header line", ErrMalformed)
	}
	h = &Header{}
	if err := strictDecode(payload[:nl], h); err != nil {
		return nil, nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if err := h.check(); err != nil {
		return nil, nil, err
	}
	return h, payload[nl+1:], nil
}

// parseEntries reads exactly the entry lines h announces.
func parseEntries(h *Header, rest []byte) (*Opened, error) {
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(f, a...)) }
	m := Opened{Header: *h}
	b, err := intel.NewBatch(m.Sources)
	if err != nil {
		return nil, bad("%v", err)
	}
	if m.Kind == KindSnapshot {
		// Presized: a million hashes do not rehash their way up.
		b.Grow(intel.SHA256, m.Adds)
	}
	adds, removes := 0, 0
	for line := 1; len(rest) > 0; line++ {
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return nil, bad("entry %d: no end of line", line)
		}
		l := rest[:nl]
		rest = rest[nl+1:]
		if len(l) < 2 || l[1] != ' ' {
			return nil, bad("entry %d: want '+ ' or '- '", line)
		}
		op := l[0]
		f := fields(l[2:])
		switch {
		case op == '+' && (f.n == 4 || f.n == 5):
			if adds++; adds > m.Adds {
				return nil, bad("more entries added than the %d announced", m.Adds)
			}
			err = add(b, &f, len(m.Sources))
		case op == '-' && f.n == 2:
			if removes++; removes > m.Removes {
				return nil, bad("more entries removed than the %d announced", m.Removes)
			}
			var k intel.Kind
			if k, err = intel.ParseKind(string(f.f[0])); err == nil {
				err = b.Remove(k, f.f[1])
			}
		default:
			err = errors.New("want '+ kind value level source [expiry]' or '- kind value'")
		}
		if err != nil {
			return nil, bad("entry %d: %v", line, err)
		}
	}
	if adds != m.Adds || removes != m.Removes {
		return nil, bad("%d entries added and %d removed, %d and %d announced", adds, removes, m.Adds, m.Removes)
	}
	m.Batch = b
	return &m, nil
}

// add reads one '+' line's fields into b.
func add(b *intel.Batch, f *split, sources int) error {
	k, err := intel.ParseKind(string(f.f[0]))
	if err != nil {
		return err
	}
	level, allow := 0, false
	if string(f.f[2]) == "allow" {
		allow = true
	} else if level, err = smallInt(f.f[2], 10); err != nil {
		return fmt.Errorf("level: %v", err)
	}
	src, err := smallInt(f.f[3], sources-1)
	if err != nil {
		return fmt.Errorf("source: %v", err)
	}
	var until time.Time
	if f.n == 5 {
		u, err := strconv.ParseInt(string(f.f[4]), 10, 64)
		if err != nil || u <= 0 || u > 1<<40 {
			return fmt.Errorf("expiry %q is not a time in unix seconds", f.f[4])
		}
		until = time.Unix(u, 0)
	}
	return b.Add(k, f.f[1], level, allow, src, until)
}

// split is a line's space-separated fields, at most five.
type split struct {
	f [5][]byte
	n int // fields found; 6 means too many
}

func fields(l []byte) split {
	var s split
	for {
		if s.n == len(s.f) {
			s.n++ // too many
			return s
		}
		i := bytes.IndexByte(l, ' ')
		if i < 0 {
			s.f[s.n] = l
			s.n++
			break
		}
		s.f[s.n] = l[:i]
		s.n++
		l = l[i+1:]
	}
	for i := range s.n {
		if len(s.f[i]) == 0 {
			s.n = len(s.f) + 1 // two spaces in a row, or one at an end: not the encoder's
		}
	}
	return s
}

// smallInt reads a decimal 0..max with no sign or leading zeros.
func smallInt(b []byte, max int) (int, error) {
	if len(b) == 0 || len(b) > 5 || (len(b) > 1 && b[0] == '0') {
		return 0, fmt.Errorf("%q is not a number 0..%d", b, max)
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a number 0..%d", b, max)
		}
		n = n*10 + int(c-'0')
	}
	if n > max {
		return 0, fmt.Errorf("%d is not 0..%d", n, max)
	}
	return n, nil
}

// strictDecode decodes one JSON value with no unknown fields and nothing
// after it.
func strictDecode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("data after the value")
	}
	return nil
}

// check validates a header's fields.
func (h *Header) check() error {
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(f, a...)) }
	switch {
	case h.Format != Format:
		return bad("format %q, want %q", h.Format, Format)
	case h.Version == 0:
		return bad("version 0")
	case h.Expires.IsZero() || h.Issued.IsZero() || !h.Issued.Before(h.Expires):
		return bad("issued %s, expires %s", h.Issued, h.Expires)
	case h.Adds < 0 || h.Removes < 0 || h.Adds+h.Removes > MaxEntries:
		return bad("%d entries added, %d removed, at most %d in all", h.Adds, h.Removes, MaxEntries)
	case len(h.Sources) > maxSources:
		return bad("%d sources, at most %d", len(h.Sources), maxSources)
	}
	for _, s := range h.Sources {
		if s == "" || len(s) > maxSource {
			return bad("a source name of %d bytes", len(s))
		}
	}
	switch h.Kind {
	case KindSnapshot:
		if h.Base != 0 || h.Removes != 0 {
			return bad("a snapshot with a base or removals")
		}
	case KindDelta:
		if h.Version != h.Base+1 {
			return bad("delta from %d to %d: one version at a time", h.Base, h.Version)
		}
	default:
		return bad("kind %q", h.Kind)
	}
	return nil
}
