package files

import "reflect"

// addStats adds every unsigned integer field of src to dst (two values of
// one stage's Stats struct), so stages keep plain counters and the
// pipeline sums them without knowing their fields.
func addStats[T any](dst, src *T) {
	d, s := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	addValue(d, s)
}

func addValue(d, s reflect.Value) {
	switch d.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if d.CanSet() {
			d.SetUint(d.Uint() + s.Uint())
		}
	case reflect.Int, reflect.Int64:
		if d.CanSet() {
			d.SetInt(d.Int() + s.Int())
		}
	case reflect.Struct:
		for i := 0; i < d.NumField(); i++ {
			addValue(d.Field(i), s.Field(i))
		}
	case reflect.Array:
		for i := 0; i < d.Len(); i++ {
			addValue(d.Index(i), s.Index(i))
		}
	}
}

// Flatten lists a stage's counters as name -> value, for --stats and logs;
// names are the field names in snake case under prefix.
func Flatten(prefix string, v any, out map[string]uint64) {
	flatten(prefix, reflect.ValueOf(v), out)
}

func flatten(prefix string, v reflect.Value, out map[string]uint64) {
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		out[prefix] = v.Uint()
	case reflect.Int, reflect.Int64:
		if v.Int() >= 0 {
			out[prefix] = uint64(v.Int())
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			if !t.Field(i).IsExported() {
				continue
			}
			flatten(prefix+"_"+snake(t.Field(i).Name), v.Field(i), out)
		}
	}
}

// snake turns BodiesSkipped into bodies_skipped (and HTTPRequests into
// http_requests).
func snake(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			lowerPrev := i > 0 && s[i-1] >= 'a' && s[i-1] <= 'z'
			upperRun := i > 0 && s[i-1] >= 'A' && s[i-1] <= 'Z' && i+1 < len(s) && s[i+1] >= 'a' && s[i+1] <= 'z'
			if lowerPrev || upperRun || (i > 0 && s[i-1] >= '0' && s[i-1] <= '9') {
				b = append(b, '_')
			}
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}
