package tlswire

import (
	"encoding/binary"
	"errors"
)

// Record content types.
const (
	RecordChangeCipherSpec = 20
	RecordAlert            = 21
	RecordHandshake        = 22
	RecordApplicationData  = 23
)

// Handshake message types.
const (
	MsgClientHello       = 1
	MsgServerHello       = 2
	MsgCertificate       = 11
	MsgServerKeyExchange = 12
	MsgCertificateReq    = 13
	MsgServerHelloDone   = 14
	MsgCertificateStatus = 22
)

// Limits of the handshake layer.
const (
	// MaxRecord is the largest record accepted (TLS allows 2^14 plus
	// expansion; anything beyond is not TLS).
	MaxRecord = 16384 + 2048
	// MaxMessage bounds one handshake message (a certificate chain
	// included).
	MaxMessage = 64 << 10
)

// Errors of the record layer.
var (
	ErrNotTLS      = errors.New("not a TLS record")
	ErrMessageSize = errors.New("handshake message over the size limit")
)

// Message is one plaintext handshake message.
type Message struct {
	Type uint8
	Body []byte // the message without its 4-byte header
}

// Alert is a plaintext alert seen in the handshake.
type Alert struct {
	Level, Description uint8
}

// Reader turns the bytes of one direction into handshake messages. It
// stops at the first encrypted record (application data, or anything after
// ChangeCipherSpec), because nothing after that can be read.
type Reader struct {
	consumed  int    // stream bytes already split into records (Feed)
	rec       []byte // an incomplete record (Write)
	hs        []byte // handshake record payloads not yet split into messages
	hsOff     int
	msgs      int  // handshake messages completed
	Encrypted bool // an encrypted record was reached: the plaintext part is over
	CCS       bool
	// TLS13 is set by the caller once the server selected TLS 1.3: its
	// ChangeCipherSpec is only for middleboxes, and handshake records
	// after it (the ServerHello after a HelloRetryRequest, the client's
	// second ClientHello) are still plaintext. Encrypted ones are
	// application data records anyway.
	TLS13   bool
	Alerts  []Alert
	Err     error
	Records int
}

// Footprint is the memory the reader holds, in bytes.
func (r *Reader) Footprint() int { return cap(r.hs) + cap(r.rec) }

// Reset empties the reader for reuse.
func (r *Reader) Reset() {
	*r = Reader{hs: r.hs[:0], rec: r.rec[:0], Alerts: r.Alerts[:0]}
}

// Write reads p, the next bytes of the direction in order, calling fn for
// every handshake message completed (Body valid only during the call).
// It keeps at most one incomplete record, so records of any size, split
// anyhow across calls, cost no more than the largest record.
func (r *Reader) Write(p []byte, fn func(Message)) {
	for r.Err == nil && !r.Encrypted && len(p) > 0 {
		if len(r.rec) == 0 {
			// Whole records straight from p.
			n := r.records(p, fn)
			p = p[n:]
			if r.Err != nil || r.Encrypted || len(p) == 0 {
				return
			}
		}
		// An incomplete record: collect it.
		need := 5 - len(r.rec)
		if need <= 0 {
			need = 5 + int(binary.BigEndian.Uint16(r.rec[3:5])) - len(r.rec)
		}
		k := min(need, len(p))
		r.rec = append(r.rec, p[:k]...)
		p = p[k:]
		if len(r.rec) >= 5 {
			if !r.header(r.rec) {
				return
			}
			if r.encrypted(r.rec[0]) {
				r.record(r.rec[0], nil, fn)
				r.rec = r.rec[:0]
				return
			}
			if n := 5 + int(binary.BigEndian.Uint16(r.rec[3:5])); len(r.rec) == n {
				r.records(r.rec, fn)
				r.rec = r.rec[:0]
				if cap(r.rec) > 4<<10 {
					r.rec = nil // a big record's buffer goes
				}
			}
		}
	}
}

// header checks a record header; false (and Err) when it is not TLS.
func (r *Reader) header(h []byte) bool {
	typ, n := h[0], int(binary.BigEndian.Uint16(h[3:5]))
	if typ < RecordChangeCipherSpec || typ > 24 || h[1] != 3 || n > MaxRecord {
		r.Err = ErrNotTLS
		return false
	}
	return true
}

// records reads the whole records at the start of b and returns the bytes
// they took.
func (r *Reader) records(b []byte, fn func(Message)) int {
	off := 0
	for r.Err == nil && !r.Encrypted {
		rest := b[off:]
		if len(rest) < 5 {
			return off
		}
		if !r.header(rest) {
			return off
		}
		n := int(binary.BigEndian.Uint16(rest[3:5]))
		if r.encrypted(rest[0]) {
			// Its header says enough: the body is never read (and
			// the data plane, which sees only headers, stops here too).
			r.record(rest[0], nil, fn)
			return off
		}
		if len(rest) < 5+n {
			return off
		}
		off += 5 + n
		r.record(rest[0], rest[5:5+n], fn)
	}
	return off
}

// encrypted says whether a record of type typ, here, is encrypted.
func (r *Reader) encrypted(typ byte) bool {
	// TLS ≤ 1.2: after ChangeCipherSpec, Finished and alerts are
	// encrypted under their own record types.
	return typ == RecordApplicationData || (r.CCS && !r.TLS13 && (typ == RecordHandshake || typ == RecordAlert))
}

// Feed reads the records that are complete in stream (the contiguous
// bytes of the direction so far, from its first byte) and calls fn for
// every handshake message completed. fn's Body is valid only during the
// call.
func (r *Reader) Feed(stream []byte, fn func(Message)) {
	r.consumed += r.records(stream[r.consumed:], fn)
}

// record takes one whole record.
func (r *Reader) record(typ byte, body []byte, fn func(Message)) {
	r.Records++
	switch {
	case r.encrypted(typ):
		r.Encrypted = true
	case typ == RecordChangeCipherSpec:
		// Before any handshake message it changes nothing (stacks that
		// take a record before the hello ignore it, or fail).
		if r.msgs > 0 {
			r.CCS = true
		}
	case typ == RecordAlert:
		if len(body) >= 2 && len(r.Alerts) < 8 {
			r.Alerts = append(r.Alerts, Alert{body[0], body[1]})
		}
	case typ == RecordHandshake:
		if len(r.hs)-r.hsOff+len(body) > MaxMessage+4 {
			r.Err = ErrMessageSize
			return
		}
		r.hs = append(r.hs, body...)
		r.splitMessages(fn)
	}
}

// splitMessages calls fn for each complete message in the handshake
// buffer, keeping an incomplete one for the next record.
func (r *Reader) splitMessages(fn func(Message)) {
	for {
		b := r.hs[r.hsOff:]
		if len(b) < 4 {
			break
		}
		n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		if n > MaxMessage {
			r.Err = ErrMessageSize
			return
		}
		if len(b) < 4+n {
			break
		}
		r.msgs++
		fn(Message{Type: b[0], Body: b[4 : 4+n]})
		r.hsOff += 4 + n
	}
	// Compact once the consumed part dominates.
	if r.hsOff > 0 && r.hsOff == len(r.hs) {
		r.hs, r.hsOff = r.hs[:0], 0
	}
}

// Messages splits a CRYPTO stream (QUIC: handshake messages without
// records) into messages, calling fn for each complete one. It returns
// the number of bytes used.
func Messages(stream []byte, fn func(Message)) int {
	off := 0
	for len(stream)-off >= 4 {
		b := stream[off:]
		n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		if n > MaxMessage || len(b) < 4+n {
			break
		}
		fn(Message{Type: b[0], Body: b[4 : 4+n]})
		off += 4 + n
	}
	return off
}
