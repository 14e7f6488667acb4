package httpx

import "strings"

type coding uint8

const (
	cGzip coding = iota + 1
	cDeflate
	cBrotli
)

func (c coding) String() string {
	switch c {
	case cGzip:
		return "gzip"
	case cDeflate:
		return "deflate"
	case cBrotli:
		return "br"
	}
	return "?"
}

// codings are the content and transfer codings of a body, in the order
// they were applied (decoded in reverse).
type codings struct {
	c   [maxLayers]coding
	n   int
	raw bool // an unknown coding, or too many: the body goes out undecoded
	// text is every coding named, as sent, for Meta.ContentEncoding when
	// the body is not decoded.
	text string
}

// parse adds the codings of a Content-Encoding list.
func (cs *codings) parse(v string) {
	for v != "" {
		var tok string
		tok, v, _ = strings.Cut(v, ",")
		cs.add(trimOWSString(tok))
	}
}

// parseTE adds the codings of a Transfer-Encoding list but chunked, and
// reports whether chunked is last; ok is false when chunked appears
// elsewhere (RFC 9112 §6.1 allows it only once, last).
func (cs *codings) parseTE(v string) (chunked, ok bool) {
	ok = true
	for v != "" {
		var tok string
		tok, v, _ = strings.Cut(v, ",")
		tok = trimOWSString(tok)
		if tok == "" {
			continue
		}
		if chunked {
			ok = false // something after chunked
		}
		if strings.EqualFold(tok, "chunked") {
			if chunked {
				ok = false
			}
			chunked = true
			continue
		}
		chunked = false
		cs.add(tok)
	}
	return chunked, ok
}

func (cs *codings) add(tok string) {
	var c coding
	switch strings.ToLower(tok) {
	case "", "identity":
		return
	case "gzip", "x-gzip":
		c = cGzip
	case "deflate":
		c = cDeflate
	case "br":
		c = cBrotli
	default:
		cs.raw = true
	}
	if cs.text == "" {
		cs.text = tok
	} else {
		cs.text = clipString(cs.text + ", " + tok)
	}
	if c == 0 {
		return
	}
	if cs.n == maxLayers {
		cs.raw = true // a stack that deep is an attack, not a server
		return
	}
	cs.c[cs.n] = c
	cs.n++
}

// names is what Meta.ContentEncoding says of a decoded body: the codings
// in the order applied, normalised ("x-gzip" is "gzip").
func (cs *codings) names() string {
	var b strings.Builder
	for i := 0; i < cs.n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(cs.c[i].String())
	}
	return b.String()
}
