package sensor

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
)

// maxTracked bounds the lists whose tables are changed in place: past it
// this side keeps no copy of what the tables hold (its memory), and every
// swap makes new tables.
const maxTracked = 1 << 18

// slotEntry is a blocklist entry as a generation's tables hold it; seen
// marks the swap that last found it wanted.
type slotEntry struct {
	list  uint16
	level uint8
	seen  uint32
	until int64 // unix ns; 0: never lapses
}

// pkey is a prefix as the content maps key it: compact and hashed as
// plain bytes (a netip.Prefix carries a zone handle).
type pkey struct {
	a    [16]byte
	bits uint8
	v4   bool
}

func keyOf(p netip.Prefix) pkey {
	return pkey{a: p.Addr().As16(), bits: uint8(p.Bits()), v4: p.Addr().Is4()}
}

func (k pkey) prefix() netip.Prefix {
	a := netip.AddrFrom16(k.a)
	if k.v4 {
		a = a.Unmap()
	}
	return netip.PrefixFrom(a, int(k.bits))
}

// genTables is one generation's four tables and, when known, what they
// hold. The data plane reads one generation; the other is the spare,
// written only while no packet can read it (a swap's grace after the
// flip).
type genTables struct {
	ts      tableSet
	content map[pkey]*slotEntry // nil: not known
	n, room [4]int              // entries each table holds, and can
}

// forget closes this side's handles (the outer maps keep the tables
// while they are installed) and marks the content unknown.
func (s *genTables) forget() {
	s.ts.close()
	*s = genTables{}
}

// table is the index into tableSet of a prefix's table.
func table(p netip.Prefix) int {
	switch {
	case p.Addr().Is4() && p.IsSingleIP():
		return 0
	case p.IsSingleIP():
		return 1
	case p.Addr().Is4():
		return 2
	}
	return 3
}

// entryOf is en as the tables hold it; false when it lapsed at wall.
func entryOf(en *enforce.Entry, ids []uint16, wall time.Time) (slotEntry, bool) {
	list := uint16(bpf.EnfMaxLists - 1)
	if int(en.List) < len(ids) {
		list = ids[en.List]
	}
	v := slotEntry{list: list, level: en.Level}
	if !en.Until.IsZero() {
		if !en.Until.After(wall) {
			return v, false
		}
		v.until = en.Until.UnixNano()
	}
	return v, true
}

// kernel is v, the entry of p, as the data plane's tables hold it; mono
// is the monotonic clock at wall (monoAt).
func (v slotEntry) kernel(p netip.Prefix, mono uint64, wall time.Time) bpf.EnfEntry {
	val := bpf.EnfEntry{List: v.list, Level: v.level, Prefixlen: uint8(p.Bits())}
	if v.until != 0 {
		// One this close to its lapse lapses at once, as it should.
		val.ExpiresNs = mono + uint64(max(time.Unix(0, v.until).Sub(wall), 1))
	}
	return val
}

// monoAt is the monotonic clock's reading at wall (a moment ago).
func monoAt(wall time.Time) uint64 { return monoNow() - uint64(time.Since(wall)) }

// fill readies generation next's tables to hold t: the changes written
// into the spare tables when their content is known, room allows and the
// changes are fewer than the entries; new tables otherwise. inPlace says
// which. Either way no packet reads them before the flip.
func (e *Enforcer) fill(next uint32, t *enforce.Tables, ids []uint16) (ts tableSet, expired int, inPlace bool, err error) {
	sl := &e.slots[next]
	e.swaps++
	if sl.content != nil && len(t.Entries) <= maxTracked {
		ok, expired, err := e.update(sl, t, ids)
		if err != nil {
			sl.forget() // half written: its content is no longer known
			return ts, 0, false, err
		}
		if ok {
			return sl.ts, expired, true, nil
		}
	}
	// One clock for the tables and the record of them: an entry lapsing
	// between two readings would be written and not recorded.
	wall := time.Now()
	ts, expired, err = e.build(t, ids, wall)
	if err != nil {
		return ts, 0, false, err
	}
	sl.forget()
	*sl = genTables{ts: ts}
	for i, m := range ts {
		sl.room[i] = int(m.MaxEntries())
	}
	if len(t.Entries) <= maxTracked {
		sl.content = make(map[pkey]*slotEntry, len(t.Entries))
		vals := make([]slotEntry, len(t.Entries)) // one allocation for all
		for i := range t.Entries {
			en := &t.Entries[i]
			if v, ok := entryOf(en, ids, wall); ok {
				v.seen = e.swaps
				k := keyOf(en.Prefix)
				if _, dup := sl.content[k]; !dup {
					sl.n[table(en.Prefix)]++
				}
				vals[i] = v
				sl.content[k] = &vals[i]
			}
		}
	}
	return ts, expired, false, nil
}

// update writes into sl's tables what differs from t: removals first,
// then additions and changes. It declines (false) when the changes would
// not fit or are more than half the entries.
func (e *Enforcer) update(sl *genTables, t *enforce.Tables, ids []uint16) (bool, int, error) {
	wall := time.Now()
	type change struct {
		p netip.Prefix
		v slotEntry
	}
	var put []change
	var del []netip.Prefix
	n := sl.n
	expired, wanted, kept := 0, 0, 0
	added := map[pkey]bool{}
	for i := range t.Entries {
		en := &t.Entries[i]
		v, ok := entryOf(en, ids, wall)
		if !ok {
			expired++
			continue
		}
		k := keyOf(en.Prefix)
		old, had := sl.content[k]
		if had && old.seen == e.swaps || added[k] {
			continue // listed twice (enforce.Build lists a prefix once): one is kept
		}
		wanted++
		v.seen = e.swaps
		if !had {
			added[k] = true
			n[table(en.Prefix)]++
			put = append(put, change{en.Prefix, v})
			continue
		}
		if old.list != v.list || old.level != v.level || old.until != v.until {
			put = append(put, change{en.Prefix, v})
		}
		// Marked even when declining: the full build that follows makes
		// the content anew.
		old.seen = e.swaps
		kept++
	}
	if kept < len(sl.content) {
		for k, v := range sl.content {
			if v.seen != e.swaps {
				p := k.prefix()
				del = append(del, p)
				n[table(p)]--
			}
		}
	}
	if len(del)+len(put) > wanted/2+1024 {
		return false, 0, nil
	}
	for i := range n {
		if n[i] > sl.room[i] {
			return false, 0, nil
		}
	}
	if err := parallel(len(del), func(i int) error { return e.writeEntry(sl.ts, del[i], nil) }); err != nil {
		return false, 0, err
	}
	mono := monoAt(wall)
	err := parallel(len(put), func(i int) error {
		val := put[i].v.kernel(put[i].p, mono, wall)
		return e.writeEntry(sl.ts, put[i].p, &val)
	})
	if err != nil {
		return false, 0, err
	}
	for _, p := range del {
		delete(sl.content, keyOf(p))
	}
	for i := range put {
		c := &put[i]
		if v := sl.content[keyOf(c.p)]; v != nil {
			*v = c.v
		} else {
			sl.content[keyOf(c.p)] = &c.v
		}
	}
	sl.n = n
	return true, expired, nil
}

// parallel runs fn(0..n-1) on two goroutines (the kernel's map updates
// are system calls; the second CPU takes half), the first error.
func parallel(n int, fn func(int) error) error {
	if n < 64 {
		for i := range n {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make(chan error, 2)
	for w := range 2 {
		go func() {
			for i := w; i < n; i += 2 {
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	return errors.Join(<-errs, <-errs)
}

// writeEntry puts (or, with v nil, deletes) one entry in ts.
func (e *Enforcer) writeEntry(ts tableSet, p netip.Prefix, v *bpf.EnfEntry) error {
	var key any
	a := p.Addr()
	switch i := table(p); i {
	case 0:
		key = a.As4()
	case 1:
		key = a.As16()
	case 2:
		key = bpf.EnfLPM4{Prefixlen: uint32(p.Bits()), Addr: a.As4()}
	default:
		key = bpf.EnfLPM6{Prefixlen: uint32(p.Bits()), Addr: a.As16()}
	}
	m := ts[table(p)]
	var err error
	if v == nil {
		if err = m.Delete(key); errorsIsNotExist(err) {
			err = nil
		}
	} else {
		err = m.Put(key, v)
	}
	if err != nil {
		return fmt.Errorf("writing %s into %s: %w", p, tableNames[table(p)], err)
	}
	return nil
}

func errorsIsNotExist(err error) bool { return errors.Is(err, ebpf.ErrKeyNotExist) }
