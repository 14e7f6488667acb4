// Package pcapfile reads pcap and pcapng captures and hands out every packet
// as an Ethernet frame, whatever the capture's link type, so replay can push
// it through the same XDP program as live traffic.
//
// The reader is written for hostile files: every length is checked against
// the block that holds it and against MaxPacket before anything is
// allocated, and buffers are reused across packets.
package pcapfile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"time"
)

// Link types we turn into Ethernet.
const (
	linkNull     = 0
	linkEthernet = 1
	linkRawAlt   = 12 // LINKTYPE_RAW on some systems
	linkRaw      = 101
	linkLoop     = 108
	linkSLL      = 113
	linkIPv4     = 228
	linkIPv6     = 229
	linkSLL2     = 276
)

// Limits on what the reader accepts.
const (
	// MaxPacket is the largest captured packet accepted (a GRO'd frame
	// captured on a host with offloads on is at most 64 KiB plus headers).
	MaxPacket = 256 << 10
	// maxBlock bounds one pcapng block the reader buffers (interface and
	// packet blocks); other blocks are skipped whatever their size.
	maxBlock = MaxPacket + 4096
	// maxInterfaces bounds the interface table of a pcapng section.
	maxInterfaces = 4096
)

// ErrUnsupportedLink reports a link type this package cannot turn into
// Ethernet.
var ErrUnsupportedLink = errors.New("unsupported link type")

// Packet is one frame of the capture.
type Packet struct {
	Time      time.Time
	Frame     []byte // an Ethernet frame; valid until the next call to Next
	OrigLen   int    // length on the wire per the capture
	Interface string // capture interface name, when the file says
}

type iface struct {
	link     int
	name     string
	snaplen  int
	tsDiv    uint64 // timestamp units per second
	tsOffset int64  // seconds added to every timestamp (if_tsoffset)
}

// maxIfName bounds an interface name taken from a file.
const maxIfName = 64

// Reader reads frames from a pcap or pcapng file.
type Reader struct {
	f      *os.File
	r      *bufio.Reader
	ng     bool
	order  binary.ByteOrder
	ifaces []iface
	// classic pcap
	link  int
	nanos bool
	hdr   [32]byte
	data  []byte
	frame []byte
	// Skipped counts packets dropped for an unsupported link type or a
	// link header too short to hold one.
	Skipped int
}

// Open opens a capture file, telling pcap from pcapng by its magic number.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening capture: %w", err)
	}
	r, err := NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.f = f
	return r, nil
}

// NewReader reads a capture from in.
func NewReader(in io.Reader) (*Reader, error) {
	r := &Reader{r: bufio.NewReaderSize(in, 1<<16)}
	magic, err := r.r.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("reading capture header: %w", err)
	}
	switch m := binary.BigEndian.Uint32(magic); m {
	case 0x0a0d0d0a:
		r.ng = true
		var h [8]byte
		if _, err := io.ReadFull(r.r, h[:]); err != nil {
			return nil, fmt.Errorf("reading pcapng section header: %w", err)
		}
		if err := r.readSHB(h); err != nil {
			return nil, err
		}
	case 0xa1b2c3d4, 0xa1b23c4d:
		r.order, r.nanos = binary.BigEndian, m == 0xa1b23c4d
	case 0xd4c3b2a1, 0x4d3cb2a1:
		r.order, r.nanos = binary.LittleEndian, m == 0x4d3cb2a1
	default:
		return nil, fmt.Errorf("not a pcap or pcapng file (magic %x)", magic)
	}
	if !r.ng {
		if _, err := io.ReadFull(r.r, r.hdr[:24]); err != nil {
			return nil, fmt.Errorf("reading pcap header: %w", err)
		}
		// The low 16 bits are the link type; the upper bits may hold FCS info.
		r.link = int(r.order.Uint32(r.hdr[20:24]) & 0xffff)
	}
	return r, nil
}

// Close closes the file.
func (r *Reader) Close() error {
	if r.f != nil {
		return r.f.Close()
	}
	return nil
}

// Next returns the next frame, or io.EOF at the end. Packets that cannot
// be turned into Ethernet are skipped and counted in Skipped.
func (r *Reader) Next() (Packet, error) {
	for {
		var p Packet
		var link int
		var err error
		if r.ng {
			p, link, err = r.nextNg()
		} else {
			p, link, err = r.nextPcap()
		}
		if err != nil {
			return Packet{}, err
		}
		frame, err := ToEthernet(r.frame[:0], link, r.data)
		if err != nil {
			r.Skipped++
			continue
		}
		r.frame = frame
		p.Frame = frame
		return p, nil
	}
}

// readData reads n bytes into r.data; limit bounds n before anything is
// allocated.
func (r *Reader) readData(n, limit int) error {
	if n < 0 || n > limit {
		return fmt.Errorf("%d bytes exceed the %d-byte limit", n, limit)
	}
	if cap(r.data) < n {
		r.data = make([]byte, n)
	}
	r.data = r.data[:n]
	if _, err := io.ReadFull(r.r, r.data); err != nil {
		return truncated(err)
	}
	return nil
}

// truncated turns a cut-off file into a clean end: captures of a running
// tcpdump end mid-packet.
func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return io.EOF
	}
	return err
}

func (r *Reader) nextPcap() (Packet, int, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:16]); err != nil {
		return Packet{}, 0, truncated(err)
	}
	sec := int64(r.order.Uint32(r.hdr[0:4]))
	frac := int64(r.order.Uint32(r.hdr[4:8]))
	capLen := int(r.order.Uint32(r.hdr[8:12]))
	origLen := int(r.order.Uint32(r.hdr[12:16]))
	if !r.nanos {
		frac *= 1000
	}
	if err := r.readData(capLen, MaxPacket); err != nil {
		return Packet{}, 0, fmt.Errorf("packet: %w", err)
	}
	return Packet{Time: time.Unix(sec, frac).UTC(), OrigLen: origLen}, r.link, nil
}

// pcapng block types.
const (
	blockSHB = 0x0a0d0d0a
	blockIDB = 1
	blockPB  = 2
	blockSPB = 3
	blockEPB = 6
)

func (r *Reader) nextNg() (Packet, int, error) {
	for {
		var h [8]byte
		if _, err := io.ReadFull(r.r, h[:]); err != nil {
			return Packet{}, 0, truncated(err)
		}
		typ := r.order.Uint32(h[0:4])
		if typ == blockSHB {
			// A new section may change the byte order.
			if err := r.readSHB(h); err != nil {
				return Packet{}, 0, err
			}
			continue
		}
		total := int64(r.order.Uint32(h[4:8]))
		if total < 12 || total%4 != 0 {
			return Packet{}, 0, fmt.Errorf("pcapng block length %d is invalid", total)
		}
		body64 := total - 12 // without type, length and trailing length
		if typ != blockIDB && typ != blockEPB && typ != blockPB && typ != blockSPB {
			if _, err := r.r.Discard(int(body64 + 4)); err != nil {
				return Packet{}, 0, truncated(err)
			}
			continue
		}
		if total > maxBlock {
			return Packet{}, 0, fmt.Errorf("pcapng block of %d bytes exceeds the %d-byte limit", total, maxBlock)
		}
		body := int(body64)
		switch typ {
		case blockIDB:
			if err := r.readIDB(body); err != nil {
				return Packet{}, 0, err
			}
		case blockEPB, blockPB:
			return r.readEPB(typ, body)
		default:
			return r.readSPB(body)
		}
	}
}

// readSHB reads the rest of a section header block whose type and length
// (in a byte order not known yet) are in h.
func (r *Reader) readSHB(h [8]byte) error {
	var bom [4]byte
	if _, err := io.ReadFull(r.r, bom[:]); err != nil {
		return truncated(err)
	}
	switch {
	case binary.BigEndian.Uint32(bom[:]) == 0x1a2b3c4d:
		r.order = binary.BigEndian
	case binary.LittleEndian.Uint32(bom[:]) == 0x1a2b3c4d:
		r.order = binary.LittleEndian
	default:
		return errors.New("pcapng section header has no byte-order magic")
	}
	total := int(r.order.Uint32(h[4:8]))
	if total < 28 || total > maxBlock || total%4 != 0 {
		return fmt.Errorf("pcapng section header length %d is invalid", total)
	}
	if _, err := r.r.Discard(total - 12); err != nil {
		return truncated(err)
	}
	r.ifaces = r.ifaces[:0]
	return nil
}

func (r *Reader) readIDB(body int) error {
	if body < 8 {
		return fmt.Errorf("pcapng interface block of %d bytes is too short", body)
	}
	if len(r.ifaces) >= maxInterfaces {
		return fmt.Errorf("pcapng file declares more than %d interfaces", maxInterfaces)
	}
	if err := r.readData(body+4, maxBlock); err != nil {
		return fmt.Errorf("pcapng interface block: %w", err)
	}
	b := r.data[:body]
	ifc := iface{link: int(r.order.Uint16(b[0:2])), snaplen: int(r.order.Uint32(b[4:8])), tsDiv: 1000000}
	// Options: code, length, value padded to 4.
	for o := 8; o+4 <= len(b); {
		code := r.order.Uint16(b[o:])
		l := int(r.order.Uint16(b[o+2:]))
		o += 4
		if code == 0 || o+l > len(b) {
			break
		}
		v := b[o : o+l]
		switch code {
		case 2: // if_name
			ifc.name = string(v[:min(len(v), maxIfName)])
		case 9: // if_tsresol
			if l >= 1 {
				ifc.tsDiv = tsResolution(v[0])
			}
		case 14: // if_tsoffset
			if l == 8 {
				ifc.tsOffset = int64(r.order.Uint64(v))
			}
		}
		o += (l + 3) &^ 3
	}
	r.ifaces = append(r.ifaces, ifc)
	return nil
}

// time converts a pcapng timestamp in the interface's units, without
// overflow at any resolution.
func (ifc iface) time(ts uint64) time.Time {
	sec := ts / ifc.tsDiv
	hi, lo := bits.Mul64(ts%ifc.tsDiv, 1000000000)
	nsec, _ := bits.Div64(hi, lo, ifc.tsDiv)
	return time.Unix(int64(sec)+ifc.tsOffset, int64(nsec)).UTC()
}

// tsResolution decodes if_tsresol: 10^-n or 2^-n seconds per unit.
func tsResolution(v byte) uint64 {
	n := uint64(v & 0x7f)
	if v&0x80 != 0 {
		if n > 63 {
			return 1000000
		}
		return 1 << n
	}
	if n > 19 {
		return 1000000
	}
	d := uint64(1)
	for i := uint64(0); i < n; i++ {
		d *= 10
	}
	return d
}

func (r *Reader) readEPB(typ uint32, body int) (Packet, int, error) {
	if body < 20 {
		return Packet{}, 0, fmt.Errorf("pcapng packet block of %d bytes is too short", body)
	}
	if err := r.readData(body+4, maxBlock); err != nil {
		return Packet{}, 0, fmt.Errorf("pcapng packet block: %w", err)
	}
	b := r.data
	var idx int
	if typ == blockPB {
		idx = int(r.order.Uint16(b[0:2]))
	} else {
		idx = int(r.order.Uint32(b[0:4]))
	}
	if idx >= len(r.ifaces) {
		return Packet{}, 0, fmt.Errorf("pcapng packet names interface %d, the section has %d", idx, len(r.ifaces))
	}
	ifc := r.ifaces[idx]
	ts := uint64(r.order.Uint32(b[4:8]))<<32 | uint64(r.order.Uint32(b[8:12]))
	capLen := int(r.order.Uint32(b[12:16]))
	origLen := int(r.order.Uint32(b[16:20]))
	if capLen < 0 || capLen > body-20 || capLen > MaxPacket {
		return Packet{}, 0, fmt.Errorf("pcapng packet claims %d bytes in a %d-byte block", capLen, body)
	}
	// Move the packet bytes to the front of data; ToEthernet reads r.data.
	copy(b, b[20:20+capLen])
	r.data = b[:capLen]
	return Packet{Time: ifc.time(ts), OrigLen: origLen, Interface: ifc.name}, ifc.link, nil
}

func (r *Reader) readSPB(body int) (Packet, int, error) {
	if body < 4 || len(r.ifaces) == 0 {
		return Packet{}, 0, errors.New("pcapng simple packet block without interface or length")
	}
	if err := r.readData(body+4, maxBlock); err != nil {
		return Packet{}, 0, fmt.Errorf("pcapng simple packet block: %w", err)
	}
	b := r.data
	origLen := int(r.order.Uint32(b[0:4]))
	// The block pads the data to 4 bytes: the original length, cut at
	// the interface's snaplen, says how much of it is the packet.
	capLen := min(origLen, body-4)
	if sl := r.ifaces[0].snaplen; sl > 0 {
		capLen = min(capLen, sl)
	}
	if capLen < 0 {
		return Packet{}, 0, errors.New("pcapng simple packet block with a negative length")
	}
	copy(b, b[4:4+capLen])
	r.data = b[:capLen]
	return Packet{OrigLen: origLen, Interface: r.ifaces[0].name}, r.ifaces[0].link, nil
}

// ToEthernet appends to dst the packet as an Ethernet frame.
func ToEthernet(dst []byte, linkType int, data []byte) ([]byte, error) {
	var proto uint16
	var payload []byte
	switch linkType {
	case linkEthernet:
		return append(dst, data...), nil
	case linkSLL:
		if len(data) < 16 {
			return nil, errors.New("short SLL header")
		}
		proto, payload = binary.BigEndian.Uint16(data[14:]), data[16:]
	case linkSLL2:
		if len(data) < 20 {
			return nil, errors.New("short SLL2 header")
		}
		proto, payload = binary.BigEndian.Uint16(data[0:]), data[20:]
	case linkRaw, linkRawAlt, linkIPv4, linkIPv6:
		if len(data) < 1 {
			return nil, errors.New("empty raw packet")
		}
		proto, payload = etherTypeOfIP(data[0]>>4), data
	case linkNull, linkLoop:
		if len(data) < 4 {
			return nil, errors.New("short loopback header")
		}
		// NULL is in the writer's byte order, LOOP in network order:
		// accept either.
		af := binary.BigEndian.Uint32(data)
		if af > 0xffff {
			af = binary.LittleEndian.Uint32(data)
		}
		switch af {
		case 2:
			proto = 0x0800
		case 10, 24, 28, 30:
			proto = 0x86dd
		}
		payload = data[4:]
	default:
		return nil, fmt.Errorf("%w %d", ErrUnsupportedLink, linkType)
	}
	if proto == 0 {
		return nil, errors.New("no IP in packet")
	}
	// Locally administered placeholder addresses: replay has no MACs.
	dst = append(dst, 0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, byte(proto>>8), byte(proto))
	return append(dst, payload...), nil
}

func etherTypeOfIP(version byte) uint16 {
	switch version {
	case 4:
		return 0x0800
	case 6:
		return 0x86dd
	}
	return 0
}
