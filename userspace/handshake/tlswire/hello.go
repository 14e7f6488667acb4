package tlswire

import (
	"bytes"
	"errors"

	"golang.org/x/crypto/cryptobyte"
)

// Extension types the sensor reads.
const (
	ExtServerName           = 0
	ExtStatusRequest        = 5
	ExtSupportedGroups      = 10
	ExtECPointFormats       = 11
	ExtSignatureAlgorithms  = 13
	ExtALPN                 = 16
	ExtSessionTicket        = 35
	ExtPreSharedKey         = 41
	ExtEarlyData            = 42
	ExtSupportedVersions    = 43
	ExtPSKKeyExchangeModes  = 45
	ExtKeyShare             = 51
	ExtQUICTransportParams  = 57
	ExtEncryptedClientHello = 0xfe0d
)

// ErrMalformed reports a hello that does not parse.
var ErrMalformed = errors.New("malformed hello")

// helloRetryRandom marks a ServerHello that is a HelloRetryRequest
// (RFC 8446 4.1.3: SHA-256 of "HelloRetryRequest").
var helloRetryRandom = []byte{
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
}

// IsGREASE reports a GREASE value (RFC 8701): 0x?a?a with equal bytes.
func IsGREASE(v uint16) bool {
	return v&0x0f0f == 0x0a0a && v>>8 == v&0xff
}

// ClientHello holds what the sensor reads from a ClientHello. Slices point
// into the message the hello was parsed from (byte views) or into
// storage the struct reuses across parses (value lists).
type ClientHello struct {
	LegacyVersion     uint16
	SessionIDLen      int
	SessionID         []byte // legacy_session_id (a TLS 1.2 resumption offer, or 1.3 compatibility)
	Ciphers           []uint16
	Compression       []byte
	Extensions        []uint16 // wire order, GREASE included
	ServerName        []byte   // host_name of server_name, nil when absent
	HasServerName     bool
	ALPN              [][]byte // protocols offered, in order
	SupportedVersions []uint16
	SupportedGroups   []uint16
	PointFormats      []byte
	SignatureAlgs     []uint16
	KeyShareGroups    []uint16
	PSKModes          []byte
	PSKOffered        bool // pre_shared_key: resumption or external PSK
	TicketOffered     bool // a non-empty session_ticket (TLS 1.2 resumption)
	EarlyData         bool
	ECH               bool // encrypted_client_hello: ServerName is the outer (public) name
	ECHOuter          bool // the ECH extension is the outer variant
	QUICParams        bool
}

// Footprint is the memory ch's own slices hold, in bytes (byte fields
// point into the parsed body and are not counted).
func (ch *ClientHello) Footprint() int {
	return 2*(cap(ch.Ciphers)+cap(ch.Extensions)+cap(ch.SupportedVersions)+cap(ch.SupportedGroups)+
		cap(ch.SignatureAlgs)+cap(ch.KeyShareGroups)) + 24*cap(ch.ALPN)
}

// reset keeps the slices' storage for the next parse.
func (ch *ClientHello) reset() {
	*ch = ClientHello{
		Ciphers:           ch.Ciphers[:0],
		Extensions:        ch.Extensions[:0],
		ALPN:              ch.ALPN[:0],
		SupportedVersions: ch.SupportedVersions[:0],
		SupportedGroups:   ch.SupportedGroups[:0],
		SignatureAlgs:     ch.SignatureAlgs[:0],
		KeyShareGroups:    ch.KeyShareGroups[:0],
	}
}

// u16s appends the big-endian uint16 values of b.
func u16s(dst []uint16, b cryptobyte.String) ([]uint16, bool) {
	if len(b)%2 != 0 {
		return dst, false
	}
	for !b.Empty() {
		var v uint16
		b.ReadUint16(&v)
		dst = append(dst, v)
	}
	return dst, true
}

// ParseClientHello parses the body of a ClientHello message into ch,
// reusing ch's storage. Byte fields point into body.
func ParseClientHello(body []byte, ch *ClientHello) error {
	ch.reset()
	s := cryptobyte.String(body)
	var random, sid, ciphers, comp cryptobyte.String
	if !s.ReadUint16(&ch.LegacyVersion) || !s.ReadBytes((*[]byte)(&random), 32) ||
		!s.ReadUint8LengthPrefixed(&sid) || len(sid) > 32 ||
		!s.ReadUint16LengthPrefixed(&ciphers) || !s.ReadUint8LengthPrefixed(&comp) {
		return ErrMalformed
	}
	ch.SessionIDLen, ch.SessionID = len(sid), sid
	var ok bool
	if ch.Ciphers, ok = u16s(ch.Ciphers, ciphers); !ok {
		return ErrMalformed
	}
	ch.Compression = comp
	if s.Empty() {
		return nil // no extensions (SSL 3.0-era clients)
	}
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) {
		return ErrMalformed
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return ErrMalformed
		}
		ch.Extensions = append(ch.Extensions, typ)
		if err := ch.extension(typ, data); err != nil {
			return err
		}
	}
	return nil
}

func (ch *ClientHello) extension(typ uint16, data cryptobyte.String) error {
	var ok bool
	switch typ {
	case ExtServerName:
		ch.HasServerName = true
		var list cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&list) {
			return ErrMalformed
		}
		for !list.Empty() {
			var nameType uint8
			var name cryptobyte.String
			if !list.ReadUint8(&nameType) || !list.ReadUint16LengthPrefixed(&name) {
				return ErrMalformed
			}
			if nameType == 0 && ch.ServerName == nil {
				ch.ServerName = name
			}
		}
	case ExtALPN:
		var list cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&list) {
			return ErrMalformed
		}
		for !list.Empty() {
			var proto cryptobyte.String
			if !list.ReadUint8LengthPrefixed(&proto) {
				return ErrMalformed
			}
			if len(ch.ALPN) < 32 {
				ch.ALPN = append(ch.ALPN, proto)
			}
		}
	case ExtSupportedVersions:
		var list cryptobyte.String
		if !data.ReadUint8LengthPrefixed(&list) {
			return ErrMalformed
		}
		if ch.SupportedVersions, ok = u16s(ch.SupportedVersions, list); !ok {
			return ErrMalformed
		}
	case ExtSupportedGroups:
		var list cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&list) {
			return ErrMalformed
		}
		if ch.SupportedGroups, ok = u16s(ch.SupportedGroups, list); !ok {
			return ErrMalformed
		}
	case ExtECPointFormats:
		var list cryptobyte.String
		if !data.ReadUint8LengthPrefixed(&list) {
			return ErrMalformed
		}
		ch.PointFormats = list
	case ExtSignatureAlgorithms:
		var list cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&list) {
			return ErrMalformed
		}
		if ch.SignatureAlgs, ok = u16s(ch.SignatureAlgs, list); !ok {
			return ErrMalformed
		}
	case ExtKeyShare:
		var list cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&list) {
			return ErrMalformed
		}
		for !list.Empty() {
			var group uint16
			var key cryptobyte.String
			if !list.ReadUint16(&group) || !list.ReadUint16LengthPrefixed(&key) {
				return ErrMalformed
			}
			ch.KeyShareGroups = append(ch.KeyShareGroups, group)
		}
	case ExtPSKKeyExchangeModes:
		var list cryptobyte.String
		if !data.ReadUint8LengthPrefixed(&list) {
			return ErrMalformed
		}
		ch.PSKModes = list
	case ExtPreSharedKey:
		ch.PSKOffered = true
	case ExtSessionTicket:
		ch.TicketOffered = len(data) > 0
	case ExtEarlyData:
		ch.EarlyData = true
	case ExtEncryptedClientHello:
		ch.ECH = true
		// ECHClientHello: type 0 outer, 1 inner.
		ch.ECHOuter = len(data) > 0 && data[0] == 0
	case ExtQUICTransportParams:
		ch.QUICParams = true
	}
	return nil
}

// ServerHello holds what the sensor reads from a ServerHello (or a
// HelloRetryRequest, which has the same shape).
type ServerHello struct {
	LegacyVersion   uint16
	SessionID       []byte
	Cipher          uint16
	Compression     uint8
	Extensions      []uint16 // wire order
	SelectedVersion uint16   // from supported_versions, 0 when absent
	KeyShareGroup   uint16
	ALPN            []byte // the protocol chosen, nil when none
	PSKAccepted     bool
	HelloRetry      bool
}

// Footprint is the memory sh's own slices hold, in bytes.
func (sh *ServerHello) Footprint() int { return 2 * cap(sh.Extensions) }

// ParseServerHello parses the body of a ServerHello message into sh,
// reusing its storage. Byte fields point into body.
func ParseServerHello(body []byte, sh *ServerHello) error {
	*sh = ServerHello{Extensions: sh.Extensions[:0]}
	s := cryptobyte.String(body)
	var random, sid cryptobyte.String
	if !s.ReadUint16(&sh.LegacyVersion) || !s.ReadBytes((*[]byte)(&random), 32) ||
		!s.ReadUint8LengthPrefixed(&sid) || len(sid) > 32 ||
		!s.ReadUint16(&sh.Cipher) || !s.ReadUint8(&sh.Compression) {
		return ErrMalformed
	}
	sh.SessionID = sid
	sh.HelloRetry = bytes.Equal(random, helloRetryRandom)
	if s.Empty() {
		return nil
	}
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) {
		return ErrMalformed
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return ErrMalformed
		}
		sh.Extensions = append(sh.Extensions, typ)
		switch typ {
		case ExtSupportedVersions:
			if !data.ReadUint16(&sh.SelectedVersion) {
				return ErrMalformed
			}
		case ExtKeyShare:
			// A group and a key, or (HelloRetryRequest) the group alone.
			if !data.ReadUint16(&sh.KeyShareGroup) {
				return ErrMalformed
			}
		case ExtALPN:
			var list, proto cryptobyte.String
			if !data.ReadUint16LengthPrefixed(&list) || !list.ReadUint8LengthPrefixed(&proto) {
				return ErrMalformed
			}
			sh.ALPN = proto
		case ExtPreSharedKey:
			sh.PSKAccepted = true
		}
	}
	return nil
}

// Version is the protocol version the ServerHello settled on.
func (sh *ServerHello) Version() uint16 {
	if sh.SelectedVersion != 0 {
		return sh.SelectedVersion
	}
	return sh.LegacyVersion
}
