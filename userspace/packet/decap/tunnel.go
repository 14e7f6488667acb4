package decap

import (
	"encoding/binary"
)

// parseUDPTunnel reads the VXLAN, Geneve or GTP-U header at off and
// returns where its payload starts and what it is.
func parseUDPTunnel(b []byte, off int, kind Kind, f *Frame, fx *fixups, ipOff int) (int, next, error) {
	if off+8 > len(b) {
		return 0, 0, ErrTruncated
	}
	var at next
	switch kind {
	case KindVXLAN:
		if b[off]&0x08 == 0 { // the I bit: the VNI is valid
			return 0, 0, ErrMalformed
		}
		if err := f.pushTunnel(kind, off, 8, binary.BigEndian.Uint32(b[off+4:])>>8, true, ipOff); err != nil {
			return 0, 0, err
		}
		return off + 8, atEther, nil

	case KindGeneve:
		if b[off]>>6 != 0 {
			return 0, 0, ErrMalformed
		}
		hl := 8 + int(b[off]&0x3f)*4
		if off+hl > len(b) {
			return 0, 0, ErrTruncated
		}
		if err := f.pushTunnel(kind, off, hl, binary.BigEndian.Uint32(b[off+4:])>>8, true, ipOff); err != nil {
			return 0, 0, err
		}
		switch be16(b[off+2:]) {
		case etherTEB:
			at = atEther
		case etherIPv4:
			at = atIPv4
		case etherIPv6:
			at = atIPv6
		default:
			return 0, 0, ErrNotIP
		}
		return off + hl, at, nil
	}

	// GTP-U
	fl := b[off]
	if fl>>5 != 1 || fl&0x10 == 0 {
		return 0, 0, ErrMalformed
	}
	if off+8+be16(b[off+2:]) > len(b) {
		f.Truncated = true
	}
	hl := 8
	if fl&0x07 != 0 { // E, S or PN: sequence, N-PDU, next extension type
		if off+12 > len(b) {
			return 0, 0, ErrTruncated
		}
		hl = 12
		for nt, n := b[off+11], 0; nt != 0; n++ {
			if n == MaxGTPExt {
				return 0, 0, ErrGTPExtDepth
			}
			if off+hl >= len(b) {
				return 0, 0, ErrTruncated
			}
			el := int(b[off+hl]) * 4
			if el == 0 {
				return 0, 0, ErrMalformed
			}
			if off+hl+el > len(b) {
				return 0, 0, ErrTruncated
			}
			nt = b[off+hl+el-1]
			hl += el
		}
	}
	if err := f.pushTunnel(kind, off, hl, binary.BigEndian.Uint32(b[off+4:]), true, ipOff); err != nil {
		return 0, 0, err
	}
	fx.add(fixGTP, off, 0)
	if b[off+1] != 0xff { // only a G-PDU carries a user packet
		return 0, 0, ErrNotIP
	}
	if off+hl >= len(b) {
		return 0, 0, ErrTruncated
	}
	switch b[off+hl] >> 4 {
	case 4:
		at = atIPv4
	case 6:
		at = atIPv6
	default:
		return 0, 0, ErrNotIP
	}
	return off + hl, at, nil
}

// parseGRE reads the GRE header at off.
func parseGRE(b []byte, off int, f *Frame, fx *fixups, ipOff int) (int, next, error) {
	if off+4 > len(b) {
		return 0, 0, ErrTruncated
	}
	fl := be16(b[off:])
	if fl&0x7 != 0 || fl&0x4000 != 0 {
		return 0, 0, ErrGREVersion
	}
	hl, keyAt := 4, 4
	if fl&0x8000 != 0 {
		hl += 4
		keyAt += 4
	}
	if fl&0x2000 != 0 {
		hl += 4
	}
	if fl&0x1000 != 0 {
		hl += 4
	}
	if off+hl > len(b) {
		return 0, 0, ErrTruncated
	}
	var key uint32
	if fl&0x2000 != 0 {
		key = binary.BigEndian.Uint32(b[off+keyAt:])
	}
	if err := f.pushTunnel(KindGRE, off, hl, key, fl&0x2000 != 0, ipOff); err != nil {
		return 0, 0, err
	}
	if fl&0x8000 != 0 {
		fx.add(fixGRE, off, 0)
	}
	switch be16(b[off+2:]) {
	case etherIPv4:
		return off + hl, atIPv4, nil
	case etherIPv6:
		return off + hl, atIPv6, nil
	case etherTEB:
		return off + hl, atEther, nil
	case etherMPLS:
		return off + hl, atMPLS, nil
	}
	return 0, 0, ErrNotIP
}
