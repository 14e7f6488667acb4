// Package fingerprint computes the TLS fingerprints the sensor reports:
// JA3 and JA3S (Salesforce: decimal values in wire order, GREASE removed,
// MD5) and JA4 (FoxIO, BSD licence: version, SNI, counts, ALPN, then
// truncated SHA-256 of the sorted ciphers and of the sorted extensions with
// the signature algorithms). JA4S, JA4H and JA4X are deliberately absent:
// their licence does not allow commercial use.
//
// A Scratch holds the buffers, so fingerprinting allocates nothing.
package fingerprint

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"

	"github.com/edgesensor/edgesensor/userspace/handshake/tlswire"
)

// Scratch is reusable working memory; one per goroutine.
type Scratch struct {
	buf     []byte
	raw     []byte
	ciphers []uint16
	exts    []uint16
	sigs    []uint16
}

// JA3 holds a JA3 or JA3S result.
type JA3 struct {
	String []byte   // the fingerprint string (valid until the Scratch is reused)
	Hash   [32]byte // MD5 of String, lower-case hex
}

func appendList(b []byte, vals []uint16) []byte {
	first := true
	for _, v := range vals {
		if tlswire.IsGREASE(v) {
			continue
		}
		if !first {
			b = append(b, '-')
		}
		first = false
		b = strconv.AppendUint(b, uint64(v), 10)
	}
	return b
}

func md5hex(b []byte) (out [32]byte) {
	sum := md5.Sum(b)
	hex.Encode(out[:], sum[:])
	return out
}

// ClientJA3 computes JA3: SSLVersion,Ciphers,Extensions,Curves,PointFormats.
func ClientJA3(ch *tlswire.ClientHello, s *Scratch) JA3 {
	b := strconv.AppendUint(s.buf[:0], uint64(ch.LegacyVersion), 10)
	b = append(b, ',')
	b = appendList(b, ch.Ciphers)
	b = append(b, ',')
	b = appendList(b, ch.Extensions)
	b = append(b, ',')
	b = appendList(b, ch.SupportedGroups)
	b = append(b, ',')
	for i, f := range ch.PointFormats {
		if i > 0 {
			b = append(b, '-')
		}
		b = strconv.AppendUint(b, uint64(f), 10)
	}
	s.buf = b
	return JA3{String: b, Hash: md5hex(b)}
}

// ServerJA3S computes JA3S: SSLVersion,Cipher,Extensions.
func ServerJA3S(sh *tlswire.ServerHello, s *Scratch) JA3 {
	b := strconv.AppendUint(s.buf[:0], uint64(sh.LegacyVersion), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(sh.Cipher), 10)
	b = append(b, ',')
	b = appendList(b, sh.Extensions)
	s.buf = b
	return JA3{String: b, Hash: md5hex(b)}
}

// JA4 holds a JA4 result.
type JA4 struct {
	Hash [36]byte // the fingerprint, e.g. t13d1516h2_8daaf6152771_b186095e22b6
	Raw  []byte   // JA4_r: the sorted lists before hashing (valid until the Scratch is reused)
}

// versionCode maps a protocol version to JA4's two characters.
func versionCode(v uint16) string {
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

// alpnCode is the first and last character of the first ALPN value, or,
// when either is not ASCII alphanumeric, the first and last hex digit.
func alpnCode(ch *tlswire.ClientHello) [2]byte {
	if len(ch.ALPN) == 0 || len(ch.ALPN[0]) == 0 {
		return [2]byte{'0', '0'}
	}
	p := ch.ALPN[0]
	first, last := p[0], p[len(p)-1]
	if alnum(first) && alnum(last) {
		return [2]byte{first, last}
	}
	const digits = "0123456789abcdef"
	return [2]byte{digits[first>>4], digits[last&0x0f]}
}

func twoDigits(b []byte, n int) []byte {
	n = min(n, 99)
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

// appendHexList appends vals as 4-digit lower-case hex, comma separated.
func appendHexList(b []byte, vals []uint16) []byte {
	const digits = "0123456789abcdef"
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, digits[v>>12], digits[v>>8&0xf], digits[v>>4&0xf], digits[v&0xf])
	}
	return b
}

// hash12 writes the first 12 hex digits of SHA-256(b) into dst.
func hash12(dst []byte, b []byte) {
	sum := sha256.Sum256(b)
	var h [64]byte
	hex.Encode(h[:], sum[:])
	copy(dst, h[:12])
}

// ClientJA4 computes JA4 and JA4_r; quic selects the "q" prefix.
func ClientJA4(ch *tlswire.ClientHello, quic bool, s *Scratch) JA4 {
	var out JA4
	a := out.Hash[:0]
	if quic {
		a = append(a, 'q')
	} else {
		a = append(a, 't')
	}
	version := ch.LegacyVersion
	if len(ch.SupportedVersions) > 0 {
		version = 0
		for _, v := range ch.SupportedVersions {
			if !tlswire.IsGREASE(v) && v > version {
				version = v
			}
		}
	}
	a = append(a, versionCode(version)...)
	if ch.HasServerName {
		a = append(a, 'd')
	} else {
		a = append(a, 'i')
	}
	// Sorted ciphers, GREASE removed.
	ciphers := s.ciphers[:0]
	for _, c := range ch.Ciphers {
		if !tlswire.IsGREASE(c) {
			ciphers = append(ciphers, c)
		}
	}
	nCiphers := len(ciphers)
	nExt := 0
	for _, e := range ch.Extensions {
		if !tlswire.IsGREASE(e) {
			nExt++
		}
	}
	a = twoDigits(a, nCiphers)
	a = twoDigits(a, nExt)
	alpn := alpnCode(ch)
	a = append(a, alpn[0], alpn[1])
	slices.Sort(ciphers)

	// The raw form holds everything the two hashes are taken of.
	raw := append(s.raw[:0], a...)
	raw = append(raw, '_')
	cStart := len(raw)
	raw = appendHexList(raw, ciphers)
	cEnd := len(raw)
	raw = append(raw, '_')

	exts := s.exts[:0]
	for _, e := range ch.Extensions {
		if !tlswire.IsGREASE(e) && e != tlswire.ExtServerName && e != tlswire.ExtALPN {
			exts = append(exts, e)
		}
	}
	slices.Sort(exts)
	eStart := len(raw)
	raw = appendHexList(raw, exts)
	sigs := s.sigs[:0]
	for _, v := range ch.SignatureAlgs {
		if !tlswire.IsGREASE(v) {
			sigs = append(sigs, v)
		}
	}
	if len(sigs) > 0 {
		raw = append(raw, '_')
		raw = appendHexList(raw, sigs)
	}
	eEnd := len(raw)
	s.ciphers, s.exts, s.sigs, s.raw = ciphers, exts, sigs, raw

	out.Hash[10] = '_'
	if nCiphers == 0 {
		copy(out.Hash[11:23], "000000000000")
	} else {
		hash12(out.Hash[11:23], raw[cStart:cEnd])
	}
	out.Hash[23] = '_'
	if len(exts) == 0 {
		copy(out.Hash[24:36], "000000000000")
	} else {
		hash12(out.Hash[24:36], raw[eStart:eEnd])
	}
	out.Raw = raw
	return out
}

// Fingerprint returns the JA4 fingerprint as a string.
func (j JA4) Fingerprint() string { return string(j.Hash[:]) }

// Fingerprint returns the MD5 as a string.
func (j JA3) Fingerprint() string { return string(j.Hash[:]) }
