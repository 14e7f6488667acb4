package daemon

// This file holds `edgesensor attach`: the data plane attached with no
// daemon behind it.

import (
	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/sensor"
	"github.com/edgesensor/edgesensor/userspace/config"
)

// Attach attaches the XDP program to ifaces and pins it, then lets go:
// the interfaces stay watched (counters in status) and Run adopts the
// pinned program later. force replaces an XDP program of another owner.
func Attach(cfg *config.Config, ifaces []string, force bool, log zerolog.Logger) error {
	s, err := sensor.Setup(sensor.Options{Config: cfg, Interfaces: ifaces, Force: force, Persist: true, Log: log})
	if err != nil {
		return err
	}
	// Leave it attached: the links are pinned.
	return s.Close(false)
}
