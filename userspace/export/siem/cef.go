package siem

import (
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// Version is the Device Version of CEF records; the caller sets it to
// the build's version before New.
var Version = "dev"

// cefSeverity maps the score bands to CEF severities: 0-3 Low (3), 4-6
// Medium (6), 7-8 High (8), 9-10 Very-High (10). No score and pending
// (-1) are 0: nothing is known yet, which is not the same as Low.
func cefSeverity(score int, ok bool) int {
	switch {
	case !ok || score < 0:
		return 0
	case score <= 3:
		return 3
	case score <= 6:
		return 6
	case score <= 8:
		return 8
	default:
		return 10
	}
}

// appendCEF appends one CEF record (no newline):
//
//	CEF:0|edgesensor|edgesensor|Version|SignatureID|Name|Severity|Extension
//
// SignatureID is the dataset: it names the kind of event, which SIEM
// rules key on; the reasons behind the score are in msg. Name is a short
// text for humans.
func appendCEF(dst []byte, f *ecs.Fields, hostname string) []byte {
	dst = append(dst, "CEF:0|edgesensor|edgesensor|"...)
	dst = appendCEFHeader(dst, Version, 31)
	dst = append(dst, '|')
	sig := f.Dataset
	if sig == "" {
		sig = "unknown"
	}
	dst = appendCEFHeader(dst, sig, 1023)
	dst = append(dst, '|')
	var nb [256]byte
	dst = appendCEFHeader(dst, bytesView(appendCEFName(nb[:0], f)), 512)
	dst = append(dst, '|')
	score, scored := f.Score, f.Scored
	dst = strconv.AppendInt(dst, int64(cefSeverity(score, scored)), 10)
	dst = append(dst, '|')

	x := ext{dst: dst}
	if !f.Time.IsZero() {
		x.int("rt", f.Time.UnixMilli())
	}
	x.str("cat", f.Kind)
	if hostname != "-" {
		x.str("dvchost", hostname)
	}
	x.str("deviceInboundInterface", f.Interface)
	// IPv6 addresses go in src and dst too: the SIEMs we target
	// (Sentinel, QRadar, Splunk) take them there.
	x.str("src", f.Source.IP)
	if f.Source.Port != 0 {
		x.int("spt", int64(f.Source.Port))
	}
	x.str("dst", f.Destination.IP)
	if f.Destination.Port != 0 {
		x.int("dpt", int64(f.Destination.Port))
	}
	x.str("proto", strings.ToUpper(f.Transport))
	x.str("app", f.Protocol)
	x.str("requestMethod", f.Method)
	x.str("request", f.URL)
	x.str("requestClientApplication", f.UserAgent)
	x.str("fname", f.FileName)
	if f.HasSize {
		x.int("fsize", f.FileSize)
	}
	x.str("fileType", f.Category)
	x.str("fileHash", f.SHA256)
	x.str("act", f.Action)
	x.str("reason", f.Reason)
	if a := f.From; len(a) > 0 {
		x.strs("suser", a)
	}
	if a := f.To; len(a) > 0 {
		x.strs("duser", a)
	}
	// The csN slots are fixed per field, whatever the dataset, so one
	// SIEM mapping serves all events.
	x.labelled("cs1", "cs1Label", "sni", f.ServerName)
	x.labelled("cs2", "cs2Label", "ja3", f.JA3)
	x.labelled("cs3", "cs3Label", "ja4", f.JA4)
	x.labelled("cs4", "cs4Label", "tlsVersion", f.TLSVersion)
	x.labelled("cs5", "cs5Label", "verdict", f.Verdict)
	x.labelled("cs6", "cs6Label", "emailSubject", f.Subject)
	if scored {
		x.labelled("cn1", "cn1Label", "riskScore", strconv.Itoa(score))
	}
	if len(f.Reasons) > 0 {
		x.key("msg")
		x.dst = appendReasons(x.dst, f.Reasons)
	}
	return x.dst
}

// appendCEFName appends the record's Name: "File download x.exe
// (executable)", "TLS handshake a.example", else the dataset.
func appendCEFName(b []byte, f *ecs.Fields) []byte {
	switch f.Dataset {
	case "edgesensor.file":
		b = append(b, "File "...)
		dir := f.Direction
		if dir == "" {
			dir = "transfer"
		}
		b = append(b, dir...)
		if f.FileName != "" {
			b = append(b, ' ')
			b = append(b, f.FileName...)
		}
		if c := f.Category; c != "" {
			b = append(b, " ("...)
			b = append(b, c...)
			b = append(b, ')')
		}
		return b
	case ecs.ActionDataset:
		b = append(b, "Enforcement "...)
		b = append(b, f.Action...)
		if f.Rule != "" {
			b = append(b, " by "...)
			b = append(b, f.Rule...)
		}
		return b
	case "edgesensor.tls":
		peer := f.ServerName
		if peer == "" {
			peer = f.Destination.IP
		}
		return append(append(b, "TLS handshake "...), strings.TrimSpace(peer)...)
	case "":
		return append(b, "edgesensor event"...)
	default:
		return append(b, f.Dataset...)
	}
}

// bytesView is b as a string without a copy, for formatting calls that
// read it and return: b must not change while the string is used.
func bytesView(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// appendReasons appends msg's value, "rule(weight): text; ...", escaped
// as an extension value and cut to 4000 runes like every other.
func appendReasons(dst []byte, rs []score.Reason) []byte {
	var buf [512]byte
	b := buf[:0]
	for i := range rs {
		r := &rs[i]
		if i > 0 {
			b = append(b, "; "...)
		}
		b = append(b, r.Rule...)
		b = append(b, '(')
		b = strconv.AppendInt(b, int64(r.Weight), 10)
		b = append(b, ')')
		if r.Text != "" {
			b = append(b, ": "...)
			b = append(b, r.Text...)
		}
	}
	return appendExtValue(dst, bytesView(b))
}

// appendCEFHeader appends a header field cut to max runes, valid UTF-8,
// with '\' and '|' escaped and line breaks made spaces (a header field
// cannot carry them).
func appendCEFHeader(dst []byte, s string, max int) []byte {
	s = cut(s, max)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '|':
			dst = append(dst, '\\', c)
		case '\r', '\n':
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// ext appends extension key=value pairs separated by spaces.
type ext struct {
	dst  []byte
	some bool // a pair was appended
}

func (x *ext) key(k string) {
	if x.some {
		x.dst = append(x.dst, ' ')
	}
	x.some = true
	x.dst = append(x.dst, k...)
	x.dst = append(x.dst, '=')
}

// str appends k=v unless v is empty (appendExtValue).
func (x *ext) str(k, v string) {
	if v == "" {
		return
	}
	x.key(k)
	x.dst = appendExtValue(x.dst, v)
}

// strs appends k=v1,v2,... .
func (x *ext) strs(k string, vs []string) {
	x.str(k, strings.Join(vs, ","))
}

// appendExtValue appends an extension value cut to 4000 runes, with '\'
// and '=' escaped and CR and LF written as \r and \n; '|' needs no
// escaping in the extension.
func appendExtValue(dst []byte, v string) []byte {
	v = cut(v, 4000)
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\', '=':
			dst = append(dst, '\\', c)
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\n':
			dst = append(dst, '\\', 'n')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func (x *ext) int(k string, v int64) {
	x.key(k)
	x.dst = strconv.AppendInt(x.dst, v, 10)
}

// labelled appends a custom field and its label.
func (x *ext) labelled(k, labelKey, label, v string) {
	if v == "" {
		return
	}
	x.str(k, v)
	x.str(labelKey, label)
}

// cut makes s valid UTF-8 of at most max runes.
func cut(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i]
		}
		n++
	}
	return s
}
