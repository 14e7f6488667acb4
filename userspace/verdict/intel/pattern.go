package intel

import (
	"errors"
	"fmt"
	"strings"
)

// comparison is one `path = 'value'` term of a STIX pattern.
type comparison struct {
	path  string // lower-cased, quotes removed: file:hashes.sha-256
	value string
}

// errUnsupported marks patterns that are valid STIX but beyond the simple
// equality subset this package evaluates.
var errUnsupported = errors.New("unsupported STIX pattern")

// parsePattern reads the subset `[a = 'x' OR b = 'y'] OR [c = 'z']`:
// equality comparisons joined by OR, inside or across observation
// brackets. Everything ORed may be listed on its own, so each term is a
// sound indicator; AND, other operators, qualifiers and parentheses are
// not, and the whole pattern is refused.
func parsePattern(s string) ([]comparison, error) {
	p := &patternParser{s: s}
	var out []comparison
	for {
		p.space()
		if !p.eat('[') {
			return nil, p.fail("want '['")
		}
		for {
			c, err := p.comparison()
			if err != nil {
				return nil, err
			}
			out = append(out, c)
			p.space()
			if p.eat(']') {
				break
			}
			if err := p.or(); err != nil {
				return nil, err
			}
		}
		p.space()
		if p.i == len(p.s) {
			return out, nil
		}
		if err := p.or(); err != nil {
			return nil, err
		}
	}
}

type patternParser struct {
	s string
	i int
}

func (p *patternParser) fail(what string) error {
	return fmt.Errorf("STIX pattern at offset %d: %s", p.i, what)
}

func (p *patternParser) space() {
	for p.i < len(p.s) && isSpace(p.s[p.i]) || p.i < len(p.s) && p.s[p.i] == '\n' {
		p.i++
	}
}

func (p *patternParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// word reads a keyword (letters only) without consuming it on mismatch.
func (p *patternParser) word() string {
	j := p.i
	for j < len(p.s) && (p.s[j] >= 'A' && p.s[j] <= 'Z' || p.s[j] >= 'a' && p.s[j] <= 'z') {
		j++
	}
	return p.s[p.i:j]
}

// or consumes the OR keyword, naming anything else as unsupported.
func (p *patternParser) or() error {
	w := p.word()
	switch strings.ToUpper(w) {
	case "OR":
		p.i += len(w)
		return nil
	case "":
		return p.fail("want OR or ']'")
	}
	return fmt.Errorf("%w: %s", errUnsupported, w)
}

func (p *patternParser) comparison() (comparison, error) {
	p.space()
	var path strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		if isSpace(c) || c == '\n' || strings.IndexByte("=!<>]['", c) >= 0 {
			if c != '\'' {
				break
			}
			q, err := p.quoted()
			if err != nil {
				return comparison{}, err
			}
			path.WriteString(q)
			continue
		}
		path.WriteByte(c)
		p.i++
	}
	if path.Len() == 0 {
		return comparison{}, p.fail("want an object path")
	}
	p.space()
	if !p.eat('=') {
		if w := p.word(); w != "" {
			return comparison{}, fmt.Errorf("%w: operator %s", errUnsupported, w)
		}
		return comparison{}, fmt.Errorf("%w: operator other than =", errUnsupported)
	}
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != '\'' {
		return comparison{}, fmt.Errorf("%w: value that is not a plain string", errUnsupported)
	}
	v, err := p.quoted()
	if err != nil {
		return comparison{}, err
	}
	return comparison{path: strings.ToLower(path.String()), value: v}, nil
}

// quoted reads a single-quoted string with \' and \\ escapes.
func (p *patternParser) quoted() (string, error) {
	p.i++ // the opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case '\'':
			return b.String(), nil
		case '\\':
			if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '\\') {
				return "", p.fail("bad escape in string")
			}
			c = p.s[p.i]
			p.i++
		}
		b.WriteByte(c)
	}
	return "", p.fail("unterminated string")
}

// kindOf maps the object paths this package understands to kinds; url
// values are reduced to their host by the caller.
func kindOf(path string) (k Kind, url bool) {
	switch path {
	case "file:hashes.sha-256", "file:hashes.sha256":
		return SHA256, false
	case "file:hashes.sha-1", "file:hashes.sha1":
		return SHA1, false
	case "file:hashes.md5":
		return MD5, false
	case "ipv4-addr:value", "ipv6-addr:value":
		return IP, false
	case "domain-name:value":
		return Domain, false
	case "url:value":
		return Domain, true
	}
	return 0, false
}
