package siem

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Parsers that hold the formatters to the specs: strict where the spec
// is, so a formatter bug fails here rather than in a customer's SIEM.

type sdParam struct{ name, value string }

type sdElement struct {
	id     string
	params []sdParam
}

type syslogMsg struct {
	pri, version                            int
	timestamp, hostname, app, procID, msgID string
	sd                                      []sdElement
	msg                                     []byte
	bom                                     bool
}

func (m *syslogMsg) param(name string) (string, bool) {
	for _, e := range m.sd {
		for _, p := range e.params {
			if p.name == name {
				return p.value, true
			}
		}
	}
	return "", false
}

var rfc3339Micro = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$`)

// parse5424 parses one RFC 5424 message (RFC 5424 §6, without framing).
func parse5424(b []byte) (*syslogMsg, error) {
	m := &syslogMsg{}
	s := b
	if len(s) == 0 || s[0] != '<' {
		return nil, errors.New("no '<'")
	}
	end := bytes.IndexByte(s, '>')
	if end < 2 || end > 4 {
		return nil, errors.New("PRI: 1 to 3 digits")
	}
	pri, err := strconv.Atoi(string(s[1:end]))
	if err != nil || pri > 191 || (end > 2 && s[1] == '0') || s[1] == '+' || s[1] == '-' {
		return nil, fmt.Errorf("PRI %q", s[1:end])
	}
	m.pri = pri
	s = s[end+1:]
	if !bytes.HasPrefix(s, []byte("1 ")) {
		return nil, errors.New("VERSION is not 1")
	}
	m.version = 1
	s = s[2:]
	fields := []struct {
		dst *string
		max int
		nm  string
	}{{&m.timestamp, 64, "TIMESTAMP"}, {&m.hostname, 255, "HOSTNAME"}, {&m.app, 48, "APP-NAME"}, {&m.procID, 128, "PROCID"}, {&m.msgID, 32, "MSGID"}}
	for _, f := range fields {
		sp := bytes.IndexByte(s, ' ')
		if sp < 1 {
			return nil, fmt.Errorf("%s: no field", f.nm)
		}
		v := string(s[:sp])
		if len(v) > f.max || !printASCII(v) {
			return nil, fmt.Errorf("%s %q: not 1..%d PRINTUSASCII", f.nm, v, f.max)
		}
		*f.dst = v
		s = s[sp+1:]
	}
	if m.timestamp != "-" {
		if !rfc3339Micro.MatchString(m.timestamp) {
			return nil, fmt.Errorf("TIMESTAMP %q", m.timestamp)
		}
		if _, err := time.Parse(time.RFC3339Nano, m.timestamp); err != nil {
			return nil, fmt.Errorf("TIMESTAMP: %w", err)
		}
	}
	// STRUCTURED-DATA
	switch {
	case len(s) > 0 && s[0] == '-':
		s = s[1:]
	case len(s) > 0 && s[0] == '[':
		for len(s) > 0 && s[0] == '[' {
			var e sdElement
			e, s, err = parseSDElement(s[1:])
			if err != nil {
				return nil, err
			}
			m.sd = append(m.sd, e)
		}
	default:
		return nil, errors.New("STRUCTURED-DATA: neither '-' nor '['")
	}
	if len(s) == 0 {
		return m, nil
	}
	if s[0] != ' ' {
		return nil, errors.New("no SP before MSG")
	}
	m.msg = s[1:]
	if bytes.HasPrefix(m.msg, []byte("\xef\xbb\xbf")) {
		m.bom = true
		m.msg = m.msg[3:]
		if !utf8.Valid(m.msg) {
			return nil, errors.New("MSG-UTF8 is not UTF-8")
		}
	}
	return m, nil
}

func sdName(s []byte) (string, []byte, error) {
	i := 0
	for i < len(s) && s[i] > 32 && s[i] < 127 && s[i] != '=' && s[i] != ']' && s[i] != '"' && s[i] != ' ' {
		i++
	}
	if i == 0 || i > 32 {
		return "", nil, fmt.Errorf("SD-NAME %q", s[:i])
	}
	return string(s[:i]), s[i:], nil
}

func parseSDElement(s []byte) (sdElement, []byte, error) {
	var e sdElement
	id, s, err := sdName(s)
	if err != nil {
		return e, nil, err
	}
	e.id = id
	for {
		if len(s) == 0 {
			return e, nil, errors.New("SD-ELEMENT not closed")
		}
		if s[0] == ']' {
			return e, s[1:], nil
		}
		if s[0] != ' ' {
			return e, nil, fmt.Errorf("SD-ELEMENT: %q after param", s[0])
		}
		name, rest, err := sdName(s[1:])
		if err != nil {
			return e, nil, err
		}
		if len(name) > 32 {
			return e, nil, fmt.Errorf("PARAM-NAME %q longer than 32", name)
		}
		if !bytes.HasPrefix(rest, []byte(`="`)) {
			return e, nil, fmt.Errorf("PARAM %s: no =\"", name)
		}
		rest = rest[2:]
		var v []byte
		closed := false
		for i := 0; i < len(rest); i++ {
			c := rest[i]
			if c == '\\' {
				if i+1 < len(rest) && (rest[i+1] == '"' || rest[i+1] == '\\' || rest[i+1] == ']') {
					v = append(v, rest[i+1])
					i++
					continue
				}
				return e, nil, fmt.Errorf("PARAM %s: lone backslash", name)
			}
			if c == ']' {
				return e, nil, fmt.Errorf("PARAM %s: unescaped ']'", name)
			}
			if c == '"' {
				rest = rest[i+1:]
				closed = true
				break
			}
			v = append(v, c)
		}
		if !closed {
			return e, nil, fmt.Errorf("PARAM %s: value not closed", name)
		}
		if !utf8.Valid(v) {
			return e, nil, fmt.Errorf("PARAM %s: not UTF-8", name)
		}
		e.params = append(e.params, sdParam{name, string(v)})
		s = rest
	}
}

type cefRecord struct {
	header [7]string // version..severity after "CEF:"
	ext    []sdParam
}

func (r *cefRecord) get(k string) (string, bool) {
	for _, p := range r.ext {
		if p.name == k {
			return p.value, true
		}
	}
	return "", false
}

// parseCEF parses one CEF record, unescaping header and extension.
func parseCEF(s string) (*cefRecord, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("raw line break")
	}
	if !strings.HasPrefix(s, "CEF:") {
		return nil, errors.New("no CEF: prefix")
	}
	s = s[4:]
	r := &cefRecord{}
	for f := 0; f < 7; f++ {
		var b strings.Builder
		i := 0
		for ; i < len(s); i++ {
			c := s[i]
			if c == '\\' {
				if i+1 < len(s) && (s[i+1] == '\\' || s[i+1] == '|') {
					b.WriteByte(s[i+1])
					i++
					continue
				}
				return nil, fmt.Errorf("header field %d: lone backslash", f)
			}
			if c == '|' {
				break
			}
			b.WriteByte(c)
		}
		if i == len(s) {
			return nil, fmt.Errorf("header field %d not ended by '|'", f)
		}
		r.header[f] = b.String()
		s = s[i+1:]
	}
	// Extension: values run to the next " key=" (keys cannot contain
	// backslashes, and '=' inside values is always escaped).
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq < 1 || !isCEFKey(s[:eq]) {
			return nil, fmt.Errorf("extension: bad key in %q", s)
		}
		key := s[:eq]
		s = s[eq+1:]
		var b strings.Builder
		i := 0
		for ; i < len(s); i++ {
			c := s[i]
			if c == '\\' {
				if i+1 == len(s) {
					return nil, errors.New("extension: trailing backslash")
				}
				switch s[i+1] {
				case '\\', '=':
					b.WriteByte(s[i+1])
				case 'n':
					b.WriteByte('\n')
				case 'r':
					b.WriteByte('\r')
				default:
					return nil, fmt.Errorf("extension %s: unknown escape \\%c", key, s[i+1])
				}
				i++
				continue
			}
			if c == '=' {
				return nil, fmt.Errorf("extension %s: unescaped '='", key)
			}
			if c == ' ' && nextIsKey(s[i+1:]) {
				break
			}
			b.WriteByte(c)
		}
		r.ext = append(r.ext, sdParam{key, b.String()})
		if i == len(s) {
			break
		}
		s = s[i+1:]
	}
	return r, nil
}

func isCEFKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return k != ""
}

func nextIsKey(s string) bool {
	eq := strings.IndexByte(s, '=')
	return eq > 0 && isCEFKey(s[:eq])
}
