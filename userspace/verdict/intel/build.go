package intel

import (
	"errors"
	"net/netip"
	"time"
)

// entry is what a table holds per value: kept to four bytes because the
// hash tables hold millions of them.
type entry struct {
	src   uint16 // index into Set.sources
	level uint8
	allow bool
}

// better decides between two entries for the same value: allow wins over
// block, then the higher level; on a tie the first loaded stays.
func better(old, e entry) entry {
	if old.allow != e.allow {
		if e.allow {
			return e
		}
		return old
	}
	if e.level > old.level {
		return e
	}
	return old
}

func put[K comparable](m map[K]entry, k K, e entry) {
	if old, ok := m[k]; ok {
		e = better(old, e)
	}
	m[k] = e
}

// The handshake tables' writes, which keep Set.hsBlock: putHS is put,
// storeHS replaces the entry, dropHS deletes it.
func putHS[K comparable](s *Set, m map[K]entry, k K, e entry) {
	old, had := m[k]
	if had {
		e = better(old, e)
	}
	m[k] = e
	s.countHS(old, had, e)
}

func storeHS[K comparable](s *Set, m map[K]entry, k K, e entry) {
	old, had := m[k]
	m[k] = e
	s.countHS(old, had, e)
}

func dropHS[K comparable](s *Set, m map[K]entry, k K) {
	if old, ok := m[k]; ok {
		s.uncountHS(old)
		delete(m, k)
	}
}

// builder fills a Set's tables; Load hands the result out only once.
type builder struct{ s *Set }

func newBuilder() *builder {
	return &builder{s: &Set{
		sha256:  map[[32]byte]entry{},
		sha1:    map[[20]byte]entry{},
		md5:     map[[16]byte]entry{},
		ja3:     map[[16]byte]entry{},
		ja4:     map[string]entry{},
		domains: map[string]entry{},
	}}
}

// grow presizes the table of kind k for about n more values, so that a
// million-line file does not rehash its way up (time and peak memory).
func (b *builder) grow(k Kind, n int) {
	if n <= 0 {
		return
	}
	s := b.s
	switch k {
	case SHA256:
		if len(s.sha256) == 0 {
			s.sha256 = make(map[[32]byte]entry, n)
		}
	case SHA1:
		if len(s.sha1) == 0 {
			s.sha1 = make(map[[20]byte]entry, n)
		}
	case MD5:
		if len(s.md5) == 0 {
			s.md5 = make(map[[16]byte]entry, n)
		}
	}
}

// add validates v as a value of kind k and stores it. It takes bytes so
// the hash path (most of the volume) never allocates a string.
func (b *builder) add(k Kind, v []byte, e entry) error {
	s := b.s
	switch k {
	case SHA256:
		var key [32]byte
		if err := decodeHex(key[:], v); err != nil {
			return err
		}
		put(s.sha256, key, e)
	case SHA1:
		var key [20]byte
		if err := decodeHex(key[:], v); err != nil {
			return err
		}
		put(s.sha1, key, e)
	case MD5:
		var key [16]byte
		if err := decodeHex(key[:], v); err != nil {
			return err
		}
		put(s.md5, key, e)
	case JA3:
		var key [16]byte
		if err := decodeHex(key[:], v); err != nil {
			return err
		}
		putHS(s, s.ja3, key, e)
	case JA4:
		n, err := normJA4(string(v))
		if err != nil {
			return err
		}
		putHS(s, s.ja4, n, e)
	case Domain:
		n, err := normDomain(string(v))
		if err != nil {
			return err
		}
		putHS(s, s.domains, n, e)
	case IP:
		p, err := ParsePrefix(string(v))
		if err != nil {
			return err
		}
		b.addPrefix(p, e)
	default:
		return errors.New("no kind given for this value")
	}
	return nil
}

func (b *builder) addPrefix(p netip.Prefix, e entry) {
	s := b.s
	bits := p.Bits()
	if p.Addr().Is4() {
		if s.v4[bits] == nil {
			s.v4[bits] = map[[4]byte]entry{}
		}
		put(s.v4[bits], p.Addr().As4(), e)
		return
	}
	if s.v6[bits] == nil {
		s.v6[bits] = map[[16]byte]entry{}
	}
	put(s.v6[bits], p.Addr().As16(), e)
}

// hasPrefix says whether the IP entry p is listed already.
func (b *builder) hasPrefix(p netip.Prefix) bool {
	if p.Addr().Is4() {
		_, ok := b.s.v4[p.Bits()][p.Addr().As4()]
		return ok
	}
	_, ok := b.s.v6[p.Bits()][p.Addr().As16()]
	return ok
}

// expire records when the IP entry p lapses: the latest expiry any
// source gave it, or never when one source gave none (a zero until, or
// existed: p was listed before without one).
func (b *builder) expire(p netip.Prefix, until time.Time, existed bool) {
	s := b.s
	if s.ipUntil == nil {
		s.ipUntil = map[netip.Prefix]time.Time{}
	}
	old, seen := s.ipUntil[p]
	switch {
	case until.IsZero():
		if seen {
			s.ipUntil[p] = time.Time{}
		}
	case existed && !seen:
		// Listed by an earlier source without an expiry: never.
	case !seen:
		s.ipUntil[p] = until
	case !old.IsZero() && until.After(old):
		s.ipUntil[p] = until
	}
}

// finish records which prefix lengths are present, longest first, so a
// lookup probes only those (at most 33 and 129, usually a handful).
func (b *builder) finish() *Set {
	b.s.lens()
	return b.s
}

// lens records which prefix lengths the tables hold (again, after a
// feed's change in place).
func (s *Set) lens() {
	s.v4lens, s.v6lens = s.v4lens[:0], s.v6lens[:0]
	for i := len(s.v4) - 1; i >= 0; i-- {
		if len(s.v4[i]) > 0 {
			s.v4lens = append(s.v4lens, uint8(i))
		}
	}
	for i := len(s.v6) - 1; i >= 0; i-- {
		if len(s.v6[i]) > 0 {
			s.v6lens = append(s.v6lens, uint8(i))
		}
	}
}
