package httpx

import (
	"strings"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// baseMeta fills what a file's Meta takes from its request.
func baseMeta(r *request) transfer.Meta {
	host, target := r.host, r.target
	if isAbsolute(target) {
		// A request to a forward proxy: the proxy takes the host from the
		// target and ignores Host (RFC 9112 §3.2.2), whatever it says.
		host, target = splitAbsolute(target)
	} else if host == "" && r.tunnel != "" {
		// No Host inside a tunnel: the server is the CONNECT target, not
		// the proxy the connection goes to.
		host = r.tunnel
	}
	return transfer.Meta{
		Protocol:  transfer.HTTP,
		Size:      -1,
		Method:    r.method,
		Host:      host,
		UserAgent: r.ua,
		URL:       buildURL(host, target),
		Tunnel:    r.tunnel,
	}
}

// splitAbsolute returns the authority of an absolute-form target and the
// target, both without userinfo ("user:pass@"), which names no resource
// (RFC 9110 §4.2.4) and must not end up in events.
func splitAbsolute(t string) (authority, target string) {
	i := strings.Index(t, "://") + 3
	rest := t[i:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority = rest[:end]
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		authority = authority[at+1:]
		t = t[:i] + authority + rest[end:]
	}
	return authority, t
}

// buildURL is "http://" + host + target for origin-form targets, the
// target itself when absolute-form (a request to a proxy), and the
// origin-form target alone when there is no Host (HTTP/1.0): the caller
// knows the server's address, the parser does not.
func buildURL(host, target string) string {
	switch {
	case target == "":
		return ""
	case isAbsolute(target):
		return target
	case target[0] != '/':
		return "" // "*" or authority-form: no resource
	case host == "":
		return clipString(target)
	}
	return clipString("http://" + host + target)
}

// isAbsolute: a scheme ("http:", "https:", "ftp:"...) then "//".
func isAbsolute(t string) bool {
	i := strings.Index(t, "://")
	if i <= 0 {
		return false
	}
	for j := 0; j < i; j++ {
		c := t[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 0 && (isDigit(c) || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// urlName is the last element of the target's path, query and fragment
// stripped, percent-decoded, without directories.
func urlName(target string) string {
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	if isAbsolute(target) {
		rest := target[strings.Index(target, "://")+3:]
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return ""
		}
		target = rest[i:]
	} else if !strings.HasPrefix(target, "/") {
		return "" // "*" or authority-form: no resource
	}
	if i := strings.LastIndexByte(target, '/'); i >= 0 {
		target = target[i+1:]
	}
	// Decoding may reveal %2F or %5C: baseName strips those too.
	return baseName(pctDecode(target))
}

// pctDecode decodes %XX escapes; malformed ones stay as they are.
func pctDecode(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if hi, lo := unhex(s[i+1]), unhex(s[i+2]); hi >= 0 && lo >= 0 {
				b = append(b, byte(hi<<4|lo))
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

// baseName keeps what follows the last / or \ (a name must never carry a
// path: it may end up on a disk), trimmed and clipped; "." and ".." are
// no names.
func baseName(s string) string {
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimSpace(s)
	if s == "." || s == ".." {
		return ""
	}
	return clipString(s)
}

// mediaType is the type/subtype of a Content-Type, lower case, no
// parameters.
func mediaType(v string) string {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(trimOWSString(v))
}

// wholeRange reports whether a 206's Content-Range covers the whole
// representation ("bytes 0-N/N+1"), making the part the complete file.
func wholeRange(v string) bool {
	first, last, total, ok := parseContentRange(v)
	return ok && first == 0 && last+1 == total
}

// boundary returns the multipart boundary parameter of a Content-Type,
// "" when missing or not usable: 1 to 200 characters (RFC 2046 allows
// 70; longer ones are seen) without CR or LF, which the delimiter search
// relies on.
func boundary(ctype string) string {
	var b string
	eachParam(ctype, func(name, value string, _ bool) {
		if b == "" && strings.EqualFold(name, "boundary") {
			b = value
		}
	})
	if len(b) == 0 || len(b) > 200 || strings.ContainsAny(b, "\r\n") {
		return ""
	}
	return b
}
