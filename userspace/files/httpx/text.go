package httpx

import (
	"strings"
	"unicode/utf8"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isTchar: RFC 9110 §5.6.2 token characters.
func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', isDigit(c):
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func unhex(c byte) int {
	switch {
	case isDigit(c):
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// foldEq compares b to the lower-case ASCII s, ignoring case, without
// converting b to a string.
func foldEq(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// foldContains reports whether b contains the lower-case ASCII s,
// ignoring case.
func foldContains(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if foldEq(b[i:i+len(s)], s) {
			return true
		}
	}
	return false
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

func trimOWS(b []byte) []byte {
	for len(b) > 0 && isOWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isOWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func trimOWSString(s string) string {
	for len(s) > 0 && isOWS(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isOWS(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// clip copies b into a string of at most transfer.MaxHeaderValue bytes.
func clip(b []byte) string {
	return clipString(string(b[:cutPoint(b, transfer.MaxHeaderValue)]))
}

// clipString cuts s to transfer.MaxHeaderValue bytes, on a rune boundary
// when s is UTF-8.
func clipString(s string) string {
	if len(s) <= transfer.MaxHeaderValue {
		return s
	}
	n := transfer.MaxHeaderValue
	// Back off to a rune start (at most 3 bytes, so junk cannot eat it).
	for i := 0; i < utf8.UTFMax-1 && !utf8.RuneStart(s[n]); i++ {
		n--
	}
	return s[:n]
}

// cutPoint bounds a copy before the exact clip, so a huge b is never
// copied whole.
func cutPoint(b []byte, n int) int { return min(len(b), n+utf8.UTFMax) }

// clipJoin appends v to s with sep, clipped.
func clipJoin(s, sep string, v []byte) string {
	if s == "" {
		return clip(v)
	}
	if len(s) >= transfer.MaxHeaderValue {
		return s
	}
	return clipString(s + sep + string(v[:cutPoint(v, transfer.MaxHeaderValue)]))
}

// isToken: a non-empty run of token characters (a field name).
func isToken(b []byte) bool {
	for _, c := range b {
		if !isTchar(c) {
			return false
		}
	}
	return len(b) > 0
}

// hasCTL reports a control byte other than HT (RFC 9110 §5.5: a field
// value has none).
func hasCTL(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}

// isMethodWord: what a method looks like where only a real request will
// do (a resync): an upper-case letter, then upper-case letters, digits,
// '-' or '_' (GET, M-SEARCH, VERSION-CONTROL).
func isMethodWord(b []byte) bool {
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
		case i > 0 && (isDigit(c) || c == '-' || c == '_'):
		default:
			return false
		}
	}
	return len(b) > 0 && len(b) <= maxMethod
}
