package intel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"time"
)

// stixObject holds the fields of an indicator this package reads.
type stixObject struct {
	Type        string   `json:"type"`
	ID          string   `json:"id"`
	Pattern     string   `json:"pattern"`
	PatternType string   `json:"pattern_type"`
	Revoked     bool     `json:"revoked"`
	ValidUntil  string   `json:"valid_until"`
	Confidence  *float64 `json:"confidence"`
	ThreatLevel *float64 `json:"x_threat_level"`
}

// now is the clock for valid_until; a variable so tests can pin it.
var now = time.Now

// loadSTIX reads a STIX 2.1 bundle, streaming its objects so one bad
// indicator (wrong field type) costs only itself. Indicators that are
// revoked or whose valid_until has passed are skipped without error.
//
// Threat level: a custom "x_threat_level" property (0..10) is used when
// present, since it states a level outright; otherwise "confidence"
// (0..100) scaled to 0..10 and rounded; otherwise the source's default.
func (f *fileLoad) loadSTIX() error {
	data, err := os.ReadFile(f.src.Path)
	if err != nil {
		return err
	}
	lines := lineCounter{data: data, line: 1}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := expectDelim(dec, '{'); err != nil {
		return fmt.Errorf("not a STIX bundle: %w", err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("line %d: %w", lines.at(dec.InputOffset()), err)
		}
		key, _ := tok.(string)
		switch key {
		case "type":
			var t string
			if err := dec.Decode(&t); err != nil || t != "bundle" {
				return fmt.Errorf("not a STIX bundle (type %q)", t)
			}
		case "objects":
			if err := expectDelim(dec, '['); err != nil {
				return fmt.Errorf("line %d: objects: %w", lines.at(dec.InputOffset()), err)
			}
			for dec.More() {
				start := dec.InputOffset()
				var o stixObject
				err := dec.Decode(&o)
				var te *json.UnmarshalTypeError
				if err != nil && !errors.As(err, &te) {
					return fmt.Errorf("line %d: %w", lines.at(start), err)
				}
				if o.Type != "indicator" {
					continue
				}
				if err != nil {
					f.bad(lines.at(start), fmt.Errorf("indicator %s: %w", o.ID, err))
					continue
				}
				f.indicator(&o, lines.at(start))
			}
			if err := expectDelim(dec, ']'); err != nil {
				return fmt.Errorf("line %d: objects: %w", lines.at(dec.InputOffset()), err)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fmt.Errorf("line %d: %w", lines.at(dec.InputOffset()), err)
			}
		}
	}
	return expectDelim(dec, '}')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q, got %v", want, tok)
	}
	return nil
}

// indicator adds every supported term of one indicator's pattern.
func (f *fileLoad) indicator(o *stixObject, line int) {
	if o.Revoked {
		f.stats.Skipped++
		return
	}
	if o.ValidUntil != "" {
		t, err := time.Parse(time.RFC3339Nano, o.ValidUntil)
		if err != nil {
			f.bad(line, fmt.Errorf("indicator %s: valid_until: %w", o.ID, err))
			return
		}
		if !t.After(now()) {
			f.stats.Skipped++
			return
		}
		f.until = t
		defer func() { f.until = time.Time{} }()
	}
	if o.PatternType != "" && o.PatternType != "stix" {
		f.bad(line, fmt.Errorf("indicator %s: %w: pattern_type %q", o.ID, errUnsupported, o.PatternType))
		return
	}
	level, err := stixLevel(o)
	if err != nil {
		f.bad(line, fmt.Errorf("indicator %s: %w", o.ID, err))
		return
	}
	comps, err := parsePattern(o.Pattern)
	if err != nil {
		f.bad(line, fmt.Errorf("indicator %s: %w", o.ID, err))
		return
	}
	for _, c := range comps {
		k, isURL := kindOf(c.path)
		if k == 0 {
			f.bad(line, fmt.Errorf("indicator %s: %w: object path %s", o.ID, errUnsupported, c.path))
			continue
		}
		v := c.value
		if isURL {
			u, err := url.Parse(v)
			if err != nil || u.Hostname() == "" {
				f.bad(line, fmt.Errorf("indicator %s: url %q has no host", o.ID, v))
				continue
			}
			v = u.Hostname()
			if _, err := ParsePrefix(v); err == nil {
				k = IP // http://192.0.2.1/x names an address, not a domain
			}
		}
		if err := f.add(k, []byte(v), level); err != nil {
			f.bad(line, fmt.Errorf("indicator %s: %s %q: %w", o.ID, k, v, err))
		}
	}
}

// stixLevel is the indicator's own threat level, -1 for none.
func stixLevel(o *stixObject) (int, error) {
	if v := o.ThreatLevel; v != nil {
		if *v < 0 || *v > 10 || *v != math.Trunc(*v) {
			return 0, fmt.Errorf("x_threat_level %v is not 0..10", *v)
		}
		return int(*v), nil
	}
	if v := o.Confidence; v != nil {
		if *v < 0 || *v > 100 {
			return 0, fmt.Errorf("confidence %v is not 0..100", *v)
		}
		return int(math.Round(*v / 10)), nil
	}
	return -1, nil
}

// lineCounter turns byte offsets, met in increasing order, into line
// numbers without rescanning the file from the start each time.
type lineCounter struct {
	data []byte
	off  int64
	line int
}

func (l *lineCounter) at(off int64) int {
	if off > int64(len(l.data)) {
		off = int64(len(l.data))
	}
	// The decoder's offset sits before the separator; skip to the value.
	for off < int64(len(l.data)) && bytes.IndexByte([]byte(" \t\r\n,"), l.data[off]) >= 0 {
		off++
	}
	if off > l.off {
		l.line += bytes.Count(l.data[l.off:off], []byte{'\n'})
		l.off = off
	}
	return l.line
}
