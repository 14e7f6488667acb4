// Package leaktest hunts for personal values in what left the sensor. It
// makes random personal values (user names, passwords, tokens, e-mail
// addresses, client addresses), writes them in the many textual forms
// they take on the wire, and searches any bytes (records, request bodies,
// stored files) for each of them in every form it can appear in:
// percent- and double-encoded, JSON-escaped, upper or lower case, hex,
// base64, and for addresses every spelling (IPv4-mapped IPv6, integers,
// dashed, expanded IPv6, the interface identifier alone).
//
// It is deliberately independent of the anonymisers it checks
// (userspace/export/anon): its decoders and address spellings are its own.
package leaktest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Seed is a property test's seed: random by default and logged, so a
// failure can be replayed with EDGESENSOR_LEAK_SEED.
func Seed(tb testing.TB) uint64 {
	if s := os.Getenv("EDGESENSOR_LEAK_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			tb.Fatalf("EDGESENSOR_LEAK_SEED: %v", err)
		}
		return n
	}
	n := uint64(time.Now().UnixNano())
	tb.Logf("seed %d (EDGESENSOR_LEAK_SEED=%d replays it)", n, n)
	return n
}

// Kinds of personal values.
const (
	User     = "user"
	Password = "password"
	Token    = "token"
	Email    = "email"
	Local    = "email-local-part"
	IPv4     = "client-ipv4"
	IPv6     = "client-ipv6"
	Outer    = "equipment-ipv4" // the customer's tunnel endpoints
	Device   = "device"
	Words    = "words" // subjects, titles, display names
)

// Secret is one personal value that must not leave.
type Secret struct {
	Kind  string
	Value string
}

func (s Secret) String() string { return s.Kind + " " + s.Value }

// Gen makes random personal values. Letters are drawn so that no value
// can be read as hex digits (each has a letter past 'f'), so a keyed
// hash or a fingerprint can never spell one by chance.
type Gen struct{ R *rand.Rand }

// NewGen seeds a generator.
func NewGen(seed uint64) *Gen { return &Gen{R: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

const letters = "abcdefghijklmnopqrstuvwxyz"

// Word is n random letters, at least one past 'f'.
func (g *Gen) Word(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[g.R.IntN(len(letters))]
	}
	b[g.R.IntN(n)] = letters[6+g.R.IntN(20)]
	return string(b)
}

// Name is a user name: letters, sometimes a dot.
func (g *Gen) Name() string {
	n := g.Word(6 + g.R.IntN(5))
	if g.R.IntN(3) == 0 {
		n += "." + g.Word(4)
	}
	return n
}

// Password has letters, digits and punctuation a URL must encode.
func (g *Gen) Password() string {
	return g.Word(4) + fmt.Sprint(g.R.IntN(9000)+1000) + []string{"!", "$", "*", "~", ""}[g.R.IntN(5)] + g.Word(3)
}

// Token is an opaque credential: base64url-ish letters and digits.
func (g *Gen) Token() string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, 24+g.R.IntN(16))
	for i := range b {
		b[i] = alpha[g.R.IntN(len(alpha))]
	}
	b[0] = 'Q' // never hex, never a JWT
	return string(b)
}

// JWT is a token shaped like a JSON web token.
func (g *Gen) JWT() string {
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"` + g.Word(10) + `"}`))
	return head + "." + body + "." + g.Token()
}

// Email is local@domain with random parts.
func (g *Gen) Email() string {
	return g.Name() + "@" + g.Word(6) + "." + []string{"example", "test", "invalid"}[g.R.IntN(3)]
}

// ClientV4 is a random unicast IPv4 address outside 10/8, 127/8 and
// 203.0.113/24 (where the generated servers live), with no zero byte.
func (g *Gen) ClientV4() netip.Addr {
	for {
		a := netip.AddrFrom4([4]byte{byte(1 + g.R.IntN(222)), byte(1 + g.R.IntN(254)), byte(1 + g.R.IntN(254)), byte(1 + g.R.IntN(254))})
		b := a.As4()
		if b[0] != 10 && b[0] != 127 && !(b[0] == 203 && b[1] == 0 && b[2] == 113) && b[0] < 224 {
			return a
		}
	}
}

// ClientV6 is a random global IPv6 address whose interface identifier is
// EUI-64 (it carries a MAC address: ff:fe in the middle).
func (g *Gen) ClientV6() netip.Addr {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.R.IntN(256))
	}
	b[0], b[1] = 0x20, 0x01
	b[2], b[3] = 0x0d|byte(g.R.IntN(2))<<4, 0xb8 // 2001:db8::/32 or 2001:1db8
	b[11], b[12] = 0xff, 0xfe
	b[8] |= 0x02
	return netip.AddrFrom16(b)
}

// Case returns s in a random case variant: lower, upper or mixed.
func (g *Gen) Case(s string) string {
	switch g.R.IntN(3) {
	case 0:
		return strings.ToLower(s)
	case 1:
		return strings.ToUpper(s)
	}
	b := []byte(s)
	for i, c := range b {
		if g.R.IntN(2) == 0 && 'a' <= c && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// PctEncode percent-encodes every byte of s that is not a letter or digit,
// and with all, letters and digits too; upper sets the hex case.
func PctEncode(s string, all, upper bool) string {
	h := "0123456789abcdef"
	if upper {
		h = "0123456789ABCDEF"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !all && ('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(h[c>>4])
		b.WriteByte(h[c&15])
	}
	return b.String()
}

// AddrSpellings are textual forms of a client address as they appear on
// the wire (hosts, paths, literals), for injecting.
func AddrSpellings(a netip.Addr) []string {
	if a.Is4() {
		b := a.As4()
		n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		return []string{
			a.String(),
			fmt.Sprintf("::ffff:%s", a),
			fmt.Sprintf("::FFFF:%X:%X", n>>16, n&0xffff),
			fmt.Sprintf("%d-%d-%d-%d", b[0], b[1], b[2], b[3]),
			fmt.Sprint(n),
			fmt.Sprintf("0x%08x", n),
		}
	}
	return []string{a.String(), strings.ToUpper(a.String()), expand6(a), strings.ReplaceAll(a.String(), ":", "-") + ".ipv6-literal.net"}
}

func expand6(a netip.Addr) string {
	b := a.As16()
	g := make([]string, 8)
	for i := range g {
		g[i] = fmt.Sprintf("%04x", uint16(b[2*i])<<8|uint16(b[2*i+1]))
	}
	return strings.Join(g, ":")
}

// needle is one form of a secret to look for; numeric forms need
// boundaries (a dotted quad inside a longer number is another number).
type needle struct {
	form     string
	boundary bool
}

// needles are the forms of a secret searched for, all lower case.
func needles(s Secret) []needle {
	v := strings.ToLower(s.Value)
	switch s.Kind {
	case IPv4, Outer:
		a, err := netip.ParseAddr(s.Value)
		if err != nil {
			return nil
		}
		b := a.As4()
		n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		return []needle{
			{a.String(), true},
			{fmt.Sprintf("%d-%d-%d-%d", b[0], b[1], b[2], b[3]), true},
			{fmt.Sprintf("%d_%d_%d_%d", b[0], b[1], b[2], b[3]), true},
			{fmt.Sprint(n), true},
			{fmt.Sprintf("%08x", n), true},
			{fmt.Sprintf("ffff:%x:%x", n>>16, n&0xffff), true},
			{fmt.Sprintf("ffff:%04x:%04x", n>>16, n&0xffff), true},
			{hex.EncodeToString(b[:]), true},
		}
	case IPv6:
		a, err := netip.ParseAddr(s.Value)
		if err != nil {
			return nil
		}
		full := expand6(a)
		b := a.As16()
		iid := netip.AddrFrom16([16]byte(append(make([]byte, 8), b[8:]...))).String() // "::x:y:z:w"
		var short []string
		for i := 0; i < 8; i++ {
			short = append(short, fmt.Sprintf("%x", uint16(b[2*i])<<8|uint16(b[2*i+1])))
		}
		return []needle{
			{a.String(), true},
			{full, true},
			{strings.Join(short, ":"), true},
			{strings.TrimPrefix(iid, "::"), true}, // the interface identifier: the MAC
			{strings.Join(strings.Split(full, ":")[4:], ":"), true},
			{strings.ReplaceAll(a.String(), ":", "-"), true},
			{hex.EncodeToString(b[:]), true},
			{hex.EncodeToString(b[8:]), true},
		}
	}
	out := []needle{{v, false}}
	if len(s.Value) >= 6 {
		out = append(out, needle{hex.EncodeToString([]byte(s.Value)), false})
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			for k := 0; k < 3; k++ {
				e := enc.EncodeToString(append(bytes.Repeat([]byte{0}, k), s.Value...))
				start, end := (k*8+5)/6, (k+len(s.Value))*8/6
				if end-start >= 6 {
					out = append(out, needle{strings.ToLower(e[start:end]), false})
				}
			}
		}
	}
	return out
}

// Finding is one secret found.
type Finding struct {
	Secret  Secret
	Form    string // the form it was found in
	Where   string // which haystack
	View    string // raw, json, decoded
	Context string // the text around it
}

func (f Finding) String() string {
	return fmt.Sprintf("%s found as %q in %s (%s view): ...%s...", f.Secret, f.Form, f.Where, f.View, f.Context)
}

// Search looks for every secret, in every form, in every haystack, seen
// raw, JSON-unescaped and percent-decoded (up to four times), all lower
// case.
func Search(haystacks map[string][]byte, secrets []Secret) []Finding {
	var out []Finding
	names := make([]string, 0, len(haystacks))
	for n := range haystacks {
		names = append(names, n)
	}
	slices.Sort(names)
	type sn struct {
		s Secret
		n []needle
	}
	var all []sn
	for _, s := range secrets {
		all = append(all, sn{s, needles(s)})
	}
	for _, name := range names {
		for _, v := range views(haystacks[name]) {
			for _, x := range all {
				for _, nd := range x.n {
					if i := find(v.text, nd); i >= 0 {
						lo, hi := max(0, i-60), min(len(v.text), i+len(nd.form)+60)
						out = append(out, Finding{Secret: x.s, Form: nd.form, Where: name, View: v.name, Context: string(v.text[lo:hi])})
						break
					}
				}
			}
		}
	}
	return out
}

type view struct {
	name string
	text []byte
}

// views are the ways the bytes can be read: raw; with JSON string
// escapes undone (\u0040, \/); and that percent-decoded until it stops
// changing (four times at most), '+' as a space too.
func views(b []byte) []view {
	raw := bytes.ToLower(b)
	js := jsonUnescape(b)
	out := []view{{"raw", raw}, {"json", bytes.ToLower(js)}}
	dec := js
	for i := 0; i < 4; i++ {
		d := pctDecode(dec)
		if bytes.Equal(d, dec) {
			break
		}
		dec = d
		out = append(out, view{fmt.Sprintf("decoded%d", i+1), bytes.ToLower(dec)})
	}
	if bytes.IndexByte(dec, '+') >= 0 {
		out = append(out, view{"plus", bytes.ToLower(bytes.ReplaceAll(dec, []byte("+"), []byte(" ")))})
	}
	return out
}

// jsonUnescape undoes the escapes of every JSON string in b: each line
// that is JSON is decoded and its strings written out; other bytes stay.
func jsonUnescape(b []byte) []byte {
	if bytes.IndexByte(b, '\\') < 0 {
		return b
	}
	var out bytes.Buffer
	for _, line := range bytes.Split(b, []byte("\n")) {
		var v any
		if json.Unmarshal(line, &v) == nil {
			writeStrings(&out, v)
		} else {
			out.Write(line)
		}
		out.WriteByte('\n')
	}
	return out.Bytes()
}

func writeStrings(out *bytes.Buffer, v any) {
	switch x := v.(type) {
	case string:
		out.WriteString(x)
		out.WriteByte('\n')
	case []any:
		for _, e := range x {
			writeStrings(out, e)
		}
	case map[string]any:
		for k, e := range x {
			out.WriteString(k)
			out.WriteByte('\n')
			writeStrings(out, e)
		}
	default:
		fmt.Fprintln(out, x)
	}
}

func pctDecode(b []byte) []byte {
	if bytes.IndexByte(b, '%') < 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '%' && i+2 < len(b) {
			if h, ok := hexVal(b[i+1]); ok {
				if l, ok := hexVal(b[i+2]); ok {
					out = append(out, h<<4|l)
					i += 2
					continue
				}
			}
		}
		out = append(out, b[i])
	}
	return out
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// find is bytes.Index with, for numeric forms, boundaries: no digit (hex
// digit for colon and hex forms) right before or after.
func find(text []byte, nd needle) int {
	f := []byte(nd.form)
	from := 0
	for {
		i := bytes.Index(text[from:], f)
		if i < 0 {
			return -1
		}
		i += from
		if !nd.boundary || bounded(text, i, i+len(f), nd.form) {
			return i
		}
		from = i + 1
	}
}

func bounded(text []byte, s, e int, form string) bool {
	colon := strings.IndexByte(form, ':') >= 0 || isHexOnly(form)
	cont := func(c byte) bool {
		if '0' <= c && c <= '9' {
			return true
		}
		return colon && 'a' <= c && c <= 'f'

	}
	if s > 0 && (cont(text[s-1]) || text[s-1] == '.' && s > 1 && '0' <= text[s-2] && text[s-2] <= '9' && !colon) {
		return false
	}
	if e < len(text) && (cont(text[e]) || text[e] == '.' && e+1 < len(text) && '0' <= text[e+1] && text[e+1] <= '9' && !colon) {
		return false
	}
	return true
}

func isHexOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
