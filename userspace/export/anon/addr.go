package anon

import (
	"net/netip"
	"strconv"
	"strings"
)

// Addresses written as text. A client's address turns up in URLs, file
// names, e-mail literals and certificates in more shapes than
// netip.ParseAddr reads: the forms browsers accept as IPv4 hosts
// (3221225985, 0xC0000201, 0300.0.2.1, 192.0.513), IPv4-mapped and
// embedded IPv6 (::ffff:192.0.2.1, ::ffff:c000:201, 64:ff9b::c000:201),
// reverse-DNS style names (192-0-2-1.dyn.example), Windows UNC literals
// (2001-db8--1.ipv6-literal.net), zones and brackets. The scanners here
// find them all, so an address cannot slip through by being spelled
// another way.

// ParseHost reads a host the way a browser would: a bracketed or bare
// IPv6 address (zone dropped), a dotted IPv4 address, or one of the
// numeric IPv4 forms of the WHATWG URL standard (one to four parts,
// decimal, octal with a leading 0, hex with 0x). The address is unmapped
// (::ffff:192.0.2.1 is 192.0.2.1). ok is false for anything else.
func ParseHost(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
		if strings.HasPrefix(strings.ToLower(s), "ipv6:") { // e-mail literal
			s = s[5:]
		}
	}
	if strings.IndexByte(s, ':') >= 0 {
		if i := strings.IndexByte(s, '%'); i >= 0 {
			s = s[:i] // zone ("%eth0", "%25eth0")
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	return parseIPv4(s)
}

// parseIPv4 is the WHATWG IPv4 parser: parts separated by '.', a trailing
// '.' allowed, each decimal, octal (leading 0) or hex (0x), the last part
// filling the remaining bytes.
func parseIPv4(s string) (netip.Addr, bool) {
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	s = strings.TrimSuffix(s, ".")
	var parts [4]uint64
	n := 0
	for s != "" || n == 0 {
		if n == 4 {
			return netip.Addr{}, false
		}
		part := s
		if i := strings.IndexByte(s, '.'); i >= 0 {
			part, s = s[:i], s[i+1:]
			if s == "" {
				return netip.Addr{}, false // "a..": an empty part
			}
		} else {
			s = ""
		}
		v, ok := ipv4Number(part)
		if !ok {
			return netip.Addr{}, false
		}
		parts[n] = v
		n++
	}
	var v uint64
	for i := 0; i < n-1; i++ {
		if parts[i] > 255 {
			return netip.Addr{}, false
		}
		v = v<<8 | parts[i]
	}
	last := parts[n-1]
	if last >= 1<<(8*(5-n)) {
		return netip.Addr{}, false
	}
	v = v<<(8*(5-n)) | last
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// ipv4Number reads one WHATWG IPv4 part.
func ipv4Number(p string) (uint64, bool) {
	base := 10
	switch {
	case len(p) >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		p, base = p[2:], 16
		if p == "" {
			return 0, true // "0x" is zero
		}
	case len(p) >= 2 && p[0] == '0':
		p, base = p[1:], 8
	}
	if p == "" || len(p) > 32 {
		return 0, false
	}
	for i := 0; i < len(p); i++ {
		// Checked here rather than by ParseUint, whose error for a host
		// name (most inputs) costs an allocation.
		if c := p[i] | 0x20; !('0' <= p[i] && p[i] <= '9' && int(p[i]-'0') < base || base == 16 && 'a' <= c && c <= 'f') {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(p, base, 64)
	if err != nil || v > 1<<32 {
		return 0, false
	}
	return v, true
}

// SameHost says whether a is the client c, also when a only embeds it:
// IPv4 in IPv6 (NAT64 64:ff9b::/96, 6to4 2002::/16, the deprecated
// compatible ::/96, ISATAP), and an IPv6 address carrying c's interface
// identifier (its lower 64 bits) when that identifier is not a small
// number: the identifier alone names the device (EUI-64 holds its MAC).
func SameHost(a, c netip.Addr) bool {
	if !a.IsValid() || !c.IsValid() {
		return false
	}
	a, c = a.Unmap().WithZone(""), c.Unmap().WithZone("")
	if a == c {
		return true
	}
	if !a.Is6() {
		return false
	}
	b := a.As16()
	if c.Is4() {
		v4 := c.As4()
		switch {
		case b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && zero(b[4:12]), // NAT64
			zero(b[:12]), // ::a.b.c.d
			b[10] == 0x5e && b[11] == 0xfe && (b[8] == 0 || b[8] == 2) && zero(b[9:10]): // ISATAP
			return [4]byte(b[12:]) == v4
		case b[0] == 0x20 && b[1] == 0x02: // 6to4
			return [4]byte(b[2:6]) == v4
		}
		return false
	}
	cb := c.As16()
	return [8]byte(b[8:]) == [8]byte(cb[8:]) && !zero(cb[8:14])
}

func zero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// addrSpan is where an address was found in a text.
type addrSpan struct{ start, end int }

// findAddrs returns the spans of text that spell an address that match
// accepts, in order and not overlapping. It splits the text into runs of
// the characters addresses are written with, each run into atoms between
// separators ('.', ':', '-', '_', '%'), and tries the forms an address can
// take from each atom on: colon-separated (IPv6, with an embedded dotted
// quad), dotted (one to four parts, WHATWG), dashed or underscored
// quads, UNC literals, and long bare numbers. An atom with a hex word
// glued to its front ("cafe192.0.2.1") is also tried from its digits.
func findAddrs(text string, match func(netip.Addr) bool) []addrSpan {
	var spans []addrSpan
	var atoms []atom
	for i := 0; i < len(text); {
		if !addrChar(text[i]) {
			i++
			continue
		}
		j := i
		for j < len(text) && addrChar(text[j]) {
			j++
		}
		spans, atoms = scanRun(spans, atoms[:0], text, i, j, match)
		i = j
	}
	return spans
}

// addrChar: hex digits, the separators of the textual forms, and the 'x'
// of 0x.
func addrChar(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' ||
		c == '.' || c == ':' || c == '-' || c == '_' || c == 'x' || c == 'X' || c == '%'
}

func addrSep(c byte) bool { return c == '.' || c == ':' || c == '-' || c == '_' || c == '%' }

// atom is text[s:e] between separators; sep is the separator after it
// (0 at the end of the run).
type atom struct {
	s, e int
	sep  byte
}

// maxRun bounds one run: longer ones are cut (at most an address's
// length is lost at each cut, and only where a run is that long).
const maxRun = 512

func scanRun(spans []addrSpan, atoms []atom, text string, i, j int, match func(netip.Addr) bool) ([]addrSpan, []atom) {
	if j-i > maxRun {
		for k := i; k < j; k += maxRun - 64 {
			spans, atoms = scanRun(spans, atoms[:0], text, k, min(k+maxRun, j), match)
		}
		return spans, atoms
	}
	digits, colons := false, 0
	for k := i; k < j; k++ {
		digits = digits || isDigit(text[k])
		if text[k] == ':' {
			colons++
		}
	}
	if !digits && colons < 2 {
		return spans, atoms // every form but a few IPv6 ones has a digit
	}
	s := i
	for k := i; k <= j; k++ {
		if k == j || addrSep(text[k]) {
			var sep byte
			if k < j {
				sep = text[k]
			}
			atoms = append(atoms, atom{s, k, sep})
			s = k + 1
		}
	}
	after := i // spans found end here; do not overlap them
	for k := 0; k < len(atoms); k++ {
		if atoms[k].e <= after && atoms[k].s < after {
			continue
		}
		if atoms[k].s >= after {
			if end, ok := tryAtom(text, j, atoms, k, atoms[k].s, match); ok {
				spans = append(spans, addrSpan{atoms[k].s, end})
				after = end
				continue
			}
		}
		if k > 0 && atoms[k].s == atoms[k].e && atoms[k].s-1 >= after && atoms[k-1].sep == ':' && atoms[k].sep == ':' {
			// "::" after something else ("cafe::ffff:..."): start at
			// its first colon.
			if end, ok := tryAtom(text, j, atoms, k, atoms[k].s-1, match); ok {
				spans = append(spans, addrSpan{atoms[k].s - 1, end})
				after = end
				continue
			}
		}
		// Hex letters glued to the front ("cafe192.0.2.1", "A0A192..."):
		// from each place digits start inside the atom.
		for g, n := max(atoms[k].s+1, after), 0; g < atoms[k].e && n < 8; g++ {
			if !gluedStart(text, g) {
				continue
			}
			n++
			if end, ok := tryAtom(text, j, atoms, k, g, match); ok {
				spans = append(spans, addrSpan{g, end})
				after = end
				break
			}
		}
	}
	return spans, atoms
}

// gluedStart says whether digits start at g inside an atom (the atom
// itself, "0x..." included, was tried from its start).
func gluedStart(text string, g int) bool {
	return isDigit(text[g]) && !isDigit(text[g-1])
}

// tryAtom tries the forms of an address that start at st, inside atom k
// of the run ending at j; it returns the end of the one match accepts.
func tryAtom(text string, j int, atoms []atom, k, st int, match func(netip.Addr) bool) (int, bool) {
	hit := func(s string) bool {
		a, ok := ParseHost(s)
		return ok && match(a)
	}
	// The separator before, when an atom (not just punctuation) is there.
	prevSep := byte(0)
	if st == atoms[k].s && k > 0 && atoms[k-1].e > atoms[k-1].s {
		prevSep = atoms[k-1].sep
	}
	// Colon forms: atoms joined by ':' (empty ones make "::"), then at
	// most three more joined by '.' (an embedded dotted quad). The
	// longest first, then shorter (a port or a name may follow).
	if atoms[k].sep == ':' {
		n := k
		for n+1 < len(atoms) && atoms[n].sep == ':' && n-k < 9 {
			n++
		}
		for d := 0; d < 3 && n+1 < len(atoms) && atoms[n].sep == '.'; d++ {
			n++
		}
		for m := n; m >= k+2; m-- {
			if atoms[m].e-st > 60 {
				continue
			}
			if c := text[st:atoms[m].e]; strings.Count(c, ":") >= 2 && hit(c) {
				return atoms[m].e, true
			}
		}
	}
	// Dotted: four parts; fewer only when nothing dotted is around them.
	if atoms[k].sep == '.' && prevSep != '.' {
		for n := 3; n >= 0; n-- {
			m := k + n
			if m >= len(atoms) || m > k && !joined(atoms[k:m+1], '.') {
				continue
			}
			if n < 3 && atoms[m].sep == '.' && m+1 < len(atoms) && atoms[m+1].e > atoms[m+1].s && isDigit(text[atoms[m+1].s]) {
				continue // more dotted numbers follow: not a short form
			}
			if atoms[m].e-st <= 64 && hit(text[st:atoms[m].e]) {
				return atoms[m].e, true
			}
			// Hex letters glued to the end: "192.0.2.1af".
			if d := digitsEnd(text, max(st, atoms[m].s), atoms[m].e); d < atoms[m].e && d > st && d-st <= 64 && hit(text[st:d]) {
				return d, true
			}
		}
	}
	// A bare number, not part of a dotted number: 3221225985, 0xC0000201.
	nextNum := atoms[k].sep == '.' && k+1 < len(atoms) && atoms[k+1].e > atoms[k+1].s && isDigit(text[atoms[k+1].s])
	if prevSep != '.' && !nextNum {
		if c := text[st:atoms[k].e]; len(strings.TrimPrefix(strings.TrimPrefix(c, "0x"), "0X")) >= 7 && hit(c) {
			return atoms[k].e, true
		}
	}
	// Dashed and underscored quads: 192-0-2-1, 192_0_2_1.
	if sep := atoms[k].sep; (sep == '-' || sep == '_') && k+3 < len(atoms) && joined(atoms[k:k+4], sep) {
		var b [4]byte
		ok := true
		for n := 0; n < 4 && ok; n++ {
			a := atoms[k+n]
			s := st
			if n > 0 {
				s = a.s
			}
			v, err := strconv.Atoi(text[s:a.e])
			ok = err == nil && v >= 0 && v <= 255 && a.e-s <= 3
			b[n] = byte(v)
		}
		if ok && match(netip.AddrFrom4(b)) {
			return atoms[k+3].e, true
		}
	}
	// UNC literal: 2001-db8--1.ipv6-literal.net (the run stops at 'i').
	if atoms[k].sep == '-' && atoms[len(atoms)-1].sep == 0 && atoms[len(atoms)-1].s == j &&
		j+16 <= len(text) && strings.EqualFold(text[j:j+16], "ipv6-literal.net") && j-1-st <= 64 {
		if c := strings.ReplaceAll(text[st:j-1], "-", ":"); hit(c) {
			return j + 16, true
		}
	}
	return 0, false
}

// digitsEnd is where the digits at text[s:e] end (e when there are none).
func digitsEnd(text string, s, e int) int {
	d := s
	for d < e && isDigit(text[d]) {
		d++
	}
	if d == s {
		return e
	}
	return d
}

// joined says whether the atoms are separated by sep only.
func joined(as []atom, sep byte) bool {
	for _, a := range as[:len(as)-1] {
		if a.sep != sep {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// ContainsAddr says whether text spells, in any form, an address match
// accepts.
func ContainsAddr(text string, match func(netip.Addr) bool) bool {
	return len(findAddrs(text, match)) > 0
}

// ReplaceAddrs replaces every spelling of an address match accepts with
// repl; changed says whether there was one.
func ReplaceAddrs(text string, match func(netip.Addr) bool, repl string) (string, bool) {
	spans := findAddrs(text, match)
	if len(spans) == 0 {
		return text, false
	}
	var b strings.Builder
	last := 0
	for _, s := range spans {
		if s.start < last {
			continue
		}
		b.WriteString(text[last:s.start])
		b.WriteString(repl)
		last = s.end
	}
	b.WriteString(text[last:])
	return b.String(), true
}
