//go:build !yara

package yara

import "time"

// Available reports whether this binary can match YARA rules.
func Available() bool { return false }

// Rules is compiled rules; never made in a binary without YARA.
type Rules struct{}

// Compile fails: this binary has no YARA.
func Compile(paths []string) (*Rules, error) { return nil, ErrNotBuilt }

// ScanFile matches nothing.
func (r *Rules) ScanFile(path string, timeout time.Duration) ([]Match, error) {
	return nil, ErrNotBuilt
}

// Close does nothing.
func (r *Rules) Close() {}
