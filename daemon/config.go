package daemon

// This file holds how the commands find and read the config file.

import "github.com/edgesensor/edgesensor/userspace/config"

// ConfigOverrides are the settings the command line overrides in the
// config; an empty one leaves the config's value.
type ConfigOverrides struct {
	PinPath  string // sensor.pin_path
	XDPMode  string // sensor.xdp_mode
	LogLevel string // sensor.log_level
}

// LoadConfig reads the config at path, or at config.DefaultPath when path
// is "" (the built-in defaults when no file is there), applies o and
// validates the result. It also returns what it read: the file, or
// "built-in defaults".
func LoadConfig(path string, o ConfigOverrides) (*config.Config, string, error) {
	explicit := path != ""
	if !explicit {
		path = config.DefaultPath
	}
	cfg, used, err := config.Load(path, explicit, func(cfg *config.Config) {
		if o.PinPath != "" {
			cfg.Sensor.PinPath = o.PinPath
		}
		if o.XDPMode != "" {
			cfg.Sensor.XDPMode = o.XDPMode
		}
		if o.LogLevel != "" {
			cfg.Sensor.LogLevel = o.LogLevel
		}
	})
	if err != nil {
		return nil, "", err
	}
	if used == "" {
		used = "built-in defaults"
	}
	return &cfg, used, nil
}
