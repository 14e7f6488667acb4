package sensor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/userspace/config"
)

// Sharing by chain (sensor.xdp_share = "chain"): the sensor takes an
// interface over from the XDP program on it and tail-calls that program
// with every packet it passes (the program's chain table, by ingress
// ifindex). The program taken over is pinned under the sensor's pins as
// chained/IFACE/MODE: the pin keeps it alive, says which interface and
// mode it came from, and gives it back to that interface, in that mode,
// at detach.

// chainedDir is where the program taken over from iface is pinned.
func chainedDir(pinPath, iface string) string { return filepath.Join(pinPath, "chained", iface) }

// chainedPin finds the pin of the program taken over from iface and the
// mode it ran in; ok is false when there is none.
func chainedPin(pinPath, iface string) (path, mode string, ok bool) {
	ents, err := os.ReadDir(chainedDir(pinPath, iface))
	if err != nil {
		return "", "", false
	}
	for _, e := range ents {
		switch e.Name() {
		case config.ModeNative, config.ModeGeneric:
			return filepath.Join(chainedDir(pinPath, iface), e.Name()), e.Name(), true
		}
	}
	return "", "", false
}

// linkHeld reports whether program id is attached to ifindex through a
// BPF link (which only its owner can remove, and which cannot be taken
// over).
func linkHeld(ifindex int, id uint32) bool {
	var it link.Iterator
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil || info.Type != link.XDPType || uint32(info.Program) != id {
			continue
		}
		if x := info.XDP(); x != nil && int(x.Ifindex) == ifindex {
			return true
		}
	}
	return false
}

// takeOver chains program id, attached to ifindex in mode, after the
// sensor and takes it off the interface (only if it is still the one
// there). The sensor must then attach; give back undoes it all if that
// fails.
func takeOver(o AttachOptions, iface string, ifindex int, id uint32, mode string) (giveBack func(), err error) {
	if o.Chain == nil {
		return nil, errors.New("no chain table")
	}
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return nil, fmt.Errorf("opening program %d to chain it: %w", id, err)
	}
	defer p.Close()
	dir := chainedDir(o.PinPath, iface)
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pinning the program taken over: %w", err)
	}
	undo := func() {
		_ = o.Chain.Delete(uint32(ifindex))
		_ = markChained(o, ifindex, false)
		_ = os.RemoveAll(dir)
	}
	pc, err := p.Clone()
	if err == nil {
		err = pc.Pin(filepath.Join(dir, mode))
		pc.Close()
	}
	if err != nil {
		undo()
		return nil, fmt.Errorf("pinning the program taken over: %w", err)
	}
	if err := o.Chain.Put(uint32(ifindex), p); err != nil {
		undo()
		return nil, fmt.Errorf("chaining program %q (id %d) after the sensor: %w (the kernel refuses a program "+
			"loaded without the XDP attach type, or with other flags such as multi-buffer)", programName(id), id, err)
	}
	if err := markChained(o, ifindex, true); err != nil {
		undo()
		return nil, err
	}
	// Off the interface only if it is still the one there.
	if err := setXDP(ifindex, -1, p, modeFlags(mode)); err != nil {
		undo()
		return nil, fmt.Errorf("taking program %q (id %d) off to chain it: %w", programName(id), id, err)
	}
	return func() {
		if q, err := ebpf.LoadPinnedProgram(filepath.Join(dir, mode), nil); err == nil {
			_ = setXDP(ifindex, q.FD(), nil, modeFlags(mode))
			q.Close()
		}
		undo()
	}, nil
}

// markChained tells the program whether a program is chained on ifindex
// (it tries the tail call only there).
func markChained(o AttachOptions, ifindex int, on bool) error {
	if o.Chained == nil || ifindex < 0 || ifindex >= bpf.MaxIfIndex {
		return nil
	}
	var table [bpf.MaxIfIndex]uint8
	if err := o.Chained.Get(&table); err != nil {
		return fmt.Errorf("reading the chained table: %w", err)
	}
	table[ifindex] = 0
	if on {
		table[ifindex] = 1
	}
	if err := o.Chained.Set(table); err != nil {
		return fmt.Errorf("writing the chained table: %w", err)
	}
	return nil
}

// keepChain makes the chain table agree with the pins when the sensor
// attaches to ifindex without taking anything over: the program taken
// over earlier is (re)placed in its slot, and a slot with no pin (an
// older interface of that index) is emptied. It returns the name of
// what stays chained.
func keepChain(o AttachOptions, iface string, ifindex int) (string, error) {
	if o.Chain == nil {
		return "", nil
	}
	path, _, ok := chainedPin(o.PinPath, iface)
	if !ok {
		if err := o.Chain.Delete(uint32(ifindex)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return "", fmt.Errorf("emptying the chain slot of %s: %w", iface, err)
		}
		return "", markChained(o, ifindex, false)
	}
	p, err := ebpf.LoadPinnedProgram(path, nil)
	if err != nil {
		return "", fmt.Errorf("opening the program chained on %s (%s): %w", iface, path, err)
	}
	defer p.Close()
	if err := o.Chain.Put(uint32(ifindex), p); err != nil {
		return "", fmt.Errorf("chaining the program taken over on %s: %w", iface, err)
	}
	if err := markChained(o, ifindex, true); err != nil {
		return "", err
	}
	name := "?"
	if info, err := p.Info(); err == nil {
		name = info.Name
	}
	return name, nil
}

// unchain gives the interface back to the program taken over from it,
// in the mode it ran in, once the sensor is off it, and removes the pin.
// With the interface gone there is nothing to give back: the pin goes.
// It returns the program's name ("" when nothing was chained).
func unchain(pinPath, iface string, ifindex int) (string, error) {
	path, mode, ok := chainedPin(pinPath, iface)
	if !ok {
		return "", nil
	}
	p, err := ebpf.LoadPinnedProgram(path, nil)
	if err != nil {
		return "", fmt.Errorf("opening the program chained on %s (%s): %w", iface, path, err)
	}
	defer p.Close()
	name := "?"
	if info, err := p.Info(); err == nil {
		name = info.Name
	}
	if chain, err := ebpf.LoadPinnedMap(filepath.Join(pinPath, "chain"), nil); err == nil {
		if ifindex > 0 {
			_ = chain.Delete(uint32(ifindex))
		}
		chain.Close()
	}
	if ifindex > 0 {
		if err := setXDP(ifindex, p.FD(), nil, modeFlags(mode)); err != nil {
			return name, fmt.Errorf("giving %s back to %q in %s mode: %w (its pin is kept at %s: "+
				"`bpftool net attach xdp pinned %s dev %s`, then remove the pin)", iface, name, mode, err, path, path, iface)
		}
	}
	_ = os.RemoveAll(chainedDir(pinPath, iface))
	return name, nil
}

// chainedStatus names the program chained after the sensor on iface,
// and says when its slot no longer holds it.
func chainedStatus(pinPath, iface string, ifindex int) (string, error) {
	path, _, ok := chainedPin(pinPath, iface)
	if !ok {
		return "", nil
	}
	p, err := ebpf.LoadPinnedProgram(path, nil)
	if err != nil {
		return "", fmt.Errorf("the program chained after the sensor is unreadable (%s): %w", path, err)
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return "", err
	}
	id, _ := info.ID()
	name := fmt.Sprintf("%s (id %d)", info.Name, id)
	chain, err := ebpf.LoadPinnedMap(filepath.Join(pinPath, "chain"), nil)
	if err != nil {
		return name, errors.New("the chain table is gone: " + name + " gets no packets (restart the sensor)")
	}
	defer chain.Close()
	var got uint32
	if err := chain.Lookup(uint32(ifindex), &got); err != nil || got != uint32(id) {
		return name, errors.New(name + " is no longer in the chain table and gets no packets (restart the sensor)")
	}
	return name, nil
}

// chainedLeft lists the interfaces whose taken-over program is pinned.
func chainedLeft(pinPath string) []string {
	ents, _ := os.ReadDir(filepath.Join(pinPath, "chained"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// extensionsOK tells, once, whether the kernel loads program extensions
// (freplace), by loading the installed dispatcher and a one-instruction
// extension of it: the libxdp path must know before it changes anything.
func extensionsOK() error {
	d, err := loadDispatcher([]component{{prio: 1, chain: 1 << 2}})
	if err != nil {
		return err
	}
	defer d.Close()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "es_probe", Type: ebpf.Extension, AttachTarget: d, AttachTo: "prog0",
		License: "GPL", Instructions: asm.Instructions{asm.LoadImm(asm.R0, 2, asm.DWord), asm.Return()}})
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("%w: %w", ErrNoExtensions, err)
	}
	if err != nil {
		return fmt.Errorf("probing program extensions: %w", err)
	}
	p.Close()
	return nil
}
