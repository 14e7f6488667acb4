package daemon

// This file holds what `edgesensor check-config` prints of a config that
// passed its checks.

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/edgesensor/edgesensor/userspace/config"
)

// WriteConfigCheck writes the effective settings of cfg, read from
// configUsed and already checked as run checks it, and a warning for each
// thing a sink would find wrong now (a Kafka broker that does not answer,
// a missing topic).
func WriteConfigCheck(w io.Writer, cfg *config.Config, configUsed string) {
	fmt.Fprintf(w, "%s: ok\n  %s\n", configUsed, strings.Join(cfg.Summary(), "\n  "))
	if cfg.UplinkEnabled() {
		fmt.Fprintf(w, "  uplink=%s (see `edgesensor disclosure` for what leaves)\n", cfg.Uplink.URL)
	} else {
		fmt.Fprintln(w, "  uplink=off (nothing leaves the box)")
	}
	fmt.Fprintf(w, "  sinks=%d metrics=%q\n", len(cfg.Output.Sinks), cfg.Metrics.Listen)
	// What the sinks would find now is a warning: the sensor starts and
	// spools without them.
	for i := range cfg.Output.Sinks {
		for _, warn := range cfg.Output.Sinks[i].Probe(3 * time.Second) {
			fmt.Fprintf(w, "  warning: output.sinks[%d] (%s): %s\n", i, cfg.Output.Sinks[i].Name, warn)
		}
	}
}
