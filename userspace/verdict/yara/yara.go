// Package yara matches analysts' own YARA rules against reconstructed
// files, through libyara. The binding is behind the `yara` build tag
// (cgo, Debian's libyara-dev), so the default binary stays pure Go; built
// without it, Compile says so and the config check refuses rules.
package yara

import (
	"errors"
	"fmt"
	"os"
)

// ErrNotBuilt is returned by Compile in a binary built without YARA.
var ErrNotBuilt = errors.New("this edgesensor was built without YARA support: build it with `make build-yara` (go build -tags yara, needs libyara-dev)")

// Match is one rule that matched.
type Match struct {
	Rule      string
	Namespace string
	Tags      []string
	// Level is the rule's own threat level from its meta (threat_level
	// or score, 0-10); 0 when it has none.
	Level int
}

// readRules reads a rules file for the compiler, bounded: rules files are
// text an analyst wrote, not megabytes.
func readRules(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > 64<<20 {
		return nil, fmt.Errorf("%s: %d bytes is too large for a rules file", path, fi.Size())
	}
	return os.ReadFile(path)
}
