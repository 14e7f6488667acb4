package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

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
	log := logger(stderr, cfg.Sensor.LogLevel)
	s, err := sensor.Setup(sensor.Options{Config: cfg, Interfaces: a.ifaces, Force: a.force, Persist: true, Log: log})
	if err != nil {
		return err
	}
	// Leave it attached: the links are pinned.
	return s.Close(false)
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
	log := logger(stderr, cfg.Sensor.LogLevel)
	if err := sensor.CheckPrivileges(); err != nil {
		return err
	}
	pin := cfg.Sensor.PinPath
	if lock, err := sensor.LockPinPath(pin); err == nil {
		defer lock.Close()
	} else if _, serr := os.Stat(pin); serr == nil {
		return err
	}
	if len(ifaces) == 0 {
		if ifaces, err = sensor.PinnedInterfaces(pin); err != nil {
			return err
		}
		if len(ifaces) == 0 {
			log.Info().Str("pin_path", pin).Msg("nothing attached")
		}
	}
	var failed []string
	for _, name := range ifaces {
		ok, err := sensor.Detach(pin, name)
		switch {
		case err != nil:
			log.Error().Err(err).Str("iface", name).Msg("detach failed")
			failed = append(failed, name)
		case ok:
			log.Info().Str("iface", name).Msg("detached")
		default:
			log.Warn().Str("iface", name).Msg("edgesensor was not attached here")
		}
	}
	if err := sensor.RemovePins(pin); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("could not detach from %s", strings.Join(failed, ", "))
	}
	return nil
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
	st, err := sensor.ReadStatus(cfg.Sensor.PinPath, ifaces)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return printStatus(stdout, st)
}

func printStatus(w io.Writer, st sensor.Status) error {
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
	fmt.Fprintf(stdout, "%s: ok\n  %s\n", c.configUsed, strings.Join(cfg.Summary(), "\n  "))
	if cfg.UplinkEnabled() {
		fmt.Fprintf(stdout, "  uplink=%s (see `edgesensor disclosure` for what leaves)\n", cfg.Uplink.URL)
	} else {
		fmt.Fprintln(stdout, "  uplink=off (nothing leaves the box)")
	}
	fmt.Fprintf(stdout, "  sinks=%d metrics=%q\n", len(cfg.Output.Sinks), cfg.Metrics.Listen)
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
