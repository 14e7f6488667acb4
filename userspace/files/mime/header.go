package mime

import (
	"bytes"
	"strings"
)

// topFields are what the top-level header tells about a message.
type topFields struct {
	from, to, cc       []string
	subject, messageID string
}

// partHeader is what an entity's header says about its body.
type partHeader struct {
	mtype     string // lower case, no parameters
	multipart bool
	digest    bool
	message   bool   // message/rfc822, message/global: an attached message
	boundary  []byte // aliases the header buffer: copied before it is reused
	name      string // base name, bounded
	enc       encoding
	transfer  string
}

// maxFieldValue bounds the part of a field value decoded into Meta
// strings (the result is bounded by transfer.MaxHeaderValue again).
const maxFieldValue = 8 << 10

// parseTop fills m.top from the top-level header block. The block is
// only read: parsePartHeader runs on it next.
func (m *message) parseTop() {
	var t topFields
	for f := range fields(m.hdr) {
		switch {
		case equalFold(f.name, "from"):
			t.from = addrList(t.from, f.unfold(), m.x.stats)
		case equalFold(f.name, "to"):
			t.to = addrList(t.to, f.unfold(), m.x.stats)
		case equalFold(f.name, "cc"):
			t.cc = addrList(t.cc, f.unfold(), m.x.stats)
		case equalFold(f.name, "subject"):
			if t.subject == "" {
				t.subject = bound(decodeWords(clip(f.unfold())))
			}
		case equalFold(f.name, "message-id"):
			if t.messageID == "" {
				t.messageID = bound(string(msgID(f.unfold())))
			}
		}
	}
	m.top = t
	m.topBytes = m.envBytes() + strsBytes(t.from) + strsBytes(t.to) + strsBytes(t.cc) + len(t.subject) + len(t.messageID)
}

// envBytes is what the strings of the envelope hold.
func (m *message) envBytes() int {
	return len(m.env.MailFrom) + len(m.env.Mailbox) + strsBytes(m.env.RcptTo)
}

// parsePartHeader reads the fields that say how to handle the body. It
// rewrites buf (unfolding, unquoting in place).
func parsePartHeader(buf []byte, defType string) partHeader {
	var ctype, cte, cdisp []byte
	var haveType, haveCTE, haveDisp bool
	for f := range fields(buf) {
		switch {
		case !haveType && equalFold(f.name, "content-type"):
			ctype, haveType = f.unfoldInPlace(), true
		case !haveCTE && equalFold(f.name, "content-transfer-encoding"):
			cte, haveCTE = f.unfoldInPlace(), true
		case !haveDisp && equalFold(f.name, "content-disposition"):
			cdisp, haveDisp = f.unfoldInPlace(), true
		}
	}
	var h partHeader
	var ct, cd params
	typ := parseParams(ctype, &ct)
	parseParams(cdisp, &cd)
	h.mtype = mediaType(typ, defType)
	switch {
	case strings.HasPrefix(h.mtype, "multipart/"):
		h.multipart = true
		h.digest = h.mtype == "multipart/digest"
		h.boundary = ct.boundary.value()
	case h.mtype == "message/rfc822", h.mtype == "message/global":
		h.message = true
	}
	name := cd.filename.text()
	if name == "" {
		name = ct.name.text()
	}
	h.name = baseName(name)
	h.enc, h.transfer = transferEncoding(cte)
	return h
}

// mediaType lower-cases a type/subtype; without one the entity has the
// default (RFC 2045 5.2: a syntax error means text/plain).
func mediaType(typ []byte, def string) string {
	typ = bytes.TrimSpace(typ)
	i := bytes.IndexByte(typ, '/')
	if i <= 0 || i == len(typ)-1 {
		return def
	}
	if len(typ) > 127 { // RFC 6838: 127 each side at most
		typ = typ[:127]
	}
	return asciiLower(typ)
}

// asciiLower lower-cases A-Z only: strings.ToLower would turn each byte of
// invalid UTF-8 into a 3-byte U+FFFD and break the length bound.
func asciiLower(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return string(out)
}

func transferEncoding(v []byte) (encoding, string) {
	v = bytes.TrimSpace(v)
	if i := bytes.IndexAny(v, " \t;("); i >= 0 {
		v = v[:i]
	}
	switch {
	case len(v) == 0, equalFold(v, "7bit"):
		return encIdentity, "7bit"
	case equalFold(v, "base64"):
		return encBase64, "base64"
	case equalFold(v, "quoted-printable"):
		return encQP, "quoted-printable"
	case equalFold(v, "8bit"):
		return encIdentity, "8bit"
	case equalFold(v, "binary"):
		return encIdentity, "binary"
	case equalFold(v, "x-uuencode"), equalFold(v, "uuencode"), equalFold(v, "x-uue"), equalFold(v, "uue"):
		return encUU, "uuencode"
	}
	// Unknown: the bytes as they are, under the name claimed.
	if len(v) > 64 {
		v = v[:64]
	}
	return encIdentity, asciiLower(v)
}

// msgID strips the angle brackets of a Message-ID.
func msgID(v []byte) []byte {
	v = bytes.TrimSpace(v)
	if i := bytes.IndexByte(v, '<'); i >= 0 {
		if j := bytes.IndexByte(v[i:], '>'); j > 0 {
			return v[i+1 : i+j]
		}
		return v[i+1:]
	}
	return v
}

// clip bounds a value before it is decoded.
func clip(v []byte) []byte {
	if len(v) > maxFieldValue {
		return v[:maxFieldValue]
	}
	return v
}

// equalFold compares an ASCII-case-insensitive field name with a
// lower-case one.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
