package sensor

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

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

// xdpState returns the program id and mode attached to an interface.
func xdpState(ifindex int) (uint32, string, error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return 0, "", fmt.Errorf("reading link %d: %w", ifindex, err)
	}
	x := l.Attrs().Xdp
	if x == nil || !x.Attached && x.ProgId == 0 {
		return 0, "none", nil
	}
	return x.ProgId, modeName(x.AttachMode), nil
}

// programName returns the name of a loaded program, "" if unknown.
func programName(id uint32) string {
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

// Attach attaches prog to iface and pins the link. A link pinned by an
// earlier run is updated in place, so the interface is never left
// unwatched during an upgrade or restart.
func Attach(prog *ebpf.Program, iface string, o AttachOptions) (*Attachment, error) {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("attaching to %s: %w (`ip link show` lists the interfaces)", iface, ErrNoInterface)
	}
	a := &Attachment{Iface: iface, Ifindex: ifc.Index}
	pin := linkPin(o.PinPath, iface)

	// Zero-gap path: our own pinned link, still alive, takes the new program.
	if l, err := link.LoadPinnedLink(pin, nil); err == nil {
		if err := l.Update(prog); err == nil {
			if info, err := l.Info(); err == nil && info.XDP() != nil && int(info.XDP().Ifindex) == ifc.Index {
				a.link, a.Adopted = l, true
				return a.finish()
			}
		} else if !errors.Is(err, unix.ENOLINK) {
			l.Close()
			return nil, fmt.Errorf("updating pinned link of %s: %w", iface, err)
		}
		// The interface it belonged to is gone (ENOLINK) or was
		// recreated with another index: the pin is stale.
		o.Log.Warn().Str("iface", iface).Msg("removing stale pinned link")
		_ = l.Unpin()
		l.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		o.Log.Warn().Err(err).Str("pin", pin).Msg("cannot load pinned link; replacing it")
		_ = os.Remove(pin)
	}

	if id, mode, err := xdpState(ifc.Index); err == nil && id != 0 {
		name := programName(id)
		if !o.Force {
			return nil, fmt.Errorf("attaching to %s: %w: program %q (id %d, %s mode); "+
				"detach it first or pass --force to replace it", iface, ErrBusy, name, id, mode)
		}
		o.Log.Warn().Str("iface", iface).Uint32("prog_id", id).Str("prog", name).Msg("--force: removing the attached XDP program")
		if err := netlinkDetach(ifc.Index); err != nil {
			return nil, fmt.Errorf("attaching to %s: removing program %q (id %d): %w "+
				"(a BPF link held by another process can only be removed by it)", iface, name, id, err)
		}
	}

	switch o.Mode {
	case config.ModeNative:
		a.link, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifc.Index, Flags: link.XDPDriverMode})
	case config.ModeGeneric:
		a.link, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifc.Index, Flags: link.XDPGenericMode})
	case config.ModeAuto:
		a.link, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifc.Index, Flags: link.XDPDriverMode})
		if err != nil {
			o.Log.Warn().Err(err).Str("iface", iface).Msg("native XDP failed; falling back to generic (slower: packets are copied into skbs first)")
			a.link, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifc.Index, Flags: link.XDPGenericMode})
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
	return a.finish()
}

// finish reads back what is attached.
func (a *Attachment) finish() (*Attachment, error) {
	info, err := a.link.Info()
	if err != nil {
		return nil, fmt.Errorf("reading link of %s: %w", a.Iface, err)
	}
	a.ProgID = info.Program
	if _, mode, err := xdpState(a.Ifindex); err == nil {
		a.Mode = mode
	}
	return a, nil
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
	if id, _, err := xdpState(ifindex); err == nil && id == 0 {
		return nil
	}
	return errors.Join(errs...)
}

// Detach removes the sensor from iface: the pinned link is unpinned and
// closed, which detaches the program. Returns false if nothing of ours
// was attached there.
func Detach(pinPath, iface string) (bool, error) {
	pin := linkPin(pinPath, iface)
	l, err := link.LoadPinnedLink(pin, nil)
	if err == nil {
		uerr := l.Unpin()
		cerr := l.Close()
		if err := errors.Join(uerr, cerr); err != nil {
			return false, fmt.Errorf("detaching from %s: %w", iface, err)
		}
		return true, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		_ = os.Remove(pin)
	}
	// Not pinned: ours may still be attached through netlink by an old
	// version; remove only a program that carries our name.
	ifc, ierr := net.InterfaceByName(iface)
	if ierr != nil {
		return false, nil
	}
	if id, _, err := xdpState(ifc.Index); err == nil && id != 0 && programName(id) == bpf.ProgramName {
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
// start begins with fresh state.
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
