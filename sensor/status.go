package sensor

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"text/tabwriter"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/edgesensor/edgesensor/bpf"
)

// IfaceStatus is what `status` shows for one interface.
type IfaceStatus struct {
	Iface   string `json:"interface"`
	Ifindex int    `json:"ifindex"`
	Mode    string `json:"xdp_mode"`
	ProgID  uint32 `json:"prog_id"`
	LinkID  uint32 `json:"link_id"`
	// Via is "libxdp" when the sensor runs in libxdp's dispatcher.
	Via string `json:"via,omitempty"`
	// Chained names the program the sensor hands what it passes to.
	Chained  string            `json:"chained,omitempty"`
	Slot     uint32            `json:"counter_slot"`
	Counters map[string]uint64 `json:"counters,omitempty"`
	Error    string            `json:"error,omitempty"`
}

// Status is the state of the sensor as the pinned objects tell it; it
// works while the daemon runs, and after `attach` without one.
type Status struct {
	PinPath    string        `json:"pin_path"`
	Interfaces []IfaceStatus `json:"interfaces"`
	Flows      int           `json:"flows"`
}

// ReadStatus reads the pinned links and maps under pinPath, for the
// interfaces in only (all when empty), and counts the kernel's flows.
func ReadStatus(pinPath string, only []string) (Status, error) {
	st, err := ReadInterfaces(pinPath, only)
	if err != nil || len(st.Interfaces) == 0 {
		return st, err
	}
	if flows, err := ebpf.LoadPinnedMap(filepath.Join(pinPath, "flows"), nil); err == nil {
		c := bpf.NewFlowCounter(flows)
		st.Flows, _ = c.Count()
		c.Close()
		flows.Close()
	}
	return st, nil
}

// ReadInterfaces is ReadStatus without the flow count (Flows stays 0):
// what a health check or a per-interface figure needs.
func ReadInterfaces(pinPath string, only []string) (Status, error) {
	st := Status{PinPath: pinPath, Interfaces: []IfaceStatus{}}
	ifaces, err := PinnedInterfaces(pinPath)
	if err != nil {
		return st, err
	}
	var counters, ifslots *ebpf.Map
	if len(ifaces) > 0 {
		if counters, err = ebpf.LoadPinnedMap(filepath.Join(pinPath, "counters"), nil); err != nil {
			return st, fmt.Errorf("opening pinned counters: %w", privilegeHint(err))
		}
		defer counters.Close()
		if ifslots, err = ebpf.LoadPinnedMap(filepath.Join(pinPath, "ifslots"), nil); err != nil {
			return st, fmt.Errorf("opening pinned ifslots: %w", privilegeHint(err))
		}
		defer ifslots.Close()
	}
	for _, name := range ifaces {
		if len(only) > 0 && !slices.Contains(only, name) {
			continue
		}
		is := IfaceStatus{Iface: name}
		if err := is.read(pinPath, counters, ifslots); err != nil {
			is.Error = err.Error()
		}
		st.Interfaces = append(st.Interfaces, is)
	}
	for _, name := range only {
		if !slices.Contains(ifaces, name) {
			is := IfaceStatus{Iface: name, Mode: "none", Error: "edgesensor is not attached here"}
			if ifc, err := net.InterfaceByName(name); err == nil {
				is.Ifindex = ifc.Index
				if attached, id, mode, err := xdpState(ifc.Index); err == nil && attached {
					is.Error = fmt.Sprintf("edgesensor is not attached here; XDP program %q (id %d, %s) is", programName(id), id, mode)
				}
			} else {
				is.Error = "no such interface"
			}
			st.Interfaces = append(st.Interfaces, is)
		}
	}
	return st, nil
}

func (is *IfaceStatus) read(pinPath string, counters, ifslots *ebpf.Map) error {
	if hasSharedPin(pinPath, is.Iface) {
		if err := is.readShared(pinPath); err != nil {
			return err
		}
		return is.readCounters(counters, ifslots)
	}
	l, err := link.LoadPinnedLink(linkPin(pinPath, is.Iface), nil)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return errors.New("not attached")
		}
		return fmt.Errorf("opening pinned link: %w", privilegeHint(err))
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		return fmt.Errorf("reading link: %w", err)
	}
	is.LinkID, is.ProgID = uint32(info.ID), uint32(info.Program)
	if x := info.XDP(); x != nil {
		is.Ifindex = int(x.Ifindex)
	}
	if is.Ifindex == 0 {
		return errors.New("the link is defunct: its interface is gone (run `edgesensor detach`)")
	}
	if _, _, mode, err := xdpState(is.Ifindex); err == nil {
		is.Mode = mode
	}
	// A chain problem is the chained program's, not the sensor's: it
	// shows in what is chained, and the sensor still counts as attached.
	var cerr error
	if is.Chained, cerr = chainedStatus(pinPath, is.Iface, is.Ifindex); cerr != nil {
		is.Chained = cerr.Error()
	}
	return is.readCounters(counters, ifslots)
}

// readShared reads an interface where the sensor joined libxdp's
// dispatcher: attached while the dispatcher on it holds our program.
func (is *IfaceStatus) readShared(pinPath string) error {
	is.Via = "libxdp"
	p, err := ebpf.LoadPinnedProgram(sharedPin(pinPath, is.Iface), nil)
	if err != nil {
		return fmt.Errorf("opening the pinned component: %w", privilegeHint(err))
	}
	info, err := p.Info()
	p.Close()
	if err != nil {
		return fmt.Errorf("reading the pinned component: %w", err)
	}
	id, _ := info.ID()
	ifc, err := net.InterfaceByName(is.Iface)
	if err != nil {
		return errors.New("its interface is gone (run `edgesensor detach`)")
	}
	is.Ifindex = ifc.Index
	_, _, is.Mode, _ = xdpState(is.Ifindex)
	in, linkID, err := sharedState(is.Ifindex, id)
	switch {
	case errors.Is(err, ErrNotDispatcher):
		return fmt.Errorf("not attached: libxdp's dispatcher is gone from the interface (%v)", err)
	case err != nil:
		return fmt.Errorf("reading libxdp's dispatcher: %w", err)
	case !in:
		if is.Mode == "none" {
			return errors.New("not attached: nothing is on the interface (unloaded by another tool?)")
		}
		return errors.New("not attached: libxdp's dispatcher no longer holds the sensor (unloaded by another tool? `xdp-loader status`)")
	}
	is.ProgID, is.LinkID = uint32(id), uint32(linkID)
	return nil
}

// readCounters reads the interface's counter slot.
func (is *IfaceStatus) readCounters(counters, ifslots *ebpf.Map) error {
	if err := ifslots.Lookup(uint32(is.Ifindex), &is.Slot); err != nil {
		is.Slot = 0
	}
	c, err := ReadCounters(counters, is.Slot)
	if err != nil {
		return err
	}
	is.Counters, err = c.Map()
	return err
}

// WriteText writes the status as a table, and every counter when one
// interface is shown.
func (st Status) WriteText(w io.Writer) error {
	if len(st.Interfaces) == 0 {
		fmt.Fprintf(w, "edgesensor is not attached anywhere (pins under %s)\n", st.PinPath)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INTERFACE\tIFINDEX\tMODE\tPROG\tPACKETS\tBYTES\tTLS\tQUIC\tSTREAM\tRING DROPS\tPARSE ERR\tSTATE")
	for _, is := range st.Interfaces {
		c := is.Counters
		state := "ok"
		if is.Error != "" {
			state = is.Error
		}
		switch {
		case is.Via != "":
			state += " (in " + is.Via + "'s dispatcher)"
		case is.Chained != "":
			state += ", then " + is.Chained
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", is.Iface, is.Ifindex, is.Mode, is.ProgID,
			c["packets"], humanBytes(c["bytes"]), c["tls_events"], c["quic_events"], c["stream_events"],
			c["tls_drops"]+c["quic_drops"]+c["stream_drops"], c["parse_errors"], state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nflows tracked: %d   pins: %s\n", st.Flows, st.PinPath)
	if len(st.Interfaces) == 1 && st.Interfaces[0].Counters != nil {
		keys := make([]string, 0, len(st.Interfaces[0].Counters))
		for k := range st.Interfaces[0].Counters {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintln(w, "\ncounters:")
		for _, k := range keys {
			fmt.Fprintf(w, "  %-24s %d\n", k, st.Interfaces[0].Counters[k])
		}
	}
	return nil
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
