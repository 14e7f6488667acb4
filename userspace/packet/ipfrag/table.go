package ipfrag

import (
	"encoding/binary"

	"github.com/edgesensor/edgesensor/userspace/packet/csum"
)

// account brings d's count up to date and keeps the bound: reused
// buffers go first, then the oldest other datagrams; d itself last.
func (r *Reassembler) account(d *datagram) bool {
	fp := d.footprint()
	r.live += fp - d.held
	d.held = fp
	if !r.makeRoom(0, d) {
		r.stats.Evicted++
		r.drop(d)
		return false
	}
	return true
}

// makeRoom frees memory until n more bytes fit, sparing keep. It reports
// false when only keep is left and they still do not fit.
func (r *Reassembler) makeRoom(n int64, keep *datagram) bool {
	for r.live+r.pool.bytes+n > r.cfg.MaxBytes {
		if r.pool.bytes > 0 {
			r.pool.release()
			r.spare = nil
			continue
		}
		d := r.oldest
		if d != nil && d == keep {
			d = d.next
		}
		if d == nil {
			return false
		}
		r.stats.Evicted++
		r.drop(d)
	}
	return true
}

// create starts a datagram, evicting the oldest when a bound is reached.
func (r *Reassembler) create(k key, now int64) *datagram {
	if len(r.table) >= r.cfg.MaxDatagrams {
		r.stats.Evicted++
		r.drop(r.oldest)
	}
	if !r.makeRoom(datagramOverhead, nil) {
		return nil
	}
	var d *datagram
	if n := len(r.spare); n > 0 {
		d = r.spare[n-1]
		r.spare = r.spare[:n-1]
		r.pool.bytes -= d.footprint()
		*d = datagram{pieces: d.pieces[:0], runs: d.runs[:0]}
	} else {
		d = &datagram{}
	}
	d.key, d.created = k, now
	d.prev = r.newest
	if r.newest != nil {
		r.newest.next = d
	} else {
		r.oldest = d
	}
	r.newest = d
	r.table[k] = d
	d.held = d.footprint()
	r.live += d.held
	return d
}

// spareSlots bounds the datagram structs kept for reuse; they keep their
// bookkeeping slices up to spareCap entries, counted as pooled bytes.
const (
	spareSlots = 256
	spareCap   = 64
)

// drop removes d from the table and releases what it holds.
func (r *Reassembler) drop(d *datagram) {
	delete(r.table, d.key)
	if d.prev != nil {
		d.prev.next = d.next
	} else {
		r.oldest = d.next
	}
	if d.next != nil {
		d.next.prev = d.prev
	} else {
		r.newest = d.prev
	}
	r.live -= d.held
	r.pool.put(d.data)
	d.data, d.prev, d.next = nil, nil, nil
	if cap(d.pieces) > spareCap {
		d.pieces = nil
	}
	if cap(d.runs) > spareCap {
		d.runs = nil
	}
	if len(r.spare) < spareSlots && r.pool.bytes+d.footprint() <= r.pool.limit {
		r.pool.bytes += d.footprint()
		r.spare = append(r.spare, d)
	}
}

// complete builds the datagram in r.out and drops it from the table.
func (r *Reassembler) complete(d *datagram) ([]byte, bool) {
	switch d.doomed {
	case doomECN:
		r.stats.ECN++
		r.drop(d)
		return nil, false
	case doomTooBig:
		r.stats.TooBig++
		r.drop(d)
		return nil, false
	}
	hdr := d.data[d.hdrPos : d.hdrPos+d.hdrLen]
	h := int(d.hdrLen)
	n := h + int(d.len)
	if cap(r.out) < n {
		r.out = make([]byte, 0, max(n, 65535+40))
	}
	out := r.out[:n]
	copy(out, hdr)
	for _, p := range d.pieces {
		copy(out[h+int(p.off):h+int(p.end)], d.data[p.pos:p.pos+p.end-p.off])
	}
	ce := d.ecn&8 != 0 // CE with ECN-capable fragments (Not-ECT mixes are doomed)
	if d.key.family == 4 {
		binary.BigEndian.PutUint16(out[2:], uint16(n))
		var fo uint16
		if d.maxDF == d.maxSize {
			fo = 0x4000 // DF only when the largest fragment had it, as Linux
		}
		binary.BigEndian.PutUint16(out[6:], fo)
		if ce {
			out[1] |= 3
		}
		binary.BigEndian.PutUint16(out[10:], csum.IPv4Header(out[:h]))
	} else {
		out[d.nhOff] = d.fragNH
		binary.BigEndian.PutUint16(out[4:], uint16(n-40))
		if ce {
			out[1] |= 0x30
		}
	}
	r.stats.Reassembled++
	r.done = Done{Marked: d.marked, MaxFragment: int(d.maxFrag)}
	r.drop(d)
	return out, true
}
