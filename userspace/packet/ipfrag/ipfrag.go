package ipfrag

import (
	"sort"
	"time"
	"unsafe"
)

// Config bounds a Reassembler. Zero fields take the defaults.
type Config struct {
	MaxBytes     int64         // bytes owned over all datagrams, overhead included (default 16 MiB)
	MaxDatagrams int           // datagrams in progress (default 4096)
	Timeout      time.Duration // time from a datagram's first fragment to its drop (default 30 s, as Linux)
}

// Defaults.
const (
	DefaultMaxBytes     = 16 << 20
	DefaultMaxDatagrams = 4096
	DefaultTimeout      = 30 * time.Second
)

// Stats are plain counters, read and written by the Reassembler's owner.
type Stats struct {
	Fragments   uint64 // fragments taken (valid IP fragments)
	Reassembled uint64 // datagrams completed and returned
	Duplicates  uint64 // fragments inside a run already held: ignored
	Overlaps    uint64 // datagrams discarded for a partial overlap
	BadLength   uint64 // datagrams discarded for a length conflict (past or against the last fragment's end) or an empty fragment
	Unaligned   uint64 // IPv6 non-last fragments not a multiple of 8 bytes: dropped
	TooBig      uint64 // IPv6 fragments ending past 65535 (dropped) and datagrams over 65535 bytes (discarded)
	ECN         uint64 // datagrams discarded for mixing Not-ECT and ECN-capable fragments
	Timeouts    uint64 // datagrams not complete within the timeout
	Evicted     uint64 // datagrams dropped for MaxBytes or MaxDatagrams
	Tiny        uint64 // first TCP fragments too short for the TCP header; IPv6 first fragments without their headers (dropped)
	Offset1     uint64 // TCP fragments at offset 8 (RFC 1858)
	Malformed   uint64 // packets that are not valid IP fragments
}

// run is a range of contiguous received fragments; piece is where a
// fragment's bytes (or several contiguous ones) sit in the data buffer.
type run struct{ off, end int32 }

type piece struct{ off, end, pos int32 }

// doom reasons: the datagram can no longer be reassembled; its bytes are
// released but its bookkeeping stays, so later fragments are judged as
// the host judges them.
const (
	doomTooBig uint8 = iota + 1
	doomECN
)

type datagram struct {
	key        key
	created    int64 // UnixNano of the first fragment
	prev, next *datagram

	data   []byte // header and fragment bytes in arrival order
	pieces []piece
	runs   []run // sorted by offset

	hdrPos, hdrLen int32 // the first fragment's header in data (hdrLen 0 until it came)
	nhOff          int32 // IPv6: next-header byte to rewrite, in the header
	fragNH         uint8 // IPv6: the first fragment's fragment header next header
	len, meat      int32 // Linux's q.len and q.meat
	first, last    bool
	ecn            uint8
	doomed         uint8
	maxSize, maxDF int32 // IPv4: largest fragment, largest DF fragment
	maxFrag        int32 // largest fragment's IP packet, either family
	marked         bool  // a fragment came with AddMarked's mark
	held           int64 // bytes counted for it
}

// Per-datagram overhead: the struct and its table entry (key, pointer and
// the map's control bytes).
const (
	datagramOverhead = int64(unsafe.Sizeof(datagram{})) + int64(unsafe.Sizeof(key{})) + 16
	pieceSize        = int64(unsafe.Sizeof(piece{}))
	runSize          = int64(unsafe.Sizeof(run{}))
)

// footprint is what d holds: recomputed from capacities, not lengths.
func (d *datagram) footprint() int64 {
	return datagramOverhead + int64(cap(d.data)) + int64(cap(d.pieces))*pieceSize + int64(cap(d.runs))*runSize
}

// Reassembler reassembles fragments. It is not safe for concurrent use.
type Reassembler struct {
	cfg     Config
	table   map[key]*datagram
	oldest  *datagram // age list by creation, oldest first
	newest  *datagram
	live    int64 // bytes of datagrams in progress
	pool    pool
	spare   []*datagram // datagram structs for reuse, with small slices
	out     []byte
	done    Done
	stats   Stats
	scratch frag
}

// Done describes the datagram the last call to Add completed.
type Done struct {
	Marked      bool // one of its fragments came with AddMarked's mark
	MaxFragment int  // its largest fragment's IP packet length
}

// New returns a Reassembler bounded by cfg.
func New(cfg Config) *Reassembler {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxDatagrams <= 0 {
		cfg.MaxDatagrams = DefaultMaxDatagrams
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &Reassembler{
		cfg:   cfg,
		table: make(map[key]*datagram, cfg.MaxDatagrams),
		pool:  pool{limit: cfg.MaxBytes / 8},
	}
}

// Stats returns the counters.
func (r *Reassembler) Stats() *Stats { return &r.stats }

// Held returns the bytes owned now, counted against MaxBytes: datagrams
// in progress with their overhead, and buffers kept for reuse.
func (r *Reassembler) Held() int64 { return r.live + r.pool.bytes }

// Pending returns the number of datagrams in progress.
func (r *Reassembler) Pending() int { return len(r.table) }

// Expire drops the datagrams whose first fragment is Timeout old or older
// at now, counted in Stats.Timeouts. Add also expires the datagram it
// would join, so Expire only bounds how long memory stays held.
func (r *Reassembler) Expire(now time.Time) {
	t := now.UnixNano()
	for d := r.oldest; d != nil && r.expired(d, t); d = r.oldest {
		r.stats.Timeouts++
		r.drop(d)
	}
}

func (r *Reassembler) expired(d *datagram, now int64) bool {
	return now-d.created >= int64(r.cfg.Timeout)
}

// Add takes one fragment: pkt is the fragmented IP packet from its IP
// header (bytes past its length field are ignored); zone separates
// tunnels (0 when none). When this fragment completes a datagram, Add
// returns the whole reassembled IP packet, valid until the next call, and
// true; Done describes it.
func (r *Reassembler) Add(now time.Time, zone uint32, pkt []byte) ([]byte, bool) {
	return r.AddMarked(now, zone, pkt, false)
}

// Done describes the datagram the last Add completed.
func (r *Reassembler) Done() Done { return r.done }

// AddMarked is Add, and with mark the datagram the fragment belongs to is
// marked (Done.Marked): the caller's note that it holds the fragment back
// from the receiver, kept even if the fragment itself is not taken.
func (r *Reassembler) AddMarked(now time.Time, zone uint32, pkt []byte, mark bool) ([]byte, bool) {
	fr := &r.scratch
	if !fr.parse(pkt, zone) {
		r.stats.Malformed++
		return nil, false
	}
	r.stats.Fragments++
	if fr.proto == 6 && fr.off == 8 {
		r.stats.Offset1++
	}
	if fr.off == 0 {
		if fr.family == 6 && headersCut(pkt) {
			r.stats.Tiny++
			return nil, false // Linux drops it before looking the datagram up
		}
		if fr.tiny() {
			r.stats.Tiny++
		}
	}
	t := now.UnixNano()
	d := r.table[fr.key]
	if d != nil && r.expired(d, t) {
		r.stats.Timeouts++
		r.drop(d)
		d = nil
	}
	if d == nil {
		if d = r.create(fr.key, t); d == nil {
			r.stats.Evicted++ // MaxBytes below one datagram's overhead
			return nil, false
		}
	}
	d.marked = d.marked || mark
	off, end := int32(fr.off), int32(fr.end)
	if fr.family == 6 && end > 65535 {
		r.stats.TooBig++
		return nil, false
	}
	if !fr.more {
		if end < d.len || (d.last && end != d.len) {
			r.stats.BadLength++
			r.drop(d)
			return nil, false
		}
		d.last, d.len = true, end
	} else {
		if end&7 != 0 {
			if fr.family == 6 {
				r.stats.Unaligned++
				return nil, false
			}
			end &^= 7
		}
		if end > d.len {
			if d.last {
				r.stats.BadLength++
				r.drop(d)
				return nil, false
			}
			d.len = end
		}
	}
	if end == off {
		r.stats.BadLength++
		r.drop(d)
		return nil, false
	}
	at, ext, ok := d.place(off, end)
	if !ok {
		if at < 0 {
			r.stats.Duplicates++
			return nil, false
		}
		r.stats.Overlaps++
		r.drop(d)
		return nil, false
	}
	n := end - off
	data := fr.data[:n]
	var hdr []byte
	if off == 0 {
		hdr = fr.hdr
	}
	d.meat += n
	d.ecn |= fr.ecn
	size := n + int32(len(fr.hdr))
	d.maxFrag = max(d.maxFrag, size)
	if fr.family == 4 {
		d.maxSize = max(d.maxSize, size)
		if fr.df {
			d.maxDF = max(d.maxDF, size)
		}
	}
	d.updateDoom(fr.family, len(hdr))
	if !r.store(d, off, end, at, ext, data, hdr, fr) {
		return nil, false
	}
	if d.first && d.last && d.meat == d.len {
		return r.complete(d)
	}
	return nil, false
}

// place finds where [off, end) goes among the runs, by Linux's rules
// (inet_frag_queue_insert): past the last run's end it extends that run
// when it starts where the run ends and is an overlap when it starts
// inside it; elsewhere a fragment inside one run is a duplicate (at -1),
// one overlapping any run an overlap (at >= 0), and one overlapping none
// a new run at index at. ext reports extending the last run.
func (d *datagram) place(off, end int32) (at int, ext, ok bool) {
	n := len(d.runs)
	if n == 0 {
		return 0, false, true
	}
	last := d.runs[n-1]
	if last.end < end {
		switch {
		case off < last.end:
			return n, false, false
		case off == last.end:
			return n - 1, true, true
		}
		return n, false, true
	}
	i := sort.Search(n, func(i int) bool { return d.runs[i].end > off })
	if r := d.runs[i]; r.off < end {
		if off >= r.off && end <= r.end {
			return -1, false, false
		}
		return i, false, false
	}
	return i, false, true
}

// updateDoom marks d when it can no longer be reassembled: fragments
// that mix Not-ECT with ECN codepoints, or a length that cannot fit.
// hdr is the length of the header arriving now (0 if none).
func (d *datagram) updateDoom(family uint8, hdr int) {
	if d.doomed != 0 {
		return
	}
	if d.ecn&1 != 0 && d.ecn != 1 {
		d.doomed = doomECN
		return
	}
	h := int32(hdr)
	if d.hdrLen != 0 {
		h = d.hdrLen
	}
	switch family {
	case 4:
		if h == 0 {
			h = 20 // no IPv4 header is shorter
		}
		if h+d.len > 65535 {
			d.doomed = doomTooBig
		}
	case 6:
		if h != 0 && h-40+d.len > 65535 {
			d.doomed = doomTooBig
		}
	}
}

// store records the fragment in d: its run, and unless d is doomed its
// bytes and, for the first fragment, the header.
func (r *Reassembler) store(d *datagram, off, end int32, at int, ext bool, data, hdr []byte, fr *frag) bool {
	if ext {
		d.runs[at].end = end
	} else {
		d.runs = growRuns(d.runs)
		d.runs = d.runs[:len(d.runs)+1]
		copy(d.runs[at+1:], d.runs[at:])
		d.runs[at] = run{off, end}
	}
	if off == 0 {
		d.first = true
		d.nhOff, d.fragNH = int32(fr.nhOff), fr.fragNH
	}
	if d.doomed != 0 {
		if d.data != nil { // doomed just now: its bytes go
			r.pool.put(d.data)
			d.data, d.pieces = nil, d.pieces[:0]
		}
		return r.account(d)
	}
	need := len(d.data) + len(data) + len(hdr)
	if need > cap(d.data) {
		nb := r.pool.get(need)
		if nb == nil {
			r.drop(d)
			r.stats.Evicted++
			return false
		}
		nb = append(nb[:0], d.data...)
		r.pool.put(d.data)
		d.data = nb
	}
	if hdr != nil {
		d.hdrPos, d.hdrLen = int32(len(d.data)), int32(len(hdr))
		d.data = append(d.data, hdr...)
	}
	pos := int32(len(d.data))
	d.data = append(d.data, data...)
	if k := len(d.pieces); k > 0 {
		if p := &d.pieces[k-1]; p.end == off && p.pos+(p.end-p.off) == pos {
			p.end = end
			return r.account(d)
		}
	}
	d.pieces = growPieces(d.pieces)
	d.pieces = append(d.pieces, piece{off, end, pos})
	return r.account(d)
}

func growRuns(s []run) []run {
	if len(s) < cap(s) {
		return s
	}
	ns := make([]run, len(s), max(4, 2*cap(s)))
	copy(ns, s)
	return ns
}

func growPieces(s []piece) []piece {
	if len(s) < cap(s) {
		return s
	}
	ns := make([]piece, len(s), max(4, 2*cap(s)))
	copy(ns, s)
	return ns
}
