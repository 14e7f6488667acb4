package leaktest

import (
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"
)

// The search must find a secret however it was written: a search that
// misses a form would pass any leak test.
func TestSearchFindsEveryForm(t *testing.T) {
	g := NewGen(7)
	for range 200 {
		user, email, tok := g.Name(), g.Email(), g.Token()
		v4, v6 := g.ClientV4(), g.ClientV6()
		secrets := []Secret{{User, user}, {Email, email}, {Token, tok}, {IPv4, v4.String()}, {IPv6, v6.String()}}
		for _, hay := range []struct {
			s    Secret
			text string
		}{
			{secrets[0], "/Users/" + g.Case(user) + "/x"},
			{secrets[0], `{"a":"` + strings.ReplaceAll(user, ".", `\u002e`) + `"}`},
			{secrets[0], "q=" + PctEncode(user, true, false)},
			{secrets[0], "q=" + strings.ReplaceAll(PctEncode(user, true, true), "%", "%25")},
			{secrets[0], "auth " + base64.StdEncoding.EncodeToString([]byte("x:"+user+":y"))},
			{secrets[0], "hex " + strings.ToUpper(hexOf(user))},
			{secrets[1], "to=" + PctEncode(email, false, true)},
			{secrets[2], "#access_token=" + tok},
			{secrets[3], "http://" + v4.String() + ":80/"},
			{secrets[3], "[::ffff:" + v4.String() + "]"},
			{secrets[3], AddrSpellings(v4)[2]},
			{secrets[3], "ip-" + AddrSpellings(v4)[3] + ".dyn"},
			{secrets[3], "host=" + AddrSpellings(v4)[4]},
			{secrets[4], "[IPv6:" + strings.ToUpper(v6.String()) + "]"},
			{secrets[4], expand6(v6)},
			{secrets[4], "fe80::" + iidOf(v6)},
		} {
			if f := Search(map[string][]byte{"h": []byte(hay.text)}, []Secret{hay.s}); len(f) == 0 {
				t.Fatalf("%s not found in %q", hay.s, hay.text)
			}
		}
		// And not where it is not: other values, a longer number, a hash.
		other := g.ClientV4()
		if other != v4 {
			if f := Search(map[string][]byte{"h": []byte("x " + other.String() + " " + v4.String() + "9")}, secrets[3:4]); len(f) != 0 {
				t.Fatalf("false finding: %v", f)
			}
		}
	}
}

func hexOf(s string) string {
	const h = "0123456789abcdef"
	var out []byte
	for i := 0; i < len(s); i++ {
		out = append(out, h[s[i]>>4], h[s[i]&15])
	}
	return string(out)
}

func iidOf(a netip.Addr) string {
	s := expand6(a)
	return strings.Join(strings.Split(s, ":")[4:], ":")
}
