// Command edgesensor is the one binary NOC engineers run: it attaches the
// XDP data plane to router interfaces, analyses what it passes up, and
// replays captures through the same path.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/daemon"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/export/siem"
)

const usage = `edgesensor: XDP network sensor for TLS/QUIC handshakes and file flows

Usage:
  edgesensor run     [-c sensor.toml] [--iface IF]... [--force]   attach and analyse until SIGINT/SIGTERM
  edgesensor replay  [-c sensor.toml] [--stats] FILE...           analyse pcap/pcapng files offline
  edgesensor attach  [-c sensor.toml] [--iface IF]... [--force]   attach and leave attached (pinned)
  edgesensor detach  [-c sensor.toml] [--iface IF]...             detach (all pinned interfaces by default)
  edgesensor status  [-c sensor.toml] [--iface IF]... [--json]    mode, program ids and counters per interface
  edgesensor check-config [[-c] sensor.toml]                      validate a config file as run would
  edgesensor disclosure [-c sensor.toml] [--json]                 list every field that leaves the box under this config
  edgesensor genkey  PATH                                         write a new anonymisation key (privacy.key_file)
  edgesensor version

Run "edgesensor COMMAND -h" for the flags of a command.

Events go to stdout as NDJSON unless output.events names a file, and to
every [[output.sinks]] (syslog RFC 5424 or CEF, files). Logs go to stderr.
The config is ./sensor.toml when -c is not given (else built-in defaults);
sensor.toml in the source tree documents every key.

Day to day:
  edgesensor check-config /etc/edgesensor/sensor.toml      before (re)loading a config
  edgesensor status                                       what is attached, packets, drops
  kill -HUP $(pidof edgesensor)                           reload ports, intel, privacy, outputs
  curl -s 127.0.0.1:9750/metrics                          Prometheus figures ([metrics] listen)
  edgesensor detach                                       take the sensor off every interface
`

// commandHelp says what each command does, for `edgesensor COMMAND -h`.
var commandHelp = map[string]string{
	"run": `Attaches the XDP program to the interfaces (every interface traffic crosses:
XDP sees ingress only), analyses what it passes up, and writes events to
stdout (or output.events) and every [[output.sinks]]. SIGHUP reloads the
config (ports, intel, privacy, uplink, sinks; a bad config is rejected and
the running one stays). SIGINT/SIGTERM stop it and detach, unless
--stay-attached. Prometheus metrics on metrics.listen (127.0.0.1:9750).
A pinned program from an earlier run (or a crash) is adopted in place.`,
	"replay": `Runs capture files (pcap, pcapng) through the same XDP program
(BPF_PROG_TEST_RUN) and the same analysis as live traffic. Events go where
run's would, including SIEM sinks and the cloud uplink.`,
	"attach": `Attaches and pins the program, then exits: the interfaces stay watched
(counters in status) with no daemon reading events. run adopts it later.`,
	"detach": `Takes the program off the interfaces (all pinned ones by default) and
removes the pins.`,
	"status": `Shows, from the pinned maps, every attached interface: XDP mode, program
id, packets, bytes, events per class, ring drops, parse errors. Works while
run is running. With [[output.sinks]] configured, also each sink's state
(connected, sent, dropped, queued, a kafka sink's spool and last error),
asked of the running daemon on metrics.listen. --json for scripts.`,
	"check-config": `Validates a config file and prints the effective settings; each mistake
names the key and the fix. It checks what run checks before it starts, as
the user running it and without changing anything: every value, and the
files the config names (certificates and keys, the anonymisation key,
intelligence files, YARA rules load; the events file, file sinks, spool,
retention and audit directories can be written). It asks Kafka brokers
whether they answer and hold the topics: what it finds is a warning, not
an error (the sink spools until they do). The file may be given as an
argument or with -c. Exit status 1 on an invalid config.`,
	"disclosure": `Lists every field that can leave the box for the cloud under this config,
per data category, and how each is transformed (or that it is never sent).
Generated from the code that builds the upload.`,
	"genkey": `Writes a new random anonymisation key (64 hex characters, mode 0600) for
privacy.key_file. Refuses to overwrite. Replacing the key file of a running
sensor rotates its key.`,
}

// errUsage is a mistake in the command line; main prints usage for it.
var errUsage = errors.New("usage")

// usageError is a mistake in one command's line: main prints that
// command's synopsis with it rather than every command's.
type usageError struct {
	synopsis string // after "edgesensor "
	msg      string
}

func (e usageError) Error() string { return "usage: " + e.msg }
func (e usageError) Unwrap() error { return errUsage }

func main() {
	// A reader of our output that goes away must not kill us with SIGPIPE
	// before we detach: writes fail instead, and run shuts down cleanly.
	signal.Ignore(syscall.SIGPIPE)
	siem.Version = version // once, before any sink runs: CEF headers carry it
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "Usage: edgesensor %s\n\nerror: %s\n", ue.synopsis, ue.msg)
			os.Exit(2)
		}
		if errors.Is(err, errUsage) {
			fmt.Fprint(os.Stderr, usage)
			if msg := strings.TrimPrefix(err.Error(), errUsage.Error()); msg != "" {
				fmt.Fprintln(os.Stderr, "\nerror"+msg)
			}
			os.Exit(2)
		}
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "edgesensor:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "replay":
		return cmdReplay(ctx, rest, stdout, stderr)
	case "attach":
		return cmdAttach(rest, stderr)
	case "detach":
		return cmdDetach(rest, stderr)
	case "status":
		return cmdStatus(rest, stdout, stderr)
	case "check-config":
		return cmdCheckConfig(rest, stdout, stderr)
	case "disclosure":
		return cmdDisclosure(rest, stdout, stderr)
	case "genkey":
		return cmdGenkey(rest, stdout, stderr)
	case "version", "--version", "-v":
		return cmdVersion(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

// ifaceList is a repeatable --iface flag; "a,b" also works.
type ifaceList []string

func (l *ifaceList) String() string { return strings.Join(*l, ",") }

func (l *ifaceList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(*l, p) {
			*l = append(*l, p)
		}
	}
	return nil
}

// check applies the config's rules for interface names.
func (l ifaceList) check() error {
	for _, n := range l {
		if err := config.CheckInterfaceName(n); err != nil {
			return fmt.Errorf("--iface: %w", err)
		}
	}
	return nil
}

// common holds the flags every command shares.
type common struct {
	configPath string
	pinPath    string
	xdpMode    string
	logLevel   string
	configUsed string // set by load: the file read, or "built-in defaults"
}

func newFlags(name, synopsis string, stderr io.Writer, c *common) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: edgesensor %s\n", synopsis)
		if h := commandHelp[name]; h != "" {
			fmt.Fprintf(stderr, "\n%s\n", h)
		}
		fmt.Fprintf(stderr, "\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.configPath, "c", "", "config file (default: ./sensor.toml if present, else built-in defaults)")
	fs.StringVar(&c.configPath, "config", "", "same as -c")
	fs.StringVar(&c.pinPath, "pin-path", "", "bpffs directory for pins (overrides sensor.pin_path)")
	fs.StringVar(&c.logLevel, "log-level", "", "debug, info, warn or error (overrides sensor.log_level)")
	return fs
}

// loadForStart is load followed by the config's Preflight: the one
// validation path of the commands that start the analysis (run, replay)
// and of check-config, so check-config refuses what a start would.
func (c *common) loadForStart() (*config.Config, error) {
	cfg, err := c.load()
	if err != nil {
		return nil, err
	}
	if err := cfg.Preflight(); err != nil {
		return nil, fmt.Errorf("%s: %w", c.configUsed, err)
	}
	return cfg, nil
}

// load reads the config named by the flags, applies the flag overrides
// and validates the result. It remembers which file it read.
func (c *common) load() (*config.Config, error) {
	cfg, used, err := daemon.LoadConfig(c.configPath, daemon.ConfigOverrides{PinPath: c.pinPath, XDPMode: c.xdpMode, LogLevel: c.logLevel})
	if err != nil {
		return nil, err
	}
	c.configUsed = used
	return cfg, nil
}

// parseArgs parses flags wherever they stand among the arguments
// ("replay a.pcap --stats" works) and returns the other arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		if args[0] == "--" {
			return append(rest, args[1:]...), nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

// noArgs parses flags and rejects anything else on the command line.
func noArgs(fs *flag.FlagSet, args []string) error {
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected arguments %q (interfaces go after --iface)", errUsage, rest)
	}
	return nil
}

// logger is daemon.Logger.
func logger(stderr io.Writer, level string) zerolog.Logger { return daemon.Logger(stderr, level) }
