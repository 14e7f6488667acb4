package siem

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// FuzzFormat feeds arbitrary lines and field values to both formatters: they must not
// panic, CEF must stay one line of UTF-8 that parses, and RFC 5424 must
// parse with MSG equal to the line.
func FuzzFormat(f *testing.F) {
	for _, s := range []string{
		fileLine, tlsLine, "", "{}", "null", "[1,2]", "not json",
		`{"event":{"risk_score":1e300,"dataset":"\n"}}`,
		`{"event":{"risk_score":"8"},"source":{"port":-1},"file":{"size":1e20}}`,
		`{"@timestamp":"0000-01-01T00:00:00Z","tls":{"client":{"server_name":"]\"\\"}}}`,
		`{"edgesensor":{"score":{"reasons":[{"code":"|=\\","points":1e99}]}}}`,
		"{\"file\":{\"name\":\"\xff\xfe\\u0000\"}}",
	} {
		f.Add(s, "x.exe", "a.example", 8)
	}
	f.Fuzz(func(t *testing.T, line, name, sni string, weight int) {
		// The fields of the line when it decodes as an event, with
		// arbitrary text where formats must escape.
		e := *fieldsOf(line)
		e.FileName += name
		e.ServerName += sni
		e.Dataset += name
		e.Interface += sni
		e.Reasons = append(e.Reasons, score.Reason{Rule: name, Text: sni, Weight: weight})
		e.Score, e.Scored = weight, true

		c := appendCEF(nil, &e, "sensor1")
		if bytes.ContainsAny(c, "\r\n") {
			t.Fatalf("CEF has a raw line break: %q", c)
		}
		if !utf8.Valid(c) {
			t.Fatalf("CEF is not UTF-8: %q", c)
		}
		if _, err := parseCEF(string(c)); err != nil {
			t.Fatalf("CEF does not parse: %v: %q", err, c)
		}

		out := appendRFC5424(nil, &testHeader, &e, []byte(line))
		m, err := parse5424(out)
		if err != nil {
			t.Fatalf("RFC 5424 does not parse: %v: %q", err, out)
		}
		if want := bytes.TrimRight([]byte(line), "\r\n"); !bytes.Equal(m.msg, want) && !(len(want) == 0 && m.msg == nil) {
			t.Fatalf("MSG %q, want %q", m.msg, want)
		}

		sc := appendSyslogCEF(nil, &testHeader, &e)
		if _, err := parse5424(sc); err != nil {
			t.Fatalf("syslog CEF does not parse: %v: %q", err, sc)
		}
	})
}
