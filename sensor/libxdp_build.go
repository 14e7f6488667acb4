// Building libxdp's dispatcher: the installed object loaded and configured
// for its components, each linked into its slot and pinned as libxdp does.

package sensor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/edgesensor/edgesensor/bpf"
)

// DispatcherObject finds libxdp's compiled dispatcher, as libxdp does:
// $LIBXDP_OBJECT_PATH first, then the usual library directories. The
// sensor loads the installed one, so its dispatcher is the very program
// the installed xdp-tools build.
func DispatcherObject() (string, error) {
	var dirs []string
	if p := os.Getenv("LIBXDP_OBJECT_PATH"); p != "" {
		dirs = append(dirs, filepath.SplitList(p)...)
	}
	arch, _ := filepath.Glob("/usr/lib/*-linux-gnu*/bpf")
	dirs = append(dirs, arch...)
	dirs = append(dirs, "/usr/lib/bpf", "/usr/lib64/bpf", "/usr/local/lib/bpf", "/usr/local/lib64/bpf")
	for _, d := range dirs {
		f := filepath.Join(d, "xdp-dispatcher.o")
		if _, err := os.Stat(f); err == nil {
			return f, nil
		}
	}
	return "", errors.New("libxdp's dispatcher (xdp-dispatcher.o) is not installed: install libxdp " +
		"(Debian: libxdp1), set LIBXDP_OBJECT_PATH to its directory, or set sensor.xdp_share = \"off\"")
}

// sortComponents orders components as libxdp runs them: by priority,
// then by name; otherwise as they were.
func sortComponents(cs []component) {
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].prio != cs[j].prio {
			return cs[i].prio < cs[j].prio
		}
		return cs[i].name < cs[j].name
	})
}

// extLoader loads the sensor's program as an extension of target's
// function fn (once; later calls may return the same program).
type extLoader func(target *ebpf.Program, fn string) (*ebpf.Program, error)

// buildDispatcher loads a dispatcher for comps (ours with a nil prog),
// links every component into its slot and pins it all as libxdp does.
// The new dispatcher is not attached yet.
// It owns the components' programs from then on, built or not.
func buildDispatcher(ifindex int, comps []component, ext extLoader) (*dispatcher, error) {
	d := &dispatcher{ifindex: ifindex, comps: comps}
	sortComponents(comps)
	var err error
	if d.prog, err = loadDispatcher(comps); err != nil {
		d.close()
		return nil, err
	}
	info, err := d.prog.Info()
	if err != nil {
		d.close()
		return nil, fmt.Errorf("reading the new dispatcher: %w", err)
	}
	d.id, _ = info.ID()
	for i := range d.comps {
		c := &d.comps[i]
		slot := fmt.Sprintf("prog%d", i)
		if c.prog == nil {
			p, err := ext(d.prog, slot)
			if errors.Is(err, unix.EPERM) {
				err = fmt.Errorf("%w: %w", ErrNoExtensions, err)
			}
			if err != nil {
				d.close()
				return nil, err
			}
			if c.prog, err = p.Clone(); err != nil {
				d.close()
				return nil, err
			}
		}
		l, err := link.AttachFreplace(d.prog, slot, c.prog)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("linking %q into the dispatcher's %s: %w", c.name, slot, err)
		}
		d.links = append(d.links, l)
	}
	if err := d.pin(); err != nil {
		d.unpin()
		d.close()
		return nil, err
	}
	return d, nil
}

// loadDispatcher loads the installed dispatcher configured for comps,
// in that order.
func loadDispatcher(comps []component) (*ebpf.Program, error) {
	spec, err := dispatcherSpec(len(comps))
	if err != nil {
		return nil, err
	}
	cfg := dispatcherConfig{Magic: dispatcherMagic, Version: dispatcherVersion, NumProgsEnabled: uint8(len(comps))}
	frags := len(comps) > 0
	for i, c := range comps {
		cfg.ChainCallActions[i] = c.chain | 1<<dispatcherRetval
		cfg.RunPrios[i] = c.prio
		cfg.ProgramFlags[i] = c.flags
		frags = frags && c.flags&bpfFXDPHasFrags != 0
	}
	if frags {
		cfg.IsXDPFrags = 1
		spec.Programs[dispatcherName].Flags |= bpfFXDPHasFrags
	}
	// conf is static, so not a variable to cilium/ebpf: it is the whole
	// of .rodata, written as libbpf would before the load freezes it.
	var buf bytes.Buffer
	_ = binary.Write(&buf, binary.NativeEndian, cfg)
	spec.Maps[".rodata"].Contents = []ebpf.MapKV{{Key: uint32(0), Value: buf.Bytes()}}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return nil, bpf.LoadError("loading libxdp's dispatcher", err)
	}
	p := coll.Programs[dispatcherName]
	delete(coll.Programs, dispatcherName)
	coll.Close()
	return p, nil
}

// dispatcherSpec reads the installed dispatcher for n components.
func dispatcherSpec(n int) (*ebpf.CollectionSpec, error) {
	if n > dispatcherSlots {
		return nil, fmt.Errorf("libxdp's dispatcher holds %d programs; %d would share this interface", dispatcherSlots, n)
	}
	obj, err := DispatcherObject()
	if err != nil {
		return nil, err
	}
	spec, err := ebpf.LoadCollectionSpec(obj)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", obj, err)
	}
	ro := spec.Maps[".rodata"]
	if spec.Programs[dispatcherName] == nil || ro == nil || ro.ValueSize != uint32(binary.Size(dispatcherConfig{})) {
		return nil, fmt.Errorf("%s is not libxdp's dispatcher of version %d (program %s, a configuration of %d bytes)",
			obj, dispatcherVersion, dispatcherName, binary.Size(dispatcherConfig{}))
	}
	for name := range spec.Programs {
		if name != dispatcherName {
			delete(spec.Programs, name) // xdp_pass, which libxdp keeps for its own probes
		}
	}
	return spec, nil
}

// pin pins every component and its link under the dispatcher's directory.
func (d *dispatcher) pin() error {
	dir := dispatcherPinDir(d.ifindex, d.id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("pinning the dispatcher: %w", err)
	}
	for i, c := range d.comps {
		// A clone has no pin path of its own, so Pin pins anew rather
		// than moving the old dispatcher's pin.
		p, err := c.prog.Clone()
		if err != nil {
			return err
		}
		err = p.Pin(filepath.Join(dir, fmt.Sprintf("prog%d-prog", i)))
		p.Close()
		if err != nil {
			return fmt.Errorf("pinning component %d: %w", i, err)
		}
		if err := d.links[i].Pin(filepath.Join(dir, fmt.Sprintf("prog%d-link", i))); err != nil {
			return fmt.Errorf("pinning link %d: %w", i, err)
		}
	}
	return nil
}

// unpin removes the dispatcher's pins (its links then detach from it
// once nothing else holds them).
func (d *dispatcher) unpin() {
	if d == nil || d.prog == nil {
		return
	}
	dir := dispatcherPinDir(d.ifindex, d.id)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		_ = os.Remove(filepath.Join(dir, e.Name()))
	}
	_ = os.Remove(dir)
}
