package main

import (
	"fmt"
	"io"

	"github.com/edgesensor/edgesensor/daemon"
)

// cmdDisclosure prints every field that can leave the box under the
// config, per category, and how it is transformed: MISSION item 11. It
// asks the policy that builds the upload, so it cannot drift from it.
func cmdDisclosure(args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("disclosure", "disclosure [-c sensor.toml] [--json]", stderr, &c)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	return daemon.WriteDisclosure(stdout, cfg, c.configUsed, *asJSON)
}

// cmdGenkey writes a new anonymisation key file (mode 0600).
func cmdGenkey(args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("genkey", "genkey PATH", stderr, &c)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fmt.Errorf("%w: genkey takes one path, e.g. /etc/edgesensor/anon.key", errUsage)
	}
	return daemon.WriteNewKey(stdout, rest[0])
}
