package daemon

import (
	"crypto/rand"
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
	switch {
	case cfg.SharesRecords():
		k, err := anon.LoadKey(cfg.Privacy.KeyFile)
		switch {
		case err == nil:
			key = k
		case !forDisclosure:
			return nil, fmt.Errorf("privacy.key_file: %w", err)
		}
	case cfg.UplinkEnabled():
		// Lookups and the feed only: the key names the sensor (its
		// keyed host name); without the file, a key of this run's.
		if k, err := anon.LoadKey(cfg.Privacy.KeyFile); err == nil {
			key = k
		} else if key, err = anon.NewKey(randomKey()); err != nil {
			return nil, err
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
	return privacy.New(&cfg.Privacy, cfg.Uplink.URL != "" && cfg.Uplink.Contribute, key)
}

// randomKey is a throwaway anonymisation key.
func randomKey() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}
