package craft

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/google/gopacket/layers"
)

// Directions of a connection's data, and the sides that send them: the
// client sends Up, the server sends Down.
const (
	Up   = 0
	Down = 1
)

// Framer puts an IP datagram of direction up (client to server) into an
// Ethernet frame, with whatever encapsulation a case wants.
type Framer func(ip []byte, up bool) ([]byte, error)

// PlainEthernet frames a datagram with the two sides' MAC addresses.
func PlainEthernet(ip []byte, up bool) ([]byte, error) {
	return ethernet(ip, etherType(ip), up)
}

// ConnConfig describes one TCP connection to write.
type ConnConfig struct {
	Client, Server netip.AddrPort
	ISN            [2]uint32 // the client's and the server's
	MSS            int       // payload bytes per segment, also advertised in the SYNs
	WScale         [2]uint8  // window scale of the client and of the server
	RcvWin         [2]int    // receive window (bytes) the client and the server advertise
	Frame          Framer    // nil: PlainEthernet
	TTL            uint8     // 0: 64
	V6Ext          []byte    // IPv6 extension headers before TCP
	V6ExtFirst     uint8     // next-header value that starts V6Ext
}

// Action is what happens to a data segment a hook has seen.
type Action int

const (
	// Deliver: send it as it is; the receiver takes it.
	Deliver Action = iota
	// Replaced: the hook put it on the wire in a form of its own (IP
	// fragments, say) that the receiver reassembles and takes.
	Replaced
	// Lost: the receiver does not take it (the hook may have sent a form
	// the receiver drops); the sender retransmits it as it is three
	// segments later, as fast retransmit does after three duplicate ACKs.
	Lost
	// Unseen: the receiver takes it but the capture does not hold it
	// (the sensor's tap missed the packet).
	Unseen
	// Skip: the hook sent it (or will) and updated the model itself.
	Skip
)

// Seg is one TCP segment a case sends by hand.
type Seg struct {
	Off   int    // stream offset of the first byte: seq = ISN + 1 + Off
	Data  []byte // payload
	Flags uint8  // 0: ACK, with PSH when there is data
	Seq   *uint32
	Ack   *uint32 // nil: what the sending side has received
	Win   *int    // advertised window in bytes; nil: the side's
	Csum  Csum    // CsumGood: the connection's default
	TTL   uint8
	Urg   uint16
	Opts  []layers.TCPOption
	NoDF  bool // leave the IPv4 don't-fragment bit clear (to be fragmented)
}

// U32 and Int return a pointer to v, for Seg's optional fields.
func U32(v uint32) *uint32 { return &v }

// Int returns a pointer to v.
func Int(v int) *int { return &v }

// span is a range of stream offsets [start, end).
type span struct{ start, end int }

// half is one direction's data: what its sender sent and what its
// receiver took, modelled as a Linux receiver does (in-order data
// advances rcvNxt, later data waits in the out-of-order queue).
type half struct {
	isn     uint32
	next    int // offset of the next new byte
	finSent bool
	rcvNxt  int    // every byte below was taken in order
	ooo     []span // taken out of order, sorted
	finRcvd bool
	pending int // segments taken since the receiver last acknowledged
	lastAck int // rcvNxt the receiver last acknowledged
	lastWin int // window (bytes) it advertised then
}

type lostSeg struct {
	d, off int
	data   []byte
}

// Conn writes one TCP connection to a Wire: handshake, data in segments
// with the receiver's ACKs (every second segment in order, at once for
// data out of order, with SACK), teardown.
type Conn struct {
	cfg  ConnConfig
	w    Wire
	h    [2]half
	ipID [2]uint16
	win  [2]int // window (bytes) each side advertises now
	// OnData sees each new data segment Send is about to write.
	OnData func(c *Conn, d, off int, data []byte) Action
	// Csum gives the checksum mode of the n-th packet; nil: all good.
	Csum func(n int) Csum
	lost []lostSeg
	n    int
	err  error
}

// NewConn starts a connection on w.
func NewConn(w Wire, cfg ConnConfig) *Conn {
	if cfg.Frame == nil {
		cfg.Frame = PlainEthernet
	}
	if cfg.MSS == 0 {
		cfg.MSS = 1448
	}
	for i := range cfg.RcvWin {
		if cfg.RcvWin[i] == 0 {
			cfg.RcvWin[i] = 4 << 20
		}
	}
	c := &Conn{cfg: cfg, w: w}
	c.h[Up].isn, c.h[Down].isn = cfg.ISN[0], cfg.ISN[1]
	c.win = cfg.RcvWin
	c.ipID = [2]uint16{uint16(cfg.ISN[0] >> 7), uint16(cfg.ISN[1] >> 9)}
	return c
}

// Err is the first error met while writing.
func (c *Conn) Err() error { return c.err }

func (c *Conn) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// Next is the stream offset of direction d's next new byte.
func (c *Conn) Next(d int) int { return c.h[d].next }

// RcvNxt is what the receiver of d has taken in order.
func (c *Conn) RcvNxt(d int) int { return c.h[d].rcvNxt }

// RightEdge is the end of the window the receiver of d last advertised.
func (c *Conn) RightEdge(d int) int { return c.h[d].lastAck + c.h[d].lastWin }

// SetWindow changes the receive window side s advertises from now on.
func (c *Conn) SetWindow(s, bytes int) { c.win[s] = bytes }

// SeqOf is the sequence number of offset off of direction d.
func (c *Conn) SeqOf(d, off int) uint32 { return c.h[d].isn + 1 + uint32(off) }

// sndNxt is side s's next sequence number.
func (c *Conn) sndNxt(s int) uint32 {
	n := c.SeqOf(s, c.h[s].next)
	if c.h[s].finSent {
		n++
	}
	return n
}

// ackOf is the acknowledgment number the receiver of d sends.
func (c *Conn) ackOf(d int) uint32 {
	a := c.SeqOf(d, c.h[d].rcvNxt)
	if c.h[d].finRcvd {
		a++
	}
	return a
}

func (c *Conn) endpoints(s int) (src, dst netip.AddrPort) {
	if s == Up {
		return c.cfg.Client, c.cfg.Server
	}
	return c.cfg.Server, c.cfg.Client
}

// Datagram builds the IP datagram of a segment from side s without
// writing it.
func (c *Conn) Datagram(s int, g Seg) []byte {
	src, dst := c.endpoints(s)
	t := tcpSpec{sport: src.Port(), dport: dst.Port(), flags: g.Flags, urg: g.Urg, opts: g.Opts}
	if t.flags == 0 {
		t.flags = ACK
		if len(g.Data) > 0 {
			t.flags |= PSH
		}
	}
	t.seq = c.SeqOf(s, g.Off)
	if g.Seq != nil {
		t.seq = *g.Seq
	}
	if t.flags&ACK != 0 {
		t.ack = c.ackOf(1 - s)
		if g.Ack != nil {
			t.ack = *g.Ack
		}
	}
	win := c.win[s]
	if g.Win != nil {
		win = *g.Win
	}
	t.win = uint16(min(win>>c.cfg.WScale[s], 0xffff))
	cs := g.Csum
	if cs == CsumGood && c.Csum != nil {
		cs = c.Csum(c.n)
	}
	ttl := g.TTL
	if ttl == 0 {
		ttl = c.cfg.TTL
	}
	spec := ipSpec{src: src.Addr(), dst: dst.Addr(), ttl: ttl, id: c.ipID[s], df: !g.NoDF,
		ext: c.cfg.V6Ext, extFirst: c.cfg.V6ExtFirst}
	c.ipID[s]++
	c.n++
	ip, err := buildTCP(spec, t, g.Data, cs)
	if err != nil {
		c.fail(err)
		return nil
	}
	return ip
}

// EmitIP frames a datagram of side s and writes it.
func (c *Conn) EmitIP(s int, ip []byte) {
	if ip == nil || c.err != nil {
		return
	}
	f, err := c.cfg.Frame(ip, s == Up)
	if err != nil {
		c.fail(fmt.Errorf("framing: %w", err))
		return
	}
	c.w.Frame(f)
}

// Emit writes a segment from side s. It changes nothing of the
// connection's state: a decoy is sent with Emit.
func (c *Conn) Emit(s int, g Seg) { c.EmitIP(s, c.Datagram(s, g)) }

// Wait lets time pass on the wire.
func (c *Conn) Wait(d time.Duration) { c.w.Wait(d) }

func synOpts(mss int, ws uint8) []layers.TCPOption {
	m := make([]byte, 2)
	binary.BigEndian.PutUint16(m, uint16(mss))
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionData: m},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{ws}},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindSACKPermitted},
	}
}

// HandshakeOpts are the unusual parts of a three-way handshake.
type HandshakeOpts struct {
	SYNData    []byte             // data carried on the SYN (TCP Fast Open)
	SYNOpts    []layers.TCPOption // more options on the SYN
	AckSYNData bool               // the SYN-ACK acknowledges SYNData
}

// Handshake writes SYN, SYN-ACK and ACK.
func (c *Conn) Handshake() { c.HandshakeWith(HandshakeOpts{}) }

// HandshakeWith writes a handshake with data or options on the SYN.
func (c *Conn) HandshakeWith(o HandshakeOpts) {
	c.SYN(o.SYNData, o.SYNOpts...)
	if o.AckSYNData && len(o.SYNData) > 0 {
		c.h[Up].next = len(o.SYNData)
		c.take(Up, 0, len(o.SYNData))
	}
	c.SYNACK()
	c.ack(Down)
}

// SYN is the client's SYN (with data and more options if given). Its
// window is never scaled (RFC 7323 2.2): 64240, as Linux sends.
func (c *Conn) SYN(data []byte, opts ...layers.TCPOption) {
	c.Emit(Up, Seg{Flags: SYN, Seq: U32(c.h[Up].isn), Win: Int(64240 << c.cfg.WScale[Up]), Data: data,
		Opts: append(synOpts(c.cfg.MSS, c.cfg.WScale[Up]), opts...)})
}

// SYNACK is the server's SYN-ACK of what it took of the SYN.
func (c *Conn) SYNACK() {
	c.Emit(Down, Seg{Flags: SYN | ACK, Seq: U32(c.h[Down].isn), Win: Int(65160 << c.cfg.WScale[Down]),
		Opts: synOpts(c.cfg.MSS, c.cfg.WScale[Down])})
	c.h[Up].lastAck, c.h[Up].lastWin, c.h[Up].pending = c.h[Up].rcvNxt, 65160, 0
}

// received is the receiver of d taking [off, off+n); it acknowledges as
// a Linux receiver does: every second in-order segment, and at once for
// data out of order or data that fills a hole.
func (c *Conn) received(d, off, n int) {
	h := &c.h[d]
	hadHoles := len(h.ooo) > 0
	inOrder := c.take(d, off, n)
	switch {
	case !inOrder || hadHoles:
		c.ack(d)
	default:
		h.pending++
		if h.pending >= 2 {
			c.ack(d)
		}
	}
}

// take updates the receiver model; true when the data was in order.
func (c *Conn) take(d, off, n int) bool {
	h := &c.h[d]
	end := off + n
	if off > h.rcvNxt {
		h.ooo = append(h.ooo, span{off, end})
		sort.Slice(h.ooo, func(i, j int) bool { return h.ooo[i].start < h.ooo[j].start })
		merged := h.ooo[:1]
		for _, s := range h.ooo[1:] {
			last := &merged[len(merged)-1]
			if s.start <= last.end {
				last.end = max(last.end, s.end)
				continue
			}
			merged = append(merged, s)
		}
		h.ooo = merged
		return false
	}
	h.rcvNxt = max(h.rcvNxt, end)
	for len(h.ooo) > 0 && h.ooo[0].start <= h.rcvNxt {
		h.rcvNxt = max(h.rcvNxt, h.ooo[0].end)
		h.ooo = h.ooo[1:]
	}
	return true
}

// sackOpts lists up to three out-of-order blocks of direction d.
func (c *Conn) sackOpts(d int) []layers.TCPOption {
	h := &c.h[d]
	if len(h.ooo) == 0 {
		return nil
	}
	var b []byte
	for i := len(h.ooo) - 1; i >= 0 && len(b) < 24; i-- { // highest first, as Linux reports the latest
		b = binary.BigEndian.AppendUint32(b, c.SeqOf(d, h.ooo[i].start))
		b = binary.BigEndian.AppendUint32(b, c.SeqOf(d, h.ooo[i].end))
	}
	return []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindSACK, OptionData: b}}
}

// ack is the receiver of d sending a pure ACK of what it holds.
func (c *Conn) ack(d int) {
	r := 1 - d
	c.Emit(r, Seg{Flags: ACK, Seq: U32(c.sndNxt(r)), Opts: c.sackOpts(d)})
	c.acked(d)
}

// Ack is the receiver of d acknowledging now (a window update, say).
func (c *Conn) Ack(d int) { c.ack(d) }

// SackAck is the receiver of d acknowledging what it holds in order and
// reporting blocks of d it holds out of order (or, first, a duplicate it
// dropped: D-SACK, RFC 2883) that the model does not know of: a decoy
// the receiver queued.
func (c *Conn) SackAck(d int, blocks ...[2]int) {
	var b []byte
	for _, bl := range blocks {
		b = binary.BigEndian.AppendUint32(b, c.SeqOf(d, bl[0]))
		b = binary.BigEndian.AppendUint32(b, c.SeqOf(d, bl[1]))
	}
	opts := []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindSACK, OptionData: b}}
	r := 1 - d
	c.Emit(r, Seg{Flags: ACK, Seq: U32(c.sndNxt(r)), Opts: opts})
	c.acked(d)
}

// Absorb is the receiver of d taking [off, off+n) without
// acknowledging yet (its application is not reading).
func (c *Conn) Absorb(d, off, n int) { c.take(d, off, n) }

// Take is the receiver of d taking [off, off+n) that a hook sent in its
// own way, acknowledging as it would.
func (c *Conn) Take(d, off, n int) { c.received(d, off, n) }

// Sent moves direction d's next new byte on by n: bytes a case sent by
// hand with SendAt.
func (c *Conn) Sent(d, n int) { c.h[d].next += n }

// SndNxt is side s's next sequence number.
func (c *Conn) SndNxt(s int) uint32 { return c.sndNxt(s) }
