package main

import (
	"io"

	"github.com/edgesensor/edgesensor/daemon"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func cmdVersion(stdout io.Writer) error {
	daemon.WriteVersion(stdout, version)
	return nil
}
