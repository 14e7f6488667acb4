package intel

import (
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Reloader keeps the current Set behind an atomic pointer so packet
// workers read it without locks while a reload builds the next one.
type Reloader struct {
	sources []Source
	feed    *Layer // consulted by every Set built; nil for none
	cur     atomic.Pointer[Set]

	mu       sync.Mutex // serialises Reload and guards the fields below
	stamps   []stamp    // file states seen by the last load attempt
	warnings []error    // skipped entries of the last successful load
}

// stamp is what Changed compares: a rewrite changes mtime or size.
type stamp struct {
	exists bool
	mod    time.Time
	size   int64
}

func (a stamp) same(b stamp) bool {
	return a.exists == b.exists && a.size == b.size && a.mod.Equal(b.mod)
}

func stat(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{exists: true, mod: fi.ModTime(), size: fi.Size()}
}

// NewReloader loads the sources. On a file-level error it still returns
// a Reloader, holding whatever did load, with the error: the caller
// chooses between running on partial intelligence and exiting.
func NewReloader(sources []Source) (*Reloader, error) { return NewReloaderFeed(sources, nil) }

// NewReloaderFeed is NewReloader whose Sets consult the feed after the
// files.
func NewReloaderFeed(sources []Source, feed *Layer) (*Reloader, error) {
	r := &Reloader{sources: append([]Source(nil), sources...), feed: feed}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.load()
	r.cur.Store(s)
	return r, err
}

// Current is the Set to query now; hold it for one packet or event, not
// longer, so that reloads take effect.
func (r *Reloader) Current() *Set { return r.cur.Load() }

// Reload rebuilds the Set from the files and swaps it in only if every
// file loaded (skipped bad entries are allowed; see Warnings). Otherwise
// the old Set stays and the error says which files failed.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.load()
	if err != nil {
		return err
	}
	r.cur.Store(s)
	return nil
}

// load runs Load, recording file stamps first: a file rewritten while
// being read then shows as changed at the next poll and is read again.
func (r *Reloader) load() (*Set, error) {
	stamps := make([]stamp, len(r.sources))
	for i, s := range r.sources {
		stamps[i] = stat(s.Path)
	}
	// Stamps are kept even when the load fails, so a broken file is
	// retried when it next changes, not on every poll.
	r.stamps = stamps
	s, errs := Load(r.sources)
	s.feed = r.feed
	if err := fatal(errs); err != nil {
		return s, err
	}
	r.warnings = errs
	return s, nil
}

// Changed reports whether any file's existence, mtime or size differs
// from the last load attempt. It only stats; the caller polls it.
func (r *Reloader) Changed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, s := range r.sources {
		if !stat(s.Path).same(r.stamps[i]) {
			return true
		}
	}
	return false
}

// Warnings are the skipped entries (*LineError) of the last successful
// load, for logging.
func (r *Reloader) Warnings() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.warnings...)
}
