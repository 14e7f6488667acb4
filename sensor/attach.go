package sensor

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/userspace/config"
)

// Errors of attaching, for callers and tests to tell apart.
var (
	ErrNoInterface = errors.New("interface does not exist")
	ErrBusy        = errors.New("another XDP program is attached")
)

// Attachment is the program attached to one interface.
type Attachment struct {
	Iface   string
	Ifindex int
	Mode    string // native or generic, as actually used
	ProgID  ebpf.ProgramID
	Adopted bool // an existing pinned link, or our program in a dispatcher, was updated in place
	// Shared: the sensor runs as a component of libxdp's dispatcher,
	// beside Others (their program names, in run order).
	Shared  bool
	Others  []string
	link    link.Link     // alone: our pinned link
	ext     *ebpf.Program // shared: our component, pinned as the mark
	pinPath string
}

// Close releases the file descriptors; what is pinned stays attached.
func (a *Attachment) Close() error {
	if a.ext != nil {
		return a.ext.Close()
	}
	if a.link == nil {
		return nil
	}
	return a.link.Close()
}

// detach takes the sensor off the interface and removes its pin.
func (a *Attachment) detach() error {
	if a.Shared {
		_, err := leaveDispatcher(a.Ifindex)
		if err == nil {
			_ = os.Remove(sharedPin(a.pinPath, a.Iface))
		}
		return err
	}
	if err := detachLink(a.link); err != nil {
		return err
	}
	_, err := unchain(a.pinPath, a.Iface, a.Ifindex)
	return err
}

// linkPin is where the link of an interface is pinned.
func linkPin(pinPath, iface string) string {
	return filepath.Join(pinPath, "links", iface)
}

// sharedPin marks an interface where the sensor joined libxdp's
// dispatcher: it pins the sensor's component program. (The dispatcher's
// own pins are libxdp's, under its directory.)
func sharedPin(pinPath, iface string) string {
	return filepath.Join(pinPath, "shared", iface)
}

func hasSharedPin(pinPath, iface string) bool {
	_, err := os.Stat(sharedPin(pinPath, iface))
	return err == nil
}

// AttachOptions say how to attach.
type AttachOptions struct {
	Mode    string // config.ModeNative, ModeGeneric or ModeAuto
	Force   bool   // replace another XDP program
	PinPath string // bpffs directory; the link is pinned under links/
	// Share is sensor.xdp_share (config.ShareAuto, ShareLibXDP, ShareOff;
	// empty is off) and Priority the run priority in a dispatcher.
	Share    string
	Priority int
	// Extension loads the sensor's program as a dispatcher component.
	Extension func(target *ebpf.Program, fn string) (*ebpf.Program, error)
	// Chain is the program's chain table (sharing by "chain").
	Chain *ebpf.Map
	// Chained is the program's table of the interfaces with a program
	// chained (the tail call is tried only there).
	Chained *ebpf.Variable
	Log     zerolog.Logger
}

// shared decides whether to attach through libxdp's dispatcher.
func (o AttachOptions) shared(iface string, ifindex int) bool {
	switch o.Share {
	case config.ShareLibXDP:
		return true
	case config.ShareAuto:
		return hasSharedPin(o.PinPath, iface) || isDispatcher(ifindex)
	}
	return false
}

// pinnedLink opens the link pinned for iface, if any. It returns the
// link, the index of the interface it is attached to (0: defunct), and
// os.ErrNotExist when there is no pin.
func pinnedLink(pinPath, iface string) (link.Link, int, error) {
	l, err := link.LoadPinnedLink(linkPin(pinPath, iface), nil)
	if err != nil {
		return nil, 0, err
	}
	info, err := l.Info()
	if err != nil {
		l.Close()
		return nil, 0, fmt.Errorf("reading pinned link of %s: %w", iface, err)
	}
	if x := info.XDP(); x != nil {
		return l, int(x.Ifindex), nil
	}
	return l, 0, nil
}

// Check tells, without changing anything, whether iface can be attached
// to: it exists, and it carries no XDP program but ours (unless force),
// or libxdp's dispatcher, which the sensor joins when sharing.
func Check(iface string, o AttachOptions) error {
	pinPath, force := o.PinPath, o.Force
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return fmt.Errorf("attaching to %s: %w (`ip link show` lists the interfaces)", iface, ErrNoInterface)
	}
	if o.shared(iface, ifc.Index) {
		if _, _, ok := chainedPin(pinPath, iface); ok {
			return fmt.Errorf("attaching to %s through libxdp's dispatcher: the sensor chains a program it took over "+
				"there (sensor.xdp_share = \"chain\"); `edgesensor detach --iface %s` gives it back, then load it "+
				"with xdp-loader and attach again", iface, iface)
		}
		// Before anything changes: a kernel may refuse the extensions
		// the dispatcher is made of.
		if err := extensionsOK(); err != nil {
			return fmt.Errorf("attaching to %s through libxdp's dispatcher: %w", iface, err)
		}
	}
	if l, idx, err := pinnedLink(pinPath, iface); err == nil {
		l.Close()
		switch idx {
		case ifc.Index:
			return nil // ours: it will be updated in place
		case 0:
			// defunct: the interface it watched is gone; replaced below
		default:
			other := fmt.Sprintf("index %d", idx)
			if o, err := net.InterfaceByIndex(idx); err == nil {
				other = o.Name
			}
			return fmt.Errorf("attaching to %s: the link pinned under that name watches %s "+
				"(renamed interface?); run `edgesensor detach --iface %s` first", iface, other, iface)
		}
	}
	if hasSharedPin(pinPath, iface) {
		if o.Share != config.ShareOff && o.Share != "" {
			return nil // ours, in a dispatcher: updated in place
		}
		// Sharing turned off: Attach leaves the dispatcher, which works
		// alone only if nothing else is in it.
		if others, err := dispatcherOthers(ifc.Index); err == nil && len(others) > 0 && !force {
			return fmt.Errorf("attaching to %s: %w: the sensor shares it with %s through libxdp's dispatcher, "+
				"and sensor.xdp_share = \"off\" would attach alone; set xdp_share = \"auto\", or pass --force "+
				"to remove them", iface, ErrBusy, strings.Join(others, ", "))
		}
		return nil
	}
	attached, id, mode, err := xdpState(ifc.Index)
	if err != nil || !attached || force {
		return err
	}
	name := programName(id)
	if o.Share == config.ShareChain && name != bpf.ProgramName && name != dispatcherName {
		if linkHeld(ifc.Index, id) {
			return fmt.Errorf("attaching to %s: %w: program %q (id %d, %s mode) is attached through a BPF link, "+
				"which only the process holding it can remove: it cannot be chained", iface, ErrBusy, name, id, mode)
		}
		return nil // taken over and chained after the sensor
	}
	if name == dispatcherName {
		if o.Share != config.ShareOff && o.Share != "" {
			return nil
		}
		return fmt.Errorf("attaching to %s: %w: libxdp's multi-program dispatcher (id %d, %s mode; "+
			"`xdp-loader status` lists its programs); set sensor.xdp_share = \"auto\" to run beside them "+
			"(chaining would hide them from libxdp's tools), or pass --force to replace them", iface, ErrBusy, id, mode)
	}
	return fmt.Errorf("attaching to %s: %w: program %q (id %d, %s mode); "+
		"detach it first or pass --force to replace it; to run both, set sensor.xdp_share = \"chain\" "+
		"(the sensor runs first and hands what it passes to it)", iface, ErrBusy, name, id, mode)
}

// Attach attaches prog to iface and pins the link. A link pinned by an
// earlier run is updated in place, so the interface is never left
// unwatched during an upgrade or restart.
func Attach(prog *ebpf.Program, iface string, o AttachOptions) (*Attachment, error) {
	if err := Check(iface, o); err != nil {
		return nil, err
	}
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("attaching to %s: %w", iface, ErrNoInterface)
	}
	if o.shared(iface, ifc.Index) {
		return attachShared(iface, ifc.Index, o)
	}
	if hasSharedPin(o.PinPath, iface) {
		// Sharing turned off: leave the dispatcher, then attach alone if
		// nothing else is left there (or with --force).
		o.Log.Warn().Str("iface", iface).Str("xdp_share", o.Share).Msg("leaving libxdp's dispatcher to attach alone")
		if _, err := leaveDispatcher(ifc.Index); err != nil {
			return nil, fmt.Errorf("attaching to %s: leaving libxdp's dispatcher: %w", iface, err)
		}
		_ = os.Remove(sharedPin(o.PinPath, iface))
		if err := Check(iface, o); err != nil {
			return nil, err
		}
	}
	a := &Attachment{Iface: iface, Ifindex: ifc.Index, pinPath: o.PinPath}
	pin := linkPin(o.PinPath, iface)

	// Zero-gap path: our own pinned link, still alive, takes the new program.
	if l, idx, err := pinnedLink(o.PinPath, iface); err == nil {
		if idx == ifc.Index {
			if err := l.Update(prog); err != nil {
				l.Close()
				return nil, fmt.Errorf("updating pinned link of %s: %w", iface, err)
			}
			a.link, a.Adopted = l, true
			name, err := keepChain(o, iface, ifc.Index)
			if err != nil {
				o.Log.Warn().Err(err).Str("iface", iface).Msg("chain")
			} else if name != "" && o.Share != config.ShareChain {
				o.Log.Warn().Str("iface", iface).Str("prog", name).Msg("still chaining the program taken over under " +
					"sensor.xdp_share = \"chain\"; `edgesensor detach --iface` gives it back")
			}
			return a.finish(false)
		}
		o.Log.Warn().Str("iface", iface).Msg("removing a stale pinned link (its interface is gone)")
		_ = l.Unpin()
		l.Close()
		_, _ = unchain(o.PinPath, iface, 0) // nothing to give back to
	} else if !errors.Is(err, os.ErrNotExist) {
		o.Log.Warn().Err(err).Str("pin", pin).Msg("cannot load pinned link; replacing it")
		_ = os.Remove(pin)
	}

	takenOver := ""
	if attached, id, mode, err := xdpState(ifc.Index); err == nil && attached && o.Share == config.ShareChain {
		giveBack, err := takeOver(o, iface, ifc.Index, id, mode)
		if err != nil {
			return nil, fmt.Errorf("attaching to %s: %w", iface, err)
		}
		takenOver = fmt.Sprintf("%s (id %d, %s mode)", programName(id), id, mode)
		// Whatever fails below gives it back.
		defer func() {
			if a.link == nil {
				giveBack()
			}
		}()
	} else if _, err := keepChain(o, iface, ifc.Index); err != nil {
		return nil, fmt.Errorf("attaching to %s: %w", iface, err)
	} else if err == nil && attached {
		name := programName(id)
		o.Log.Warn().Str("iface", iface).Uint32("prog_id", id).Str("prog", name).Msg("--force: removing the attached XDP program")
		if err := netlinkDetach(ifc.Index); err != nil {
			return nil, fmt.Errorf("attaching to %s: removing program %q (id %d): %w "+
				"(a BPF link held by another process can only be removed by it)", iface, name, id, err)
		}
	}

	attach := func(flags link.XDPAttachFlags) (link.Link, error) {
		return link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifc.Index, Flags: flags})
	}
	switch o.Mode {
	case config.ModeNative:
		a.link, err = attach(link.XDPDriverMode)
	case config.ModeGeneric:
		a.link, err = attach(link.XDPGenericMode)
	case config.ModeAuto:
		if a.link, err = attach(link.XDPDriverMode); err != nil {
			o.Log.Warn().Err(err).Str("iface", iface).Msg("native XDP failed; falling back to generic (slower: packets are copied into skbs first)")
			a.link, err = attach(link.XDPGenericMode)
		}
	default:
		return nil, fmt.Errorf("attaching to %s: unknown XDP mode %q", iface, o.Mode)
	}
	if err != nil {
		hint := ""
		if o.Mode == config.ModeNative && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)) {
			hint = " (the driver may lack native XDP: set sensor.xdp_mode = \"auto\" or \"generic\")"
		}
		return nil, fmt.Errorf("attaching XDP to %s in %s mode: %w%s", iface, o.Mode, privilegeHint(err), hint)
	}
	if err := a.link.Pin(pin); err != nil {
		_ = a.link.Detach()
		a.link.Close()
		a.link = nil
		return nil, fmt.Errorf("pinning link of %s at %s: %w", iface, pin, err)
	}
	if takenOver != "" {
		o.Log.Info().Str("iface", iface).Str("chained", takenOver).
			Msg("sensor.xdp_share = \"chain\": the sensor runs first and hands what it passes to the program that was there")
	}
	return a.finish(true)
}

// attachShared joins (or makes) libxdp's dispatcher on the interface.
func attachShared(iface string, ifindex int, o AttachOptions) (*Attachment, error) {
	if o.Extension == nil {
		return nil, fmt.Errorf("attaching to %s through libxdp: no extension loader", iface)
	}
	if l, idx, err := pinnedLink(o.PinPath, iface); err == nil {
		// A link of our own from before sharing: it goes, for a moment.
		if idx == ifindex {
			o.Log.Warn().Str("iface", iface).Msg("moving from a link of its own into libxdp's dispatcher: " +
				"the interface is unwatched for a moment")
		}
		if err := detachLink(l); err != nil {
			l.Close()
			return nil, fmt.Errorf("attaching to %s: removing the sensor's own link: %w", iface, err)
		}
		l.Close()
	}
	var restore func()
	if attached, id, mode, err := xdpState(ifindex); err == nil && attached && programName(id) != dispatcherName {
		// Check let it through: --force. Put back if joining fails.
		name := programName(id)
		o.Log.Warn().Str("iface", iface).Uint32("prog_id", id).Str("prog", name).Msg("--force: removing the attached XDP program")
		if p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id)); err == nil {
			defer p.Close()
			restore = func() { _ = setXDP(ifindex, p.FD(), nil, modeFlags(mode)) }
		}
		if err := netlinkDetach(ifindex); err != nil {
			return nil, fmt.Errorf("attaching to %s: removing program %q (id %d): %w "+
				"(a BPF link held by another process can only be removed by it)", iface, name, id, err)
		}
	}
	res, err := joinDispatcher(ifindex, o.Mode, uint32(o.Priority), o.Extension)
	if err != nil {
		if restore != nil {
			restore()
		}
		if !errors.Is(err, ErrNoExtensions) {
			err = privilegeHint(err)
		}
		return nil, fmt.Errorf("attaching to %s through libxdp's dispatcher: %w", iface, err)
	}
	pin := sharedPin(o.PinPath, iface)
	err = os.MkdirAll(filepath.Dir(pin), 0o700)
	if err == nil {
		_ = os.Remove(pin) // the earlier program's
		err = res.ext.Pin(pin)
	}
	if err != nil {
		_, _ = leaveDispatcher(ifindex)
		res.ext.Close()
		return nil, fmt.Errorf("pinning the sensor's component on %s at %s: %w", iface, pin, err)
	}
	a := &Attachment{Iface: iface, Ifindex: ifindex, Mode: res.mode, Adopted: res.replaced, Shared: true,
		Others: res.others, ext: res.ext, pinPath: o.PinPath}
	if info, err := res.ext.Info(); err == nil {
		a.ProgID, _ = info.ID()
	}
	return a, nil
}

// finish reads back what is attached. A link made by this call is undone
// if that fails, so nothing is left attached that nobody knows of.
func (a *Attachment) finish(created bool) (*Attachment, error) {
	info, err := a.link.Info()
	if err != nil {
		if created {
			_ = a.detach()
		}
		a.link.Close()
		return nil, fmt.Errorf("reading link of %s: %w", a.Iface, err)
	}
	a.ProgID = info.Program
	if _, _, mode, err := xdpState(a.Ifindex); err == nil {
		a.Mode = mode
	}
	return a, nil
}
