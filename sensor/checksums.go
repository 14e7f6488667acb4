package sensor

import (
	"fmt"
	"sync"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// checksumModes writes the data plane's per-slot checksum policy
// (csum_modes in the program's .bss), which decides which packets may
// change its state (bpf/csum.h).
type checksumModes struct {
	mu    sync.Mutex
	objs  *bpf.Objects
	modes [bpf.MaxIfSlots]uint8
}

// initialMode is the policy every slot starts with under
// reassembly.checksums: auto starts tolerant and is made strict (or off)
// per interface once userspace has seen what the interface carries.
func initialMode(c *config.Config) uint8 {
	switch c.Reassembly.Checksums {
	case datapath.ChecksumsVerify:
		return bpf.CsumModeStrict
	case datapath.ChecksumsOff:
		return bpf.CsumModeOff
	}
	return bpf.CsumModeTolerant
}

func newChecksumModes(objs *bpf.Objects, c *config.Config) (*checksumModes, error) {
	m := &checksumModes{objs: objs}
	for i := range m.modes {
		m.modes[i] = initialMode(c)
	}
	if err := objs.CsumModes.Set(m.modes); err != nil {
		return nil, fmt.Errorf("writing checksum modes: %w", err)
	}
	return m, nil
}

// set gives the slot of ifindex (slot 0 in replay) the strict policy, or
// none at all.
func (m *checksumModes) set(ifindex uint32, strict bool) error {
	if m == nil {
		return nil
	}
	slot := uint32(0)
	if ifindex > 0 && ifindex < bpf.MaxIfIndex {
		if err := m.objs.IfSlots.Lookup(ifindex, &slot); err != nil {
			slot = 0
		}
	}
	if slot >= bpf.MaxIfSlots {
		return nil
	}
	mode := bpf.CsumModeOff
	if strict {
		mode = bpf.CsumModeStrict
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.modes[slot] == mode {
		return nil
	}
	m.modes[slot] = mode
	if err := m.objs.CsumModes.Set(m.modes); err != nil {
		return fmt.Errorf("writing checksum modes: %w", err)
	}
	return nil
}
