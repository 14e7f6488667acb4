package config

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/setting"
)

// Defaults of the [sensor] table.
const (
	DefaultPinPath    = "/sys/fs/bpf/edgesensor"
	DefaultXDPMode    = ModeNative
	DefaultQueueDepth = 1024
	// DefaultXDPPriority runs the sensor after programs of libxdp's
	// default priority (50) and xdp-filter's (10): it sees what they let
	// through, which is what the hosts behind the router see.
	DefaultXDPPriority = 200
)

// Ways to share an interface's XDP hook (sensor.xdp_share).
const (
	ShareAuto   = "auto"   // join a libxdp dispatcher already there, else attach alone
	ShareLibXDP = "libxdp" // always attach through a libxdp dispatcher
	ShareOff    = "off"    // attach alone; refuse an interface with another program
	ShareChain  = "chain"  // take the interface's program over and hand it what the sensor passes
)

// XDP attach modes.
const (
	ModeNative  = "native"
	ModeGeneric = "generic"
	ModeAuto    = "auto"
)

// Sensor is the [sensor] table: where and how to attach, and how the
// process runs. It lives here rather than with a package because it
// configures the process (the command), which config cannot import.
type Sensor struct {
	// Interfaces to attach to when --iface is not given.
	Interfaces []string `toml:"interfaces"`
	// XDPMode is native (driver), generic (skb), or auto (native, falling
	// back to generic with a warning).
	XDPMode string `toml:"xdp_mode"`
	// XDPShare says how to live with other XDP programs on an interface:
	// through libxdp's multi-program dispatcher (xdp-tools' protocol), or
	// alone.
	XDPShare string `toml:"xdp_share"`
	// XDPPriority is the sensor's run priority in a libxdp dispatcher
	// (lower runs first).
	XDPPriority int `toml:"xdp_priority"`
	// PinPath is the bpffs directory holding the program, maps and links.
	PinPath string `toml:"pin_path"`
	// Workers analysing events; 0 means one per CPU.
	Workers int `toml:"workers"`
	// QueueDepth is the number of events waiting per worker before its
	// ring reader waits (and the ring buffer takes the burst).
	QueueDepth int `toml:"queue_depth"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log_level"`
}

func defaultSensor() Sensor {
	return Sensor{
		XDPMode:     DefaultXDPMode,
		XDPShare:    ShareAuto,
		XDPPriority: DefaultXDPPriority,
		PinPath:     DefaultPinPath,
		QueueDepth:  DefaultQueueDepth,
		LogLevel:    "info",
	}
}

func (s *Sensor) validate(key string, p *setting.Problems) {
	switch s.XDPMode {
	case ModeNative, ModeGeneric, ModeAuto:
	default:
		p.Add(key+".xdp_mode", "%q is not a mode; use \"native\", \"generic\" or \"auto\"", s.XDPMode)
	}
	switch s.XDPShare {
	case ShareAuto, ShareLibXDP, ShareOff, ShareChain:
	default:
		p.Add(key+".xdp_share", "%q is not a way to share; use \"auto\" (join a libxdp dispatcher already there), "+
			"\"libxdp\" (always through one, so xdp-tools programs can join later), \"chain\" (run first, then "+
			"hand what passes to the program already there) or \"off\"", s.XDPShare)
	}
	if s.XDPPriority < 1 || s.XDPPriority > 10000 {
		p.Add(key+".xdp_priority", "%d is out of range; use 1 to 10000 (lower runs first; xdp-filter runs at 10)", s.XDPPriority)
	}
	if pp := filepath.Clean(s.PinPath); !filepath.IsAbs(pp) || pp == "/" || pp == "/sys/fs/bpf" {
		p.Add(key+".pin_path", "%q must be an absolute path to a directory of the sensor's own on bpffs, e.g. %q",
			s.PinPath, DefaultPinPath)
	}
	if s.Workers < 0 || s.Workers > 256 {
		p.Add(key+".workers", "%d is out of range; use 0 (one per CPU) to 256", s.Workers)
	}
	if s.QueueDepth < 16 || s.QueueDepth > 65536 {
		p.Add(key+".queue_depth", "%d is out of range; use 16 to 65536", s.QueueDepth)
	}
	switch s.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		p.Add(key+".log_level", "%q is not a level; use debug, info, warn or error", s.LogLevel)
	}
	seen := map[string]bool{}
	for _, n := range s.Interfaces {
		if err := CheckInterfaceName(n); err != nil {
			p.Fail(key+".interfaces", err)
		}
		if seen[n] {
			p.Add(key+".interfaces", "%q is listed twice", n)
		}
		seen[n] = true
	}
}

// CheckInterfaceName rejects what cannot be a Linux interface name.
func CheckInterfaceName(n string) error {
	if n == "" || len(n) > 15 || n == "." || n == ".." || strings.ContainsAny(n, "/: \t\n") {
		return fmt.Errorf("%q is not an interface name", n)
	}
	return nil
}

// WorkerCount resolves Sensor.Workers.
func (c *Config) WorkerCount() int {
	if c.Sensor.Workers > 0 {
		return c.Sensor.Workers
	}
	return runtime.NumCPU()
}
