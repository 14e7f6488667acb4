package craft

import (
	"encoding/binary"
	"net/netip"
	"sort"
)

// tcp is one segment of a connection.
func (r *receiver) tcp(tun string, src, dst netip.Addr, b []byte) {
	sp, dp := binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
	from, to := netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
	seq, ack := binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:])
	hl := int(b[12]>>4) * 4
	flags := b[13]
	win := uint32(binary.BigEndian.Uint16(b[14:]))
	urg := binary.BigEndian.Uint16(b[18:])
	opts, data := b[20:hl], b[hl:]
	syn, ackf, fin, rst, urgf := flags&SYN != 0, flags&ACK != 0, flags&FIN != 0, flags&RST != 0, flags&URG != 0

	c := r.conns[connKey(tun, from, to)]
	s := 0
	if c == nil {
		c = r.conns[connKey(tun, to, from)]
		s = 1
	}
	if syn && !ackf {
		if c != nil && !c.closed && !(c.d[0].fin && c.d[1].fin) && !r.naive {
			r.drops["syn_established"]++ // RFC 5961 4: a challenge ACK
			return
		}
		c = &rconn{tun: tun, client: from, server: to}
		c.d[0], c.d[1] = &rdir{held: map[uint32]byte{}}, &rdir{held: map[uint32]byte{}}
		c.d[0].isn, c.d[0].rcvNxt, c.d[0].init, c.d[0].sndMax, c.d[0].base = seq, seq+1, true, seq+1, seq+1
		c.ws[0] = wscaleOf(opts)
		c.synData = append([]byte(nil), data...)
		r.conns[connKey(tun, from, to)] = c
		delete(r.conns, connKey(tun, to, from))
		r.all = append(r.all, c)
		if r.naive && len(data) > 0 {
			c.d[0].app = append(c.d[0].app, data...)
			c.d[0].rcvNxt += uint32(len(data))
		}
		return
	}
	if c == nil || c.closed {
		return
	}
	d, o := c.d[s], c.d[1-s] // d: data from this sender; o: the other direction
	if syn && ackf && s == 1 {
		d.isn, d.rcvNxt, d.init, d.sndMax, d.base = seq, seq+1, true, seq+1, seq+1
		c.ws[1] = wscaleOf(opts)
		if !r.naive && len(c.synData) > 0 && ack == o.isn+1+uint32(len(c.synData)) {
			r.deliver(o, c.synData) // TCP Fast Open: the SYN's data was taken
		}
		o.edge, o.edgeOK = ack+win, true
		return
	}
	if !d.init {
		return
	}
	if rst {
		if r.naive || seq == d.rcvNxt {
			c.closed = true
			return
		}
		r.drops["rst_bad_seq"]++
		return
	}
	if !ackf && !r.naive {
		r.drops["noack"]++
		return
	}
	// The ACK: it moves the other direction's window edge when it
	// acknowledges data the other side did send.
	if ackf && !after(ack, o.sndMax+1) {
		e := ack + win<<c.ws[s]
		if !o.edgeOK || after(e, o.edge) {
			o.edge, o.edgeOK = e, true
		}
	} else if ackf && !r.naive {
		r.drops["ack_unsent"]++
		return
	}
	end := seq + uint32(len(data))
	if fin {
		end++
	}
	if after(end, d.sndMax) {
		d.sndMax = end
	}
	if len(data) == 0 && !fin {
		return
	}
	if d.fin && !r.naive {
		r.drops["after_fin"]++
		return
	}
	if !r.naive && d.edgeOK && !before(seq, d.edge) && len(data) > 0 {
		r.drops["overwindow"]++
		return
	}
	if urgf && urg > 0 && !r.naive {
		d.urg, d.urgSeq = true, seq+uint32(urg)-1
		r.drops["urgent"]++
	}
	if r.naive {
		r.naiveTake(d, seq, data, fin)
		return
	}
	r.take(d, seq, data, fin)
}

// take is tcp_data_queue: in-order data is delivered (then the
// out-of-order queue drained), later data queued by tcp_data_queue_ofo's
// rules, earlier data dropped.
func (r *receiver) take(d *rdir, seq uint32, data []byte, fin bool) {
	end := seq + uint32(len(data))
	if !after(end, d.rcvNxt) && len(data) > 0 {
		if r.differs(d, seq, data) {
			d.conflict++
		}
		return
	}
	if !after(seq, d.rcvNxt) {
		if r.differs(d, seq, data[:d.rcvNxt-seq]) {
			d.conflict++
		}
		r.deliver(d, data[d.rcvNxt-seq:])
		if fin {
			d.fin = true
		}
		for len(d.ooo) > 0 && !after(d.ooo[0].seq, d.rcvNxt) {
			q := d.ooo[0]
			d.ooo = d.ooo[1:]
			qEnd := q.seq + uint32(len(q.data))
			if !after(qEnd, d.rcvNxt) {
				continue // covered by in-order data: dropped
			}
			r.deliver(d, q.data[d.rcvNxt-q.seq:])
		}
		return
	}
	// Out of order.
	for i, q := range d.ooo {
		qEnd := q.seq + uint32(len(q.data))
		if before(seq, q.seq) || !before(seq, qEnd) {
			continue
		}
		if !after(end, qEnd) {
			return // all its bytes are queued: dropped
		}
		if seq == q.seq {
			d.ooo[i] = rseg{seq: seq, data: append([]byte(nil), data...)} // same start, longer: replaces
			r.mergeRight(d, i)
			return
		}
		break // partial overlap: queued beside; the earlier one wins
	}
	d.ooo = append(d.ooo, rseg{seq: seq, data: append([]byte(nil), data...)})
	sort.SliceStable(d.ooo, func(i, j int) bool { return before(d.ooo[i].seq, d.ooo[j].seq) })
	for i, q := range d.ooo {
		if q.seq == seq && len(q.data) == len(data) {
			r.mergeRight(d, i)
			break
		}
	}
}

// mergeRight drops queued segments the one at i covers whole.
func (r *receiver) mergeRight(d *rdir, i int) {
	end := d.ooo[i].seq + uint32(len(d.ooo[i].data))
	j := i + 1
	for j < len(d.ooo) && !after(d.ooo[j].seq+uint32(len(d.ooo[j].data)), end) {
		j++
	}
	d.ooo = append(d.ooo[:i+1], d.ooo[j:]...)
}

// differs reports whether data at seq (already taken) differs from what
// was taken there.
func (r *receiver) differs(d *rdir, seq uint32, data []byte) bool {
	for i, c := range data {
		if at := int(seq + uint32(i) - d.base); at >= 0 && at < len(d.wire) && d.wire[at] != c {
			return true
		}
	}
	return false
}

// deliver appends in-order bytes to the application stream, leaving out
// an urgent byte.
func (r *receiver) deliver(d *rdir, b []byte) {
	d.wire = append(d.wire, b...)
	for _, c := range b {
		if !(d.urg && d.rcvNxt == d.urgSeq) {
			d.app = append(d.app, c)
		}
		d.rcvNxt++
	}
}

// naiveTake keeps the first copy of every byte and delivers whatever is
// contiguous.
func (r *receiver) naiveTake(d *rdir, seq uint32, data []byte, fin bool) {
	for i, c := range data {
		s := seq + uint32(i)
		if before(s, d.rcvNxt) {
			continue
		}
		if _, ok := d.held[s]; !ok {
			d.held[s] = c
		}
	}
	for {
		c, ok := d.held[d.rcvNxt]
		if !ok {
			break
		}
		d.app = append(d.app, c)
		delete(d.held, d.rcvNxt)
		d.rcvNxt++
	}
	if fin && seq+uint32(len(data)) == d.rcvNxt {
		d.fin = true
		d.rcvNxt++ // the FIN's sequence number; what follows is taken too
	}
}
