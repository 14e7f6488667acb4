package pcapfile

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/edgesensor/edgesensor/userspace/packet/csum"
)

// ErrNotSegmentable reports an oversized frame that is not a TCP segment
// over IPv4 or IPv6 and so cannot be cut into wire-sized frames.
var ErrNotSegmentable = errors.New("oversized frame is not a TCP segment")

// Resegment cuts an Ethernet frame holding one large TCP segment (as
// captured on a host with TSO/GRO on) into frames of at most maxFrame
// bytes, as the wire carried them: headers copied, sequence numbers and IP
// lengths adjusted, SYN on the first piece, FIN/PSH on the last, and the
// IPv4 header and TCP checksums computed, as the wire carried them (the
// sensor checks them: what a TSO/GRO capture holds in the field is no
// wire checksum). emit gets each frame in a buffer reused for the next one.
func Resegment(frame []byte, maxFrame int, buf []byte, emit func([]byte)) ([]byte, error) {
	l3, etype, ok := skipL2(frame)
	if !ok {
		return buf, ErrNotSegmentable
	}
	var l4 int
	switch etype {
	case 0x0800:
		if len(frame) < l3+20 || frame[l3]>>4 != 4 || frame[l3+9] != 6 {
			return buf, ErrNotSegmentable
		}
		ihl := int(frame[l3]&0x0f) * 4
		if ihl < 20 || binary.BigEndian.Uint16(frame[l3+6:])&0x3fff != 0 {
			return buf, ErrNotSegmentable
		}
		l4 = l3 + ihl
	case 0x86dd:
		// Extension headers are rare on offloaded segments; take the
		// simple case only.
		if len(frame) < l3+40 || frame[l3]>>4 != 6 || frame[l3+6] != 6 {
			return buf, ErrNotSegmentable
		}
		l4 = l3 + 40
	default:
		return buf, ErrNotSegmentable
	}
	if len(frame) < l4+20 {
		return buf, ErrNotSegmentable
	}
	doff := int(frame[l4+12]>>4) * 4
	pay := l4 + doff
	if doff < 20 || len(frame) < pay {
		return buf, ErrNotSegmentable
	}
	// The IP length, not the frame length, says where the payload ends.
	end := len(frame)
	if etype == 0x0800 {
		end = min(end, l3+int(binary.BigEndian.Uint16(frame[l3+2:])))
	} else {
		end = min(end, l3+40+int(binary.BigEndian.Uint16(frame[l3+4:])))
	}
	if end < pay {
		return buf, ErrNotSegmentable
	}
	mss := maxFrame - pay
	if mss < 1 {
		return buf, ErrNotSegmentable
	}
	seq := binary.BigEndian.Uint32(frame[l4+4:])
	flags := frame[l4+13]
	syn := uint32(0)
	if flags&0x02 != 0 {
		syn = 1 // a SYN occupies one sequence number before the data
	}
	for off := pay; off < end || off == pay; off += mss {
		n := min(mss, end-off)
		buf = append(buf[:0], frame[:pay]...)
		buf = append(buf, frame[off:off+n]...)
		pieceSeq := seq + uint32(off-pay)
		if off != pay {
			pieceSeq += syn
		}
		binary.BigEndian.PutUint32(buf[l4+4:], pieceSeq)
		f := flags
		if off != pay {
			f &^= 0x02 // SYN only on the first piece
		}
		if off+n < end {
			f &^= 0x01 | 0x08 // FIN and PSH only on the last
		}
		buf[l4+13] = f
		var src, dst netip.Addr
		if etype == 0x0800 {
			binary.BigEndian.PutUint16(buf[l3+2:], uint16(pay-l3+n))
			ihl := l4 - l3
			buf[l3+10], buf[l3+11] = 0, 0
			binary.BigEndian.PutUint16(buf[l3+10:], csum.IPv4Header(buf[l3:l3+ihl]))
			src, dst = netip.AddrFrom4([4]byte(buf[l3+12:l3+16])), netip.AddrFrom4([4]byte(buf[l3+16:l3+20]))
		} else {
			binary.BigEndian.PutUint16(buf[l3+4:], uint16(pay-l3-40+n))
			src, dst = netip.AddrFrom16([16]byte(buf[l3+8:l3+24])), netip.AddrFrom16([16]byte(buf[l3+24:l3+40]))
		}
		seg := buf[l4:]
		seg[16], seg[17] = 0, 0
		binary.BigEndian.PutUint16(seg[16:], csum.Checksum(seg, csum.Pseudo(src, dst, 6, len(seg))))
		emit(buf)
		if n == 0 {
			break
		}
	}
	return buf, nil
}

// skipL2 returns the offset of the L3 header and its EtherType, past up to
// two VLAN tags.
func skipL2(frame []byte) (int, uint16, bool) {
	if len(frame) < 14 {
		return 0, 0, false
	}
	off := 12
	for i := 0; i < 3; i++ {
		if len(frame) < off+2 {
			return 0, 0, false
		}
		t := binary.BigEndian.Uint16(frame[off:])
		if t != 0x8100 && t != 0x88a8 && t != 0x9100 {
			return off + 2, t, true
		}
		off += 4
	}
	return 0, 0, false
}
