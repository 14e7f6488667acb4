package intel

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
)

// maxLineErrors bounds the errors reported per file: a feed in the wrong
// format would otherwise produce one error per line, a million of them.
const maxLineErrors = 100

// Load reads every source into a new Set. Bad entries are skipped, counted
// in Stats and reported as *LineError (the first maxLineErrors per file,
// then a Line 0 summary). Other errors are about a whole file: missing,
// unreadable, malformed CSV header or JSON, a bad Source, or a file whose
// every entry was bad (likely the wrong kind or format). The Set holds
// whatever did load, even when errors are returned.
func Load(sources []Source) (*Set, []error) {
	b := newBuilder()
	if len(sources) > math.MaxUint16 {
		return b.finish(), []error{fmt.Errorf("intel: %d sources, at most %d", len(sources), math.MaxUint16)}
	}
	b.s.stats = make([]SourceStats, 0, len(sources))
	var errs []error
	for i := range sources {
		src := &sources[i]
		b.s.sources = append(b.s.sources, src.name())
		b.s.stats = append(b.s.stats, SourceStats{Name: src.name(), Path: src.Path})
		fl := &fileLoad{b: b, src: src, stats: &b.s.stats[i],
			base: entry{src: uint16(i), allow: src.Allow}}
		err := fl.load()
		errs = append(errs, fl.errs...)
		st := fl.stats
		if st.Bad > maxLineErrors {
			errs = append(errs, &LineError{Path: src.Path, Err: fmt.Errorf("%d bad entries in all, the first %d shown", st.Bad, maxLineErrors)})
		}
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("intel: %s: %w", src.Path, err))
		case st.Entries == 0 && st.Bad > 0:
			errs = append(errs, fmt.Errorf("intel: %s: no valid entries, %d bad (wrong kind or format?)", src.Path, st.Bad))
		}
	}
	return b.finish(), errs
}

// fatal reports whether errs holds anything beyond skipped entries.
func fatal(errs []error) error {
	var out []error
	for _, err := range errs {
		var le *LineError
		if !errors.As(err, &le) {
			out = append(out, err)
		}
	}
	return errors.Join(out...)
}

// fileLoad is the state of loading one source.
type fileLoad struct {
	b     *builder
	src   *Source
	base  entry // source index and allow flag; level filled per entry
	stats *SourceStats
	errs  []error
	// until is the expiry of the values being added (STIX valid_until);
	// zero for none.
	until time.Time
}

func (f *fileLoad) load() error {
	src := f.src
	if src.Level < 0 || src.Level > 10 {
		return fmt.Errorf("level %d out of range 0..10", src.Level)
	}
	format, err := src.format()
	if err != nil {
		return err
	}
	if format != fmtSTIX && !src.Kind.valid() {
		return fmt.Errorf("the %s format needs a kind (sha256, sha1, md5, ip, domain, ja3 or ja4)", format)
	}
	switch format {
	case fmtCSV:
		return f.loadCSV()
	case fmtSTIX:
		return f.loadSTIX()
	}
	return f.loadLines()
}

// bad records a skipped entry at line.
func (f *fileLoad) bad(line int, err error) {
	f.stats.Bad++
	if f.stats.Bad <= maxLineErrors {
		f.errs = append(f.errs, &LineError{Path: f.src.Path, Line: line, Err: err})
	}
}

// add stores one value; level < 0 means the entry carries none.
func (f *fileLoad) add(k Kind, v []byte, level int) error {
	e := f.base
	if level < 0 {
		level = f.src.defaultLevel()
	}
	e.level = uint8(level)
	// Expiries are kept only for addresses that have one (few), so an
	// address is parsed twice only then.
	var p netip.Prefix
	track, existed := false, false
	if k == IP && (!f.until.IsZero() || len(f.b.s.ipUntil) > 0) {
		if q, err := ParsePrefix(string(v)); err == nil {
			p, track, existed = q, true, f.b.hasPrefix(q)
		}
	}
	if err := f.b.add(k, v, e); err != nil {
		return err
	}
	if track {
		f.b.expire(p, f.until, existed)
	}
	f.stats.Entries++
	return nil
}

// parseLevel reads an entry's own threat level, 0..10.
func parseLevel(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 2 {
		return 0, fmt.Errorf("threat level %q is not 0..10", b)
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("threat level %q is not 0..10", b)
		}
		n = n*10 + int(c-'0')
	}
	if n > 10 {
		return 0, fmt.Errorf("threat level %d is not 0..10", n)
	}
	return n, nil
}
