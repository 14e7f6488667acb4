// Joining and leaving libxdp's dispatcher on an interface: a new dispatcher
// is built and swapped in through netlink, atomically.

package sensor

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/userspace/config"
)

// setXDP attaches fd (-1: nothing) to ifindex through netlink, replacing
// exactly the program expected (nil: only if nothing is attached), as
// libxdp does. EEXIST or EBUSY says another change came first.
func setXDP(ifindex, fd int, expected *ebpf.Program, modeFlags uint32) error {
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(ifindex)
	req.AddData(msg)
	attrs := nl.NewRtAttr(unix.IFLA_XDP|unix.NLA_F_NESTED, nil)
	attrs.AddRtAttr(nl.IFLA_XDP_FD, binary.NativeEndian.AppendUint32(nil, uint32(fd)))
	flags := modeFlags
	if expected != nil {
		flags |= xdpFlagsReplace
		attrs.AddRtAttr(iflaXDPExpectedFD, binary.NativeEndian.AppendUint32(nil, uint32(expected.FD())))
	} else {
		flags |= xdpFlagsUpdateIfNoExist
	}
	attrs.AddRtAttr(nl.IFLA_XDP_FLAGS, binary.NativeEndian.AppendUint32(nil, flags))
	req.AddData(attrs)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

func modeFlags(mode string) uint32 {
	switch mode {
	case config.ModeGeneric:
		return xdpFlagsSKB
	case config.ModeNative:
		return xdpFlagsDRV
	}
	return 0
}

// shareResult is what joining a dispatcher did.
type shareResult struct {
	ext      *ebpf.Program // our component, now in the dispatcher
	linkID   link.ID
	mode     string
	replaced bool // an earlier program of ours was in the dispatcher
	others   []string
}

// errRetry: the interface changed while a dispatcher was built.
var errRetry = errors.New("the interface's XDP program changed meanwhile")

// joinDispatcher puts the sensor into the libxdp dispatcher of ifindex,
// making one if the interface has none, and replacing an earlier program
// of ours; the other components keep their programs, priorities and
// actions. The swap is atomic: the interface is never without either
// dispatcher.
func joinDispatcher(ifindex int, mode string, prio uint32, ext extLoader) (*shareResult, error) {
	lock, err := libxdpLock(true)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	for try := 0; ; try++ {
		res, err := joinOnce(ifindex, mode, prio, ext)
		if errors.Is(err, errRetry) && try < 3 {
			continue
		}
		return res, err
	}
}

func joinOnce(ifindex int, mode string, prio uint32, ext extLoader) (*shareResult, error) {
	old, err := readDispatcher(ifindex)
	if err != nil {
		return nil, err
	}
	defer old.close()
	res := &shareResult{}
	var comps []component
	for _, c := range old.comps {
		if c.ours {
			res.replaced = true
			continue
		}
		res.others = append(res.others, c.name)
		comps = append(comps, component{prog: c.prog, name: c.name, id: c.id, prio: c.prio, chain: c.chain, flags: c.flags})
	}
	// The sensor passes what it does not act on and drops what it blocks:
	// only its XDP_PASS lets the next program run.
	comps = append(comps, component{name: bpf.ProgramName, prio: prio, chain: 1 << 2 /* XDP_PASS */, ours: true})
	// The others' programs go to the new dispatcher.
	for i := range old.comps {
		if !old.comps[i].ours {
			old.comps[i].prog = nil
		}
	}
	nd, err := buildDispatcher(ifindex, comps, ext)
	if err != nil {
		return nil, err
	}
	if err := swapDispatcher(old, nd, mode); err != nil {
		nd.unpin()
		nd.close()
		return nil, err
	}
	old.unpin()
	for i := range nd.comps {
		if c := &nd.comps[i]; c.ours {
			if info, err := nd.links[i].Info(); err == nil {
				res.linkID = info.ID
			}
			res.ext, c.prog = c.prog, nil // the caller's now
		}
	}
	nd.close()
	_, _, res.mode, _ = xdpState(ifindex)
	return res, nil
}

// swapDispatcher attaches nd in place of old (or of nothing).
func swapDispatcher(old, nd *dispatcher, mode string) error {
	fd := -1
	if nd != nil {
		fd = nd.prog.FD()
	}
	var err error
	switch {
	case old.prog != nil:
		// A replacement keeps the mode the interface runs.
		err = setXDP(old.ifindex, fd, old.prog, modeFlags(old.mode))
	case mode == config.ModeAuto:
		if err = setXDP(old.ifindex, fd, nil, xdpFlagsDRV); err != nil && !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.EBUSY) {
			err = setXDP(old.ifindex, fd, nil, xdpFlagsSKB)
		}
	default:
		err = setXDP(old.ifindex, fd, nil, modeFlags(mode))
	}
	if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("%w: %w", errRetry, err)
	}
	if err != nil {
		hint := ""
		if mode == config.ModeNative && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)) {
			hint = " (the driver may lack native XDP: set sensor.xdp_mode = \"auto\" or \"generic\")"
		}
		return fmt.Errorf("attaching libxdp's dispatcher: %w%s", err, hint)
	}
	return nil
}

// leaveDispatcher takes the sensor out of the dispatcher of ifindex: the
// others keep running in a new one, or the dispatcher goes when none is
// left. It reports whether a program of ours was there.
func leaveDispatcher(ifindex int) (bool, error) {
	lock, err := libxdpLock(true)
	if err != nil {
		return false, err
	}
	defer lock.Close()
	for try := 0; ; try++ {
		found, err := leaveOnce(ifindex)
		if errors.Is(err, errRetry) && try < 3 {
			continue
		}
		return found, err
	}
}

func leaveOnce(ifindex int) (bool, error) {
	old, err := readDispatcher(ifindex)
	if err != nil {
		if errors.Is(err, ErrNotDispatcher) {
			return false, nil // nothing of ours is in a dispatcher here
		}
		return false, err
	}
	defer old.close()
	if _, ok := old.ours(); !ok {
		return false, nil
	}
	var rest []component
	for i, c := range old.comps {
		if !c.ours {
			rest = append(rest, c)
			old.comps[i].prog = nil
		}
	}
	if len(rest) == 0 {
		if err := swapDispatcher(old, nil, ""); err != nil {
			return true, err
		}
		old.unpin()
		return true, nil
	}
	nd, err := buildDispatcher(ifindex, rest, nil)
	if err != nil {
		return true, err
	}
	if err := swapDispatcher(old, nd, ""); err != nil {
		nd.unpin()
		nd.close()
		return true, err
	}
	old.unpin()
	nd.close()
	return true, nil
}
