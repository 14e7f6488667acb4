// The enforcer's blocklists: stable list ids, whole sets of tables built
// aside and swapped in at once, the prefilter and the allowlist.

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

// swapGrace is how long a replaced set of blocklist tables stays in its
// slot after the flip: a packet that read the old generation just before
// it finishes its lookups in microseconds (XDP runs to completion in
// softirq), so this is ample, and only memory waits on it.
const swapGrace = 50 * time.Millisecond

// Lists names the list ids in use ("" for a free id).
func (e *Enforcer) Lists() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.names[:]...)
}

// listIDs is a list-id assignment: names by id, ids by name.
type listIDs struct {
	names [bpf.EnfMaxLists]string
	ids   map[string]uint16
	fresh []uint16 // ids given to a new name: their counters were another list's
}

// assignIDs gives each of lists a stable id: the one it had, or a free
// one. Names no longer listed free their ids. It returns the id of each,
// by index, and the assignment to commit when the lists are swapped in
// (until then the tables in force keep their names). e.mu held.
func (e *Enforcer) assignIDs(lists []string) ([]uint16, *listIDs) {
	a := &listIDs{names: e.names, ids: map[string]uint16{}}
	keep := map[string]bool{}
	for _, n := range lists {
		keep[n] = true
	}
	for n, id := range e.ids {
		if keep[n] {
			a.ids[n] = id
		} else {
			a.names[id] = ""
		}
	}
	out := make([]uint16, len(lists))
	for i, n := range lists {
		id, ok := a.ids[n]
		if !ok {
			id = bpf.EnfMaxLists - 1 // no free id: the last one is shared
			for j, have := range a.names {
				if have == "" {
					id = uint16(j)
					break
				}
			}
			if a.names[id] == "" {
				a.names[id] = n
				a.fresh = append(a.fresh, id)
			}
			a.ids[n] = id
		}
		out[i] = id
	}
	return out, a
}

// commitIDs makes an assignment the one in force. e.mu held.
func (e *Enforcer) commitIDs(a *listIDs) {
	e.names, e.ids = a.names, a.ids
	for _, id := range a.fresh {
		e.zeroCounters(id)
	}
}

// zeroCounters clears a list id's per-CPU counters.
func (e *Enforcer) zeroCounters(id uint16) {
	zero := make([]bpf.EnfListStats, ebpf.MustPossibleCPU())
	if err := e.objs.EnfLists.Put(uint32(id), zero); err != nil {
		e.Stats.Errors.Add(1)
	}
}

// tableSet is one slot's four blocklist tables, filled.
type tableSet [4]*ebpf.Map

var tableNames = [4]string{"enf_exact4", "enf_exact6", "enf_prefix4", "enf_prefix6"}

func (ts *tableSet) close() {
	for _, m := range ts {
		if m != nil {
			m.Close()
		}
	}
}

// build makes and fills the four tables of t.
func (e *Enforcer) build(t *enforce.Tables, ids []uint16, wall time.Time) (tableSet, int, error) {
	var (
		k4 [][4]byte
		v4 []bpf.EnfEntry
		k6 [][16]byte
		v6 []bpf.EnfEntry
		p4 []bpf.EnfLPM4
		w4 []bpf.EnfEntry
		p6 []bpf.EnfLPM6
		w6 []bpf.EnfEntry
	)
	mono := monoAt(wall)
	expired := 0
	for i := range t.Entries {
		en := &t.Entries[i]
		se, ok := entryOf(en, ids, wall)
		if !ok {
			expired++
			continue
		}
		v := se.kernel(en.Prefix, mono, wall)
		a, bits := en.Prefix.Addr(), en.Prefix.Bits()
		switch {
		case a.Is4() && bits == 32:
			k4, v4 = append(k4, a.As4()), append(v4, v)
		case a.Is4():
			p4, w4 = append(p4, bpf.EnfLPM4{Prefixlen: uint32(bits), Addr: a.As4()}), append(w4, v)
		case bits == 128:
			k6, v6 = append(k6, a.As16()), append(v6, v)
		default:
			p6, w6 = append(p6, bpf.EnfLPM6{Prefixlen: uint32(bits), Addr: a.As16()}), append(w6, v)
		}
	}
	var ts tableSet
	sizes := [4]int{len(k4), len(k6), len(p4), len(p6)}
	for i, name := range tableNames {
		spec, err := e.objs.InnerSpec(name)
		if err != nil {
			ts.close()
			return ts, 0, err
		}
		// Room for entries added between swaps.
		spec.MaxEntries = uint32(sizes[i] + sizes[i]/8 + 1024)
		spec.Name = name[:min(len(name), 15)]
		m, err := ebpf.NewMap(spec)
		if err != nil {
			ts.close()
			return ts, 0, fmt.Errorf("making %s (%d entries): %w", name, sizes[i], err)
		}
		ts[i] = m
	}
	fill := func(m *ebpf.Map, keys, vals any, n int) error {
		if n == 0 {
			return nil
		}
		if _, err := m.BatchUpdate(keys, vals, nil); err != nil {
			return fmt.Errorf("filling %s: %w", m, err)
		}
		return nil
	}
	err := errors.Join(fill(ts[0], k4, v4, len(k4)), fill(ts[1], k6, v6, len(k6)))
	// LPM tries take no batches.
	for i := range p4 {
		if err == nil {
			err = ts[2].Put(&p4[i], &w4[i])
		}
	}
	for i := range p6 {
		if err == nil {
			err = ts[3].Put(&p6[i], &w6[i])
		}
	}
	if err != nil {
		ts.close()
		return ts, 0, fmt.Errorf("filling blocklists: %w", err)
	}
	return ts, expired, nil
}

// Replace swaps in a whole new set of lists: the tables are made and
// filled aside, the allowlist and the prefilter widened to cover both
// sets, then one write of enf_gen makes every packet after it see only
// the new set; the old set and the prefilter bits only it needed go once
// no packet can still be reading them.
func (e *Enforcer) Replace(t *enforce.Tables) error {
	e.swapMu.Lock()
	defer e.swapMu.Unlock()
	e.mu.Lock()
	ids, assigned := e.assignIDs(t.Lists)
	next := (e.gen + 1) & 1
	e.mu.Unlock()

	start := time.Now()
	ts, expired, inPlace, err := e.fill(next, t, ids)
	if err != nil {
		return err
	}
	// Until the flip, a failure leaves generation next's tables not what
	// this side recorded (new ones not installed, or changes written for
	// lists never put in force): forgotten, the next swap makes new ones.
	flipped := false
	defer func() {
		if !flipped {
			e.slots[next].forget()
		}
	}()

	want := [4][]uint64{
		bpf.Prefilter4:       enforce.Prefilter(t.Entries, false, false),
		bpf.Prefilter6:       enforce.Prefilter(t.Entries, true, false),
		bpf.PrefixPrefilter4: enforce.Prefilter(t.Entries, false, true),
		bpf.PrefixPrefilter6: enforce.Prefilter(t.Entries, true, true),
	}
	for f := range want {
		union := make([]uint64, len(want[f]))
		for i := range union {
			union[i] = want[f][i] | e.bits[f][i]
		}
		if err := e.writeWords(f, e.bits[f], union); err != nil {
			return err
		}
	}
	added, err := e.addAllow(t.Allow)
	if err != nil {
		// Back to the allowlist in force, so that the next try starts
		// from it.
		e.dropAllow(added, nil)
		return err
	}
	outers := [4]*ebpf.Map{e.objs.EnfExact4, e.objs.EnfExact6, e.objs.EnfPrefix4, e.objs.EnfPrefix6}
	for i, o := range outers {
		if inPlace {
			break // the slot holds these tables already
		}
		if err := o.Put(next, ts[i]); err != nil {
			e.dropAllow(added, nil)
			return fmt.Errorf("installing %s: %w", tableNames[i], err)
		}
	}
	e.mu.Lock()
	e.commitIDs(assigned)
	// Fresh before the flip: the new lists are in force from the first
	// packet that sees them.
	err = e.refreshLocked()
	if err == nil {
		err = e.objs.EnfGen.Set(e.gen + 1)
	}
	if err == nil {
		e.gen++
	}
	e.mu.Unlock()
	if err != nil {
		e.dropAllow(added, nil)
		return fmt.Errorf("switching blocklists: %w", err)
	}
	flipped = true
	e.Stats.LastSwap.Store(int64(time.Since(start)))
	if inPlace {
		e.Stats.InPlace.Add(1)
	}

	time.Sleep(swapGrace)
	// The old generation's tables become the spare: brought up to these
	// lists now, off the path to their being in force, so that the next
	// swap writes only its own changes there. When that cannot be done
	// in place they go, and the next swap makes new ones.
	if old := &e.slots[1-next]; old.content != nil {
		if len(t.Entries) > maxTracked {
			old.forget()
		} else if ok, _, err := e.update(old, t, ids); err != nil || !ok {
			old.forget()
		}
	}
	if e.slots[1-next].content == nil {
		e.slots[1-next].forget()
		for i, o := range outers {
			if err := o.Delete(1 - next); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("removing the old %s: %w", tableNames[i], err)
			}
		}
	}
	for f := range want {
		if err := e.writeWords(f, e.bits[f], want[f]); err != nil {
			return err
		}
	}
	if err := e.dropAllow(nil, t.Allow); err != nil {
		return err
	}
	e.Stats.Replaces.Add(1)
	e.Stats.Entries.Store(uint64(len(t.Entries) - expired))
	return nil
}

// writeWords writes the prefilter words of want that differ from have
// (the program's memory-mapped globals: plain stores), and records them
// in have.
func (e *Enforcer) writeWords(f int, have, want []uint64) error {
	for i := range want {
		if want[i] == have[i] {
			continue
		}
		if err := e.objs.SetPrefilterWord(f, uint32(i), want[i]); err != nil {
			return fmt.Errorf("writing the prefilter: %w", err)
		}
		have[i] = want[i]
	}
	return nil
}

// addAllow adds the prefixes not yet allowlisted and returns them.
func (e *Enforcer) addAllow(ps []netip.Prefix) ([]netip.Prefix, error) {
	var added []netip.Prefix
	for _, p := range ps {
		if e.allow[p] {
			continue
		}
		var err error
		if p.Addr().Is4() {
			err = e.objs.EnfAllow4.Put(bpf.EnfLPM4{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As4()}, uint8(1))
		} else {
			err = e.objs.EnfAllow6.Put(bpf.EnfLPM6{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As16()}, uint8(1))
		}
		if err != nil {
			return added, fmt.Errorf("allowlisting %s: %w", p, err)
		}
		e.allow[p] = true
		added = append(added, p)
	}
	return added, nil
}

// dropAllow removes from the allowlist the prefixes of drop, or, with
// drop nil, every prefix not in keep.
func (e *Enforcer) dropAllow(drop, keep []netip.Prefix) error {
	if drop == nil {
		k := make(map[netip.Prefix]bool, len(keep))
		for _, p := range keep {
			k[p] = true
		}
		for p := range e.allow {
			if !k[p] {
				drop = append(drop, p)
			}
		}
	}
	var errs []error
	for _, p := range drop {
		var err error
		if p.Addr().Is4() {
			err = e.objs.EnfAllow4.Delete(bpf.EnfLPM4{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As4()})
		} else {
			err = e.objs.EnfAllow6.Delete(bpf.EnfLPM6{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As16()})
		}
		if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, fmt.Errorf("removing %s from the allowlist: %w", p, err))
			continue
		}
		delete(e.allow, p)
	}
	return errors.Join(errs...)
}
