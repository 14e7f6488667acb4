package feed

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Store keeps the last good feed on disk as it was received: the signed
// snapshot and the signed deltas applied since. A restart verifies and
// applies them again, so a sensor that starts with the cloud unreachable
// has its feed (whatever their expiry: expiry guards against replay on
// the wire, and these are the sensor's own).
type Store struct {
	Dir string
	Pub ed25519.PublicKey
}

const (
	snapshotFile = "snapshot.feed"
	deltaPrefix  = "delta-"
	// MaxDeltas is how many deltas the store keeps after its snapshot;
	// past it the sensor asks for a snapshot.
	MaxDeltas = 10000
)

// Save records raw, the signed message m that the state took: a
// snapshot replaces everything before it, a delta is added after it.
func (st *Store) Save(m *Message, raw []byte) error {
	if err := os.MkdirAll(st.Dir, 0o700); err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	if m.Kind == KindSnapshot {
		if err := writeAtomic(filepath.Join(st.Dir, snapshotFile), raw); err != nil {
			return err
		}
		old, _ := filepath.Glob(filepath.Join(st.Dir, deltaPrefix+"*.feed"))
		for _, p := range old {
			os.Remove(p)
		}
		return nil
	}
	return writeAtomic(filepath.Join(st.Dir, fmt.Sprintf("%s%020d.feed", deltaPrefix, m.Version)), raw)
}

// Deltas is how many deltas are saved after the snapshot.
func (st *Store) Deltas() int {
	d, _ := filepath.Glob(filepath.Join(st.Dir, deltaPrefix+"*.feed"))
	return len(d)
}

// Load verifies and applies what was saved: the snapshot, then the
// deltas in order, stopping at the first that does not verify or does
// not follow (what came after it is removed). No snapshot: nil, nil.
func (st *Store) Load() (*State, error) {
	raw, err := os.ReadFile(filepath.Join(st.Dir, snapshotFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("feed: %w", err)
	}
	m, err := open(st.Pub, raw)
	if err != nil {
		return nil, fmt.Errorf("feed: the saved snapshot: %w", err)
	}
	var s *State
	if s, err = s.Apply(m); err != nil {
		return nil, fmt.Errorf("feed: the saved snapshot: %w", err)
	}
	deltas, _ := filepath.Glob(filepath.Join(st.Dir, deltaPrefix+"*.feed"))
	slices.Sort(deltas) // zero-padded versions sort in order
	for i, p := range deltas {
		n, err := st.loadDelta(s, p)
		if err != nil {
			for _, q := range deltas[i:] {
				os.Remove(q)
			}
			return s, fmt.Errorf("feed: saved delta %s: %w (it and those after it dropped)", strings.TrimPrefix(filepath.Base(p), deltaPrefix), err)
		}
		s = n
	}
	return s, nil
}

func (st *Store) loadDelta(s *State, path string) (*State, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := open(st.Pub, raw)
	if err != nil {
		return nil, err
	}
	if m.Kind != KindDelta {
		return nil, fmt.Errorf("%w: a %s among the deltas", ErrMalformed, m.Kind)
	}
	return s.Apply(m)
}

// writeAtomic replaces path whole: a crash leaves the old file or the
// new, never half of one.
func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".part-*")
	if err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("feed: saving %s: %w", filepath.Base(path), err)
	}
	return nil
}
