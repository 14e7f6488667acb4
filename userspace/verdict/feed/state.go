package feed

import (
	"fmt"
	"maps"
	"time"
)

// State is the feed as the sensor holds it: the entries of the last
// snapshot with every delta since applied, at Version.
type State struct {
	Version uint64
	Entries map[Key]Entry
	// Issued is when the cloud issued the newest message applied (the
	// feed's age is measured from it).
	Issued time.Time
}

// Apply takes a message Open returned: a snapshot newer than the state
// replaces it; a delta must start at the state's version. Anything else
// (an old snapshot replayed, a delta skipped or repeated) is refused and
// the state left as it was. Apply on a copy: the state is replaced whole
// or not at all.
func (s *State) Apply(m *Message) (*State, error) {
	switch m.Kind {
	case KindSnapshot:
		if s != nil && m.Version <= s.Version {
			return nil, fmt.Errorf("%w: snapshot %d, have %d", ErrVersion, m.Version, s.Version)
		}
		n := &State{Version: m.Version, Issued: m.Issued, Entries: make(map[Key]Entry, len(m.Add))}
		for _, e := range m.Add {
			n.Entries[e.Key] = e
		}
		return n, nil
	case KindDelta:
		have := uint64(0)
		if s != nil {
			have = s.Version
		}
		if s == nil || m.Base != have {
			return nil, fmt.Errorf("%w: delta %d→%d, have %d", ErrVersion, m.Base, m.Version, have)
		}
		n := &State{Version: m.Version, Issued: m.Issued, Entries: maps.Clone(s.Entries)}
		for _, k := range m.Remove {
			delete(n.Entries, k)
		}
		for _, e := range m.Add {
			n.Entries[e.Key] = e
		}
		return n, nil
	}
	return nil, fmt.Errorf("%w: kind %q", ErrMalformed, m.Kind)
}

// Age is how old the state's newest message is at now.
func (s *State) Age(now time.Time) time.Duration {
	if s == nil || s.Issued.IsZero() {
		return 0
	}
	return now.Sub(s.Issued)
}
