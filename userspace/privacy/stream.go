package privacy

import (
	"encoding/json"
	"errors"

	"github.com/edgesensor/edgesensor/userspace/cloudapi"
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
	// collect, when set, sees every scalar leaf instead of filtering
	// (the first pass reads the few fields that decide the category).
	collect func(path []byte, raw []byte)
	path    []byte // the dotted path of the current key
	scratch []byte
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
	if w.collect != nil {
		w.collect(w.path, raw)
		return false
	}
	r := w.find()
	if r == nil || !w.p.allowed(r, w.category) {
		return false
	}
	switch {
	case r.tr == tKeep:
		w.out = append(w.out, raw...)
		return true
	case r.tr == tDrop:
		return false
	case r.tr == tReasons || raw[0] == '[':
		// Arrays (and the reasons) are small: decode them.
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return false
		}
		nv, ok := w.p.apply(r.tr, v)
		if !ok {
			return false
		}
		b, err := json.Marshal(nv)
		if err != nil {
			return false
		}
		w.out = append(w.out, b...)
		return true
	case raw[0] == '"':
		var s string
		if inner := raw[1 : len(raw)-1]; !hasEscape(inner) {
			s = string(inner)
		} else if json.Unmarshal(raw, &s) != nil {
			return false
		}
		nv, ok := w.p.apply(r.tr, s)
		if !ok {
			return false
		}
		w.out = cloudapi.AppendJSONString(w.out, nv.(string))
		return true
	}
	return false // a number or literal where a transform wants text
}

// find is ruleIndex.find on the current path, without allocating.
func (w *walker) find() *rule {
	ix := w.p.ix
	if r := ix[string(w.path)]; r != nil {
		return r
	}
	for i := len(w.path) - 1; i > 0; i-- {
		if w.path[i] == '.' {
			w.scratch = append(append(w.scratch[:0], w.path[:i]...), '.', '*')
			if r := ix[string(w.scratch)]; r != nil {
				return r
			}
		}
	}
	return nil
}

func hasEscape(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}
