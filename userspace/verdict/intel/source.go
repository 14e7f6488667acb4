package intel

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Source is one intelligence file.
type Source struct {
	Path string
	// Kind is the kind of every value for the lines and CSV formats. STIX
	// patterns carry their own kinds, so it may be 0 there.
	Kind Kind
	// Format is "lines", "csv" or "stix"; "" picks by extension (.csv is
	// CSV, .json and .stix are STIX, anything else lines).
	Format string
	// Column names the CSV column holding the value (the header row names
	// the columns); "" means the first column. An optional "level" or
	// "threat_level" column gives per-entry threat levels.
	Column string
	// Allow makes this an allowlist.
	Allow bool
	// Level is the threat level (1..10) of entries that carry none; 0
	// means 10. Allowlist entries without a level report 0.
	Level int
	// Name is shown in reasons; default the file's base name.
	Name string
}

const (
	fmtLines = "lines"
	fmtCSV   = "csv"
	fmtSTIX  = "stix"
)

// format resolves the file format, falling back on the extension.
func (s *Source) format() (string, error) {
	f := strings.ToLower(s.Format)
	if f == "" {
		switch strings.ToLower(filepath.Ext(s.Path)) {
		case ".csv":
			return fmtCSV, nil
		case ".json", ".stix":
			return fmtSTIX, nil
		}
		return fmtLines, nil
	}
	switch f {
	case fmtLines, fmtCSV, fmtSTIX:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (want lines, csv or stix)", s.Format)
}

func (s *Source) name() string {
	if s.Name != "" {
		return s.Name
	}
	return filepath.Base(s.Path)
}

// defaultLevel is the level of an entry that carries none of its own.
func (s *Source) defaultLevel() int {
	switch {
	case s.Level != 0:
		return s.Level
	case s.Allow:
		return 0 // an allow hit is not a threat; its level is not a score
	}
	return 10
}

// LineError is a bad entry: it was skipped, the rest of the file loaded.
// Line is 1-based; for STIX it is the line where the indicator object
// starts. Line 0 is a per-file summary.
type LineError struct {
	Path string
	Line int
	Err  error
}

func (e *LineError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("intel: %s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("intel: %s:%d: %v", e.Path, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }
