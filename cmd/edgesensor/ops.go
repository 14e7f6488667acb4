package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/edgesensor/edgesensor/daemon"
	// Named: the lab tests of this package have a status helper.
	daemonstatus "github.com/edgesensor/edgesensor/daemon/status"
	"github.com/edgesensor/edgesensor/sensor"
	"github.com/edgesensor/edgesensor/userspace/config"
)

// attachFlags are the flags of the commands that attach (run, attach).
type attachFlags struct {
	common
	ifaces ifaceList
	force  bool
}

func newAttachFlags(name, synopsis string, stderr io.Writer, a *attachFlags) *flag.FlagSet {
	fs := newFlags(name, synopsis, stderr, &a.common)
	fs.Var(&a.ifaces, "iface", "interface to attach to (repeatable; default sensor.interfaces)")
	fs.StringVar(&a.xdpMode, "xdp-mode", "", "native, generic or auto (overrides sensor.xdp_mode)")
	fs.BoolVar(&a.force, "force", false, "replace an XDP program of another owner on the interfaces")
	return fs
}

// parse reads the command line and the config, and resolves the
// interfaces; start says the command starts the analysis (run), whose
// config is checked as check-config checks it (loadForStart).
func (a *attachFlags) parse(fs *flag.FlagSet, args []string, start bool) (*config.Config, error) {
	if err := noArgs(fs, args); err != nil {
		return nil, err
	}
	load := a.load
	if start {
		load = a.loadForStart
	}
	cfg, err := load()
	if err != nil {
		return nil, err
	}
	if len(a.ifaces) == 0 {
		a.ifaces = cfg.Sensor.Interfaces
	}
	if err := a.ifaces.check(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func cmdAttach(args []string, stderr io.Writer) error {
	var a attachFlags
	fs := newAttachFlags("attach", "attach [-c sensor.toml] [--iface IF]... [--force]", stderr, &a)
	cfg, err := a.parse(fs, args, false)
	if err != nil {
		return err
	}
	return daemon.Attach(cfg, a.ifaces, a.force, logger(stderr, cfg.Sensor.LogLevel))
}

func cmdDetach(args []string, stderr io.Writer) error {
	var c common
	var ifaces ifaceList
	fs := newFlags("detach", "detach [-c sensor.toml] [--iface IF]...", stderr, &c)
	fs.Var(&ifaces, "iface", "interface to detach from (repeatable; default: every pinned one)")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	return sensor.DetachAll(cfg.Sensor.PinPath, ifaces, logger(stderr, cfg.Sensor.LogLevel))
}

func cmdStatus(args []string, stdout, stderr io.Writer) error {
	var c common
	var ifaces ifaceList
	fs := newFlags("status", "status [-c sensor.toml] [--iface IF]... [--json]", stderr, &c)
	fs.Var(&ifaces, "iface", "interface to show (repeatable; default: every pinned one)")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	return daemonstatus.Write(stdout, cfg, ifaces, *asJSON)
}

// checkConfigSynopsis: the file as an argument, as promtool and
// `nginx -t -c` users expect, or with -c like every other command.
const checkConfigSynopsis = "check-config [[-c] sensor.toml]"

func cmdCheckConfig(args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("check-config", checkConfigSynopsis, stderr, &c)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 1:
		return usageError{checkConfigSynopsis, fmt.Sprintf("check-config checks one config file, not %d: %q", len(rest), rest)}
	case len(rest) == 1 && c.configPath != "" && !samePath(c.configPath, rest[0]):
		return usageError{checkConfigSynopsis, fmt.Sprintf("check-config checks one config file: -c names %s, the argument %s; give one", c.configPath, rest[0])}
	case len(rest) == 1:
		c.configPath = rest[0]
	}
	cfg, err := c.loadForStart()
	if err != nil {
		return err
	}
	daemon.WriteConfigCheck(stdout, cfg, c.configUsed)
	return nil
}

// samePath says whether a and b name the same file.
func samePath(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}
