package craft

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// TLS record content types.
const (
	recCCS       = 20
	recAlert     = 21
	recHandshake = 22
)

// maxRecord is the largest plaintext record payload (RFC 8446 5.1).
const maxRecord = 1 << 14

// Record is one TLS record.
type Record struct {
	Type    uint8
	Version uint16
	Body    []byte
}

// ParseRecords splits b into whole records; rest is a trailing partial
// record.
func ParseRecords(b []byte) (rs []Record, rest []byte) {
	for len(b) >= 5 {
		n := int(binary.BigEndian.Uint16(b[3:]))
		if len(b) < 5+n {
			break
		}
		rs = append(rs, Record{Type: b[0], Version: binary.BigEndian.Uint16(b[1:]), Body: b[5 : 5+n]})
		b = b[5+n:]
	}
	return rs, b
}

// MarshalRecords writes records back to bytes.
func MarshalRecords(rs []Record) []byte {
	var b []byte
	for _, r := range rs {
		b = append(b, r.Type)
		b = binary.BigEndian.AppendUint16(b, r.Version)
		b = binary.BigEndian.AppendUint16(b, uint16(len(r.Body)))
		b = append(b, r.Body...)
	}
	return b
}

// leadingHandshake returns the handshake bytes of the plaintext
// handshake records that open a flight (up to the first record of
// another type: after a ChangeCipherSpec, handshake records are
// encrypted), their record version, and the records that follow.
func leadingHandshake(flight []byte) (hs []byte, ver uint16, rest []Record, err error) {
	rs, tail := ParseRecords(flight)
	if len(tail) != 0 {
		return nil, 0, nil, errors.New("flight ends inside a record")
	}
	i := 0
	for ; i < len(rs) && rs[i].Type == recHandshake; i++ {
		hs = append(hs, rs[i].Body...)
		ver = rs[i].Version
	}
	if i == 0 || len(hs) == 0 {
		return nil, 0, nil, errors.New("flight does not start with handshake bytes")
	}
	return hs, ver, rs[i:], nil
}

// Reframe puts the opening handshake messages of a flight into records
// of at most size bytes, with record version ver (0: as they were). The
// handshake bytes are unchanged, so the fingerprints are (RFC 8446 5.1:
// handshake messages may be fragmented across records).
func Reframe(flight []byte, size int, ver uint16) ([]byte, error) {
	hs, v, rest, err := leadingHandshake(flight)
	if err != nil {
		return nil, err
	}
	if ver == 0 {
		ver = v
	}
	var rs []Record
	for len(hs) > 0 {
		n := min(size, len(hs))
		rs = append(rs, Record{Type: recHandshake, Version: ver, Body: hs[:n]})
		hs = hs[n:]
	}
	return MarshalRecords(append(rs, rest...)), nil
}

// Handshake message types.
const (
	hsClientHello = 1
	hsServerHello = 2
)

// firstMessage returns the type and body of the first handshake message
// of a flight.
func firstMessage(flight []byte) (typ uint8, body []byte, err error) {
	hs, _, _, err := leadingHandshake(flight)
	if err != nil {
		return 0, nil, err
	}
	return splitMessage(hs)
}

func splitMessage(hs []byte) (typ uint8, body []byte, err error) {
	if len(hs) < 4 {
		return 0, nil, errors.New("short handshake message")
	}
	n := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
	if len(hs) < 4+n {
		return 0, nil, fmt.Errorf("handshake message of %d bytes truncated at %d", n, len(hs)-4)
	}
	return hs[0], hs[4 : 4+n], nil
}

// Ext is one hello extension.
type Ext struct {
	Type uint16
	Data []byte
}

// Hello is a ClientHello or ServerHello body, parsed far enough to
// fingerprint and edit it.
type Hello struct {
	Client      bool
	Version     uint16
	Random      []byte
	SessionID   []byte
	Ciphers     []uint16 // one for a ServerHello
	Compression []byte
	Exts        []Ext
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = errors.New("hello truncated")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() int  { b := r.take(1); return int(b0(b)) }
func (r *reader) u16() int { b := r.take(2); return int(b0(b))<<8 | int(b1(b)) }
func b0(b []byte) byte {
	if len(b) > 0 {
		return b[0]
	}
	return 0
}
func b1(b []byte) byte {
	if len(b) > 1 {
		return b[1]
	}
	return 0
}

// ParseHello reads a hello body (after the 4-byte message header).
func ParseHello(body []byte, client bool) (*Hello, error) {
	r := &reader{b: body}
	h := &Hello{Client: client}
	h.Version = uint16(r.u16())
	h.Random = r.take(32)
	h.SessionID = r.take(r.u8())
	if client {
		cs := r.take(r.u16())
		for i := 0; i+1 < len(cs); i += 2 {
			h.Ciphers = append(h.Ciphers, binary.BigEndian.Uint16(cs[i:]))
		}
		h.Compression = r.take(r.u8())
	} else {
		h.Ciphers = []uint16{uint16(r.u16())}
		h.Compression = r.take(1)
	}
	if r.err == nil && len(r.b) > 0 {
		ext := &reader{b: r.take(r.u16())}
		for ext.err == nil && len(ext.b) > 0 {
			t := uint16(ext.u16())
			h.Exts = append(h.Exts, Ext{Type: t, Data: ext.take(ext.u16())})
		}
		r.err = errors.Join(r.err, ext.err)
	}
	if r.err != nil {
		return nil, fmt.Errorf("parsing hello: %w", r.err)
	}
	return h, nil
}

// Marshal writes the hello body back.
func (h *Hello) Marshal() []byte {
	b := binary.BigEndian.AppendUint16(nil, h.Version)
	b = append(b, h.Random...)
	b = append(b, byte(len(h.SessionID)))
	b = append(b, h.SessionID...)
	if h.Client {
		b = binary.BigEndian.AppendUint16(b, uint16(2*len(h.Ciphers)))
		for _, c := range h.Ciphers {
			b = binary.BigEndian.AppendUint16(b, c)
		}
		b = append(b, byte(len(h.Compression)))
	} else {
		b = binary.BigEndian.AppendUint16(b, h.Ciphers[0])
	}
	b = append(b, h.Compression...)
	var e []byte
	for _, x := range h.Exts {
		e = binary.BigEndian.AppendUint16(e, x.Type)
		e = binary.BigEndian.AppendUint16(e, uint16(len(x.Data)))
		e = append(e, x.Data...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(e)))
	return append(b, e...)
}

// Message is the hello as a handshake message (with its 4-byte header).
func (h *Hello) Message() []byte {
	body := h.Marshal()
	t := byte(hsServerHello)
	if h.Client {
		t = hsClientHello
	}
	return append([]byte{t, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

// Ext returns the data of extension t.
func (h *Hello) Ext(t uint16) ([]byte, bool) {
	for _, e := range h.Exts {
		if e.Type == t {
			return e.Data, true
		}
	}
	return nil, false
}

// SNI returns the host name of the server_name extension.
func (h *Hello) SNI() string {
	d, ok := h.Ext(0)
	if !ok {
		return ""
	}
	r := &reader{b: d}
	list := &reader{b: r.take(r.u16())}
	for list.err == nil && len(list.b) > 0 {
		typ := list.u8()
		name := list.take(list.u16())
		if typ == 0 && list.err == nil {
			return string(name)
		}
	}
	return ""
}

// setSNI replaces the host name.
func (h *Hello) setSNI(name string) {
	var d []byte
	d = binary.BigEndian.AppendUint16(d, uint16(3+len(name)))
	d = append(d, 0)
	d = binary.BigEndian.AppendUint16(d, uint16(len(name)))
	d = append(d, name...)
	for i, e := range h.Exts {
		if e.Type == 0 {
			h.Exts[i].Data = d
		}
	}
}

// clientHelloOf parses the ClientHello that opens a client flight.
func clientHelloOf(flight []byte) (*Hello, error) {
	typ, body, err := firstMessage(flight)
	if err != nil {
		return nil, err
	}
	if typ != hsClientHello {
		return nil, fmt.Errorf("first handshake message is of type %d, not ClientHello", typ)
	}
	return ParseHello(body, true)
}

// serverHelloOf parses the ServerHello that opens a server flight.
func serverHelloOf(flight []byte) (*Hello, error) {
	typ, body, err := firstMessage(flight)
	if err != nil {
		return nil, err
	}
	if typ != hsServerHello {
		return nil, fmt.Errorf("first handshake message is of type %d, not ServerHello", typ)
	}
	return ParseHello(body, false)
}

// replaceClientHello swaps the ClientHello that opens a client flight
// for msg (a whole handshake message), in records of at most maxRecord
// bytes with the flight's record version.
func replaceClientHello(flight, msg []byte) ([]byte, error) {
	hs, ver, rest, err := leadingHandshake(flight)
	if err != nil {
		return nil, err
	}
	_, body, err := splitMessage(hs)
	if err != nil {
		return nil, err
	}
	hs = append(append([]byte(nil), msg...), hs[4+len(body):]...)
	var rs []Record
	for len(hs) > 0 {
		n := min(maxRecord, len(hs))
		rs = append(rs, Record{Type: recHandshake, Version: ver, Body: hs[:n]})
		hs = hs[n:]
	}
	return MarshalRecords(append(rs, rest...)), nil
}

// rot13 keeps a name's length and dots and changes every letter, so a
// decoy hello has the same layout as the real one.
func rot13(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = 'a' + (c-'a'+13)%26
		case c >= 'A' && c <= 'Z':
			b[i] = 'A' + (c-'A'+13)%26
		}
	}
	return string(b)
}

// decoyHello returns a hello of the same length as h with another SNI
// (when it has one) and another first cipher suite, so that its SNI, JA3
// and JA4 all differ from the real one's.
func decoyHello(h *Hello) *Hello {
	d := *h
	d.Exts = append([]Ext(nil), h.Exts...)
	d.Ciphers = append([]uint16(nil), h.Ciphers...)
	if sni := h.SNI(); sni != "" {
		d.setSNI(rot13(sni))
	}
	has := map[uint16]bool{}
	for _, c := range h.Ciphers {
		has[c] = true
	}
	for i, c := range d.Ciphers {
		if !isGREASE(c) {
			for _, alt := range []uint16{0x0016, 0x0013, 0x000a, 0x0005} {
				if !has[alt] {
					d.Ciphers[i] = alt
					break
				}
			}
			break
		}
	}
	return &d
}

// padTo grows (or adds) the padding extension (RFC 7685) so that the
// hello body is n bytes. A pre_shared_key extension stays last (RFC 8446
// 4.2.11).
func (h *Hello) padTo(n int) error {
	cur := len(h.Marshal())
	idx := -1
	for i, e := range h.Exts {
		if e.Type == 21 {
			idx = i
		}
	}
	if idx < 0 {
		at := len(h.Exts)
		if at > 0 && h.Exts[at-1].Type == 41 {
			at--
		}
		h.Exts = append(h.Exts[:at], append([]Ext{{Type: 21}}, h.Exts[at:]...)...)
		idx = at
		cur += 4
	}
	grow := n - cur
	if grow < 0 || len(h.Exts[idx].Data)+grow > 0xffff {
		return fmt.Errorf("cannot pad a hello of %d bytes to %d", cur, n)
	}
	h.Exts[idx].Data = make([]byte, len(h.Exts[idx].Data)+grow)
	if len(h.Marshal()) != n {
		return fmt.Errorf("padding gave %d bytes, not %d", len(h.Marshal()), n)
	}
	return nil
}

// tlsSources are the corpus captures with one TLS handshake each.
var tlsSources = []string{"tls_curl13", "tls_curl12", "tls_go_pq", "tls_openssl_nosni"}
