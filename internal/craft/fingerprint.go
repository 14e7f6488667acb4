package craft

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// The fingerprints of the hellos a case makes up (a padded 64 KiB
// hello), written from their specifications, independently of the
// sensor: JA3/JA3S as Salesforce defined them and Wireshark computes
// them (tests compare with tshark), JA4 from FoxIO's "JA4: TLS Client
// Fingerprinting" (tests compare with the corpus truths, which the JA4
// authors' reference code computed).

// isGREASE reports the reserved values of RFC 8701 (0x0a0a, 0x1a1a...).
func isGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

func u16s(b []byte) []uint16 {
	var out []uint16
	for i := 0; i+1 < len(b); i += 2 {
		out = append(out, binary.BigEndian.Uint16(b[i:]))
	}
	return out
}

// listExt is the uint16 list of an extension with a length prefix of
// prefix bytes (2 for groups, signature algorithms; 1 for versions).
func (h *Hello) listExt(t uint16, prefix int) []uint16 {
	d, ok := h.Ext(t)
	if !ok || len(d) < prefix {
		return nil
	}
	return u16s(d[prefix:])
}

func joinDec(vs []uint16, skipGREASE bool) string {
	var s []string
	for _, v := range vs {
		if skipGREASE && isGREASE(v) {
			continue
		}
		s = append(s, strconv.Itoa(int(v)))
	}
	return strings.Join(s, "-")
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// JA3String is "version,ciphers,extensions,groups,point formats" of a
// ClientHello, decimal, GREASE left out.
func (h *Hello) JA3String() string {
	var exts []uint16
	for _, e := range h.Exts {
		exts = append(exts, e.Type)
	}
	var pf []string
	if d, ok := h.Ext(11); ok && len(d) > 0 {
		for _, f := range d[1:] {
			pf = append(pf, strconv.Itoa(int(f)))
		}
	}
	return fmt.Sprintf("%d,%s,%s,%s,%s", h.Version, joinDec(h.Ciphers, true), joinDec(exts, true),
		joinDec(h.listExt(10, 2), true), strings.Join(pf, "-"))
}

// JA3 is the MD5 of JA3String.
func (h *Hello) JA3() string { return md5hex(h.JA3String()) }

// JA3S is the MD5 of "version,cipher,extensions" of a ServerHello.
func (h *Hello) JA3S() string {
	var exts []uint16
	for _, e := range h.Exts {
		exts = append(exts, e.Type)
	}
	return md5hex(fmt.Sprintf("%d,%d,%s", h.Version, h.Ciphers[0], joinDec(exts, true)))
}

func ja4Version(v uint16) string {
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0002:
		return "s2"
	case 0xfeff:
		return "d1"
	case 0xfefd:
		return "d2"
	case 0xfefc:
		return "d3"
	}
	return "00"
}

func alnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// ja4ALPN is the first and last character of the first ALPN value, or
// of its hex form when either end is not alphanumeric; "00" without one.
func (h *Hello) ja4ALPN() string {
	d, ok := h.Ext(16)
	if !ok || len(d) < 3 {
		return "00"
	}
	n := int(d[2])
	if n == 0 || len(d) < 3+n {
		return "00"
	}
	v := d[3 : 3+n]
	first, last := v[0], v[len(v)-1]
	if alnum(first) && alnum(last) {
		return string([]byte{first, last})
	}
	hx := hex.EncodeToString(v)
	return string([]byte{hx[0], hx[len(hx)-1]})
}

func hash12(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}

func hexList(vs []uint16) []string {
	var out []string
	for _, v := range vs {
		if !isGREASE(v) {
			out = append(out, fmt.Sprintf("%04x", v))
		}
	}
	return out
}

// JA4 is the JA4 fingerprint of a ClientHello; quic selects "q".
func (h *Hello) JA4(quic bool) string {
	proto := "t"
	if quic {
		proto = "q"
	}
	ver := h.Version // supported_versions, when sent, overrides the legacy field
	if vs := h.listExt(43, 1); len(vs) > 0 {
		ver = 0
		for _, v := range vs {
			if !isGREASE(v) && v > ver {
				ver = v
			}
		}
	}
	sni := "i"
	if _, ok := h.Ext(0); ok {
		sni = "d"
	}
	ciphers := hexList(h.Ciphers)
	var extTypes []uint16
	for _, e := range h.Exts {
		extTypes = append(extTypes, e.Type)
	}
	exts := hexList(extTypes)
	a := fmt.Sprintf("%s%s%s%02d%02d%s", proto, ja4Version(ver), sni, min(len(ciphers), 99), min(len(exts), 99), h.ja4ALPN())

	b := "000000000000"
	if len(ciphers) > 0 {
		sort.Strings(ciphers)
		b = hash12(strings.Join(ciphers, ","))
	}
	var sorted []string
	for _, e := range exts {
		if e != "0000" && e != "0010" {
			sorted = append(sorted, e)
		}
	}
	c := "000000000000"
	if len(sorted) > 0 {
		sort.Strings(sorted)
		s := strings.Join(sorted, ",")
		if sig := hexList(h.listExt(13, 2)); len(sig) > 0 {
			s += "_" + strings.Join(sig, ",")
		}
		c = hash12(s)
	}
	return a + "_" + b + "_" + c
}
