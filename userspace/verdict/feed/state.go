package feed

import (
	"crypto/ed25519"
	"fmt"
	"sync"
	"time"

	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
)

// Feed is the feed as the sensor holds it: the entries of the last
// snapshot with every delta since applied, in force in Layer, at a
// version. Messages are taken in turn only: a snapshot newer than the
// version, or the delta from it.
type Feed struct {
	Layer *intel.Layer
	Pub   ed25519.PublicKey
	// Store keeps what was taken on disk; nil: nothing is kept.
	Store *Store

	mu      sync.Mutex // serialises Accept and Restore
	version uint64
	issued  time.Time
	kept    int // deltas in the Store after its snapshot
}

// KeptDeltas is how many deltas the Store holds after its snapshot:
// past a bound, the sensor asks for a snapshot (which replaces them).
func (f *Feed) KeptDeltas() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.kept
}

// Version is the version in force, 0 before any.
func (f *Feed) Version() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.version
}

// Age is how old the newest message taken is at now (0 before any).
func (f *Feed) Age(now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.issued.IsZero() {
		return 0
	}
	return now.Sub(f.issued)
}

// Accept checks a signed message (its signature, its header, its expiry
// at now, its turn, then its entries) and puts it in force, then keeps it
// in the Store. A refused message changes
// nothing. A message in force that could not be kept is in force all the
// same; the error says so (ErrNotKept).
func (f *Feed) Accept(raw []byte, now time.Time) (*Header, error) {
	payload, err := verify(f.Pub, raw)
	if err != nil {
		return nil, err
	}
	h, rest, err := parseHeader(payload)
	if err != nil {
		return nil, err
	}
	if !now.Before(h.Expires) {
		return nil, fmt.Errorf("%w: version %d expired at %s", ErrExpired, h.Version, h.Expires.Format(time.RFC3339))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// The turn before the entries: a message out of turn costs no parse.
	if err := f.inTurn(h); err != nil {
		return nil, err
	}
	m, err := parseEntries(h, rest)
	if err != nil {
		return nil, err
	}
	f.apply(m)
	if f.Store != nil {
		if err := f.Store.Save(&m.Header, raw); err != nil {
			return &m.Header, fmt.Errorf("%w: %v", ErrNotKept, err)
		}
		f.count(m.Kind)
	}
	return &m.Header, nil
}

// ErrNotKept: a message was put in force but not written to disk.
var ErrNotKept = fmt.Errorf("feed: in force but not kept on disk")

// count keeps KeptDeltas for a message kept (f.mu held).
func (f *Feed) count(kind string) {
	if kind == KindSnapshot {
		f.kept = 0
	} else {
		f.kept++
	}
}

// inTurn refuses an old snapshot replayed, or a delta skipped or
// repeated (f.mu held). A snapshot of the version in force is taken
// while deltas are kept after the snapshot on disk: it is that state, and
// the sensor asks for it to replace them (otherwise it changes nothing,
// and is refused).
func (f *Feed) inTurn(h *Header) error {
	switch h.Kind {
	case KindSnapshot:
		if h.Version < f.version || (h.Version == f.version && f.kept == 0) {
			return fmt.Errorf("%w: snapshot %d, have %d", ErrVersion, h.Version, f.version)
		}
	case KindDelta:
		if f.version == 0 || h.Base != f.version {
			return fmt.Errorf("%w: delta %d→%d, have %d", ErrVersion, h.Base, h.Version, f.version)
		}
	}
	return nil
}

func (f *Feed) apply(m *Opened) {
	if m.Kind == KindSnapshot {
		f.Layer.Replace(m.Batch)
	} else {
		f.Layer.Apply(m.Batch)
	}
	f.version, f.issued = m.Version, m.Issued
}
