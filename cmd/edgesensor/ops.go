package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgesensor/edgesensor/daemon"
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
	st, err := sensor.ReadStatus(cfg.Sensor.PinPath, ifaces)
	if err != nil {
		return err
	}
	// The sinks' state is the running daemon's: asked on its metrics
	// listener.
	var sinks []daemon.SinkState
	var sinkErr error
	if len(cfg.Output.Sinks) > 0 && cfg.Metrics.Listen != "" {
		sinks, sinkErr = daemonSinks(cfg.Metrics.Listen)
	}
	if *asJSON {
		out := struct {
			sensor.Status
			Sinks     []daemon.SinkState `json:"sinks,omitempty"`
			SinkError string             `json:"sinks_error,omitempty"`
		}{Status: st, Sinks: sinks}
		if sinkErr != nil {
			out.SinkError = sinkErr.Error()
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if err := st.WriteText(stdout); err != nil {
		return err
	}
	switch {
	case len(cfg.Output.Sinks) == 0:
	case cfg.Metrics.Listen == "":
		fmt.Fprintf(stdout, "\nsinks: %d configured; their state needs metrics.listen (the daemon answers there)\n", len(cfg.Output.Sinks))
	case sinkErr != nil:
		fmt.Fprintf(stdout, "\nsinks: %v\n", sinkErr)
	default:
		writeSinks(stdout, sinks)
	}
	return nil
}

// daemonSinks asks the daemon's metrics listener for the sinks' state.
func daemonSinks(listen string) ([]daemon.SinkState, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %q: %w", listen, err)
	}
	if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + daemon.SinksPath
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return nil, fmt.Errorf("the daemon does not answer at %s (is edgesensor run running?): %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	var out []daemon.SinkState
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return out, nil
}

func writeSinks(w io.Writer, sinks []daemon.SinkState) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SINK	TYPE	STATE	SENT	DROPPED	QUEUED	SPOOLED	ERRORS	LAST ERROR")
	for _, s := range sinks {
		state := "connected"
		if !s.Connected {
			state = "down"
		}
		spooled := "-"
		if s.Type == "kafka" {
			spooled = fmt.Sprintf("%d", s.Spooled)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%d\t%s\n", s.Name, s.Type, state, s.Sent, s.Dropped, s.Queued+s.Inflight, spooled, s.Errors, s.LastError)
	}
	tw.Flush()
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
	// What the sinks would find now is a warning: the sensor starts and
	// spools without them.
	for i := range cfg.Output.Sinks {
		for _, w := range cfg.Output.Sinks[i].Probe(3 * time.Second) {
			fmt.Fprintf(stdout, "  warning: output.sinks[%d] (%s): %s\n", i, cfg.Output.Sinks[i].Name, w)
		}
	}
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
