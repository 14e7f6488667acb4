package cloudapi

import (
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string. It lets the hot paths (the
// uplink's batch, the cloud's record log) build JSON around record bodies
// that are already valid, without encoding/json re-validating and
// compacting every body again. Invalid UTF-8 becomes U+FFFD, as with
// encoding/json.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028/2029 are valid JSON but break JavaScript consumers.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendEventRecord appends r as JSON. r.Record must be valid JSON; it is
// copied verbatim.
func AppendEventRecord(dst []byte, r *EventRecord) []byte {
	dst = append(dst, `{"id":`...)
	dst = AppendJSONString(dst, r.ID)
	dst = append(dst, `,"category":`...)
	dst = AppendJSONString(dst, r.Category)
	dst = append(dst, `,"dataset":`...)
	dst = AppendJSONString(dst, r.Dataset)
	if r.SHA256 != "" {
		dst = append(dst, `,"sha256":`...)
		dst = AppendJSONString(dst, r.SHA256)
	}
	dst = append(dst, `,"record":`...)
	dst = append(dst, r.Record...)
	return append(dst, '}')
}

// AppendEventBatch appends b as JSON: what json.Marshal(b) gives for
// compact record bodies, except that <, > and & are not HTML-escaped.
func AppendEventBatch(dst []byte, b *EventBatch) []byte {
	dst = append(dst, `{"sensor_id":`...)
	dst = AppendJSONString(dst, b.SensorID)
	dst = append(dst, `,"key_id":`...)
	dst = AppendJSONString(dst, b.KeyID)
	dst = append(dst, `,"batch_id":`...)
	dst = AppendJSONString(dst, b.BatchID)
	dst = append(dst, `,"records":[`...)
	for i := range b.Records {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendEventRecord(dst, &b.Records[i])
	}
	return append(dst, "]}"...)
}
