package daemon

import (
	"fmt"

	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/export/anon"
	"github.com/edgesensor/edgesensor/userspace/export/privacy"
)

// Policy loads the key (when anything is shared) and builds the
// policy. forDisclosure builds one even without a key file, since the
// disclosure describes transforms without applying them.
func Policy(cfg *config.Config, forDisclosure bool) (*privacy.Policy, error) {
	var key *anon.Key
	if cfg.UplinkEnabled() {
		k, err := anon.LoadKey(cfg.Privacy.KeyFile)
		switch {
		case err == nil:
			key = k
		case !forDisclosure:
			return nil, fmt.Errorf("privacy.key_file: %w", err)
		}
	}
	if key == nil && forDisclosure {
		// Describing needs no secret: a throwaway key builds the table.
		k, err := anon.NewKey(make([]byte, 32))
		if err != nil {
			return nil, err
		}
		key = k
	}
	return privacy.New(&cfg.Privacy, cfg.Uplink.URL != "", key)
}
