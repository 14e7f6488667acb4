// Taking the sensor off interfaces, and removing its pins once none is left.

package sensor

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/cilium/ebpf/link"
	"github.com/rs/zerolog"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/edgesensor/edgesensor/bpf"
)

// detachLink takes the program off the interface through the link itself
// (BPF_LINK_DETACH works even while another process holds the link), then
// removes the pin.
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
	if hasSharedPin(pinPath, iface) {
		idx := 0
		if ifc, err := net.InterfaceByName(iface); err == nil {
			idx = ifc.Index
			if _, err := leaveDispatcher(idx); err != nil {
				return false, fmt.Errorf("detaching from %s: leaving libxdp's dispatcher: %w", iface, err)
			}
		}
		_ = os.Remove(sharedPin(pinPath, iface))
		releasePinnedSlot(pinPath, idx)
		return true, nil
	}
	l, idx, err := pinnedLink(pinPath, iface)
	if err == nil {
		derr := detachLink(l)
		l.Close()
		if derr != nil {
			return false, fmt.Errorf("detaching from %s: %w", iface, derr)
		}
		if _, err := unchain(pinPath, iface, idx); err != nil {
			return true, fmt.Errorf("detaching from %s: %w", iface, err)
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

// PinnedInterfaces lists the interfaces with a pinned link or a pinned
// dispatcher component.
func PinnedInterfaces(pinPath string) ([]string, error) {
	var out []string
	for _, dir := range []string{"links", "shared"} {
		ents, err := os.ReadDir(filepath.Join(pinPath, dir))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("listing pinned links: %w", err)
		}
		for _, e := range ents {
			if !slices.Contains(out, e.Name()) {
				out = append(out, e.Name())
			}
		}
	}
	sort.Strings(out)
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
	_ = os.Remove(filepath.Join(pinPath, "shared"))
	if left := chainedLeft(pinPath); len(left) > 0 {
		// Programs that could not be given their interface back stay
		// pinned, so they are not lost (the error that said so named them).
		errs = append(errs, fmt.Errorf("kept %s: programs taken over from %s could not be given back",
			filepath.Join(pinPath, "chained"), strings.Join(left, ", ")))
		return errors.Join(errs...)
	}
	_ = os.Remove(filepath.Join(pinPath, "chained"))
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
