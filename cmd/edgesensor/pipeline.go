package main

import (
	"fmt"
	"io"
	"os"

	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/summary"
)

// newPipeline builds the analysis pipeline. Until the analysis packages
// land it is the packet summary.
func newPipeline(_ *config.Config, out io.Writer) *summary.Pipeline {
	return summary.New(out)
}

// openEvents opens where events go: stdout or the configured file.
func openEvents(cfg *config.Config, stdout io.Writer) (io.Writer, func() error, error) {
	if cfg.Output.Events == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.OpenFile(cfg.Output.Events, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("output.events: opening %s: %w", cfg.Output.Events, err)
	}
	return f, f.Close, nil
}
