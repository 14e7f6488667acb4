package mime

import (
	"slices"
	"strings"
	"testing"
)

func TestFileName(t *testing.T) {
	for _, tc := range []struct {
		hdr, name string
	}{
		// RFC 2231 continuations with a charset; unencoded segments
		// literal; out of order.
		{"Content-Disposition: attachment;\n filename*0*=UTF-8''%E2%82%AC%20rate;\n filename*1*=%20report;\n filename*2=\".pdf\"", "€ rate report.pdf"},
		{"Content-Disposition: attachment; filename*1=\"b.txt\"; filename*0=a", "ab.txt"},
		{"Content-Disposition: attachment; filename*0=a; filename*2=c", "a"}, // stops at the missing index
		// Extended value, ISO-8859-1 and windows-1252.
		{"Content-Disposition: attachment; filename*=iso-8859-1'fr'caf%E9.txt", "café.txt"},
		{"Content-Disposition: attachment; filename*=windows-1252''%80.txt", "€.txt"},
		{"Content-Disposition: attachment; filename*=ISO-8859-15''%A4.txt", "€.txt"},
		// The RFC 2231 form wins over the plain one, wherever it is.
		{"Content-Disposition: attachment; filename=\"plain.txt\"; filename*=UTF-8''better.txt", "better.txt"},
		{"Content-Disposition: attachment; filename*=UTF-8''better.txt; filename=\"plain.txt\"", "better.txt"},
		// Content-Type name is the fallback, in its forms too.
		{"Content-Type: application/x; name=\"fallback.bin\"", "fallback.bin"},
		{"Content-Type: application/x; name*=UTF-8''n%C3%A4me.bin", "näme.bin"},
		{"Content-Type: application/x; name=ct.bin\nContent-Disposition: attachment; filename=cd.bin", "cd.bin"},
		{"Content-Type: application/x; name=ct.bin\nContent-Disposition: attachment", "ct.bin"},
		// Directories stripped, both separators; unescaped backslashes.
		{"Content-Disposition: attachment; filename=\"C:\\Users\\x\\evil.exe\"", "evil.exe"},
		{"Content-Disposition: attachment; filename=\"../../etc/passwd\"", "passwd"},
		{"Content-Disposition: attachment; filename*=UTF-8''..%2F..%2Fx.sh", "x.sh"},
		{"Content-Disposition: attachment; filename=\"..\"", ""},
		// RFC 2047 in a quoted value (not standard, common).
		{"Content-Disposition: attachment; filename=\"=?UTF-8?Q?r=C3=A9sum=C3=A9.doc?=\"", "résumé.doc"},
		{"Content-Disposition: attachment; filename=\"=?UTF-8?B?0L/RgNC40LLQtdGC?= =?UTF-8?B?LnppcA==?=\"", "привет.zip"},
		// Lenient syntax: blanks in a token, escapes, open quote,
		// folded value, odd case, comments, empty parameters.
		{"Content-Disposition: attachment; filename=my file.doc ; size=3", "my file.doc"},
		{"Content-Disposition: attachment; filename=\"a\\\"b\\\\c.txt\"", "c.txt"},
		{"Content-Disposition: attachment; filename=\"open.txt", "open.txt"},
		{"Content-Disposition: attachment;\n\tFileName=\"folded\n name.txt\"", "folded name.txt"},
		{"Content-Disposition: attachment;;; novalue; filename = spaced.txt", "spaced.txt"},
		{"Content-Type: application/x (comment); name=c.bin", "c.bin"},
		// First field wins.
		{"Content-Disposition: attachment; filename=first.txt\nContent-Disposition: attachment; filename=second.txt", "first.txt"},
		// Unknown charset: the bytes as they are.
		{"Content-Disposition: attachment; filename*=x-unknown''a%41", "aA"},
	} {
		buf := []byte(strings.ReplaceAll(tc.hdr, "\r", ""))
		h := parsePartHeader(buf, "text/plain")
		if h.name != tc.name {
			t.Errorf("%q: name %q, want %q", tc.hdr, h.name, tc.name)
		}
	}
}

func TestPartHeader(t *testing.T) {
	for _, tc := range []struct {
		hdr, typ, transfer string
		enc                encoding
		boundary           string
	}{
		{"", "text/plain", "7bit", encIdentity, ""},
		{"Content-Type: TEXT/HTML; charset=utf-8", "text/html", "7bit", encIdentity, ""},
		{"Content-Type: nonsense", "text/plain", "7bit", encIdentity, ""},
		{"Content-Type: multipart/Mixed; Boundary=\"=_a b\"", "multipart/mixed", "7bit", encIdentity, "=_a b"},
		{"Content-Type: multipart/mixed;\n boundary*0=ab; boundary*1=cd", "multipart/mixed", "7bit", encIdentity, "abcd"},
		{"content-transfer-encoding: BASE64 ", "text/plain", "base64", encBase64, ""},
		{"Content-Transfer-Encoding: Quoted-Printable", "text/plain", "quoted-printable", encQP, ""},
		{"Content-Transfer-Encoding: 8BIT", "text/plain", "8bit", encIdentity, ""},
		{"Content-Transfer-Encoding: x-uue", "text/plain", "uuencode", encUU, ""},
		{"Content-Transfer-Encoding: x-weird", "text/plain", "x-weird", encIdentity, ""},
		{"Content-Transfer-Encoding: base64\nContent-Transfer-Encoding: 7bit", "text/plain", "base64", encBase64, ""},
	} {
		h := parsePartHeader([]byte(tc.hdr), "text/plain")
		if h.mtype != tc.typ || h.transfer != tc.transfer || h.enc != tc.enc || string(h.boundary) != tc.boundary {
			t.Errorf("%q: %q %q %d %q", tc.hdr, h.mtype, h.transfer, h.enc, h.boundary)
		}
	}
}

func TestDecodeWords(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{"plain text", "plain text"},
		{"=?UTF-8?B?w6lsw6h2ZQ==?=", "élève"},
		{"=?utf-8?b?w6lsw6h2ZQ?=", "élève"}, // unpadded, lower case
		{"=?ISO-8859-1?Q?Andr=E9_Pirard?=", "André Pirard"},
		{"=?iso-8859-1?q?this=20is=20some=20text?=", "this is some text"},
		{"=?windows-1252?Q?=80_and_=93quotes=94?=", "€ and “quotes”"},
		{"=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>", "Keith Moore <moore@cs.utk.edu>"},
		// RFC 2047 section 8: blanks between adjacent words vanish,
		// blanks next to text stay.
		{"(=?ISO-8859-1?Q?a?= b)", "(a b)"},
		{"(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)"},
		{"(=?ISO-8859-1?Q?a?=  \t =?ISO-8859-1?Q?b?=)", "(ab)"},
		{"(=?ISO-8859-1?Q?a_b?=)", "(a b)"},
		{"a =?UTF-8?Q?b?= c", "a b c"},
		// A character split over two words.
		{"=?UTF-8?B?4oI=?= =?UTF-8?B?rA==?=", "€"},
		// RFC 2231 language suffix.
		{"=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore"},
		// Unknown charset, bad syntax: left as they are.
		{"=?x-klingon?Q?abc?= and =?UTF-8?Q?ok?=", "=?x-klingon?Q?abc?= and ok"},
		{"=?UTF-8?X?abc?=", "=?UTF-8?X?abc?="},
		{"=?UTF-8?Q?no end", "=?UTF-8?Q?no end"},
		{"=??Q?x?=", "=??Q?x?="},
		{"=?=?UTF-8?Q?x?=", "=?x"},
		{"50% =?", "50% =?"},
	} {
		if got := decodeWords([]byte(tc.in)); got != tc.out {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.out)
		}
	}
}

func TestAddresses(t *testing.T) {
	for _, tc := range []struct {
		in       string
		out      []string
		fallback bool
	}{
		{`"Alice A." <alice@example.org>, bob@example.org`, []string{"alice@example.org", "bob@example.org"}, false},
		{`=?UTF-8?Q?J=C3=B6rg?= <joerg@example.org>`, []string{"joerg@example.org"}, false},
		{`undisclosed-recipients:;`, nil, false},
		{`Team: a@example.org, b@example.org;`, []string{"a@example.org", "b@example.org"}, false},
		// Broken lists: the lenient reading.
		{`Alice <alice@example.org>, "unclosed <bob@example.org>`, []string{"alice@example.org", "bob@example.org"}, true},
		{`alice@example.org; bob@example.org`, []string{"alice@example.org", "bob@example.org"}, true},
		{`Bob Smith bob@example.org (work)`, []string{"bob@example.org"}, true},
		{`no address here`, nil, true},
	} {
		var st Stats
		got := addrList(nil, []byte(tc.in), &st)
		if !slices.Equal(got, tc.out) || (st.AddressFallback == 1) != tc.fallback {
			t.Errorf("%q: %q (fallback %d), want %q", tc.in, got, st.AddressFallback, tc.out)
		}
	}
}

func TestBound(t *testing.T) {
	s := strings.Repeat("a", 1023) + "€"
	if got := bound(s); got != strings.Repeat("a", 1023) {
		t.Errorf("cut inside a rune: %q", got[1020:])
	}
	if got := bound("short"); got != "short" {
		t.Error(got)
	}
}
