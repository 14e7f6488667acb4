package files

import (
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// Files fetched in pieces: HTTP ranges out of order, overlapping, or over
// several connections at once (download managers, update agents). The
// HTTP parser hands every range it can place to the sink as a piece
// (transfer.Meta.Range); pieces of one file meet here, whatever shard
// their connection is on, keyed by client address, server address and
// zone, URL, validator (ETag, else Last-Modified) and total size: another
// validator or size is another version of the file, never joined.
//
// Bytes from the file's first missing byte on (the front) go straight
// into the joined file, a normal file of the pipeline (typing, hashes,
// spool, analysis, event), so ranges fetched in order cost nothing more
// than a plain download. Bytes beyond the front wait in a sparse spill
// file in the spool directory, at their own offsets, until the front
// reaches them (files.range_held bounds them over all files, and they
// count against files.spool_limit). Where pieces overlap, the bytes must
// agree: those already in the joined file are read back from its head or
// spool, those waiting from the spill. A disagreement cuts the file
// (cut "conflict", no hash): the client kept one version, the sensor
// cannot know which. An overlap that cannot be read back (the joined
// file's spool was dropped) cuts it "limit".
//
// A file ends whole when the front reaches its total size; otherwise
// when none of its pieces came for files.range_idle, when
// files.range_files pushes it out (least recently active first), or when
// the pipeline stops: cut "not_final", missing_bytes what no piece
// covered. files.range_pieces bounds a file's pieces and, as gaps within
// pieces make more, its separate spans held too (cut "limit"). The event says how many pieces over how many connections
// made it (edgesensor.file.ranges). A file cut or declined stays as a
// tombstone until idle, so the rest of its pieces are dropped (counted)
// rather than opening a second, partial file; a whole one is forgotten
// at once (it ends when none of its pieces is open), so fetching it
// again is another download.
//
// One mutex guards it: pieces of all shards write under it, and the
// joined files belong to a shard of the joiner's own (no flows), touched
// only under the mutex until they go to the scorers.
//
// A piece that ends is held back on its connection as a whole plain file
// is (flowtable.go hold): a conflict (reassembly) on the connection in
// that time still cuts its file, which cannot end whole before.
// A chunked or until-close piece that runs past its range cuts its file
// "conflict": a client that writes it at its offset overwrites the next
// range's bytes.
//
// Not covered: enforcement's hold (no held packet waits for a joined
// file's verdict: it comes after the fact, for the connection of the
// file's head); multipart/byteranges responses (several ranges in one
// body) and ranges without a known total, which are counted and skipped
// (http_partial); files larger than every category's max_size
// (file_range_too_large).
//
// Where a piece's bytes go, and overlaps compared: rangejoin_spans.go.

// rangeKey names one version of one file, as one client fetches it.
type rangeKey struct {
	client         netip.Addr
	server         netip.AddrPort
	zone           uint32
	url, validator string
	total          int64
	// tunnel: the CONNECT target the pieces came through (the server
	// address is the proxy's, the URL the inner Host's: two tunnels are
	// two origins).
	tunnel string
}

// span is the bytes [a, b) of a file.
type span struct{ a, b int64 }

// rangeEntry is one file being joined.
type rangeEntry struct {
	key  rangeKey
	meta transfer.Meta
	last time.Time // the last piece activity
	// fl and iface: the connection the event is of (the head's, else
	// the first piece's).
	fl    *flow
	iface string

	out   *file // the joined file, opened by byte 0
	front int64 // bytes [0, front) are in out
	// held are the bytes beyond the front, in spill at their offsets:
	// sorted, disjoint, none touching the front.
	held      []span
	heldBytes int64
	spill     *os.File

	pieces  int      // pieces opened
	ports   []uint16 // the client ports of the connections they came on
	open    int      // pieces not closed yet
	overlap int64    // bytes received twice, and equal
	// ended: the file was reported (or declined): pieces are dropped.
	ended bool
}

// rangePiece is one piece as it is written.
type rangePiece struct {
	e        *rangeEntry
	pos, end int64 // the next byte's offset, and the piece's end
	closed   bool
}

// rangeJoiner joins the pieces of all shards.
type rangeJoiner struct {
	p  *Pipeline
	mu sync.Mutex
	// sh owns the joined files: no flows, never handled; now is the
	// capture time of the call under way.
	sh      *shard
	entries map[rangeKey]*rangeEntry
	held    int64  // bytes in spill files, over all entries
	buf     []byte // reads of spills and of the joined file's spool, one at a time
	spills  int    // spill files made (tests: ranges in order make none)
	// maxTotal is the largest max_size of a category: a larger file is
	// not joined.
	maxTotal int64
}

// rangeReadBuf: overlaps are compared, and held bytes moved on, this
// many bytes at a time.
const rangeReadBuf = 32 << 10

func newRangeJoiner(p *Pipeline) *rangeJoiner {
	j := &rangeJoiner{p: p, entries: map[rangeKey]*rangeEntry{},
		buf: make([]byte, rangeReadBuf)}
	j.sh = &shard{p: p, id: -1}
	for _, c := range p.cfg.Categories {
		j.maxTotal = max(j.maxTotal, c.MaxSize)
	}
	return j
}

// footprint is what the joiner holds in memory (the bytes held are on
// disk): per file its entry, strings and span list.
func (j *rangeJoiner) footprint() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	var n int64
	for _, e := range j.entries {
		n += int64(unsafe.Sizeof(*e)) + int64(cap(e.held))*16 + int64(cap(e.ports))*2 +
			int64(len(e.key.url)+len(e.key.validator)+len(e.meta.URL)+len(e.meta.Name)+len(e.meta.Host)+
				len(e.meta.UserAgent)+len(e.meta.ContentType)+len(e.meta.Method))
		if e.out != nil {
			n += e.out.footprint()
		}
	}
	return n
}

// open starts piece f (Meta.Range set) of s's current flow; false when
// it is not to be written (its file ended, the piece is out of bounds).
func (j *rangeJoiner) open(s *shard, f *file) bool {
	r := f.meta.Range
	fl := s.cur
	if fl == nil || r.First < 0 || r.Last < r.First || r.Total <= r.Last {
		return false
	}
	st := &j.p.Stats
	st.RangePieces.Add(1)
	if r.Total > j.maxTotal {
		// Larger than any category's max_size: never hashed whole, so
		// not worth holding pieces for.
		st.RangeTooLarge.Add(1)
		return false
	}
	key := rangeKey{client: fl.key.client.Addr(), server: fl.key.server, zone: fl.key.zone,
		url: f.meta.URL, validator: r.Validator, total: r.Total, tunnel: f.meta.Tunnel}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.sh.now = s.now
	e := j.entries[key]
	if e == nil {
		if len(j.entries) >= j.p.cfg.RangeFiles {
			j.evict()
		}
		e = &rangeEntry{key: key, meta: f.meta, iface: f.iface, fl: detached(fl)}
		e.meta.Range = nil
		e.meta.Size = r.Total
		j.entries[key] = e
	}
	e.last = s.now
	if e.ended {
		st.RangeLate.Add(1)
		return false
	}
	if e.pieces >= j.p.cfg.RangePieces {
		st.RangeTooManyPieces.Add(1)
		j.end(e, transfer.CutLimit)
		return false
	}
	e.pieces++
	if !slices.Contains(e.ports, fl.key.client.Port()) {
		e.ports = append(e.ports, fl.key.client.Port())
	}
	e.open++
	f.piece = &rangePiece{e: e, pos: r.First, end: r.Last + 1}
	if r.First == 0 && e.out == nil {
		// The event is of the connection that brought the file's head.
		e.meta.Time, e.iface, e.fl = f.meta.Time, f.iface, detached(fl)
		j.openOut(e)
	}
	return true
}

// detached is what an event needs of a flow, in a flow of no shard: the
// joined file outlives the connections of its pieces.
func detached(fl *flow) *flow {
	return &flow{key: fl.key, app: fl.app, vlan: fl.vlan, tunnel: fl.tunnel}
}

// openOut opens the joined file of e.
func (j *rangeJoiner) openOut(e *rangeEntry) {
	o := &file{s: j.sh, meta: e.meta, iface: e.iface, flow: e.fl, joined: &Ranges{}}
	if o.meta.Time.IsZero() {
		o.meta.Time = j.sh.now
	}
	e.out = o
}

// evict ends the least recently active file (a tombstone first).
func (j *rangeJoiner) evict() {
	var old *rangeEntry
	for _, e := range j.entries {
		if old == nil || e.ended && !old.ended || e.ended == old.ended && e.last.Before(old.last) {
			old = e
		}
	}
	if old == nil {
		return
	}
	if !old.ended {
		j.p.Stats.RangeEvicted.Add(1)
		j.end(old, transfer.CutNotFinal)
	}
	delete(j.entries, old.key)
}

// write places p, the next bytes of piece pc; false once its file wants
// no more.
func (j *rangeJoiner) write(s *shard, pc *rangePiece, p []byte) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	e := pc.e
	if e.ended || pc.closed {
		return false
	}
	j.sh.now = s.now
	e.last = s.now
	// A chunked or until-close range may run past its end. A client that
	// checks drops what does; one that writes the body where its range
	// starts writes it over the next range's bytes: which the file holds
	// is unknown, so it is cut (conflict).
	if n := max(pc.end-pc.pos, 0); int64(len(p)) > n {
		j.place(e, pc.pos, p[:n])
		pc.pos = pc.end
		if !e.ended {
			j.p.Stats.RangeOverrun.Add(1)
			j.disagree(e)
		}
		return false
	}
	off := pc.pos
	pc.pos += int64(len(p))
	j.place(e, off, p)
	return !e.ended
}

// gap: n bytes of the piece are missing; another piece may bring them.
func (j *rangeJoiner) gap(pc *rangePiece, n int64) {
	j.mu.Lock()
	pc.pos += n
	j.mu.Unlock()
}

// closePiece ends a piece.
func (j *rangeJoiner) closePiece(s *shard, pc *rangePiece) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.sh.now = s.now
	if !pc.closed {
		pc.closed = true
		pc.e.open--
		if j.covered(pc.e) && j.entries[pc.e.key] == pc.e {
			// No tombstone: no piece of it is under way, and the same
			// URL fetched again is another download.
			delete(j.entries, pc.e.key)
		}
	}
}

// conflict: bytes of the piece's connection came twice with different
// content (reassembly): which the host kept is unknown, so the file's
// bytes are uncertain: it is cut.
func (j *rangeJoiner) conflict(s *shard, pc *rangePiece) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.sh.now = s.now
	if !pc.e.ended {
		j.p.Stats.RangeConflicts.Add(1)
		j.end(pc.e, transfer.CutConflict)
	}
}

// end reports e's file with cut (Whole: every byte, agreed) and leaves a
// tombstone.
func (j *rangeJoiner) end(e *rangeEntry, cut transfer.Cut) {
	if e.ended {
		return
	}
	e.ended = true
	st := &j.p.Stats
	switch cut {
	case transfer.Whole:
		st.RangeFilesJoined.Add(1)
	case transfer.CutNotFinal:
		st.RangeIncomplete.Add(1)
	case cutDeclined:
		cut = transfer.CutNotFinal
	}
	if e.out == nil && e.heldBytes > 0 {
		// No piece from byte 0: still reported, as a transfer whose head
		// was lost.
		j.openOut(e)
	}
	if e.out != nil && e.front == 0 {
		e.out.meta.HeadLost = true
	}
	if o := e.out; o != nil {
		o.joined.Pieces, o.joined.Connections, o.joined.OverlapBytes = e.pieces, len(e.ports), e.overlap
		if cut != transfer.Whole {
			seen := e.front + e.heldBytes
			if o.cut == transfer.Whole {
				o.cut = cut
			}
			if cut == transfer.CutConflict {
				o.conflicted()
			}
			if missing := e.key.total - seen; missing > 0 {
				o.Gap(missing)
			}
			// Bytes seen beyond the first missing one: not in the file's
			// hashes or spool (it has none now), counted in its size.
			o.size += e.heldBytes
			o.hashes = false
			o.dropSpool()
		}
		o.Close(cut)
		e.out = nil
	}
	if e.spill != nil {
		e.spill.Close()
		e.spill = nil
	}
	j.unhold(e, e.heldBytes)
	e.held = nil
}

// expire ends the files none of whose pieces came for files.range_idle,
// and forgets the tombstones as old.
func (j *rangeJoiner) expire(now time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.sh.now = now
	for k, e := range j.entries {
		if now.Sub(e.last) < j.p.cfg.RangeIdle {
			continue
		}
		j.endIdle(e)
		delete(j.entries, k)
	}
}

// endIdle ends e without waiting for more pieces: whole when every byte
// came (a piece that overlaps stalled), else not_final.
func (j *rangeJoiner) endIdle(e *rangeEntry) {
	if e.front == e.key.total {
		j.end(e, transfer.Whole)
	}
	j.end(e, transfer.CutNotFinal)
}

// closeAll ends every file (the pipeline stops).
func (j *rangeJoiner) closeAll(now time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !now.IsZero() {
		j.sh.now = now
	}
	for k, e := range j.entries {
		j.endIdle(e)
		delete(j.entries, k)
	}
}

// Ranges is edgesensor.file.ranges: the file was joined from HTTP
// ranges.
type Ranges struct {
	Pieces       int   `json:"pieces"`                  // the HTTP ranges (206 responses) the file was joined from
	Connections  int   `json:"connections"`             // the connections they came on
	OverlapBytes int64 `json:"overlap_bytes,omitempty"` // bytes that came in more than one range (compared: they agreed, or the file is cut "conflict")
}
