// Package config reads and checks sensor.toml. Each table's type,
// defaults, range checks and docs live with the package that uses it
// (capture, reassembly, files, score, intel, siem, metrics, privacy,
// uplink, geo for [enrich]; [sensor] and [output] here, as they
// configure the process itself); config composes them into one Config,
// one Default, one Validate and one Preflight. Every mistake is reported
// with the full key it concerns and what would fix it.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/alertpcap"
	"github.com/edgesensor/edgesensor/userspace/export/geo"
	"github.com/edgesensor/edgesensor/userspace/export/metrics"
	"github.com/edgesensor/edgesensor/userspace/export/privacy"
	"github.com/edgesensor/edgesensor/userspace/export/uplink"
	"github.com/edgesensor/edgesensor/userspace/files"
	"github.com/edgesensor/edgesensor/userspace/packet/reassembly"
	"github.com/edgesensor/edgesensor/userspace/setting"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// DefaultPath is the config file read when none is named.
const DefaultPath = "sensor.toml"

// ByteSize and Duration are the value types of sensor.toml (package
// setting), named here for the code that fills a Config by hand.
type (
	ByteSize = setting.ByteSize
	Duration = setting.Duration
)

// Config is the whole of sensor.toml, one field per table.
type Config struct {
	Sensor     Sensor              `toml:"sensor"`
	Capture    datapath.Settings   `toml:"capture"`
	Reassembly reassembly.Settings `toml:"reassembly"`
	Ports      datapath.Ports      `toml:"ports"`
	Files      files.Settings      `toml:"files"`
	Score      score.Settings      `toml:"score"`
	Intel      intel.Settings      `toml:"intel"`
	Enforce    enforce.Settings    `toml:"enforcement"`
	Output     Output              `toml:"output"`
	Enrich     geo.Settings        `toml:"enrich"`
	// CaptureOnAlert writes an alerted flow's packets to pcapng files
	// (alertpcap's).
	CaptureOnAlert alertpcap.Settings `toml:"capture_on_alert"`
	Metrics        metrics.Settings   `toml:"metrics"`
	Privacy        privacy.Settings   `toml:"privacy"`
	Uplink         uplink.Settings    `toml:"uplink"`
}

// Default returns the built-in configuration, the same as sensor.toml:
// each table's own defaults.
func Default() Config {
	return Config{
		Sensor:         defaultSensor(),
		Capture:        datapath.DefaultSettings(),
		Reassembly:     reassembly.DefaultSettings(),
		Ports:          datapath.DefaultPorts(),
		Files:          files.DefaultSettings(),
		Score:          score.DefaultSettings(),
		Intel:          intel.DefaultSettings(),
		Enforce:        enforce.DefaultSettings(),
		Output:         defaultOutput(),
		Enrich:         geo.DefaultSettings(),
		CaptureOnAlert: alertpcap.DefaultSettings(),
		Metrics:        metrics.DefaultSettings(),
		Privacy:        privacy.DefaultSettings(),
		Uplink:         uplink.DefaultSettings(),
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

// Validate checks every value, each table by its owner's rules, and the
// rules that join tables (the uplink runs only when privacy shares
// something; a stdout sink needs the events elsewhere). It reads no file.
func (c *Config) Validate() error {
	var p setting.Problems
	c.Sensor.validate("sensor", &p)
	c.Capture.Validate("capture", &p)
	c.Reassembly.Validate("reassembly", &p)
	c.Ports.Validate("ports", &p)
	c.Files.Validate("files", &p)
	c.Score.Validate("score", &p)
	c.Intel.Validate("intel", &p)
	c.Enforce.Validate("enforcement", &p)
	c.Output.validate("output", &p)
	c.Enrich.Validate(geo.Table, &p)
	c.CaptureOnAlert.Validate("capture_on_alert", &p)
	c.Metrics.Validate("metrics", &p)
	if c.Enforce.HoldCloud && !(c.Uplink.Lookups && c.Uplink.URL != "") {
		p.Add("enforcement.hold_cloud", "asks the cloud about held files' hashes: set uplink.lookups = true (and uplink.url), or hold_cloud = false")
	}
	c.Privacy.Validate("privacy", c.SharesRecords(), &p)
	c.Uplink.Validate("uplink", c.UplinkEnabled(), &p)
	return p.Err()
}

// Preflight checks, offline and without changing anything, everything
// the sensor checks of a valid config before it starts: the files it
// reads load (intelligence, YARA rules, the [enrich] databases, the
// sinks' and the uplink's certificates and keys, the anonymisation key)
// and the files and directories it writes can be made (events, file
// sinks, spool, retention, the uplink's spool and audit log). run and
// replay call it before they start, and check-config (the unit's
// ExecStartPre) calls it, so check-config refuses what a start would.
func (c *Config) Preflight() error {
	var p setting.Problems
	c.Output.preflight("output", &p)
	c.Files.Preflight("files", &p)
	c.Score.Preflight("score", &p)
	c.Intel.Preflight("intel", &p)
	c.Enrich.Preflight(geo.Table, &p)
	c.CaptureOnAlert.Preflight("capture_on_alert", &p)
	c.preflightUplink(&p)
	return p.Err()
}

// PreflightUplink is the part of Preflight a reload that changes the
// privacy or uplink settings checks before it applies them.
func (c *Config) PreflightUplink() error {
	var p setting.Problems
	c.preflightUplink(&p)
	return p.Err()
}

func (c *Config) preflightUplink(p *setting.Problems) {
	c.Privacy.Preflight("privacy", c.SharesRecords(), p)
	c.Uplink.Preflight("uplink", c.UplinkEnabled(), p)
}
