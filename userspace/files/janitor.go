package files

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Sweep deletes the files in a retention directory older than maxAge
// (files.retain_for) and returns how many it deleted. Only regular files
// named like a SHA-256 (what retention writes) are touched: whatever else
// an operator keeps there is left alone.
func Sweep(dir string, maxAge time.Duration, now time.Time) (int, error) {
	if dir == "" || maxAge <= 0 {
		return 0, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("retention sweep: %w", err)
	}
	removed := 0
	var firstErr error
	for _, e := range ents {
		if !e.Type().IsRegular() || !isSHA256Name(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone meanwhile
		}
		if now.Sub(info.ModTime()) < maxAge {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !os.IsNotExist(err) {
			if firstErr == nil {
				firstErr = fmt.Errorf("retention sweep: %w", err)
			}
			continue
		}
		removed++
	}
	return removed, firstErr
}

func isSHA256Name(n string) bool {
	if len(n) != 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// SweepRetained runs Sweep over every category's retention directory and
// counts what went in Stats.RetainExpired.
func (p *Pipeline) SweepRetained(now time.Time) error {
	var firstErr error
	for _, c := range p.cfg.Categories {
		n, err := Sweep(c.RetainDir, c.RetainFor, now)
		p.Stats.RetainExpired.Add(uint64(n))
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// SpoolBytes is what the spool holds now (files.spool_limit bounds it).
func (p *Pipeline) SpoolBytes() int64 { return p.spoolUsed.Load() }
