package siem

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/edgesensor/edgesensor/userspace/export/ecs"
)

// SDID is the SD-ID of the structured data element. 32473 is the private
// enterprise number RFC 5612 reserves for documentation; replace it with
// a registered one before customers write parsers against it.
var SDID = "edgesensor@32473"

// syslogHeader is what a syslog sink puts around every message.
type syslogHeader struct {
	facility int
	hostname string
	appName  string
	procID   string
}

// Syslog severities used (RFC 5424 §6.2.1).
const (
	sevCritical      = 2
	sevError         = 3
	sevWarning       = 4
	sevInformational = 6
)

// severity maps the score bands: no score, pending (-1) and 0-3 are
// informational, 4-6 warning, 7-8 error, 9-10 critical.
func severity(score int, ok bool) int {
	switch {
	case !ok || score < 4:
		return sevInformational
	case score <= 6:
		return sevWarning
	case score <= 8:
		return sevError
	default:
		return sevCritical
	}
}

// appendRFC5424 appends one RFC 5424 message (no framing): the JSON line,
// without its newline, as MSG. There is no BOM before MSG: it is JSON,
// UTF-8 by definition (RFC 8259), and a BOM would end up in front of the
// "{" for every JSON parser downstream (rsyslog keeps it in $msg). RFC
// 5424 allows that as MSG-ANY.
func appendRFC5424(dst []byte, h *syslogHeader, f *ecs.Fields, line []byte) []byte {
	dst = appendSyslogHeader(dst, h, f)
	dst = appendSD(dst, f)
	dst = append(dst, ' ')
	return append(dst, bytes.TrimRight(line, "\r\n")...)
}

// appendSyslogCEF appends an RFC 5424 message with the CEF record as MSG
// and no structured data: CEF consumers look for "CEF:" and have the same
// fields in the extension.
func appendSyslogCEF(dst []byte, h *syslogHeader, f *ecs.Fields) []byte {
	dst = appendSyslogHeader(dst, h, f)
	dst = append(dst, "- "...)
	return appendCEF(dst, f, h.hostname)
}

// appendSyslogHeader appends "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID
// MSGID ". TIMESTAMP is the event's own time in UTC with microseconds
// (RFC 5424 allows at most six fraction digits), NILVALUE when the event
// has none; MSGID is the dataset.
func appendSyslogHeader(dst []byte, h *syslogHeader, f *ecs.Fields) []byte {
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(h.facility*8+severity(f.Score, f.Scored)), 10)
	dst = append(dst, ">1 "...)
	if t := f.Time; !t.IsZero() {
		dst = t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
	} else {
		dst = append(dst, '-')
	}
	dst = append(dst, ' ')
	dst = appendHeaderField(dst, h.hostname, 255)
	dst = append(dst, ' ')
	dst = appendHeaderField(dst, h.appName, 48)
	dst = append(dst, ' ')
	dst = appendHeaderField(dst, h.procID, 128)
	dst = append(dst, ' ')
	dst = appendHeaderField(dst, f.Dataset, 32)
	return append(dst, ' ')
}

// appendHeaderField appends a header field as 1..max PRINTUSASCII
// characters: others become '_', empty becomes NILVALUE.
func appendHeaderField(dst []byte, s string, max int) []byte {
	if s == "" {
		return append(dst, '-')
	}
	if len(s) > max {
		s = s[:max]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 {
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}

// appendSD appends the structured data element, or NILVALUE when the
// event has none of its fields.
func appendSD(dst []byte, f *ecs.Fields) []byte {
	start := len(dst)
	dst = append(dst, '[')
	dst = append(dst, SDID...)
	n := len(dst)
	dst = appendParam(dst, "dataset", f.Dataset)
	dst = appendParam(dst, "kind", f.Kind)
	if f.Scored {
		dst = appendParam(dst, "score", strconv.Itoa(f.Score))
	}
	dst = appendParam(dst, "src", f.Source.IP)
	if f.Source.Port != 0 {
		dst = appendParam(dst, "spt", strconv.Itoa(int(f.Source.Port)))
	}
	dst = appendParam(dst, "dst", f.Destination.IP)
	if f.Destination.Port != 0 {
		dst = appendParam(dst, "dpt", strconv.Itoa(int(f.Destination.Port)))
	}
	dst = appendParam(dst, "sha256", f.SHA256)
	dst = appendParam(dst, "sni", f.ServerName)
	dst = appendParam(dst, "action", f.Action)
	dst = appendParam(dst, "rule", f.Rule)
	if len(dst) == n {
		return append(dst[:start], '-')
	}
	return append(dst, ']')
}

// appendParam appends ` name="value"` with the value made valid UTF-8
// and '"', '\' and ']' escaped (RFC 5424 §6.3.3). Empty values are left
// out.
func appendParam(dst []byte, name, v string) []byte {
	if v == "" {
		return dst
	}
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, '=', '"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '"', '\\', ']':
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
