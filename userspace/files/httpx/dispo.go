package httpx

import (
	"strings"
	"unicode/utf8"
)

// dispositionFilename returns the file name of a Content-Disposition
// value (RFC 6266): filename* (RFC 8187 ext-value, charset'lang'pct) when
// its charset is one we can read, else filename, else the raw bytes of
// filename*. Only the base name is kept. It is lenient as browsers are: a
// missing disposition type, unquoted values with spaces, a quoted
// filename*. In the quoted string a backslash escapes only '"' and '\'
// (RFC 6266 Appendix D: many user agents do not implement escaping), so
// a Windows path sent unescaped, filename="C:\Users\NAME\x.exe", keeps
// its separators and its directories are stripped, as they must be: the
// path names the user.
func dispositionFilename(v string) string { return filenameParam(v, false) }

// formDataFilename is dispositionFilename for the part headers of
// multipart/form-data, as browsers write them (HTML: a '"' in a name is
// sent as %22, CR and LF as %0D and %0A; a backslash is itself, and
// Internet Explorer and older Edge send the whole path,
// "C:\Users\NAME\Documents\x.exe"). A backslash escapes nothing but a
// '"' (what older non-browser clients write).
func formDataFilename(v string) string { return filenameParam(v, true) }

func filenameParam(v string, form bool) string {
	var plain, ext string
	var hasPlain, hasExt bool
	eachParamMode(v, form, func(name, value string, quoted bool) {
		switch {
		case strings.EqualFold(name, "filename") && !hasPlain:
			plain, hasPlain = value, true
			if form {
				plain = formUnescape(plain)
			}
		case strings.EqualFold(name, "filename*") && !hasExt:
			ext, hasExt = value, true
		}
	})
	if hasExt {
		if s, ok := decodeExtValue(ext); ok {
			if n := baseName(s); n != "" {
				return n
			}
		} else if !hasPlain {
			return baseName(s)
		}
	}
	return baseName(plain)
}

// formUnescape undoes the three escapes the HTML form encoding uses in
// file names: %22, %0D, %0A (either case).
func formUnescape(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	r := strings.NewReplacer("%22", `"`, "%0D", "\r", "%0d", "\r", "%0A", "\n", "%0a", "\n")
	return r.Replace(s)
}

// decodeExtValue decodes charset'language'value-chars. ok is false when
// the charset is not UTF-8, ISO-8859-1 or US-ASCII (the value is then
// percent-decoded as bytes) or the syntax is wrong.
func decodeExtValue(v string) (string, bool) {
	i := strings.IndexByte(v, '\'')
	if i < 0 {
		return pctDecode(v), false
	}
	j := strings.IndexByte(v[i+1:], '\'')
	if j < 0 {
		return pctDecode(v[i+1:]), false
	}
	charset, raw := v[:i], pctDecode(v[i+1+j+1:])
	switch strings.ToLower(charset) {
	case "utf-8", "us-ascii":
		return raw, true
	case "iso-8859-1", "latin1":
		if !hasHigh(raw) {
			return raw, true
		}
		b := make([]byte, 0, 2*len(raw))
		for i := 0; i < len(raw); i++ {
			b = utf8.AppendRune(b, rune(raw[i]))
		}
		return string(b), true
	}
	return raw, false
}

func hasHigh(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

// eachParam calls fn for each name=value parameter of a header value of
// the form `type; name=value; name="quoted"`. A leading item without "="
// (the type) is skipped; quoted-string escapes are undone (see
// quotedString); an unquoted value runs to the next ";".
func eachParam(v string, fn func(name, value string, quoted bool)) {
	eachParamMode(v, false, fn)
}

// eachParamMode is eachParam with form's quoting (see quotedString).
func eachParamMode(v string, form bool, fn func(name, value string, quoted bool)) {
	for len(v) > 0 {
		// name
		i := 0
		for i < len(v) && v[i] != '=' && v[i] != ';' {
			i++
		}
		name := trimOWSString(v[:i])
		if i == len(v) || v[i] == ';' {
			if i < len(v) {
				i++
			}
			v = v[i:]
			continue
		}
		v = v[i+1:]
		for len(v) > 0 && isOWS(v[0]) {
			v = v[1:]
		}
		var value string
		quoted := len(v) > 0 && v[0] == '"'
		if quoted {
			value, v = quotedString(v, form)
		} else {
			j := strings.IndexByte(v, ';')
			if j < 0 {
				j = len(v)
			}
			value, v = trimOWSString(v[:j]), v[j:]
		}
		fn(name, value, quoted)
		if j := strings.IndexByte(v, ';'); j >= 0 {
			v = v[j+1:]
		} else {
			v = ""
		}
	}
}

// quotedString reads a quoted-string at the start of v (v[0] == '"');
// an unterminated one runs to the end. A backslash escapes '"' and '\'
// (RFC 9110 quoted-pair, as far as user agents implement it) and is
// itself before anything else; with form (multipart/form-data as
// browsers write it) it escapes only '"'.
func quotedString(v string, form bool) (value, rest string) {
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch c := v[i]; c {
		case '"':
			return b.String(), v[i+1:]
		case '\\':
			if i+1 < len(v) && (v[i+1] == '"' || v[i+1] == '\\' && !form) {
				i++
				c = v[i]
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}
