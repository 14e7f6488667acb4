package siem

import (
	"strconv"
	"strings"
	"unicode/utf8"
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
func appendCEF(dst []byte, e *event, hostname string) []byte {
	dst = append(dst, "CEF:0|edgesensor|edgesensor|"...)
	dst = appendCEFHeader(dst, Version, 31)
	dst = append(dst, '|')
	sig := e.Event.Dataset
	if sig == "" {
		sig = "unknown"
	}
	dst = appendCEFHeader(dst, sig, 1023)
	dst = append(dst, '|')
	dst = appendCEFHeader(dst, cefName(e), 512)
	dst = append(dst, '|')
	score, scored := e.score()
	dst = strconv.AppendInt(dst, int64(cefSeverity(score, scored)), 10)
	dst = append(dst, '|')

	x := ext{dst: dst}
	if t, ok := e.time(); ok {
		x.int("rt", t.UnixMilli())
	}
	x.str("cat", e.Event.Kind)
	if hostname != "-" {
		x.str("dvchost", hostname)
	}
	x.str("deviceInboundInterface", e.Observer.Ingress.Interface.Name)
	// IPv6 addresses go in src and dst too: the SIEMs we target
	// (Sentinel, QRadar, Splunk) take them there.
	x.str("src", e.Source.IP)
	if p, ok := port(e.Source.Port); ok {
		x.int("spt", int64(p))
	}
	x.str("dst", e.Destination.IP)
	if p, ok := port(e.Destination.Port); ok {
		x.int("dpt", int64(p))
	}
	x.str("proto", strings.ToUpper(e.Network.Transport))
	x.str("app", e.Network.Protocol)
	x.str("requestMethod", e.HTTP.Request.Method)
	x.str("request", e.URL.Original)
	x.str("requestClientApplication", e.UserAgent.Original)
	x.str("fname", e.File.Name)
	if e.File.Size != nil {
		if n, ok := toInt64(*e.File.Size); ok {
			x.int("fsize", n)
		}
	}
	x.str("fileType", e.Edgesensor.File.Category)
	x.str("fileHash", e.File.Hash.SHA256)
	if a := e.Email.From.Address; len(a) > 0 {
		x.str("suser", strings.Join(a, ","))
	}
	if a := e.Email.To.Address; len(a) > 0 {
		x.str("duser", strings.Join(a, ","))
	}
	// The csN slots are fixed per field, whatever the dataset, so one
	// SIEM mapping serves all events.
	x.labelled("cs1", "cs1Label", "sni", e.TLS.Client.ServerName)
	x.labelled("cs2", "cs2Label", "ja3", e.TLS.Client.JA3)
	x.labelled("cs3", "cs3Label", "ja4", e.TLS.Client.JA4)
	x.labelled("cs4", "cs4Label", "tlsVersion", e.TLS.Version)
	x.labelled("cs5", "cs5Label", "verdict", e.Edgesensor.Score.Verdict)
	x.labelled("cs6", "cs6Label", "emailSubject", e.Email.Subject)
	if scored {
		x.labelled("cn1", "cn1Label", "riskScore", strconv.Itoa(score))
	}
	x.str("msg", reasonsText(e.Edgesensor.Score.Reasons))
	return x.dst
}

// cefName is the record's Name: "File download x.exe (executable)",
// "TLS handshake a.example", else the dataset.
func cefName(e *event) string {
	switch e.Event.Dataset {
	case "edgesensor.file":
		var b strings.Builder
		b.WriteString("File ")
		dir := e.Edgesensor.File.Direction
		if dir == "" {
			dir = "transfer"
		}
		b.WriteString(dir)
		if e.File.Name != "" {
			b.WriteString(" ")
			b.WriteString(e.File.Name)
		}
		if c := e.Edgesensor.File.Category; c != "" {
			b.WriteString(" (")
			b.WriteString(c)
			b.WriteString(")")
		}
		return b.String()
	case "edgesensor.tls":
		peer := e.TLS.Client.ServerName
		if peer == "" {
			peer = e.Destination.IP
		}
		return strings.TrimSpace("TLS handshake " + peer)
	case "":
		return "edgesensor event"
	default:
		return e.Event.Dataset
	}
}

// reasonsText is "code(points): text; ..." for msg.
func reasonsText(rs []reason) string {
	var b strings.Builder
	for i := range rs {
		r := &rs[i]
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r.id())
		if p, ok := r.points(); ok {
			b.WriteByte('(')
			b.WriteString(strconv.Itoa(p))
			b.WriteByte(')')
		}
		if t := r.text(); t != "" {
			b.WriteString(": ")
			b.WriteString(t)
		}
	}
	return b.String()
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

// str appends k=v unless v is empty, with '\' and '=' escaped and CR and
// LF written as \r and \n; '|' needs no escaping in the extension.
func (x *ext) str(k, v string) {
	if v == "" {
		return
	}
	x.key(k)
	v = cut(v, 4000)
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\', '=':
			x.dst = append(x.dst, '\\', c)
		case '\r':
			x.dst = append(x.dst, '\\', 'r')
		case '\n':
			x.dst = append(x.dst, '\\', 'n')
		default:
			x.dst = append(x.dst, c)
		}
	}
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
