package imap

import (
	"bytes"
	"strings"
)

// Mail context for part sections. A part fetched on its own (BODY[2])
// comes without the message's header, so its file would carry no sender
// or subject. Clients read those beforehand, as ENVELOPE or as a header
// section (BODY.PEEK[HEADER.FIELDS (From To Subject ...)]); the parser
// keeps From, To, Cc, Subject and Message-ID by message number and puts
// them at the head of the one-part message it builds, where the MIME
// extractor reads them like any message's.

// Bounds on the mail context kept per connection.
const (
	maxHeaderKept = 8 << 10 // of one header section literal
	maxEnvValue   = 1024    // of one field's value
	maxEnvBytes   = 128 << 10
)

// contextFields are the header fields kept, lower case.
var contextFields = []string{"from", "to", "cc", "subject", "message-id"}

// envelope reads an ENVELOPE value (RFC 9051 7.5.2): date, subject, from,
// sender, reply-to, to, cc, bcc, in-reply-to, message-id.
func (p *Parser) envelope(seq uint32, v []byte) {
	sp := structParser{b: v}
	n, ok := sp.node(0)
	if !ok || !n.isList || len(n.list) < 10 {
		p.st.StructBad++
		return
	}
	var b strings.Builder
	field := func(name, value string) {
		if value = oneLine(value); value != "" {
			b.WriteString(name + ": " + value + "\r\n")
		}
	}
	field("From", addresses(n.list[2]))
	field("To", addresses(n.list[5]))
	field("Cc", addresses(n.list[6]))
	if s := n.list[1]; !s.isList && !s.isNil {
		field("Subject", s.s)
	}
	if s := n.list[9]; !s.isList && !s.isNil {
		field("Message-ID", s.s)
	}
	p.keepContext(seq, b.String())
}

// addresses writes an ENVELOPE address list as "a@b, c@d".
func addresses(l snode) string {
	if !l.isList {
		return ""
	}
	var out []string
	for _, a := range l.list {
		if !a.isList || len(a.list) < 4 || a.list[2].isNil || a.list[3].isNil {
			continue // a group marker, or malformed
		}
		out = append(out, a.list[2].s+"@"+a.list[3].s)
		if len(out) == 64 {
			break
		}
	}
	return strings.Join(out, ", ")
}

// headerFields reads a header section (BODY[HEADER], BODY[HEADER.FIELDS
// (...)], RFC822.HEADER) and keeps its context fields.
func (p *Parser) headerFields(seq uint32, h []byte) {
	var b strings.Builder
	var name string
	var value []byte
	flush := func() {
		if name != "" {
			if v := oneLine(string(value)); v != "" {
				b.WriteString(name + ": " + v + "\r\n")
			}
		}
		name, value = "", value[:0]
	}
	for len(h) > 0 {
		line := h
		if i := bytes.IndexByte(h, '\n'); i >= 0 {
			line, h = h[:i], h[i+1:]
		} else {
			h = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			break // the end of the header
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name != "" && len(value) < maxEnvValue {
				value = append(value, ' ')
				value = append(value, bytes.TrimSpace(line)...)
			}
			continue
		}
		flush()
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		for _, f := range contextFields {
			if equalFold(bytes.TrimSpace(k), f) {
				name = canonical(f)
				value = append(value[:0], bytes.TrimSpace(v)...)
				break
			}
		}
	}
	flush()
	p.keepContext(seq, b.String())
}

func canonical(f string) string {
	if f == "message-id" {
		return "Message-ID"
	}
	return strings.ToUpper(f[:1]) + f[1:]
}

// oneLine bounds a value and keeps it on one line.
func oneLine(v string) string {
	if len(v) > maxEnvValue {
		v = v[:maxEnvValue]
	}
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, v))
}

// keepContext stores the header lines of message seq, bounded.
func (p *Parser) keepContext(seq uint32, lines string) {
	if lines == "" {
		return
	}
	if p.contexts.put(seq, lines, len(lines)) {
		p.st.StructDropped++
	}
	p.st.Contexts++
}
