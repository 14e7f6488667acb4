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
	fresh      uint32 // enf_fresh_until
	slots      uint32 // fblock_slots
	haveOffset bool
}

func (o *Objects) bindEnfVars(spec *ebpf.CollectionSpec, bss *ebpf.Map) error {
	fresh, ok1 := spec.Variables["enf_fresh_until"]
	slots, ok2 := spec.Variables["fblock_slots"]
	if !ok1 || !ok2 {
		return fmt.Errorf("enforcement globals missing from the BPF object")
	}
	mem, err := bss.Memory()
	if err != nil {
		return fmt.Errorf("mapping .bss: %w", err)
	}
	o.enf = enfVars{mem: mem, fresh: fresh.Offset, slots: slots.Offset, haveOffset: true}
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

// FilterIndex is filter_index() of filter.h: the slot of a tuple (the
// last address words as the kernel loads them, ports in host order) in
// the TLS filter and in fblock_slots. It is symmetric in the direction.
func FilterIndex(saddrLo, daddrLo uint32, sport, dport uint16) uint32 {
	h := saddrLo ^ daddrLo ^ uint32(sport^dport)<<16
	h *= 0x9e3779b1
	return h >> (32 - FBlockBits)
}
