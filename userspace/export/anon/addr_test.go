package anon

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

func TestParseHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"192.0.2.1.", "192.0.2.1"},
		{"3221225985", "192.0.2.1"},
		{"0xC0000201", "192.0.2.1"},
		{"0xc0.0.2.1", "192.0.2.1"},
		{"0300.0.02.01", "192.0.2.1"},
		{"192.0.513", "192.0.2.1"},
		{"192.131073", "192.2.0.1"},
		{"[::ffff:192.0.2.1]", "192.0.2.1"},
		{"::ffff:c000:201", "192.0.2.1"},
		{"[2001:DB8::1]", "2001:db8::1"},
		{"fe80::1%eth0", "fe80::1"},
		{"[IPv6:2001:db8::1]", "2001:db8::1"},
		{"[192.0.2.1]", "192.0.2.1"},
		{"256.0.0.1", ""},
		{"1.2.3.4.5", ""},
		{"example.com", ""},
		{"0x", "0.0.0.0"},
		{"", ""},
		{"1..2", ""},
		{"4294967296", ""},
	}
	for _, tt := range tests {
		a, ok := ParseHost(tt.in)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tt.want {
			t.Errorf("ParseHost(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSameHost(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.1")
	v6 := netip.MustParseAddr("2001:db8:1:2:3e22:fbff:fea1:b2c3")
	tests := []struct {
		a, c netip.Addr
		want bool
	}{
		{netip.MustParseAddr("::ffff:192.0.2.1"), v4, true},
		{netip.MustParseAddr("64:ff9b::192.0.2.1"), v4, true},
		{netip.MustParseAddr("2002:c000:201::1"), v4, true},
		{netip.MustParseAddr("::192.0.2.1"), v4, true},
		{netip.MustParseAddr("fe80::5efe:192.0.2.1"), v4, true},
		{netip.MustParseAddr("192.0.2.2"), v4, false},
		{netip.MustParseAddr("2001:db8::c000:201"), v4, false},
		{netip.MustParseAddr("fe80::3e22:fbff:fea1:b2c3"), v6, true},
		{netip.MustParseAddr("2001:db8:1:2::1"), v6, false},
		{netip.MustParseAddr("2001:db8:9::1"), netip.MustParseAddr("2001:db8:1::1"), false}, // small identifiers say nothing
	}
	for _, tt := range tests {
		if got := SameHost(tt.a, tt.c); got != tt.want {
			t.Errorf("SameHost(%s, %s) = %v", tt.a, tt.c, got)
		}
	}
}

// spellings writes a in the textual forms a URL, a path or a mail can
// carry it in; computed here by formatting, not by the package's parser.
func spellings(a netip.Addr, r *rand.Rand) []string {
	if a.Is4() {
		b := a.As4()
		n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		return []string{
			a.String(),
			fmt.Sprintf("%d-%d-%d-%d", b[0], b[1], b[2], b[3]),
			fmt.Sprintf("%d_%d_%d_%d", b[0], b[1], b[2], b[3]),
			fmt.Sprint(n),
			fmt.Sprintf("0x%08X", n),
			fmt.Sprintf("0%o.0%o.0%o.0%o", b[0], b[1], b[2], b[3]),
			fmt.Sprintf("0x%x.0x%x.0x%x.0x%x", b[0], b[1], b[2], b[3]),
			fmt.Sprintf("::ffff:%d.%d.%d.%d", b[0], b[1], b[2], b[3]),
			fmt.Sprintf("::FFFF:%X:%X", uint16(n>>16), uint16(n)),
			fmt.Sprintf("0:0:0:0:0:ffff:%x:%x", uint16(n>>16), uint16(n)),
			fmt.Sprintf("64:ff9b::%d.%d.%d.%d", b[0], b[1], b[2], b[3]),
			fmt.Sprintf("%d.%d.%d", b[0], b[1], uint16(b[2])<<8|uint16(b[3])),
		}
	}
	b := a.As16()
	var groups []string
	for i := 0; i < 16; i += 2 {
		groups = append(groups, fmt.Sprintf("%x", uint16(b[i])<<8|uint16(b[i+1])))
	}
	full := make([]string, 8)
	for i := range full {
		full[i] = fmt.Sprintf("%04x", uint16(b[2*i])<<8|uint16(b[2*i+1]))
	}
	return []string{
		a.String(),
		strings.ToUpper(a.String()),
		strings.Join(groups, ":"),
		strings.Join(full, ":"),
		strings.ToUpper(strings.Join(full, ":")),
		"[" + a.String() + "]",
		strings.Join(groups, "-") + ".ipv6-literal.net",
		"fe80::" + strings.Join(groups[4:], ":"), // the interface identifier elsewhere
	}
}

// randClient is an address with four non-zero bytes (IPv4) or a
// non-trivial interface identifier (IPv6).
func randClient(r *rand.Rand, v6 bool) netip.Addr {
	if !v6 {
		return netip.AddrFrom4([4]byte{byte(1 + r.IntN(223)), byte(1 + r.IntN(254)), byte(1 + r.IntN(254)), byte(1 + r.IntN(254))})
	}
	var b [16]byte
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	b[0], b[1], b[8], b[11], b[12] = 0x20, 0x01, b[8]|0x10, 0xff, 0xfe
	return netip.AddrFrom16(b)
}

// Every spelling of a random client inside random text is found, and
// replaced, however it is surrounded; another address is not.
func TestFindAddrsProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	around := []string{"", "/", "x-", "ip-", ":", " ", "=", "(", "host.", "cafe", "~"}
	after := []string{"", "/", ".txt", ":8080", " ", ".dyn.example", ")", "-x", ".", ","}
	for i := range 3000 {
		c := randClient(r, i%2 == 1)
		match := func(a netip.Addr) bool { return SameHost(a, c) }
		for _, sp := range spellings(c, r) {
			text := around[r.IntN(len(around))] + sp + after[r.IntN(len(after))]
			out, changed := ReplaceAddrs(text, match, "<client>")
			if !changed || strings.Contains(strings.ToLower(out), strings.ToLower(sp)) {
				t.Fatalf("client %s spelled %q in %q: got %q", c, sp, text, out)
			}
		}
		other := randClient(r, i%2 == 1)
		if other != c && ContainsAddr("/x/"+other.String()+"/y", match) {
			t.Fatalf("%s taken for %s", other, c)
		}
	}
}
