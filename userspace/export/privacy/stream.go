package privacy

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/edgesensor/edgesensor/userspace/export/anon"
	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// The record is built in one pass over the event's JSON text: allowed
// leaves are copied (or transformed) straight into the output, objects
// that end up empty are rolled back. Decoding into maps and encoding
// again cost four times as much, and the uplink must keep up with a
// router's event rate. The walker never reads out of bounds and fails on
// what it cannot follow; its output is checked with json.Valid.

var errJSON = errors.New("privacy: malformed event JSON")

// walker filters one event into out.
type walker struct {
	p        *Policy
	category string
	d        []byte
	out      []byte
	path     []byte         // the dotted path of the current key
	ev       anon.Event     // the event's client and how personal values are written
	urlHost  string         // the host of url.original
	hasURL   bool           // the event has a url.original
	reasons  []score.Reason // edgesensor.score.reasons, typed
}

func (w *walker) ws(i int) int {
	for i < len(w.d) && (w.d[i] == ' ' || w.d[i] == '\t' || w.d[i] == '\n' || w.d[i] == '\r') {
		i++
	}
	return i
}

// str returns the end of the string starting at i (at its quote).
func (w *walker) str(i int) (int, error) {
	for j := i + 1; j < len(w.d); j++ {
		switch w.d[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errJSON
}

// value returns the end of the value starting at i.
func (w *walker) value(i int) (int, error) {
	if i >= len(w.d) {
		return 0, errJSON
	}
	switch w.d[i] {
	case '"':
		return w.str(i)
	case '{', '[':
		depth := 0
		for j := i; j < len(w.d); j++ {
			switch w.d[j] {
			case '"':
				e, err := w.str(j)
				if err != nil {
					return 0, err
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errJSON
	}
	j := i
	for j < len(w.d) && w.d[j] != ',' && w.d[j] != '}' && w.d[j] != ']' && w.d[j] != ' ' && w.d[j] != '\n' && w.d[j] != '\t' && w.d[j] != '\r' {
		j++
	}
	if j == i {
		return 0, errJSON // a missing value
	}
	return j, nil
}

// appendKey adds an object key to the path (escapes are rare: decode
// them then).
func (w *walker) appendKey(raw []byte) {
	if len(w.path) > 0 {
		w.path = append(w.path, '.')
	}
	inner := raw[1 : len(raw)-1]
	if hasEscape(inner) {
		var s string
		json.Unmarshal(raw, &s)
		w.path = append(w.path, s...)
		return
	}
	w.path = append(w.path, inner...)
}

// object walks the object at i (the path names it); it returns the end
// and whether anything was written inside.
func (w *walker) object(i int) (int, bool, error) {
	w.out = append(w.out, '{')
	i = w.ws(i + 1)
	wrote := false
	if i < len(w.d) && w.d[i] == '}' {
		return i + 1, false, nil
	}
	for i < len(w.d) {
		if w.d[i] != '"' {
			return 0, false, errJSON
		}
		ke, err := w.str(i)
		if err != nil {
			return 0, false, err
		}
		keyRaw := w.d[i:ke]
		base := len(w.path)
		w.appendKey(keyRaw)
		i = w.ws(ke)
		if i >= len(w.d) || w.d[i] != ':' {
			return 0, false, errJSON
		}
		i = w.ws(i + 1)
		mark := len(w.out)
		if wrote {
			w.out = append(w.out, ',')
		}
		w.out = append(w.out, keyRaw...)
		w.out = append(w.out, ':')
		kept := false
		if i < len(w.d) && w.d[i] == '{' {
			var inner bool
			if i, inner, err = w.object(i); err != nil {
				return 0, false, err
			}
			if inner {
				w.out = append(w.out, '}')
				kept = true
			}
		} else {
			ve, err := w.value(i)
			if err != nil {
				return 0, false, err
			}
			kept = w.leaf(w.d[i:ve])
			i = ve
		}
		w.path = w.path[:base]
		if kept {
			wrote = true
		} else {
			w.out = w.out[:mark]
		}
		i = w.ws(i)
		if i >= len(w.d) {
			return 0, false, errJSON
		}
		switch w.d[i] {
		case ',':
			i = w.ws(i + 1)
		case '}':
			return i + 1, wrote, nil
		default:
			return 0, false, errJSON
		}
	}
	return 0, false, errJSON
}

// leaf writes one allowed value, transformed; false when it is dropped.
func (w *walker) leaf(raw []byte) bool {
	r := w.p.ix[string(w.path)]
	if r == nil || r.tr == tDrop || !w.p.allowed(r, w.category) || !shaped(raw, r.shape) {
		return false
	}
	switch {
	case r.tr == tKeep:
		w.out = append(w.out, raw...)
		return true
	case r.tr == tReasons:
		return w.writeReasons()
	case r.shape == sStrings:
		return w.strings(r.tr, raw)
	case r.shape == sString:
		s, ok := w.unquote(raw)
		if !ok {
			return false
		}
		if r.tr == tDomain && w.hasURL {
			s = w.urlHost
		}
		out, ok := w.p.text(r.tr, s, &w.ev)
		if !ok {
			return false
		}
		w.out = cloudapi.AppendJSONString(w.out, out)
		return true
	}
	return false // a number or literal where a transform wants text
}

// unquote decodes a JSON string token.
func (w *walker) unquote(raw []byte) (string, bool) {
	if inner := raw[1 : len(raw)-1]; !hasEscape(inner) {
		return string(inner), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// strings writes an array of strings, each transformed; elements that
// are dropped go, and an array left empty is dropped.
func (w *walker) strings(tr transform, raw []byte) bool {
	mark := len(w.out)
	w.out = append(w.out, '[')
	n := 0
	for i := 1; i < len(raw); {
		for i < len(raw) && (raw[i] == ' ' || raw[i] == ',' || raw[i] == '\n' || raw[i] == '\t' || raw[i] == '\r') {
			i++
		}
		if i >= len(raw) || raw[i] != '"' {
			break // ']' (shaped checked the rest)
		}
		e := i + 1
		for e < len(raw) && raw[e] != '"' {
			if raw[e] == '\\' {
				e++
			}
			e++
		}
		if e >= len(raw) {
			w.out = w.out[:mark]
			return false
		}
		s, ok := w.unquote(raw[i : e+1])
		i = e + 1
		if !ok {
			continue
		}
		out, ok := w.p.text(tr, s, &w.ev)
		if !ok {
			continue
		}
		if n > 0 {
			w.out = append(w.out, ',')
		}
		w.out = cloudapi.AppendJSONString(w.out, out)
		n++
	}
	if n == 0 {
		w.out = w.out[:mark]
		return false
	}
	w.out = append(w.out, ']')
	return true
}

// reasons writes the rule and weight of each reason, from the typed
// event; their texts can quote names and never leave.
func (w *walker) writeReasons() bool {
	w.out = append(w.out, '[')
	for i, r := range w.reasons {
		if i > 0 {
			w.out = append(w.out, ',')
		}
		w.out = append(w.out, `{"rule":`...)
		w.out = cloudapi.AppendJSONString(w.out, r.Rule)
		w.out = append(w.out, `,"weight":`...)
		w.out = strconv.AppendInt(w.out, int64(r.Weight), 10)
		w.out = append(w.out, '}')
	}
	w.out = append(w.out, ']')
	return true
}

// shaped says whether a raw JSON value has the shape a rule wants. Arrays
// are checked element by element (strings and numbers only; objects only
// for sObjects, whose content the transform reads itself).
func shaped(raw []byte, sh shape) bool {
	if len(raw) == 0 {
		return false
	}
	switch sh {
	case sString:
		return raw[0] == '"'
	case sNumber:
		return raw[0] == '-' || '0' <= raw[0] && raw[0] <= '9'
	case sBool:
		return string(raw) == "true" || string(raw) == "false"
	case sObjects:
		return raw[0] == '['
	}
	if raw[0] != '[' {
		return false
	}
	for i := 1; i < len(raw)-1; i++ {
		c := raw[i]
		switch {
		case c == ' ' || c == ',' || c == '\n' || c == '\t' || c == '\r':
		case c == '"':
			if sh != sStrings {
				return false
			}
			for i++; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] == '\\' {
					i++
				}
			}
		case c == '-' || '0' <= c && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+':
			if sh != sNumbers {
				return false
			}
		default:
			return false // an object, an array, a literal
		}
	}
	return raw[len(raw)-1] == ']'
}

func hasEscape(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}
