// Package feed reads the cloud's threat-intelligence feed: snapshots and
// deltas of intel entries, each signed with Ed25519 by a key the sensor
// pins (separate from the uplink's TLS certificates), versioned so that
// nothing old is replayed and no delta is applied out of turn, and
// expiring so that a feed nobody refreshes cannot be passed off later.
// Nothing in a message is used before its signature, format, version and
// expiry are checked; a refused message leaves the last good state as it
// was.
package feed

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"
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
	MaxMessage = 256 << 20 // bytes of the signed envelope
	MaxEntries = 4_000_000 // entries added or removed
	maxValue   = 253       // the longest value of any kind (a domain)
)

// Kinds of entry values, as the intel names them.
var kinds = map[string]bool{"sha256": true, "sha1": true, "md5": true, "ip": true, "domain": true, "ja3": true, "ja4": true}

// Key names an entry: what it matches.
type Key struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// Entry is one piece of intelligence.
type Entry struct {
	Key
	Level   int       `json:"level"`            // threat level 0 (allow) to 10
	Source  string    `json:"source"`           // who said so (a cloud verdict, a partner feed)
	Expires time.Time `json:"expires,omitzero"` // zero: until removed
}

// Message is one snapshot or delta.
type Message struct {
	Format  string    `json:"format"`
	Kind    string    `json:"kind"`
	Version uint64    `json:"version"`
	Base    uint64    `json:"base,omitempty"` // a delta's: the version it applies to
	Issued  time.Time `json:"issued"`
	// Expires: the message is refused after this (a captured message
	// replayed to a sensor that lost its state).
	Expires time.Time `json:"expires"`
	Add     []Entry   `json:"add"`
	Remove  []Key     `json:"remove,omitempty"` // a delta's
}

// envelope is a message on the wire: the payload's exact bytes and the
// signature over them.
type envelope struct {
	Payload []byte `json:"payload"`
	Sig     []byte `json:"sig"`
}

// Errors a message is refused for (wrapped with detail).
var (
	ErrSignature = errors.New("feed: bad signature")
	ErrMalformed = errors.New("feed: malformed message")
	ErrExpired   = errors.New("feed: message expired")
	ErrVersion   = errors.New("feed: version out of turn")
)

// Sign wraps m in a signed envelope (the reference cloud's side).
func Sign(priv ed25519.PrivateKey, m *Message) ([]byte, error) {
	payload, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("feed: encoding message: %w", err)
	}
	return json.Marshal(envelope{Payload: payload, Sig: ed25519.Sign(priv, payload)})
}

// Open checks a signed envelope against pub and returns its message: the
// signature first (nothing unsigned is even parsed), then the format,
// the fields and the expiry at now.
func Open(pub ed25519.PublicKey, raw []byte, now time.Time) (*Message, error) {
	m, err := open(pub, raw)
	if err != nil {
		return nil, err
	}
	if !now.Before(m.Expires) {
		return nil, fmt.Errorf("%w: version %d expired at %s", ErrExpired, m.Version, m.Expires.Format(time.RFC3339))
	}
	return m, nil
}

// open is Open without the expiry: the signature, format and fields.
func open(pub ed25519.PublicKey, raw []byte) (*Message, error) {
	if len(raw) > MaxMessage {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(raw), MaxMessage)
	}
	var env envelope
	if err := strictDecode(raw, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if len(pub) != ed25519.PublicKeySize || len(env.Sig) != ed25519.SignatureSize || !ed25519.Verify(pub, env.Payload, env.Sig) {
		return nil, ErrSignature
	}
	var m Message
	if err := strictDecode(env.Payload, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return &m, nil
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

// check validates a decoded message's fields.
func (m *Message) check() error {
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(f, a...)) }
	switch {
	case m.Format != Format:
		return bad("format %q, want %q", m.Format, Format)
	case m.Version == 0:
		return bad("version 0")
	case m.Expires.IsZero() || m.Issued.IsZero() || !m.Issued.Before(m.Expires):
		return bad("issued %s, expires %s", m.Issued, m.Expires)
	case len(m.Add)+len(m.Remove) > MaxEntries:
		return bad("%d entries, at most %d", len(m.Add)+len(m.Remove), MaxEntries)
	}
	switch m.Kind {
	case KindSnapshot:
		if m.Base != 0 || len(m.Remove) != 0 {
			return bad("a snapshot with a base or removals")
		}
	case KindDelta:
		if m.Version != m.Base+1 {
			return bad("delta from %d to %d: one version at a time", m.Base, m.Version)
		}
	default:
		return bad("kind %q", m.Kind)
	}
	for i := range m.Add {
		if err := m.Add[i].Key.check(); err != nil {
			return bad("add[%d]: %v", i, err)
		}
		if l := m.Add[i].Level; l < 0 || l > 10 {
			return bad("add[%d]: level %d", i, l)
		}
	}
	for i := range m.Remove {
		if err := m.Remove[i].check(); err != nil {
			return bad("remove[%d]: %v", i, err)
		}
	}
	return nil
}

func (k Key) check() error {
	if !kinds[k.Kind] {
		return fmt.Errorf("kind %q", k.Kind)
	}
	if k.Value == "" || len(k.Value) > maxValue {
		return fmt.Errorf("value of %d bytes", len(k.Value))
	}
	return nil
}
