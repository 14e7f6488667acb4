package feed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Store keeps the last good feed on disk as it was received: the signed
// snapshot and the signed deltas taken since. A restart verifies and
// applies them again (Feed.Restore), so a sensor that starts with the
// cloud unreachable has its feed, whatever their expiry: expiry guards
// against replay on the wire, and these are the sensor's own.
type Store struct {
	Dir string
}

const (
	snapshotFile = "snapshot.feed"
	deltaPrefix  = "delta-"
)

// Save records raw, a signed message the feed took: a snapshot replaces
// everything before it, a delta is added after it.
func (st *Store) Save(h *Header, raw []byte) error {
	if err := os.MkdirAll(st.Dir, 0o700); err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	if h.Kind == KindSnapshot {
		if err := writeAtomic(filepath.Join(st.Dir, snapshotFile), raw); err != nil {
			return err
		}
		old, _ := filepath.Glob(filepath.Join(st.Dir, deltaPrefix+"*.feed"))
		for _, p := range old {
			os.Remove(p)
		}
		return nil
	}
	return writeAtomic(filepath.Join(st.Dir, fmt.Sprintf("%s%020d.feed", deltaPrefix, h.Version)), raw)
}

// Deltas is how many deltas are saved after the snapshot.
func (st *Store) Deltas() int {
	d, _ := filepath.Glob(filepath.Join(st.Dir, deltaPrefix+"*.feed"))
	return len(d)
}

// Restore puts the saved feed in force: the snapshot, then the deltas
// in order, stopping at the first that does not verify or does not
// follow (it and those after it are removed, and the error says so).
// Nothing saved: nothing happens. Called before the feed takes messages.
func (f *Feed) Restore() error {
	if f.Store == nil {
		return nil
	}
	st := f.Store
	raw, err := os.ReadFile(filepath.Join(st.Dir, snapshotFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.restore(raw, KindSnapshot); err != nil {
		return fmt.Errorf("feed: the saved snapshot: %w", err)
	}
	deltas, _ := filepath.Glob(filepath.Join(st.Dir, deltaPrefix+"*.feed"))
	slices.Sort(deltas) // zero-padded versions sort in order
	for i, p := range deltas {
		raw, err := os.ReadFile(p)
		if err == nil {
			err = f.restore(raw, KindDelta)
		}
		if err != nil {
			for _, q := range deltas[i:] {
				os.Remove(q)
			}
			return fmt.Errorf("feed: saved delta %s: %w (it and those after it dropped)", strings.TrimPrefix(filepath.Base(p), deltaPrefix), err)
		}
	}
	return nil
}

// restore takes one saved message of kind (f.mu held).
func (f *Feed) restore(raw []byte, kind string) error {
	m, err := open(f.Pub, raw)
	if err != nil {
		return err
	}
	if m.Kind != kind {
		return fmt.Errorf("%w: a %s where a %s was saved", ErrMalformed, m.Kind, kind)
	}
	if err := f.inTurn(&m.Header); err != nil {
		return err
	}
	f.apply(m)
	f.count(kind)
	return nil
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
