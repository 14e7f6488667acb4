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
		XDPMode:    DefaultXDPMode,
		PinPath:    DefaultPinPath,
		QueueDepth: DefaultQueueDepth,
		LogLevel:   "info",
	}
}

func (s *Sensor) validate(key string, p *setting.Problems) {
	switch s.XDPMode {
	case ModeNative, ModeGeneric, ModeAuto:
	default:
		p.Add(key+".xdp_mode", "%q is not a mode; use \"native\", \"generic\" or \"auto\"", s.XDPMode)
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
