// Package filehash computes a file's digests while its bytes stream past:
// SHA-256 always, SHA-1 and MD5 when asked for.
//
// With all three on a CPU with the SHA extensions, one fused loop
// computes them over each 64-byte block at once (see internal/gen for why
// that is faster than three passes); elsewhere the standard library's
// hashes run one after the other. Either way the digests are the standard
// ones, and the last partial block is finished by the standard library.
package filehash

//go:generate go run ./internal/gen -out fused_amd64.s

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"fmt"
	"hash"
)

// maxRun bounds one call of the fused loop (about 100 µs).
const maxRun = 64 << 10

// Sums holds the digests of one stream; SHA1 and MD5 are nil when they
// were not asked for.
type Sums struct {
	SHA256, SHA1, MD5 []byte
}

// Set hashes one stream. The zero value is not usable; call New.
type Set struct {
	fused bool
	n     uint64 // bytes written
	m5    [4]uint32
	s1    [5]uint32
	s256  [8]uint32
	buf   [64]byte
	nbuf  int

	h256, h1, h5 hash.Hash
}

// Initial states (RFC 1321, FIPS 180-4).
var (
	initMD5    = [4]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476}
	initSHA1   = [5]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0}
	initSHA256 = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}
)

// New returns a Set computing SHA-256, plus SHA-1 and MD5 when asked.
func New(withSHA1, withMD5 bool) *Set {
	if withSHA1 && withMD5 && haveFused {
		return &Set{fused: true, m5: initMD5, s1: initSHA1, s256: initSHA256}
	}
	s := &Set{h256: sha256.New()}
	if withSHA1 {
		s.h1 = sha1.New()
	}
	if withMD5 {
		s.h5 = md5.New()
	}
	return s
}

// Fused reports whether the Set runs the fused loop.
func (s *Set) Fused() bool { return s.fused }

// Write adds p to the stream; it never fails.
func (s *Set) Write(p []byte) (int, error) {
	if !s.fused {
		s.h256.Write(p)
		if s.h1 != nil {
			s.h1.Write(p)
		}
		if s.h5 != nil {
			s.h5.Write(p)
		}
		return len(p), nil
	}
	n := len(p)
	s.n += uint64(n)
	if s.nbuf > 0 {
		c := copy(s.buf[s.nbuf:], p)
		s.nbuf += c
		p = p[c:]
		if s.nbuf < len(s.buf) {
			return n, nil
		}
		blockFused(&s.m5, &s.s1, &s.s256, s.buf[:])
		s.nbuf = 0
	}
	for len(p) >= 64 {
		// At most maxRun bytes per call: assembly cannot be preempted,
		// and a stop-the-world should not wait on a large write.
		k := min(len(p)&^63, maxRun)
		blockFused(&s.m5, &s.s1, &s.s256, p[:k])
		p = p[k:]
	}
	s.nbuf = copy(s.buf[:], p)
	return n, nil
}

// Sum returns the digests of everything written so far.
func (s *Set) Sum() Sums {
	if !s.fused {
		out := Sums{SHA256: s.h256.Sum(nil)}
		if s.h1 != nil {
			out.SHA1 = s.h1.Sum(nil)
		}
		if s.h5 != nil {
			out.MD5 = s.h5.Sum(nil)
		}
		return out
	}
	// The standard hashes resume from the fused state (their documented
	// marshalled form: magic, state big-endian, the partial block, the
	// length) and pad the last block themselves.
	return Sums{
		SHA256: s.resume(sha256.New(), "sha\x03", s.s256[:]),
		SHA1:   s.resume(sha1.New(), "sha\x01", s.s1[:]),
		MD5:    s.resume(md5.New(), "md5\x01", s.m5[:]),
	}
}

func (s *Set) resume(h hash.Hash, magic string, state []uint32) []byte {
	b := make([]byte, 0, len(magic)+4*len(state)+len(s.buf)+8)
	b = append(b, magic...)
	for _, v := range state {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	b = append(b, s.buf[:s.nbuf]...)
	b = append(b, make([]byte, len(s.buf)-s.nbuf)...)
	b = binary.BigEndian.AppendUint64(b, s.n)
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(b); err != nil {
		// Only a change of the standard library's format gets here, and
		// the tests catch that first.
		panic(fmt.Sprintf("filehash: resume %T: %v", h, err))
	}
	return h.Sum(nil)
}
