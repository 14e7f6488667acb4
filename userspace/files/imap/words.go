package imap

import (
	"bytes"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// Commands the parser knows (RFC 9051, 3501 and common extensions). A
// line is a command only if its name is one of these: that is what the
// first-line check and resync rely on.
const (
	cLOGIN = iota
	cAUTHENTICATE
	cSELECT
	cEXAMINE
	cAPPEND
	cSTARTTLS
	cCOMPRESS
	cIDLE
	cOther // names from here on need nothing special
)

var commands = []string{
	cLOGIN: "LOGIN", cAUTHENTICATE: "AUTHENTICATE", cSELECT: "SELECT", cEXAMINE: "EXAMINE",
	cAPPEND: "APPEND", cSTARTTLS: "STARTTLS", cCOMPRESS: "COMPRESS", cIDLE: "IDLE",
	cOther: "CAPABILITY", "NOOP", "LOGOUT", "CREATE", "DELETE", "RENAME", "SUBSCRIBE",
	"UNSUBSCRIBE", "LIST", "LSUB", "STATUS", "CHECK", "CLOSE", "EXPUNGE", "SEARCH", "FETCH",
	"STORE", "COPY", "MOVE", "UID", "ENABLE", "ID", "NAMESPACE", "UNSELECT", "GETQUOTA",
	"GETQUOTAROOT", "SETQUOTA", "GETACL", "SETACL", "DELETEACL", "LISTRIGHTS", "MYRIGHTS",
	"GETMETADATA", "SETMETADATA", "SORT", "THREAD", "ESEARCH", "NOTIFY", "REPLACE", "XLIST",
}

// lookup returns a command's index, or -1.
func lookup(name []byte) int {
	for i, c := range commands {
		if len(name) == len(c) && hasPrefixFold(name, c) {
			return i
		}
	}
	return -1
}

// splitCommand splits "tag SP name [SP rest]" (line end removed).
func splitCommand(l []byte) (tag, name, rest []byte) {
	l = bytes.TrimRight(l, "\r\n")
	tag, l, _ = bytes.Cut(l, []byte(" "))
	name, rest, _ = bytes.Cut(l, []byte(" "))
	return tag, name, rest
}

// isTagChar: a tag is ASTRING-CHARs but '+' (RFC 9051 9).
func isTagChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', '%', '*', '"', '\\', '+':
		return false
	}
	return true
}

// astring reads a mailbox name: an atom, a quoted string (unescaped) or
// a literal (isLit: its bytes follow the line).
func astring(b []byte) (name []byte, isLit bool) {
	b = bytes.TrimLeft(b, " ")
	switch {
	case len(b) == 0:
		return nil, false
	case b[0] == '{' || (b[0] == '~' && len(b) > 1 && b[1] == '{'):
		_, at, ok := trailingLiteral(b)
		return nil, ok && at == 0
	case b[0] == '"':
		j, ok := quotedEnd(b, 0)
		if !ok {
			return nil, false
		}
		return unquote(nil, b[1:j-1]), false
	}
	if i := bytes.IndexAny(b, " ()\r\n"); i >= 0 {
		b = b[:i]
	}
	return b, false
}

// quotedEnd returns the index after the closing quote of the quoted
// string at b[i].
func quotedEnd(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		case '\r', '\n':
			return 0, false
		}
	}
	return 0, false
}

// unquote appends the content of a quoted string, escapes removed.
func unquote(dst, q []byte) []byte {
	for i := 0; i < len(q); i++ {
		if q[i] == '\\' && i+1 < len(q) {
			i++
		}
		dst = append(dst, q[i])
	}
	return dst
}

func bounded(b []byte) string {
	return string(b[:min(len(b), transfer.MaxHeaderValue)])
}

// hasPrefixFold is bytes.HasPrefix ignoring ASCII case.
func hasPrefixFold(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if lower(b[i]) != lower(prefix[i]) {
			return false
		}
	}
	return true
}

func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if hasPrefixFold(b[i:], s) {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// number reads the decimal digits b starts with: their value and how
// many there are. ok is false when there are none, or past 2^58 (no
// IMAP number, size or offset comes near).
func number(b []byte) (n int64, k int, ok bool) {
	for k < len(b) && isDigit(b[k]) {
		if n > 1<<58 {
			return 0, 0, false
		}
		n = n*10 + int64(b[k]-'0')
		k++
	}
	return n, k, k > 0
}
