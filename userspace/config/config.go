// Package config reads and checks sensor.toml. Every mistake is reported
// with the key it concerns and what would fix it.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Defaults, in one place.
const (
	DefaultPath          = "sensor.toml"
	DefaultPinPath       = "/sys/fs/bpf/edgesensor"
	DefaultXDPMode       = "native"
	DefaultQueueDepth    = 1024
	DefaultSnaplen       = 9216
	DefaultHandshakePkts = 512
	DefaultHandshakeSize = ByteSize(256 << 10)
	DefaultHandshakeIdle = Duration(30 * time.Second)
	DefaultRestarts      = 3
	DefaultQUICInitials  = 8
	DefaultStreamBudget  = ByteSize(64 << 20)
	DefaultMaxFlows      = 131072
	DefaultHandshakeRing = ByteSize(4 << 20)
	DefaultStreamRing    = ByteSize(32 << 20)
	DefaultFragmentRing  = ByteSize(4 << 20)
	DefaultHSMemory      = ByteSize(128 << 20)
	DefaultFragMemory    = ByteSize(16 << 20)
	DefaultFragTimeout   = Duration(30 * time.Second)
	DefaultAckGrace      = Duration(time.Second)
	DefaultSpoolLimit    = ByteSize(1 << 30)
	DefaultFlowIdle      = Duration(2 * time.Minute)
	DefaultFlowLifetime  = Duration(6 * time.Hour)
	DefaultFileFlows     = 65536
	DefaultReasmBuffer   = ByteSize(4 << 20)
	DefaultReasmMemory   = ByteSize(512 << 20)
	DefaultMaxDecomp     = ByteSize(256 << 20)
	DefaultMaxRatio      = 1000
	MaxSnaplen           = 9216
	MinSnaplen           = 128
)

// XDP attach modes.
const (
	ModeNative  = "native"
	ModeGeneric = "generic"
	ModeAuto    = "auto"
)

// Config is the whole of sensor.toml.
type Config struct {
	Sensor     Sensor     `toml:"sensor"`
	Capture    Capture    `toml:"capture"`
	Reassembly Reassembly `toml:"reassembly"`
	Ports      Ports      `toml:"ports"`
	Files      Files      `toml:"files"`
	Score      Score      `toml:"score"`
	Intel      Intel      `toml:"intel"`
	Output     Output     `toml:"output"`
	Metrics    Metrics    `toml:"metrics"`
	Privacy    Privacy    `toml:"privacy"`
	Uplink     Uplink     `toml:"uplink"`
}

// Sensor is the [sensor] table: where and how to attach.
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

// Capture is the [capture] table: what the data plane passes to userspace.
type Capture struct {
	TLS     bool `toml:"tls"`
	QUIC    bool `toml:"quic"`
	Streams bool `toml:"streams"`
	// Snaplen is the most frame bytes copied per event.
	Snaplen int `toml:"snaplen"`
	// HandshakePackets and HandshakeBytes are the budget of one TLS
	// handshake (packets and payload bytes, both directions) after which
	// the flow is no longer emitted, unless the analysis, which sees a
	// hello still coming in small pieces, raises it.
	HandshakePackets int      `toml:"handshake_packets"`
	HandshakeBytes   ByteSize `toml:"handshake_bytes"`
	// HandshakeIdle ends a handshake that has seen no packet for this long.
	HandshakeIdle Duration `toml:"handshake_idle"`
	// HandshakeRestarts is how often a new ClientHello may restart tracking
	// of a flow whose handshake ended without application data.
	HandshakeRestarts int `toml:"handshake_restarts"`
	// QUICInitials is the number of Initial packets emitted per QUIC flow.
	QUICInitials int `toml:"quic_initials"`
	// StreamBudget caps the payload bytes emitted per stream flow unless
	// the analysis raises it for a file it captures.
	StreamBudget ByteSize `toml:"stream_budget"`
	// MaxFlows sizes the kernel flow table (LRU).
	MaxFlows int `toml:"max_flows"`
	// HandshakeRing, StreamRing and FragmentRing size the ring buffers.
	HandshakeRing ByteSize `toml:"handshake_ring"`
	StreamRing    ByteSize `toml:"stream_ring"`
	FragmentRing  ByteSize `toml:"fragment_ring"`
	// VLANTracking makes VLAN ids and PPPoE sessions part of a flow's
	// identity (tunnel ids always are), so overlapping address spaces on
	// different VLANs never mix. Off when a flow's two directions arrive
	// with different tags (a tagged LAN and an untagged or PPPoE WAN).
	VLANTracking bool `toml:"vlan_tracking"`
	// Fragments passes IP fragments to userspace, which reassembles them
	// as the receiving host does and analyses the whole datagrams.
	Fragments bool `toml:"fragments"`
}

// Reassembly is the [reassembly] table: how the sensor models the
// receiving hosts, and what reassembly may hold.
type Reassembly struct {
	// Policy resolves overlapping TCP segments with different bytes as the
	// hosts behind the sensor do: "linux", "first" or "last".
	Policy string `toml:"policy"`
	// Checksums: "auto" (full checksums required once an interface has
	// shown it carries them; offloaded senders' partial ones pass until
	// then), "verify", "offload" (partial ones always pass) or "off".
	Checksums string `toml:"checksums"`
	// HandshakeMemory bounds what the handshakes being followed hold, over
	// all workers (past it the least recently active is written early).
	HandshakeMemory ByteSize `toml:"handshake_memory"`
	// FragmentMemory and FragmentTimeout bound IP fragment reassembly.
	FragmentMemory  ByteSize `toml:"fragment_memory"`
	FragmentTimeout Duration `toml:"fragment_timeout"`
	// AckGrace is how long an acknowledged hole in a stream may wait for
	// its bytes before it is taken for a loss (0: at once). Reassembled
	// IP fragments reach the sensor after the ACKs that followed them.
	AckGrace Duration `toml:"ack_grace"`
}

// Reassembly policies.
const (
	PolicyLinux = "linux"
	PolicyFirst = "first"
	PolicyLast  = "last"
)

// Checksum modes.
const (
	ChecksumsAuto    = "auto"
	ChecksumsVerify  = "verify"
	ChecksumsOffload = "offload"
	ChecksumsOff     = "off"
)

// Ports is the [ports] table: TCP ports whose flows are candidate file
// flows, by application.
type Ports struct {
	HTTP []int `toml:"http"`
	SMTP []int `toml:"smtp"`
	IMAP []int `toml:"imap"`
}

// Files is the [files] table: which files of the stream class are
// reconstructed, and the limits of doing so.
type Files struct {
	// Categories selects the candidates reported: "executable",
	// "document", "archive".
	Categories []string `toml:"categories"`
	// SpoolDir holds candidate files while they are analysed; "" is a
	// directory "edgesensor-spool" in the system's temp directory.
	SpoolDir string `toml:"spool_dir"`
	// SpoolLimit bounds the bytes spooled at once, over all files; a file
	// that does not fit is still hashed, not spooled (counted).
	SpoolLimit ByteSize `toml:"spool_limit"`
	// Hashes are the digests of each whole file: "sha256" always, and
	// "sha1" and "md5" unless left out.
	Hashes []string `toml:"hashes"`
	// Uploads also reconstructs HTTP request bodies (POST, PUT).
	Uploads bool `toml:"uploads"`
	// FlowIdle ends a file flow with no packet for this long;
	// FlowLifetime ends one that has lasted this long, however active.
	FlowIdle     Duration `toml:"flow_idle"`
	FlowLifetime Duration `toml:"flow_lifetime"`
	// MaxFlows bounds the file flows followed at once (all workers).
	MaxFlows int `toml:"max_flows"`
	// ReassemblyBuffer bounds the out-of-order bytes held per direction;
	// ReassemblyMemory bounds them over all flows.
	ReassemblyBuffer ByteSize `toml:"reassembly_buffer"`
	ReassemblyMemory ByteSize `toml:"reassembly_memory"`
	// MaxDecompressed and MaxRatio bound Content-Encoding decoding of one
	// body: past either the body is cut and flagged as a bomb.
	MaxDecompressed ByteSize `toml:"max_decompressed"`
	MaxRatio        int      `toml:"max_ratio"`
	// MaxSize is the largest file reconstructed per category; a larger
	// one is let through, reported as oversize (incomplete) and counted.
	MaxSize CategorySizes `toml:"max_size"`
	// Retain keeps whole files of a category in a directory (named by
	// SHA-256) instead of deleting them after analysis; "" keeps none.
	Retain CategoryDirs `toml:"retain"`
	// RetainMinScore keeps only files scoring at least this (0: all);
	// RetainFor deletes retained files after this long (0: never).
	RetainMinScore int               `toml:"retain_min_score"`
	RetainFor      CategoryDurations `toml:"retain_for"`
}

// CategoryDurations is a duration per file category.
type CategoryDurations struct {
	Executable Duration `toml:"executable"`
	Document   Duration `toml:"document"`
	Archive    Duration `toml:"archive"`
}

// CategorySizes is a size per file category.
type CategorySizes struct {
	Executable ByteSize `toml:"executable"`
	Document   ByteSize `toml:"document"`
	Archive    ByteSize `toml:"archive"`
}

// CategoryDirs is a directory per file category.
type CategoryDirs struct {
	Executable string `toml:"executable"`
	Document   string `toml:"document"`
	Archive    string `toml:"archive"`
}

// File categories, as in events (edgesensor.file.category).
const (
	CategoryExecutable = "executable"
	CategoryDocument   = "document"
	CategoryArchive    = "archive"
)

// Score is the [score] table.
type Score struct {
	// Threshold is the score (0-10) from which an event's verdict is
	// malicious.
	Threshold int `toml:"threshold"`
	// YARARules are rules files matched against every spooled candidate
	// (a binary built with the yara tag).
	YARARules []string `toml:"yara_rules"`
}

// Intel is the [intel] table: local threat intelligence files.
type Intel struct {
	// Sources are the files, each an [[intel.sources]] table.
	Sources []IntelSource `toml:"sources"`
	// Reload is how often the files are checked for changes (and
	// reloaded without a restart).
	Reload Duration `toml:"reload"`
}

// IntelSource is one intelligence file.
type IntelSource struct {
	Path   string `toml:"path"`
	Kind   string `toml:"kind"`   // sha256, sha1, md5, ip, domain, ja3, ja4 (not needed for STIX)
	Format string `toml:"format"` // lines, csv, stix; "" by extension
	Column string `toml:"column"` // csv: the value's column
	Allow  bool   `toml:"allow"`  // an allowlist
	Level  int    `toml:"level"`  // threat level of its entries, 1-10 (0: 10)
	Name   string `toml:"name"`   // shown in reasons; default the file name
}

// App identifies the application of a watched port (port_app map value).
type App uint8

// Applications of watched ports.
const (
	AppNone App = iota
	AppHTTP
	AppSMTP
	AppIMAP
)

// String names the application.
func (a App) String() string {
	switch a {
	case AppHTTP:
		return "http"
	case AppSMTP:
		return "smtp"
	case AppIMAP:
		return "imap"
	}
	return "none"
}

// Default returns the built-in configuration, the same as sensor.toml.
func Default() Config {
	return Config{
		Sensor: Sensor{
			XDPMode:    DefaultXDPMode,
			PinPath:    DefaultPinPath,
			QueueDepth: DefaultQueueDepth,
			LogLevel:   "info",
		},
		Capture: Capture{
			TLS:               true,
			QUIC:              true,
			Streams:           true,
			Snaplen:           DefaultSnaplen,
			HandshakePackets:  DefaultHandshakePkts,
			HandshakeBytes:    DefaultHandshakeSize,
			HandshakeIdle:     DefaultHandshakeIdle,
			HandshakeRestarts: DefaultRestarts,
			QUICInitials:      DefaultQUICInitials,
			StreamBudget:      DefaultStreamBudget,
			MaxFlows:          DefaultMaxFlows,
			HandshakeRing:     DefaultHandshakeRing,
			StreamRing:        DefaultStreamRing,
			FragmentRing:      DefaultFragmentRing,
			VLANTracking:      true,
			Fragments:         true,
		},
		Reassembly: Reassembly{
			Policy:          PolicyLinux,
			Checksums:       ChecksumsAuto,
			HandshakeMemory: DefaultHSMemory,
			FragmentMemory:  DefaultFragMemory,
			FragmentTimeout: DefaultFragTimeout,
			AckGrace:        DefaultAckGrace,
		},
		Ports: Ports{
			HTTP: []int{80, 8080},
			SMTP: []int{25, 587},
			IMAP: []int{143},
		},
		Files: Files{
			Categories:       []string{CategoryExecutable, CategoryDocument, CategoryArchive},
			Hashes:           []string{"sha256", "sha1", "md5"},
			SpoolLimit:       DefaultSpoolLimit,
			FlowIdle:         DefaultFlowIdle,
			FlowLifetime:     DefaultFlowLifetime,
			MaxFlows:         DefaultFileFlows,
			ReassemblyBuffer: DefaultReasmBuffer,
			ReassemblyMemory: DefaultReasmMemory,
			MaxDecompressed:  DefaultMaxDecomp,
			MaxRatio:         DefaultMaxRatio,
			MaxSize: CategorySizes{
				Executable: 128 << 20,
				Document:   64 << 20,
				Archive:    256 << 20,
			},
		},
		Score:   Score{Threshold: 7, YARARules: []string{}},
		Intel:   Intel{Sources: []IntelSource{}, Reload: Duration(10 * time.Second)},
		Output:  Output{Events: "-", Sinks: []Sink{}},
		Metrics: Metrics{Listen: DefaultMetricsListen},
		Privacy: defaultPrivacy(),
		Uplink:  defaultUplink(),
	}
}

// Load reads a config file over the defaults, lets override change it
// (command-line flags), then validates the result. A missing file at the
// default path is not an error: the defaults apply. It returns the path
// actually read, "" for none.
func Load(path string, explicit bool, override func(*Config)) (Config, string, error) {
	cfg := Default()
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := cfg.decode(string(data)); err != nil {
			return cfg, path, fmt.Errorf("%s: %w", path, err)
		}
	case !explicit && errors.Is(err, os.ErrNotExist):
		path = ""
	default:
		return cfg, path, fmt.Errorf("reading config: %w", err)
	}
	if override != nil {
		override(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		if path != "" {
			err = fmt.Errorf("%s: %w", path, err)
		}
		return cfg, path, err
	}
	return cfg, path, nil
}

// Parse reads a config from TOML text over the defaults and validates it.
func Parse(text string) (Config, error) {
	cfg := Default()
	if err := cfg.decode(text); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// decode reads TOML over c, rejecting unknown keys by name.
func (c *Config) decode(text string) error {
	md, err := toml.Decode(text, c)
	if err != nil {
		return err
	}
	if und := md.Undecoded(); len(und) > 0 {
		known := knownKeys()
		var msgs []string
		for _, k := range und {
			msg := fmt.Sprintf("unknown key %q", k.String())
			if s := suggest(k.String(), known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			msgs = append(msgs, msg)
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// Validate checks every value and names the key and the fix of each error.
func (c *Config) Validate() error {
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, key+": "+fmt.Sprintf(format, args...))
	}
	switch c.Sensor.XDPMode {
	case ModeNative, ModeGeneric, ModeAuto:
	default:
		bad("sensor.xdp_mode", "%q is not a mode; use \"native\", \"generic\" or \"auto\"", c.Sensor.XDPMode)
	}
	if pp := filepath.Clean(c.Sensor.PinPath); !filepath.IsAbs(pp) || pp == "/" || pp == "/sys/fs/bpf" {
		bad("sensor.pin_path", "%q must be an absolute path to a directory of the sensor's own on bpffs, e.g. %q",
			c.Sensor.PinPath, DefaultPinPath)
	}
	if c.Sensor.Workers < 0 || c.Sensor.Workers > 256 {
		bad("sensor.workers", "%d is out of range; use 0 (one per CPU) to 256", c.Sensor.Workers)
	}
	if c.Sensor.QueueDepth < 16 || c.Sensor.QueueDepth > 65536 {
		bad("sensor.queue_depth", "%d is out of range; use 16 to 65536", c.Sensor.QueueDepth)
	}
	switch c.Sensor.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("sensor.log_level", "%q is not a level; use debug, info, warn or error", c.Sensor.LogLevel)
	}
	seenIf := map[string]bool{}
	for _, n := range c.Sensor.Interfaces {
		if err := CheckInterfaceName(n); err != nil {
			bad("sensor.interfaces", "%v", err)
		}
		if seenIf[n] {
			bad("sensor.interfaces", "%q is listed twice", n)
		}
		seenIf[n] = true
	}
	cp := &c.Capture
	if cp.Snaplen < MinSnaplen || cp.Snaplen > MaxSnaplen {
		bad("capture.snaplen", "%d is out of range; use %d to %d", cp.Snaplen, MinSnaplen, MaxSnaplen)
	}
	if cp.HandshakePackets < 2 || cp.HandshakePackets > 65535 {
		bad("capture.handshake_packets", "%d is out of range; use 2 to 65535 (default %d)", cp.HandshakePackets, DefaultHandshakePkts)
	}
	if cp.HandshakeBytes < 16<<10 || cp.HandshakeBytes > 64<<20 {
		bad("capture.handshake_bytes", "%s is out of range; use 16KiB to 64MiB (default %s)", cp.HandshakeBytes, DefaultHandshakeSize)
	}
	if time.Duration(cp.HandshakeIdle) < time.Second || time.Duration(cp.HandshakeIdle) > time.Hour {
		bad("capture.handshake_idle", "%s is out of range; use 1s to 1h", time.Duration(cp.HandshakeIdle))
	}
	if cp.HandshakeRestarts < 0 || cp.HandshakeRestarts > 255 {
		bad("capture.handshake_restarts", "%d is out of range; use 0 to 255", cp.HandshakeRestarts)
	}
	if cp.QUICInitials < 1 || cp.QUICInitials > 1024 {
		bad("capture.quic_initials", "%d is out of range; use 1 to 1024 (default %d)", cp.QUICInitials, DefaultQUICInitials)
	}
	if cp.StreamBudget < 64<<10 {
		bad("capture.stream_budget", "%s is too small; use at least 64KiB", cp.StreamBudget)
	}
	if cp.MaxFlows < 1024 || cp.MaxFlows > 1<<24 {
		bad("capture.max_flows", "%d is out of range; use 1024 to 16777216", cp.MaxFlows)
	}
	page := ByteSize(os.Getpagesize())
	for _, r := range []struct {
		key string
		v   ByteSize
	}{{"capture.handshake_ring", cp.HandshakeRing}, {"capture.stream_ring", cp.StreamRing},
		{"capture.fragment_ring", cp.FragmentRing}} {
		if r.v < page || r.v&(r.v-1) != 0 || r.v > 1<<30 {
			bad(r.key, "%s must be a power of two between %s and 1GiB, e.g. \"4MiB\"", r.v, page)
		}
	}
	ra := &c.Reassembly
	switch ra.Policy {
	case PolicyLinux, PolicyFirst, PolicyLast:
	default:
		bad("reassembly.policy", "%q is not a policy; use \"linux\", \"first\" or \"last\"", ra.Policy)
	}
	switch ra.Checksums {
	case ChecksumsAuto, ChecksumsVerify, ChecksumsOffload, ChecksumsOff:
	default:
		bad("reassembly.checksums", "%q is not a mode; use \"auto\", \"verify\", \"offload\" or \"off\"", ra.Checksums)
	}
	if ra.HandshakeMemory < 1<<20 || ra.HandshakeMemory > 64<<30 {
		bad("reassembly.handshake_memory", "%s is out of range; use 1MiB to 64GiB (default %s)", ra.HandshakeMemory, DefaultHSMemory)
	}
	if ra.FragmentMemory < 256<<10 || ra.FragmentMemory > 4<<30 {
		bad("reassembly.fragment_memory", "%s is out of range; use 256KiB to 4GiB (default %s)", ra.FragmentMemory, DefaultFragMemory)
	}
	if t := time.Duration(ra.FragmentTimeout); t < time.Second || t > 5*time.Minute {
		bad("reassembly.fragment_timeout", "%s is out of range; use 1s to 5m (default %s)", t, time.Duration(DefaultFragTimeout))
	}
	if t := time.Duration(ra.AckGrace); t < 0 || t > 10*time.Second {
		bad("reassembly.ack_grace", "%s is out of range; use 0s to 10s (default %s)", t, time.Duration(DefaultAckGrace))
	}
	seen := map[int]string{}
	for _, p := range []struct {
		key   string
		ports []int
	}{{"ports.http", c.Ports.HTTP}, {"ports.smtp", c.Ports.SMTP}, {"ports.imap", c.Ports.IMAP}} {
		for _, port := range p.ports {
			if port < 1 || port > 65535 {
				bad(p.key, "%d is not a TCP port; use 1 to 65535", port)
				continue
			}
			if other, dup := seen[port]; dup {
				bad(p.key, "port %d is also in %s; a port belongs to one application", port, other)
			}
			seen[port] = p.key
		}
	}
	c.validateFiles(bad)
	if c.Score.Threshold < 1 || c.Score.Threshold > 10 {
		bad("score.threshold", "%d is out of range; use 1 to 10 (default 7)", c.Score.Threshold)
	}
	for i, p := range c.Score.YARARules {
		if !filepath.IsAbs(p) {
			bad(fmt.Sprintf("score.yara_rules[%d]", i), "%q must be an absolute path to a rules file", p)
		}
	}
	if d := time.Duration(c.Intel.Reload); d < time.Second || d > time.Hour {
		bad("intel.reload", "%s is out of range; use 1s to 1h (default 10s)", d)
	}
	for i, s := range c.Intel.Sources {
		key := fmt.Sprintf("intel.sources[%d]", i)
		if s.Path == "" {
			bad(key+".path", "missing; name the intelligence file")
		}
		switch s.Format {
		case "", "lines", "csv", "stix":
		default:
			bad(key+".format", "%q is not a format; use \"lines\", \"csv\" or \"stix\"", s.Format)
		}
		switch s.Kind {
		case "sha256", "sha1", "md5", "ip", "domain", "ja3", "ja4":
		case "":
			if s.Format != "stix" && !strings.HasSuffix(strings.ToLower(s.Path), ".json") {
				bad(key+".kind", "missing; say what the file lists: sha256, sha1, md5, ip, domain, ja3 or ja4")
			}
		default:
			bad(key+".kind", "%q is not a kind; use sha256, sha1, md5, ip, domain, ja3 or ja4", s.Kind)
		}
		if s.Level < 0 || s.Level > 10 {
			bad(key+".level", "%d is out of range; use 1 to 10, or 0 for 10", s.Level)
		}
		if s.Format == "csv" && s.Column == "" {
			bad(key+".column", "missing; name the CSV column that holds the values")
		}
	}
	c.validateOutput(bad)
	c.validatePrivacy(bad)
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func (c *Config) validateFiles(bad func(key, format string, args ...any)) {
	f := &c.Files
	seen := map[string]bool{}
	for _, cat := range f.Categories {
		switch cat {
		case CategoryExecutable, CategoryDocument, CategoryArchive:
		default:
			bad("files.categories", "%q is not a category; use \"executable\", \"document\" or \"archive\"", cat)
		}
		if seen[cat] {
			bad("files.categories", "%q is listed twice", cat)
		}
		seen[cat] = true
	}
	seenHash := map[string]bool{}
	for _, h := range f.Hashes {
		switch h {
		case "sha256", "sha1", "md5":
		default:
			bad("files.hashes", "%q is not a digest; use \"sha256\", \"sha1\" or \"md5\"", h)
		}
		seenHash[h] = true
	}
	if !seenHash["sha256"] {
		bad("files.hashes", "must include \"sha256\" (intel, retention and the SIEM key files by it)")
	}
	if f.SpoolDir != "" && !filepath.IsAbs(f.SpoolDir) {
		bad("files.spool_dir", "%q must be an absolute path (or \"\" for the system temp directory)", f.SpoolDir)
	}
	if f.SpoolLimit < 1<<20 {
		bad("files.spool_limit", "%s is too small; use at least 1MiB (default %s)", f.SpoolLimit, DefaultSpoolLimit)
	}
	if d := time.Duration(f.FlowIdle); d < time.Second || d > 24*time.Hour {
		bad("files.flow_idle", "%s is out of range; use 1s to 24h (default %s)", d, time.Duration(DefaultFlowIdle))
	}
	if d := time.Duration(f.FlowLifetime); d < time.Minute || d > 7*24*time.Hour || d < time.Duration(f.FlowIdle) {
		bad("files.flow_lifetime", "%s is out of range; use 1m to 168h, and at least files.flow_idle (default %s)", d, time.Duration(DefaultFlowLifetime))
	}
	if f.MaxFlows < 64 || f.MaxFlows > 1<<22 {
		bad("files.max_flows", "%d is out of range; use 64 to 4194304 (default %d)", f.MaxFlows, DefaultFileFlows)
	}
	if f.ReassemblyBuffer < 16<<10 || f.ReassemblyBuffer > 64<<20 {
		bad("files.reassembly_buffer", "%s is out of range; use 16KiB to 64MiB (default %s)", f.ReassemblyBuffer, DefaultReasmBuffer)
	}
	if f.ReassemblyMemory < f.ReassemblyBuffer {
		bad("files.reassembly_memory", "%s is less than files.reassembly_buffer (%s); raise it (default %s)", f.ReassemblyMemory, f.ReassemblyBuffer, DefaultReasmMemory)
	}
	if f.MaxDecompressed < 1<<20 {
		bad("files.max_decompressed", "%s is too small; use at least 1MiB (default %s)", f.MaxDecompressed, DefaultMaxDecomp)
	}
	if f.MaxRatio < 10 || f.MaxRatio > 1000000 {
		bad("files.max_ratio", "%d is out of range; use 10 to 1000000 (default %d)", f.MaxRatio, DefaultMaxRatio)
	}
	for _, m := range []struct {
		key string
		v   ByteSize
	}{{"files.max_size.executable", f.MaxSize.Executable}, {"files.max_size.document", f.MaxSize.Document}, {"files.max_size.archive", f.MaxSize.Archive}} {
		if m.v < 4<<10 || m.v > 16<<30 {
			bad(m.key, "%s is out of range; use 4KiB to 16GiB", m.v)
		}
	}
	for _, r := range []struct{ key, dir string }{
		{"files.retain.executable", f.Retain.Executable}, {"files.retain.document", f.Retain.Document}, {"files.retain.archive", f.Retain.Archive},
	} {
		if r.dir != "" && !filepath.IsAbs(r.dir) {
			bad(r.key, "%q must be an absolute directory path (or \"\" to keep no files)", r.dir)
		}
	}
	if f.RetainMinScore < 0 || f.RetainMinScore > 10 {
		bad("files.retain_min_score", "%d is out of range; use 0 (every whole file) to 10", f.RetainMinScore)
	}
	for _, r := range []struct {
		key string
		d   Duration
	}{{"files.retain_for.executable", f.RetainFor.Executable}, {"files.retain_for.document", f.RetainFor.Document}, {"files.retain_for.archive", f.RetainFor.Archive}} {
		if r.d != 0 && time.Duration(r.d) < time.Minute {
			bad(r.key, "%s is too short; use at least 1m, or 0 to keep retained files until removed by hand", time.Duration(r.d))
		}
	}
}

// SpoolPath resolves Files.SpoolDir.
func (c *Config) SpoolPath() string {
	if c.Files.SpoolDir != "" {
		return c.Files.SpoolDir
	}
	return filepath.Join(os.TempDir(), "edgesensor-spool")
}

// CheckInterfaceName rejects what cannot be a Linux interface name.
func CheckInterfaceName(n string) error {
	if n == "" || len(n) > 15 || n == "." || n == ".." || strings.ContainsAny(n, "/: \t\n") {
		return fmt.Errorf("%q is not an interface name", n)
	}
	return nil
}

// PortApps lists every watched port with its application.
func (c *Config) PortApps() map[uint16]App {
	m := map[uint16]App{}
	for _, p := range c.Ports.HTTP {
		m[uint16(p)] = AppHTTP
	}
	for _, p := range c.Ports.SMTP {
		m[uint16(p)] = AppSMTP
	}
	for _, p := range c.Ports.IMAP {
		m[uint16(p)] = AppIMAP
	}
	return m
}

// WorkerCount resolves Sensor.Workers.
func (c *Config) WorkerCount() int {
	if c.Sensor.Workers > 0 {
		return c.Sensor.Workers
	}
	return runtime.NumCPU()
}

// knownKeys lists every dotted key the decoder accepts, from the toml tags.
func knownKeys() []string {
	var keys []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" || name == "-" {
				continue
			}
			key := prefix + name
			keys = append(keys, key)
			switch {
			case f.Type.Kind() == reflect.Struct:
				walk(key+".", f.Type)
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				walk(key+".", f.Type.Elem()) // array tables: [[output.sinks]]
			}
		}
	}
	walk("", reflect.TypeOf(Config{}))
	return keys
}

// suggest returns the known key closest to k, if it is close enough to be
// a typo.
func suggest(k string, known []string) string {
	best, bestD := "", 4
	for _, c := range known {
		if d := distance(k, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// HeldMemory is the most the analysis holds of traffic at once: what the
// handshakes being followed, the file flows (reassembly buffers, parsers,
// flow structures) and the IP fragments waiting for their datagram may
// hold. Past each bound the least recently active is let go, counted.
// The process's resident memory stays under about twice this (Go's
// collector lets the heap grow to twice what is live) plus a base of
// about 100 MiB: the program, kernel type information and the rings.
func (c *Config) HeldMemory() ByteSize {
	return c.Reassembly.HandshakeMemory + c.Files.ReassemblyMemory + c.Reassembly.FragmentMemory
}

// Summary returns the effective config as sorted key=value pairs, for the
// one log line at start.
func (c *Config) Summary() []string {
	apps := c.PortApps()
	ports := make([]string, 0, len(apps))
	for p, a := range apps {
		ports = append(ports, fmt.Sprintf("%d/%s", p, a))
	}
	sort.Strings(ports)
	out := []string{
		"xdp_mode=" + c.Sensor.XDPMode,
		"pin_path=" + c.Sensor.PinPath,
		fmt.Sprintf("workers=%d", c.WorkerCount()),
		fmt.Sprintf("tls=%t quic=%t streams=%t", c.Capture.TLS, c.Capture.QUIC, c.Capture.Streams),
		fmt.Sprintf("handshake_packets=%d quic_initials=%d", c.Capture.HandshakePackets, c.Capture.QUICInitials),
		"stream_budget=" + c.Capture.StreamBudget.String(),
		"rings=" + c.Capture.HandshakeRing.String() + "/" + c.Capture.StreamRing.String() + "/" + c.Capture.FragmentRing.String(),
		"ports=" + strings.Join(ports, ","),
		"held_memory=" + c.HeldMemory().String(),
	}
	return slices.Clip(out)
}
