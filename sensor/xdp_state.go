// What XDP program an interface carries, and in which mode, as netlink and
// the program's own info tell it.

package sensor

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/edgesensor/edgesensor/userspace/config"
)

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
