// Package sensor is the kernel-facing half of edgesensor: it loads the XDP
// data plane, attaches and pins it, reads its ring buffers, shards events
// to the analysis pipeline, writes stream verdicts back, and reads the
// counters. Analysis itself lives in userspace/.
package sensor

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
)

// ProgramConfig maps the sensor config onto the program's load-time
// constants.
func ProgramConfig(c *config.Config) bpf.Config {
	b := func(v bool) uint8 {
		if v {
			return 1
		}
		return 0
	}
	return bpf.Config{
		StreamBudget:  uint64(c.Capture.StreamBudget),
		TlsIdleNs:     uint64(time.Duration(c.Capture.HandshakeIdle).Nanoseconds()),
		TlsBudget:     uint32(c.Capture.HandshakePackets),
		TlsByteBudget: uint32(c.Capture.HandshakeBytes),
		VlanTracking:  b(c.Capture.VLANTracking),
		FragEnabled:   b(c.Capture.Fragments),
		QuicBudget:    uint32(c.Capture.QUICInitials),
		Snaplen:       uint32(c.Capture.Snaplen),
		TlsEnabled:    b(c.Capture.TLS),
		QuicEnabled:   b(c.Capture.QUIC),
		StreamEnabled: b(c.Capture.Streams),
		MaxRearms:     uint8(c.Capture.HandshakeRestarts),
		// An eighth of the ring: the reader wakes for a batch while the
		// ring still has room for seven more; the poll timer catches the rest.
		HsWakeupBytes:     uint32(c.Capture.HandshakeRing / 8),
		StreamWakeupBytes: uint32(c.Capture.StreamRing / 8),
	}
}

// Load loads the data plane for c and fills its port table. With a pin
// path, maps are pinned there by name and maps already pinned are reused.
func Load(c *config.Config, pinPath string) (*bpf.Objects, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raising the locked-memory limit (kernels before 5.11 need CAP_SYS_RESOURCE): %w", err)
	}
	objs, err := bpf.Load(bpf.LoadOptions{
		Config:          ProgramConfig(c),
		HandshakeRing:   uint32(c.Capture.HandshakeRing),
		StreamRing:      uint32(c.Capture.StreamRing),
		FragmentRing:    uint32(c.Capture.FragmentRing),
		MaxFlows:        uint32(c.Capture.MaxFlows),
		PinPath:         pinPath,
		Enforce:         c.Enforce.ModeValue() != enforce.Off,
		MaxBlockedFlows: uint32(c.Enforce.MaxBlockedFlows),
		Extension:       c.Sensor.XDPShare != config.ShareOff,
	})
	if err != nil {
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return nil, fmt.Errorf("%w: the maps pinned under %s were made by another version or with "+
				"other capture.* sizes; go back to those sizes, or, with no sensor running, "+
				"`edgesensor detach` (which detaches every interface and removes them)", err, pinPath)
		}
		return nil, privilegeHint(err)
	}
	if err := SetPorts(objs.PortApp, c.PortApps()); err != nil {
		objs.Close()
		return nil, err
	}
	if err := syncSlotTable(objs); err != nil {
		objs.Close()
		return nil, err
	}
	return objs, nil
}

// SetPorts writes the whole port table: watched ports get their
// application, every other port 0. It may run while the program is live:
// the table is the program's memory-mapped port_app global.
func SetPorts(v *ebpf.Variable, apps map[uint16]datapath.App) error {
	var table [65536]uint8
	for port, app := range apps {
		table[port] = uint8(app)
	}
	if err := v.Set(table); err != nil {
		return fmt.Errorf("writing port table: %w", err)
	}
	return nil
}
