package intel

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Layer is intelligence that changes in place: the cloud's feed, a whole
// snapshot at a time or one delta at a time. Every Set a Reloader builds
// consults it after the local files (local allowlists win, local
// blocklists stay). A change is applied under a write lock, so a lookup
// sees the layer before a delta or after it, never half of one.
type Layer struct {
	mu  sync.RWMutex
	cur *Set // feed nil; its tables change only under mu
	// until holds the entries that lapse, by table key; next is the
	// earliest.
	until map[lapseKey]time.Time
	next  time.Time
	// names maps a source name to its index in cur.sources.
	names map[string]uint16
	gen   atomic.Uint64 // bumped by every change
	ipGen atomic.Uint64 // bumped by changes of IP entries
}

// lapseKey names an entry by its kind and its key in the Set's table
// (a [N]byte digest, a string, a netip.Prefix).
type lapseKey struct {
	kind Kind
	key  any
}

// FeedPrefix marks the feed's sources in hits and lists ("feed:edgecloud").
const FeedPrefix = "feed:"

// NewLayer returns an empty layer.
func NewLayer() *Layer {
	l := &Layer{cur: newBuilder().finish(), until: map[lapseKey]time.Time{}, names: map[string]uint16{}}
	return l
}

// Gen changes whenever the layer does (enforcement rebuilds its lists).
func (l *Layer) Gen() uint64 {
	if l == nil {
		return 0
	}
	return l.gen.Load()
}

// IPGen changes whenever the layer's IP entries do (the data plane's
// lists are built from them alone).
func (l *Layer) IPGen() uint64 {
	if l == nil {
		return 0
	}
	return l.ipGen.Load()
}

// hasIPs says whether s lists any address or prefix.
func (s *Set) hasIPs() bool {
	for _, t := range s.v4 {
		if len(t) > 0 {
			return true
		}
	}
	for _, t := range s.v6 {
		if len(t) > 0 {
			return true
		}
	}
	return false
}

// Batch is one message's worth of changes, checked and normalised before
// anything of it touches a Layer, so that applying it cannot fail.
type Batch struct {
	add, remove *builder // add.s.sources names the sources
	until       map[lapseKey]time.Time
	adds, rems  int
}

// NewBatch starts a batch whose entries name their source by index into
// sources (at most 256 names).
func NewBatch(sources []string) (*Batch, error) {
	if len(sources) > 256 {
		return nil, fmt.Errorf("%d sources in one message, at most 256", len(sources))
	}
	b := &Batch{add: newBuilder(), remove: newBuilder(), until: map[lapseKey]time.Time{}}
	for _, s := range sources {
		b.add.s.sources = append(b.add.s.sources, FeedPrefix+s)
		b.add.s.stats = append(b.add.s.stats, SourceStats{Name: FeedPrefix + s, Path: "feed"})
	}
	return b, nil
}

// Grow presizes the batch for about n more entries of kind k.
func (b *Batch) Grow(k Kind, n int) { b.add.grow(k, n) }

// Add lists a value of kind k at level (0..10), allowed or blocked, from
// source src, lapsing at until (zero: never).
func (b *Batch) Add(k Kind, v []byte, level int, allow bool, src int, until time.Time) error {
	if src < 0 || src >= len(b.add.s.sources) {
		return fmt.Errorf("source %d of %d", src, len(b.add.s.sources))
	}
	if level < 0 || level > 10 {
		return fmt.Errorf("level %d out of 0..10", level)
	}
	e := entry{src: uint16(src), level: uint8(level), allow: allow}
	if err := b.add.add(k, v, e); err != nil {
		return err
	}
	if !until.IsZero() {
		key, err := tableKey(k, v)
		if err != nil {
			return err
		}
		b.until[lapseKey{k, key}] = until
		if p, ok := key.(netip.Prefix); ok {
			// Lookups honour an address's expiry at once, as the
			// STIX files' (the sweep takes it off later).
			if b.add.s.ipUntil == nil {
				b.add.s.ipUntil = map[netip.Prefix]time.Time{}
			}
			b.add.s.ipUntil[p] = until
		}
	}
	b.add.s.stats[src].Entries++
	b.adds++
	return nil
}

// Remove takes a value of kind k off the layer.
func (b *Batch) Remove(k Kind, v []byte) error {
	if err := b.remove.add(k, v, entry{}); err != nil {
		return err
	}
	b.rems++
	return nil
}

// Len is the number of entries added and removed.
func (b *Batch) Len() (adds, removes int) { return b.adds, b.rems }

// tableKey is v as the Set's table of kind k keys it (as drop and store
// take it). Only entries that lapse need it; add keeps its own, unboxed.
func tableKey(k Kind, v []byte) (any, error) {
	switch k {
	case SHA256:
		var key [32]byte
		return key, decodeHex(key[:], v)
	case SHA1:
		var key [20]byte
		return key, decodeHex(key[:], v)
	case MD5, JA3:
		var key [16]byte
		return key, decodeHex(key[:], v)
	case JA4:
		return normJA4(string(v))
	case Domain:
		return normDomain(string(v))
	case IP:
		return ParsePrefix(string(v))
	}
	return nil, errors.New("no kind given for this value")
}

// Replace puts a snapshot in force: the layer becomes the batch's adds.
// The batch must not be used afterwards.
func (l *Layer) Replace(b *Batch) {
	s := b.add.finish()
	names := make(map[string]uint16, len(s.sources))
	for i, n := range s.sources {
		names[n] = uint16(i)
	}
	next := earliest(b.until)
	l.mu.Lock()
	ips := s.hasIPs() || l.cur.hasIPs()
	l.cur, l.until, l.names, l.next = s, b.until, names, next
	l.mu.Unlock()
	l.gen.Add(1)
	if ips {
		l.ipGen.Add(1)
	}
}

func earliest(m map[lapseKey]time.Time) time.Time {
	var t time.Time
	for _, u := range m {
		if t.IsZero() || u.Before(t) {
			t = u
		}
	}
	return t
}

// Apply puts a delta in force: its removals, then its additions (an
// addition replaces what the layer held for the value).
func (l *Layer) Apply(b *Batch) {
	add := b.add.finish()
	if add.hasIPs() || b.remove.s.hasIPs() {
		defer l.ipGen.Add(1)
	}
	l.mu.Lock()
	defer l.gen.Add(1)
	defer l.mu.Unlock()
	// The batch's source indices, as the layer numbers them.
	remap := make([]uint16, len(add.sources))
	for i, n := range add.sources {
		idx, ok := l.names[n]
		if !ok {
			if len(l.cur.sources) >= math.MaxUint16 {
				idx = math.MaxUint16 - 1 // folds into the last; never reached in practice
			} else {
				idx = uint16(len(l.cur.sources))
				l.cur.sources = append(l.cur.sources, n)
				l.cur.stats = append(l.cur.stats, SourceStats{Name: n, Path: "feed"})
				l.names[n] = idx
			}
		}
		remap[i] = idx
	}
	cur := l.cur
	b.remove.s.eachKey(func(k Kind, key any) {
		cur.drop(k, key)
		delete(l.until, lapseKey{k, key})
	})
	// An addition replaces the value's entry, and its expiry (ipUntil
	// and until below are the batch's).
	add.each(func(k Kind, key any, e entry) {
		cur.drop(k, key)
		delete(l.until, lapseKey{k, key})
		e.src = remap[e.src]
		cur.store(k, key, e)
	})
	for p, u := range add.ipUntil {
		if cur.ipUntil == nil {
			cur.ipUntil = map[netip.Prefix]time.Time{}
		}
		cur.ipUntil[p] = u
	}
	for k, u := range b.until {
		l.until[k] = u
		if l.next.IsZero() || u.Before(l.next) {
			l.next = u
		}
	}
	cur.lens()
}

// Expire takes the entries that have lapsed at now off the layer; it
// says how many.
func (l *Layer) Expire(now time.Time) int {
	l.mu.RLock()
	due := !l.next.IsZero() && !now.Before(l.next)
	l.mu.RUnlock()
	if !due {
		return 0
	}
	l.mu.Lock()
	n, ips := 0, false
	for k, u := range l.until {
		if now.Before(u) {
			continue
		}
		l.cur.drop(k.kind, k.key)
		delete(l.until, k)
		n++
		ips = ips || k.kind == IP
	}
	l.next = earliest(l.until)
	l.cur.lens()
	l.mu.Unlock()
	if n > 0 {
		l.gen.Add(1)
	}
	if ips {
		l.ipGen.Add(1)
	}
	return n
}

// read runs fn on the layer's set under the read lock.
func (l *Layer) read(fn func(*Set)) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	fn(l.cur)
}

// Counts is the number of entries per kind.
func (l *Layer) Counts() (m map[string]int) {
	l.read(func(s *Set) { m = s.Counts() })
	return m
}

// Len is the number of entries in force.
func (l *Layer) Len() int {
	n := 0
	for _, c := range l.Counts() {
		n += c
	}
	return n
}
