package smtp

import "bytes"

// Verbs the parser knows (RFC 5321, 3030, 3207, 4954, 2033's LHLO and
// the common Postfix extensions). A line is a command only if its verb is
// one of these with a plausible argument: that is what first-line checks,
// resync and the DATA guess rely on.
const (
	vEHLO = iota
	vHELO
	vLHLO
	vMAIL
	vRCPT
	vDATA
	vBDAT
	vRSET
	vQUIT
	vNOOP
	vVRFY
	vEXPN
	vHELP
	vSTARTTLS
	vAUTH
	vETRN
	vXCLIENT
	vXFORWARD
)

var verbs = [...]string{
	vEHLO: "EHLO", vHELO: "HELO", vLHLO: "LHLO", vMAIL: "MAIL", vRCPT: "RCPT",
	vDATA: "DATA", vBDAT: "BDAT", vRSET: "RSET", vQUIT: "QUIT", vNOOP: "NOOP",
	vVRFY: "VRFY", vEXPN: "EXPN", vHELP: "HELP", vSTARTTLS: "STARTTLS",
	vAUTH: "AUTH", vETRN: "ETRN", vXCLIENT: "XCLIENT", vXFORWARD: "XFORWARD",
}

// command returns the verb of a command line, or -1.
func command(line []byte) int {
	l := bytes.TrimRight(line, "\r\n")
	sp := bytes.IndexByte(l, ' ')
	word, rest := l, []byte(nil)
	if sp >= 0 {
		word, rest = l[:sp], l[sp:]
	}
	v := -1
	for i, w := range verbs {
		if len(word) == len(w) && hasPrefixFold(word, w) {
			v = i
			break
		}
	}
	arg := bytes.TrimSpace(rest)
	switch v {
	case -1:
		return -1
	case vMAIL:
		if !hasPrefixFold(rest, " FROM:") {
			return -1
		}
	case vRCPT:
		if !hasPrefixFold(rest, " TO:") {
			return -1
		}
	case vBDAT:
		if len(arg) == 0 || !isDigit(arg[0]) {
			return -1
		}
	case vDATA, vRSET, vQUIT, vSTARTTLS:
		if len(arg) != 0 {
			return -1
		}
	case vAUTH:
		if sp < 0 {
			return -1 // "AUTH " alone is how a split AUTH line is classified
		}
	}
	return v
}

// couldBeCommand reports whether a line starting with prefix may still
// turn out a command: a known verb, then a space or the line end.
func couldBeCommand(prefix []byte) bool {
	for _, w := range verbs {
		n := min(len(prefix), len(w))
		if !hasPrefixFold(prefix[:n], w[:n]) {
			continue
		}
		if len(prefix) <= len(w) {
			return true
		}
		switch prefix[len(w)] {
		case ' ', '\r', '\n':
			return true
		}
	}
	return false
}

// hasPrefixFold is bytes.HasPrefix ignoring ASCII case.
func hasPrefixFold(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c, d := b[i], prefix[i]
		if c != d && (c|0x20 != d|0x20 || c|0x20 < 'a' || c|0x20 > 'z') {
			return false
		}
	}
	return true
}
