// Package quic reads the ClientHello and ServerHello out of QUIC Initial
// packets, versions 1 (RFC 9001) and 2 (RFC 9369): it derives the Initial
// keys from the client's Destination Connection ID, removes header
// protection, decrypts with AES-128-GCM, and reassembles the CRYPTO stream
// of each direction from frames that may be split, reordered and repeated.
// Nothing here trusts a length from the wire.
package quic

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
)

// Versions.
const (
	V1 uint32 = 0x00000001
	V2 uint32 = 0x6b3343cf
)

var (
	saltV1 = []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
		0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}
	saltV2 = []byte{0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
		0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9}
)

// Errors.
var (
	ErrVersion   = errors.New("not QUIC version 1 or 2")
	ErrShort     = errors.New("packet shorter than its header says")
	ErrDecrypt   = errors.New("Initial packet does not decrypt with these keys")
	ErrNotLong   = errors.New("not a long-header packet")
	ErrBadFrame  = errors.New("frame not allowed or malformed in an Initial packet")
	ErrCIDLength = errors.New("connection ID longer than 20 bytes")
)

// Keys protect one direction's Initial packets.
type Keys struct {
	aead cipher.AEAD
	iv   [12]byte
	hp   cipher.Block
}

// expander computes HKDF-Expand-Label of TLS 1.3 (RFC 8446 7.1, empty
// context) for outputs of at most one SHA-256 block, reusing one HMAC:
// key derivation is most of the cost of a QUIC handshake here.
type expander struct {
	mac  hash.Hash
	info [64]byte
	out  [sha256.Size]byte
}

func newExpander(secret []byte) *expander {
	return &expander{mac: hmac.New(sha256.New, secret)}
}

// expand returns n ≤ 32 bytes, valid until the next call.
func (e *expander) expand(label string, n int) []byte {
	info := binary.BigEndian.AppendUint16(e.info[:0], uint16(n))
	info = append(info, byte(len("tls13 ")+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, 0, 1) // empty context, then HKDF's block counter
	e.mac.Reset()
	e.mac.Write(info)
	return e.mac.Sum(e.out[:0])[:n]
}

// InitialKeys derives the client's and the server's Initial keys from the
// Destination Connection ID of the client's first Initial.
func InitialKeys(version uint32, dcid []byte) (client, server *Keys, err error) {
	salt, prefix := saltV1, "quic "
	switch version {
	case V1:
	case V2:
		salt, prefix = saltV2, "quicv2 "
	default:
		return nil, nil, ErrVersion
	}
	initial, err := hkdf.Extract(sha256.New, dcid, salt)
	if err != nil {
		return nil, nil, err
	}
	root := newExpander(initial)
	side := func(label string) (*Keys, error) {
		e := newExpander(root.expand(label, 32))
		block, err := aes.NewCipher(e.expand(prefix+"key", 16))
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k := &Keys{aead: aead}
		copy(k.iv[:], e.expand(prefix+"iv", 12))
		if k.hp, err = aes.NewCipher(e.expand(prefix+"hp", 16)); err != nil {
			return nil, err
		}
		return k, nil
	}
	if client, err = side("client in"); err != nil {
		return nil, nil, err
	}
	if server, err = side("server in"); err != nil {
		return nil, nil, err
	}
	return client, server, nil
}

// Header is a parsed long header.
type Header struct {
	Version  uint32
	Type     uint8 // the version-independent type: TypeInitial, ...
	DCID     []byte
	SCID     []byte
	Token    []byte
	PNOffset int // where the (protected) packet number starts
	End      int // end of this packet in the datagram
}

// Long-header packet types, version independent.
const (
	TypeInitial   = 0
	Type0RTT      = 1
	TypeHandshake = 2
	TypeRetry     = 3
)

// readVarint reads a QUIC variable-length integer.
func readVarint(b []byte) (uint64, int, bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	n := 1 << (b[0] >> 6)
	if len(b) < n {
		return 0, 0, false
	}
	v := uint64(b[0] & 0x3f)
	for i := 1; i < n; i++ {
		v = v<<8 | uint64(b[i])
	}
	return v, n, true
}

// ParseHeader parses the long header at the start of b.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < 7 || b[0]&0x80 == 0 {
		return h, ErrNotLong
	}
	h.Version = binary.BigEndian.Uint32(b[1:5])
	raw := (b[0] >> 4) & 3
	switch h.Version {
	case V1:
		h.Type = raw
	case V2: // RFC 9369 3.2: the types are rotated
		h.Type = [4]uint8{TypeRetry, TypeInitial, Type0RTT, TypeHandshake}[raw]
	default:
		return h, ErrVersion
	}
	off := 5
	dl := int(b[off])
	off++
	if dl > 20 {
		return h, ErrCIDLength
	}
	if len(b) < off+dl+1 {
		return h, ErrShort
	}
	h.DCID = b[off : off+dl]
	off += dl
	sl := int(b[off])
	off++
	if sl > 20 {
		return h, ErrCIDLength
	}
	if len(b) < off+sl {
		return h, ErrShort
	}
	h.SCID = b[off : off+sl]
	off += sl
	if h.Type == TypeRetry {
		h.End = len(b)
		return h, nil
	}
	if h.Type == TypeInitial {
		tl, n, ok := readVarint(b[off:])
		if !ok || uint64(len(b)-off-n) < tl {
			return h, ErrShort
		}
		off += n
		h.Token = b[off : off+int(tl)]
		off += int(tl)
	}
	length, n, ok := readVarint(b[off:])
	if !ok || uint64(len(b)-off-n) < length {
		return h, ErrShort
	}
	off += n
	h.PNOffset = off
	h.End = off + int(length)
	return h, nil
}

// Open removes header protection and decrypts the packet whose header h
// describes, into dst (which it may grow). largest is the largest packet
// number seen so far in this direction (-1 for none). It does not change
// packet.
func (k *Keys) Open(dst, packet []byte, h Header, largest int64) ([]byte, uint64, error) {
	if h.PNOffset+4+16 > h.End || h.End > len(packet) {
		return nil, 0, ErrShort
	}
	var mask [16]byte
	k.hp.Encrypt(mask[:], packet[h.PNOffset+4:h.PNOffset+20])
	first := packet[0] ^ (mask[0] & 0x0f)
	pnLen := int(first&3) + 1

	// The header, unprotected, is the additional data.
	hdrLen := h.PNOffset + pnLen
	dst = append(dst[:0], packet[:hdrLen]...)
	dst[0] = first
	var truncated uint64
	for i := 0; i < pnLen; i++ {
		dst[h.PNOffset+i] ^= mask[1+i]
		truncated = truncated<<8 | uint64(dst[h.PNOffset+i])
	}
	pn := decodePN(largest, truncated, pnLen*8)
	var nonce [12]byte
	copy(nonce[:], k.iv[:])
	for i := 0; i < 8; i++ {
		nonce[11-i] ^= byte(pn >> (8 * i))
	}
	ad := dst[:hdrLen]
	out, err := k.aead.Open(dst[hdrLen:hdrLen], nonce[:], packet[hdrLen:h.End], ad)
	if err != nil {
		return nil, 0, ErrDecrypt
	}
	return out, pn, nil
}

// decodePN reconstructs a packet number (RFC 9000 A.3).
func decodePN(largest int64, truncated uint64, bits int) uint64 {
	expected := uint64(largest + 1)
	win := uint64(1) << bits
	hwin := win / 2
	mask := win - 1
	candidate := (expected &^ mask) | truncated
	switch {
	case candidate+hwin <= expected && candidate < (1<<62)-win:
		return candidate + win
	case candidate > expected+hwin && candidate >= win:
		return candidate - win
	}
	return candidate
}

// Frame types that may appear in an Initial packet (RFC 9000 12.4).
const (
	framePadding    = 0x00
	framePing       = 0x01
	frameAck        = 0x02
	frameAckECN     = 0x03
	frameCrypto     = 0x06
	frameConnClose  = 0x1c
	maxCryptoOffset = 1 << 20
)

// CryptoFrames calls fn for every CRYPTO frame in a decrypted Initial
// payload. It reports CONNECTION_CLOSE (the peer gave up) and rejects
// frames an Initial may not carry.
func CryptoFrames(payload []byte, fn func(offset uint64, data []byte)) (closed bool, err error) {
	b := payload
	for len(b) > 0 {
		typ, n, ok := readVarint(b)
		if !ok {
			return closed, ErrBadFrame
		}
		b = b[n:]
		switch typ {
		case framePadding:
			// Padding comes in runs hundreds of bytes long.
			for len(b) > 0 && b[0] == 0 {
				b = b[1:]
			}
		case framePing:
		case frameAck, frameAckECN:
			// largest, delay, range count, first range, then ranges
			var vals [4]uint64
			for i := range vals {
				if vals[i], n, ok = readVarint(b); !ok {
					return closed, ErrBadFrame
				}
				b = b[n:]
			}
			count := vals[2]
			if count > uint64(len(b)) {
				return closed, ErrBadFrame
			}
			for i := uint64(0); i < 2*count; i++ {
				if _, n, ok = readVarint(b); !ok {
					return closed, ErrBadFrame
				}
				b = b[n:]
			}
			if typ == frameAckECN {
				for i := 0; i < 3; i++ {
					if _, n, ok = readVarint(b); !ok {
						return closed, ErrBadFrame
					}
					b = b[n:]
				}
			}
		case frameCrypto:
			off, n1, ok1 := readVarint(b)
			if !ok1 {
				return closed, ErrBadFrame
			}
			length, n2, ok2 := readVarint(b[n1:])
			if !ok2 || uint64(len(b)-n1-n2) < length || off > maxCryptoOffset {
				return closed, ErrBadFrame
			}
			data := b[n1+n2 : n1+n2+int(length)]
			fn(off, data)
			b = b[n1+n2+int(length):]
		case frameConnClose:
			// error code, frame type, reason phrase
			for i := 0; i < 2; i++ {
				if _, n, ok = readVarint(b); !ok {
					return true, ErrBadFrame
				}
				b = b[n:]
			}
			rl, n, ok := readVarint(b)
			if !ok || uint64(len(b)-n) < rl {
				return true, ErrBadFrame
			}
			b = b[n+int(rl):]
			closed = true
		default:
			return closed, fmt.Errorf("%w: type %#x", ErrBadFrame, typ)
		}
	}
	return closed, nil
}
