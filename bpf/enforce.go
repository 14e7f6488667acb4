package bpf

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/cilium/ebpf"
)

// enfVars are the offsets in .bss of the enforcement globals that
// userspace writes piecewise (a Variable writes only whole values).
type enfVars struct {
	// An interface, not *ebpf.Memory: LoadAndAssign walks pointers to
	// structs in Objects.
	mem        io.WriterAt
	fresh      uint32    // enf_fresh_until
	slots      uint32    // fblock_slots
	total      uint32    // fblock_total
	bits       [4]uint32 // enf_bits4, enf_bits6, enf_pbits4, enf_pbits6
	haveOffset bool
}

func (o *Objects) bindEnfVars(spec *ebpf.CollectionSpec, bss *ebpf.Map) error {
	var off [7]uint32
	for i, name := range []string{"enf_fresh_until", "fblock_slots", "fblock_total", "enf_bits4", "enf_bits6", "enf_pbits4", "enf_pbits6"} {
		v, ok := spec.Variables[name]
		if !ok {
			return fmt.Errorf("enforcement global %s missing from the BPF object", name)
		}
		off[i] = v.Offset
	}
	mem, err := bss.Memory()
	if err != nil {
		return fmt.Errorf("mapping .bss: %w", err)
	}
	o.enf = enfVars{mem: mem, fresh: off[0], slots: off[1], total: off[2], bits: [4]uint32{off[3], off[4], off[5], off[6]}, haveOffset: true}
	return nil
}

// SetFreshUntil sets enf_fresh_until[list]: the list is in force until
// CLOCK_MONOTONIC reaches ns.
func (o *Objects) SetFreshUntil(list int, ns uint64) error {
	if !o.enf.haveOffset || list < 0 || list >= EnfMaxLists {
		return fmt.Errorf("enf_fresh_until[%d]: out of range", list)
	}
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], ns)
	_, err := o.enf.mem.WriteAt(b[:], int64(o.enf.fresh)+int64(list)*8)
	return err
}

// SetFBlockSlot sets fblock_slots[idx], the number of blocked flows in
// that slot of the tuple hash.
func (o *Objects) SetFBlockSlot(idx uint32, n uint8) error {
	if !o.enf.haveOffset || idx >= 1<<FBlockBits {
		return fmt.Errorf("fblock_slots[%d]: out of range", idx)
	}
	_, err := o.enf.mem.WriteAt([]byte{n}, int64(o.enf.slots)+int64(idx))
	return err
}

// SetFBlockTotal sets fblock_total, the number of flows blocked (0 spares
// every packet the slot lookup).
func (o *Objects) SetFBlockTotal(n uint32) error {
	if !o.enf.haveOffset {
		return fmt.Errorf("fblock_total: not bound")
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], n)
	_, err := o.enf.mem.WriteAt(b[:], int64(o.enf.total))
	return err
}

// Prefilters (SetPrefilterWord): of every entry and of prefix entries
// alone, per family.
const (
	Prefilter4 = iota
	Prefilter6
	PrefixPrefilter4
	PrefixPrefilter6
)

// SetPrefilterWord sets word idx of prefilter f (Prefilter4, ...).
func (o *Objects) SetPrefilterWord(f int, idx uint32, w uint64) error {
	if !o.enf.haveOffset || idx >= EnfPrefilterWords || f < 0 || f >= len(o.enf.bits) {
		return fmt.Errorf("prefilter %d word %d: out of range", f, idx)
	}
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], w)
	_, err := o.enf.mem.WriteAt(b[:], int64(o.enf.bits[f])+int64(idx)*8)
	return err
}

// FilterIndex is filter_index() of filter.h: the slot of a tuple (the
// last address words as the kernel loads them, ports in host order) in
// the TLS filter and in fblock_slots. It is symmetric in the direction.
func FilterIndex(saddrLo, daddrLo uint32, sport, dport uint16) uint32 {
	h := saddrLo ^ daddrLo ^ uint32(sport^dport)<<16
	h *= 0x9e3779b1
	return h >> (32 - FBlockBits)
}
