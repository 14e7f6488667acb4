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
	"github.com/vishvananda/netlink"
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
	Adopted bool // an existing pinned link was updated in place
	link    link.Link
}

// Close releases the link's file descriptor; a pinned link stays attached.
func (a *Attachment) Close() error {
	if a.link == nil {
		return nil
	}
	return a.link.Close()
}

// linkPin is where the link of an interface is pinned.
func linkPin(pinPath, iface string) string {
	return filepath.Join(pinPath, "links", iface)
}

// modeName turns netlink's IFLA_XDP_ATTACHED into a mode name.
func modeName(attachMode uint32) string {
	switch attachMode {
	case 1:
		return config.ModeNative
	case 2:
		return config.ModeGeneric
	case 3:
		return "offload"
	case 4:
		return "multi"
	}
	return "none"
}

// xdpState says whether an XDP program is attached to an interface, its
// id (0 when the kernel does not say, as with several modes at once) and
// the mode.
func xdpState(ifindex int) (attached bool, id uint32, mode string, err error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return false, 0, "", fmt.Errorf("reading link %d: %w", ifindex, err)
	}
	x := l.Attrs().Xdp
	if x == nil || (!x.Attached && x.ProgId == 0) {
		return false, 0, "none", nil
	}
	return true, x.ProgId, modeName(x.AttachMode), nil
}

// programName returns the name of a loaded program, "" if unknown.
func programName(id uint32) string {
	if id == 0 {
		return ""
	}
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return ""
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return ""
	}
	return info.Name
}

// AttachOptions say how to attach.
type AttachOptions struct {
	Mode    string // config.ModeNative, ModeGeneric or ModeAuto
	Force   bool   // replace another XDP program
	PinPath string // bpffs directory; the link is pinned under links/
	Log     zerolog.Logger
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
// to: it exists, and it carries no XDP program but ours (unless force).
func Check(iface, pinPath string, force bool) error {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return fmt.Errorf("attaching to %s: %w (`ip link show` lists the interfaces)", iface, ErrNoInterface)
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
	attached, id, mode, err := xdpState(ifc.Index)
	if err != nil || !attached || force {
		return err
	}
	return fmt.Errorf("attaching to %s: %w: program %q (id %d, %s mode); "+
		"detach it first or pass --force to replace it", iface, ErrBusy, programName(id), id, mode)
}

// Attach attaches prog to iface and pins the link. A link pinned by an
// earlier run is updated in place, so the interface is never left
// unwatched during an upgrade or restart.
func Attach(prog *ebpf.Program, iface string, o AttachOptions) (*Attachment, error) {
	if err := Check(iface, o.PinPath, o.Force); err != nil {
		return nil, err
	}
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("attaching to %s: %w", iface, ErrNoInterface)
	}
	a := &Attachment{Iface: iface, Ifindex: ifc.Index}
	pin := linkPin(o.PinPath, iface)

	// Zero-gap path: our own pinned link, still alive, takes the new program.
	if l, idx, err := pinnedLink(o.PinPath, iface); err == nil {
		if idx == ifc.Index {
			if err := l.Update(prog); err != nil {
				l.Close()
				return nil, fmt.Errorf("updating pinned link of %s: %w", iface, err)
			}
			a.link, a.Adopted = l, true
			return a.finish(false)
		}
		o.Log.Warn().Str("iface", iface).Msg("removing a stale pinned link (its interface is gone)")
		_ = l.Unpin()
		l.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		o.Log.Warn().Err(err).Str("pin", pin).Msg("cannot load pinned link; replacing it")
		_ = os.Remove(pin)
	}

	if attached, id, _, err := xdpState(ifc.Index); err == nil && attached {
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
		a.link.Close()
		return nil, fmt.Errorf("pinning link of %s at %s: %w", iface, pin, err)
	}
	return a.finish(true)
}

// finish reads back what is attached. A link made by this call is undone
// if that fails, so nothing is left attached that nobody knows of.
func (a *Attachment) finish(created bool) (*Attachment, error) {
	info, err := a.link.Info()
	if err != nil {
		if created {
			_ = a.detachLink()
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

// detachLink takes the program off the interface through the link itself
// (BPF_LINK_DETACH works even while another process holds the link), then
// removes the pin.
func (a *Attachment) detachLink() error {
	return detachLink(a.link)
}

func detachLink(l link.Link) error {
	derr := l.Detach()
	if errors.Is(derr, unix.ENOLINK) || errors.Is(derr, unix.ENOENT) {
		derr = nil // already detached (interface gone, or detached elsewhere)
	}
	uerr := l.Unpin()
	if errors.Is(uerr, os.ErrNotExist) {
		uerr = nil
	}
	return errors.Join(derr, uerr)
}

// netlinkDetach removes whatever XDP program netlink attached, in any mode.
func netlinkDetach(ifindex int) error {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return err
	}
	var errs []error
	for _, flags := range []int{0, 1 << 1 /* SKB */, 1 << 2 /* DRV */} {
		if err := netlink.LinkSetXdpFdWithFlags(l, -1, flags); err != nil {
			errs = append(errs, err)
		}
	}
	if attached, _, _, err := xdpState(ifindex); err == nil && !attached {
		return nil
	}
	return errors.Join(errs...)
}

// Detach removes the sensor from iface: the pinned link detaches the
// program and is unpinned, and the interface's counter slot is freed.
// Returns false if nothing of ours was attached there.
func Detach(pinPath, iface string) (bool, error) {
	l, idx, err := pinnedLink(pinPath, iface)
	if err == nil {
		derr := detachLink(l)
		l.Close()
		if derr != nil {
			return false, fmt.Errorf("detaching from %s: %w", iface, derr)
		}
		releasePinnedSlot(pinPath, idx)
		if idx != 0 {
			if attached, id, _, err := xdpState(idx); err == nil && attached && programName(id) == bpf.ProgramName {
				return true, fmt.Errorf("detaching from %s: program %d is still attached", iface, id)
			}
		}
		return true, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		_ = os.Remove(linkPin(pinPath, iface))
	}
	// Not pinned: ours may still be attached through netlink by an old
	// version; remove only a program that carries our name.
	ifc, ierr := net.InterfaceByName(iface)
	if ierr != nil {
		return false, nil
	}
	if attached, id, _, err := xdpState(ifc.Index); err == nil && attached && programName(id) == bpf.ProgramName {
		if err := netlinkDetach(ifc.Index); err != nil {
			return false, fmt.Errorf("detaching from %s: %w", iface, err)
		}
		return true, nil
	}
	return false, nil
}

// PinnedInterfaces lists the interfaces with a pinned link.
func PinnedInterfaces(pinPath string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(pinPath, "links"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing pinned links: %w", err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out, nil
}

// RemovePins deletes the pinned maps once no link is left, so the next
// start begins with fresh state. Only the names the sensor pins are
// touched.
func RemovePins(pinPath string) error {
	left, err := PinnedInterfaces(pinPath)
	if err != nil || len(left) > 0 {
		return err
	}
	var errs []error
	for _, name := range bpf.PinnedMaps {
		if err := os.Remove(filepath.Join(pinPath, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	_ = os.Remove(filepath.Join(pinPath, "links"))
	_ = os.Remove(pinPath)
	return errors.Join(errs...)
}

// DetachAll takes the program off the interfaces (every pinned one when
// ifaces is empty) and removes the pins, logging each.
func DetachAll(pin string, ifaces []string, log zerolog.Logger) error {
	if err := CheckPrivileges(); err != nil {
		return err
	}
	if lock, err := LockPinPath(pin); err == nil {
		defer lock.Close()
	} else if _, serr := os.Stat(pin); serr == nil {
		return err
	}
	if len(ifaces) == 0 {
		var err error
		if ifaces, err = PinnedInterfaces(pin); err != nil {
			return err
		}
		if len(ifaces) == 0 {
			log.Info().Str("pin_path", pin).Msg("nothing attached")
		}
	}
	var failed []string
	for _, name := range ifaces {
		ok, err := Detach(pin, name)
		switch {
		case err != nil:
			log.Error().Err(err).Str("iface", name).Msg("detach failed")
			failed = append(failed, name)
		case ok:
			log.Info().Str("iface", name).Msg("detached")
		default:
			log.Warn().Str("iface", name).Msg("edgesensor was not attached here")
		}
	}
	if err := RemovePins(pin); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("could not detach from %s", strings.Join(failed, ", "))
	}
	return nil
}
