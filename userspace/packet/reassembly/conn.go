package reassembly

// TCP header flags, as in the header.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
	FlagURG = 0x20
)

// Seg is one TCP segment as the sensor saw it.
type Seg struct {
	Seq, Ack uint32
	Flags    uint8
	Window   uint16 // the window field, unscaled
	// NoWindow says the window field is not known (a segment whose
	// header was not captured): it moves no window edge.
	NoWindow bool
	// WScale is the window scale option of a SYN (0 to 14), or -1 when
	// the segment has none.
	WScale int8
	// Urgent is the urgent pointer (meaningful with FlagURG).
	Urgent uint16
	// Time is when the segment was captured (Unix ns; 0 when not known).
	// With Config.AckGrace it dates the ACKs that declare losses.
	Time int64
	// Payload is the payload present (a frame cut by the snaplen leaves
	// the rest a hole).
	Payload []byte
	// Bad says the checksum policy rejected the segment: the host drops
	// it, so it is no stream data and changes nothing.
	Bad bool
}

// ConnStats counts what the receiver model decided. Plain counters, one
// owner; aggregate with Add.
type ConnStats struct {
	BadChecksum uint64 // segments dropped: checksum
	NoACK       uint64 // data segments without ACK in a synchronised connection
	OutOfWindow uint64 // data segments starting beyond the receiver's window
	// RSTs ended connections; BadRST were ignored, not at the exact next
	// sequence number (RFC 5961).
	RSTs, BadRST uint64
	// SYNIgnored are SYNs with a new ISN on a live connection that no
	// SYN-ACK confirmed (a server in a synchronised state answers them
	// with a challenge ACK); NewConnections were confirmed, or came after
	// the old connection was over.
	SYNIgnored, NewConnections uint64
	// BadSYNACK are SYN-ACKs that acknowledge no SYN seen.
	BadSYNACK uint64
	// AckBeyond are ACKs acknowledging more than the other side was seen
	// to send: they declare no gap beyond what was seen.
	AckBeyond uint64
	// TFOAccepted and TFODropped count data carried by SYNs (TCP Fast
	// Open), delivered when the SYN-ACK acknowledged it, dropped when not.
	TFOAccepted, TFODropped uint64
}

// Add adds o's counters to s.
func (s *ConnStats) Add(o *ConnStats) {
	s.BadChecksum += o.BadChecksum
	s.NoACK += o.NoACK
	s.OutOfWindow += o.OutOfWindow
	s.RSTs += o.RSTs
	s.BadRST += o.BadRST
	s.SYNIgnored += o.SYNIgnored
	s.NewConnections += o.NewConnections
	s.BadSYNACK += o.BadSYNACK
	s.AckBeyond += o.AckBeyond
	s.TFOAccepted += o.TFOAccepted
	s.TFODropped += o.TFODropped
}

// Result says what a segment did to the connection.
type Result uint8

// Results of Conn.Segment.
const (
	// Accepted: the segment was taken (its bytes, if any, went to the
	// stream; some may have been duplicates).
	Accepted Result = iota
	// Dropped: the receiving host would not have taken it (counted).
	Dropped
	// Reset: a valid RST; the connection is over.
	Reset
	// NewConnection: a new connection on the same tuple starts with this
	// segment (a SYN after the old one was over, or the SYN-ACK that
	// confirms a new SYN): end the old connection, then give the
	// segments of Pending and this one to a new Conn.
	NewConnection
)

// side is what the model knows of one endpoint, as a sender.
type side struct {
	isn      uint32
	syn      bool // its SYN (or SYN-ACK) was seen
	wscale   int8 // from its SYN, -1 none
	ack      uint32
	haveAck  bool
	edge     uint32 // right edge of the window it advertised (the other side's sequence space)
	haveEdge bool
	maxEnd   uint32 // the highest sequence number it was seen to send up to
	haveMax  bool
	tfo      []byte // data on its SYN, until its fate is known
	// An acknowledged hole in what this side received, not yet declared
	// lost (Config.AckGrace): up to pendAck, acknowledged first at
	// pendSince.
	pendAck   uint32
	pendSince int64
	havePend  bool
}

// Conn follows one TCP connection as its receiving hosts do: it decides
// which segments are stream data and feeds each direction's Stream. The
// rules are those of a Linux receiver (RFC 793, 5961, 7323, 7413):
//   - a segment whose checksum is wrong is dropped (the caller checks);
//   - data without ACK, once synchronised, is dropped;
//   - data starting at or beyond the right edge of the window the
//     receiver last advertised is dropped (a zero window included);
//   - an RST counts only at the exact next sequence number;
//   - a SYN with a new ISN on a live connection is ignored unless the
//     server's SYN-ACK acknowledges it;
//   - data on a SYN (Fast Open) counts only if the SYN-ACK acknowledges it;
//   - an ACK declares lost only what the other side was seen to send;
//   - an urgent byte is taken out of the stream (out of band).
//
// Overlapping copies are the Stream's business (Config.Policy).
type Conn struct {
	S [2]Stream // 0: client -> server, 1: server -> client

	side    [2]side
	reset   bool
	pending *Seg // a client SYN with a new ISN, waiting for its SYN-ACK
	pendBuf []byte
	stats   *ConnStats
	grace   int64 // Config.AckGrace in ns
}

// Init (re)starts c with the stream limits of cfg, counting into st and
// cst, holding against b (each may be nil).
func (c *Conn) Init(cfg *Config, st *Stats, cst *ConnStats, b *Budget) {
	for i := range c.S {
		c.S[i].Init(cfg, st, b)
	}
	c.side = [2]side{{wscale: -1}, {wscale: -1}}
	c.reset, c.pending = false, nil
	c.grace = 0
	if cfg != nil {
		c.grace = int64(cfg.AckGrace)
	}
	if cst == nil {
		cst = new(ConnStats)
	}
	c.stats = cst
}

// Reset frees what c holds and makes it new, keeping its limits.
func (c *Conn) Reset() {
	for i := range c.S {
		c.S[i].Reset()
	}
	c.side = [2]side{{wscale: -1}, {wscale: -1}}
	c.reset, c.pending = false, nil
}

// Over reports that the connection ended: a valid RST, or both
// directions finished.
func (c *Conn) Over() bool { return c.reset || c.S[0].Finished() && c.S[1].Finished() }

// ForgetWindow drops what is known of the window the receiver of
// direction d advertised: the sensor may have missed its updates (the
// ACKs of a skipped body, lost events), and a stale edge would take the
// sender's next data for data outside the window.
func (c *Conn) ForgetWindow(d int) { c.side[1-d].haveEdge = false }

// Pending is the client SYN that a NewConnection result acts on (nil when
// the SYN itself was the segment). Valid until the next call.
func (c *Conn) Pending() *Seg { return c.pending }

// Memory is what the streams hold.
func (c *Conn) Memory() int64 { return c.S[0].Memory() + c.S[1].Memory() }

// scaleOf is the shift the window field of d's segments takes.
func (c *Conn) scaleOf(d int) uint {
	a, b := c.side[0].wscale, c.side[1].wscale
	if c.side[0].syn && c.side[1].syn {
		if a < 0 || b < 0 {
			return 0 // scaling is on only when both SYNs asked for it
		}
		return uint(min(c.side[d].wscale, 14))
	}
	return 14 // not known: the widest window a host may have meant
}

func after(a, b uint32) bool { return int32(a-b) > 0 }

// Segment takes one segment travelling from the client (fromClient) or
// the server, delivering to cons[0] the client's bytes and to cons[1] the
// server's.
func (c *Conn) Segment(fromClient bool, g *Seg, cons [2]Consumer) Result {
	if c.side[0].havePend || c.side[1].havePend {
		c.settleAcks(g.Time, cons)
	}
	if g.Bad {
		c.stats.BadChecksum++
		return Dropped
	}
	d := 1
	if fromClient {
		d = 0
	}
	me, peer := &c.side[d], &c.side[1-d]

	switch {
	case g.Flags&FlagRST != 0:
		return c.rst(d, g)
	case g.Flags&(FlagSYN|FlagACK) == FlagSYN:
		if r, done := c.syn(d, g, cons); done {
			return r
		}
	case g.Flags&(FlagSYN|FlagACK) == FlagSYN|FlagACK:
		if r, done := c.synAck(d, g, cons); done {
			return r
		}
	case len(g.Payload) > 0 && g.Flags&FlagACK == 0:
		c.stats.NoACK++
		return Dropped
	}

	syn := g.Flags&FlagSYN != 0
	dataSeq := g.Seq
	if syn {
		dataSeq++
	}
	end := dataSeq + uint32(len(g.Payload))
	if g.Flags&FlagFIN != 0 {
		end++
	}
	if len(g.Payload) > 0 && !syn {
		if peer.haveEdge && !after(peer.edge, dataSeq) {
			c.stats.OutOfWindow++
			return Dropped
		}
		c.fastOpen(d, dataSeq, cons)
	}
	if !me.haveMax || after(end, me.maxEnd) {
		me.maxEnd, me.haveMax = end, true
	}
	if g.Flags&FlagURG != 0 && g.Urgent > 0 && len(g.Payload) > 0 && !syn {
		// RFC 6093: the pointer points just past the urgent byte.
		c.S[d].Start(dataSeq)
		c.S[d].Urgent(dataSeq + uint32(g.Urgent) - 1)
	}
	payload := g.Payload
	if syn && me.tfo != nil {
		payload = nil // Fast Open data waits for the SYN-ACK
	}
	c.S[d].Segment(g.Seq, syn, g.Flags&FlagFIN != 0, payload, cons[d])
	if g.Flags&FlagACK != 0 {
		c.ack(d, g, cons)
	}
	return Accepted
}

// ack takes what an ACK from d says: what d received of the other side
// (a loss when that side was seen to send it), and d's window.
func (c *Conn) ack(d int, g *Seg, cons [2]Consumer) {
	me, peer := &c.side[d], &c.side[1-d]
	if !me.haveAck || after(g.Ack, me.ack) {
		me.ack, me.haveAck = g.Ack, true
	}
	if g.Flags&FlagSYN == 0 && !g.NoWindow {
		edge := g.Ack + uint32(g.Window)<<c.scaleOf(d)
		if !me.haveEdge || after(edge, me.edge) {
			me.edge, me.haveEdge = edge, true
		}
	}
	a := g.Ack
	if !peer.haveMax {
		return
	}
	if after(a, peer.maxEnd) {
		c.stats.AckBeyond++
		a = peer.maxEnd
	}
	st := &c.S[1-d]
	if c.grace > 0 && g.Time != 0 && st.Started() && after(a, st.NextSeq()) {
		// The receiver has bytes the sensor has not (yet): they may be
		// on their way through a slower path (reassembled fragments are
		// reinjected after the ACKs that followed them), so the loss is
		// declared only if the hole outlives the grace.
		if !me.havePend {
			me.pendAck, me.pendSince, me.havePend = a, g.Time, true
		} else if after(a, me.pendAck) {
			me.pendAck = a
		}
		return
	}
	st.Acked(a, cons[1-d])
}

// Settle declares lost, now, the acknowledged holes still waiting out
// their grace: call it before flushing the streams at the end.
func (c *Conn) Settle(cons [2]Consumer) {
	for d := range c.side {
		me := &c.side[d]
		if me.havePend {
			me.havePend = false
			if after(me.pendAck, c.S[1-d].NextSeq()) {
				c.S[1-d].Acked(me.pendAck, cons[1-d])
			}
		}
	}
}

// settleAcks declares lost the acknowledged holes older than the grace
// at now (Unix ns; 0 settles none) and forgets those filled since.
func (c *Conn) settleAcks(now int64, cons [2]Consumer) {
	for d := range c.side {
		me := &c.side[d]
		if !me.havePend {
			continue
		}
		st := &c.S[1-d]
		switch {
		case !after(me.pendAck, st.NextSeq()):
			me.havePend = false
		case now != 0 && now-me.pendSince >= c.grace:
			me.havePend = false
			st.Acked(me.pendAck, cons[1-d])
		}
	}
}

// rst checks an RST from d against what its receiver expects next.
func (c *Conn) rst(d int, g *Seg) Result {
	me, peer := &c.side[d], &c.side[1-d]
	s := &c.S[d]
	ok := !s.Started() && !peer.haveAck // nothing to check it against
	if s.Started() && g.Seq == s.NextSeq() {
		ok = true
	}
	if peer.haveAck && g.Seq == peer.ack {
		ok = true
	}
	if me.haveMax && g.Seq == me.maxEnd {
		ok = true
	}
	// An RST answering a SYN: its ACK acknowledges the SYN.
	if !ok && d == 1 && c.side[0].syn && !c.side[1].syn && g.Flags&FlagACK != 0 && g.Ack == c.side[0].isn+1 {
		ok = true
	}
	if !ok {
		c.stats.BadRST++
		return Dropped
	}
	c.stats.RSTs++
	c.reset = true
	return Reset
}

// syn takes a SYN without ACK. done says the result is final.
func (c *Conn) syn(d int, g *Seg, cons [2]Consumer) (Result, bool) {
	me := &c.side[d]
	switch {
	case me.syn && g.Seq == me.isn:
		return Accepted, true // a retransmission
	case me.syn || c.S[d].Started() || c.S[1-d].Started():
		// A new ISN on a used tuple.
		if c.Over() {
			c.stats.NewConnections++
			c.pending = nil
			return NewConnection, true
		}
		c.stats.SYNIgnored++
		c.pending = c.keep(g)
		return Dropped, true
	}
	me.syn, me.isn, me.wscale = true, g.Seq, g.WScale
	if len(g.Payload) > 0 {
		me.tfo = append(me.tfo[:0], g.Payload...)
	}
	return Accepted, false
}

// keep copies g for Pending.
func (c *Conn) keep(g *Seg) *Seg {
	c.pendBuf = append(c.pendBuf[:0], g.Payload...)
	k := *g
	k.Payload = c.pendBuf
	return &k
}

// synAck takes a SYN-ACK. done says the result is final.
func (c *Conn) synAck(d int, g *Seg, cons [2]Consumer) (Result, bool) {
	me, peer := &c.side[d], &c.side[1-d]
	if c.pending != nil && acks(g.Ack, c.pending.Seq, len(c.pending.Payload)) {
		c.stats.NewConnections++
		return NewConnection, true
	}
	if me.syn {
		if g.Seq == me.isn {
			return Accepted, true // a retransmission
		}
		c.stats.BadSYNACK++
		return Dropped, true
	}
	if peer.syn && !acks(g.Ack, peer.isn, len(peer.tfo)) {
		c.stats.BadSYNACK++
		return Dropped, true
	}
	me.syn, me.isn, me.wscale = true, g.Seq, g.WScale
	if peer.syn && peer.tfo != nil {
		if g.Ack == peer.isn+1+uint32(len(peer.tfo)) {
			c.deliverTFO(1-d, cons)
		} else {
			c.stats.TFODropped++
			peer.tfo = nil
		}
	}
	return Accepted, false
}

// acks says whether ack acknowledges a SYN at isn carrying n bytes (with
// or without them).
func acks(ack, isn uint32, n int) bool {
	return ack == isn+1 || n > 0 && ack == isn+1+uint32(n)
}

// fastOpen settles data held from d's SYN when no SYN-ACK said: data at
// the SYN's next byte means the SYN's data was resent (not accepted);
// data right after it means it was.
func (c *Conn) fastOpen(d int, seq uint32, cons [2]Consumer) {
	me := &c.side[d]
	if me.tfo == nil {
		return
	}
	switch seq {
	case me.isn + 1 + uint32(len(me.tfo)):
		c.deliverTFO(d, cons)
	case me.isn + 1:
		c.stats.TFODropped++
		me.tfo = nil
	}
}

func (c *Conn) deliverTFO(d int, cons [2]Consumer) {
	me := &c.side[d]
	tfo := me.tfo
	me.tfo = nil
	c.stats.TFOAccepted++
	c.S[d].Segment(me.isn+1, false, false, tfo, cons[d])
}
