package files

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// Where a piece's bytes go (rangejoin.go says how pieces are joined): at
// the front into the joined file, beyond it into the spill as held spans,
// and over bytes already placed, compared with them.

// place puts bytes [off, off+len(p)) of e's file where they go.
func (j *rangeJoiner) place(e *rangeEntry, off int64, p []byte) {
	for len(p) > 0 && !e.ended {
		var n int
		switch {
		case off < e.front:
			// Already in the joined file: the same bytes again, or not.
			n = int(min(int64(len(p)), e.front-off))
			if !j.sameAsOut(e, off, p[:n]) {
				return
			}
		case off == e.front:
			n = len(p)
			if len(e.held) > 0 {
				n = int(min(int64(n), e.held[0].a-off))
			}
			if e.out == nil {
				// Only a piece from byte 0 opens it; the front is 0.
				return
			}
			j.stream(e, p[:n])
		default:
			i, _ := slices.BinarySearchFunc(e.held, off, func(s span, o int64) int {
				if s.b <= o {
					return -1
				}
				return 1
			})
			if i < len(e.held) && e.held[i].a <= off {
				n = int(min(int64(len(p)), e.held[i].b-off))
				if !j.sameAsHeld(e, off, p[:n]) {
					return
				}
			} else {
				n = len(p)
				if i < len(e.held) {
					n = int(min(int64(n), e.held[i].a-off))
				}
				if !j.hold(e, i, off, p[:n]) {
					return
				}
			}
		}
		off += int64(n)
		p = p[n:]
	}
}

// stream writes bytes at the front into the joined file, then the held
// bytes the front reaches.
func (j *rangeJoiner) stream(e *rangeEntry, p []byte) {
	if !e.out.Write(p) {
		j.declined(e)
		return
	}
	e.front += int64(len(p))
	for len(e.held) > 0 && e.held[0].a == e.front && !e.ended {
		s := e.held[0]
		e.held = slices.Delete(e.held, 0, 1)
		for o := s.a; o < s.b && !e.ended; {
			b := j.buf[:min(int64(len(j.buf)), s.b-o)]
			if !j.readSpill(e, o, b) {
				return
			}
			// Given back as it moves: the joined file's spool takes
			// the bytes (spool_limit counts them once), and a file that
			// ends on the way counts them once too.
			j.unhold(e, int64(len(b)))
			if !e.out.Write(b) {
				e.front = o
				j.declined(e)
				return
			}
			o += int64(len(b))
			e.front = o
		}
	}
	// Not ended here though the front may be at the end: the piece that
	// wrote is open, and closePiece ends the file.
}

// covered ends e whole once the front reached its end and no piece is
// open: a piece still coming may overlap, and must agree.
func (j *rangeJoiner) covered(e *rangeEntry) bool {
	if e.front == e.key.total && e.open == 0 && !e.ended {
		j.end(e, transfer.Whole)
		return true
	}
	return false
}

// declined: the joined file wants no more (not a candidate, oversize):
// it ends now.
func (j *rangeJoiner) declined(e *rangeEntry) {
	j.p.Stats.RangeDeclined.Add(1)
	j.end(e, cutDeclined)
}

// cutDeclined ends a file the pipeline declined: not_final for what is
// left of it, not counted as incomplete.
const cutDeclined transfer.Cut = "declined"

// hold keeps bytes beyond the front in e's spill file, as span i.
func (j *rangeJoiner) hold(e *rangeEntry, i int, off int64, p []byte) bool {
	n := int64(len(p))
	pl := j.p
	fail := func(count *atomic.Uint64) bool {
		count.Add(1)
		j.end(e, transfer.CutLimit)
		return false
	}
	if j.held+n > pl.cfg.RangeHeld {
		return fail(&pl.Stats.RangeHeldFull)
	}
	// The spool is reserved first: shards spool at the same time.
	if pl.spoolUsed.Add(n) > pl.cfg.SpoolLimit {
		pl.spoolUsed.Add(-n)
		return fail(&pl.Stats.RangeHeldFull)
	}
	release := func(count *atomic.Uint64) bool {
		pl.spoolUsed.Add(-n)
		return fail(count)
	}
	if len(e.held) >= j.p.cfg.RangePieces && !(i > 0 && e.held[i-1].b == off || i < len(e.held) && e.held[i].a == off+n) {
		// A new span: as many as pieces at most (gaps within pieces
		// make more), so the list stays within files.range_pieces.
		return release(&pl.Stats.RangeTooManyPieces)
	}
	if e.spill == nil {
		sp, err := os.OpenFile(filepath.Join(pl.spoolDir, fmt.Sprintf("range-%d", spoolSeq.Add(1))), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
		if err != nil {
			return release(&pl.Stats.SpoolErrors)
		}
		// Unlinked at once: the bytes go when the file is closed, however
		// the sensor stops.
		os.Remove(sp.Name())
		e.spill = sp
		j.spills++
	}
	if _, err := e.spill.WriteAt(p, off); err != nil {
		return release(&pl.Stats.SpoolErrors)
	}
	j.held += n
	e.heldBytes += n
	// Join the neighbours it touches, so pieces in order make one span.
	s := span{off, off + n}
	if i > 0 && e.held[i-1].b == s.a {
		i--
		s.a = e.held[i].a
		e.held = slices.Delete(e.held, i, i+1)
	}
	if i < len(e.held) && e.held[i].a == s.b {
		s.b = e.held[i].b
		e.held = slices.Delete(e.held, i, i+1)
	}
	e.held = slices.Insert(e.held, i, s)
	return true
}

// unhold gives back n held bytes.
func (j *rangeJoiner) unhold(e *rangeEntry, n int64) {
	j.held -= n
	e.heldBytes -= n
	j.p.spoolUsed.Add(-n)
}

func (j *rangeJoiner) readSpill(e *rangeEntry, off int64, b []byte) bool {
	if _, err := e.spill.ReadAt(b, off); err != nil {
		j.p.Stats.SpoolErrors.Add(1)
		j.end(e, transfer.CutLimit)
		return false
	}
	return true
}

// sameAsHeld compares p with the held bytes at off; a difference cuts
// the file.
func (j *rangeJoiner) sameAsHeld(e *rangeEntry, off int64, p []byte) bool {
	for len(p) > 0 {
		b := j.buf[:min(len(j.buf), len(p))]
		if !j.readSpill(e, off, b) {
			return false
		}
		if !bytes.Equal(b, p[:len(b)]) {
			j.disagree(e)
			return false
		}
		off += int64(len(b))
		p = p[len(b):]
		e.overlap += int64(len(b))
	}
	return true
}

// sameAsOut compares p with the joined file's bytes at off, read back
// from its head or its spool.
func (j *rangeJoiner) sameAsOut(e *rangeEntry, off int64, p []byte) bool {
	o := e.out
	switch {
	case !o.decided:
		if !bytes.Equal(o.head[off:off+int64(len(p))], p) {
			j.disagree(e)
			return false
		}
	case o.spool != nil && o.spoolBuf.Flush() == nil:
		for q, at := p, off; len(q) > 0; {
			b := j.buf[:min(len(j.buf), len(q))] // p is the piece's bytes, never j.buf
			if _, err := o.spool.ReadAt(b, at); err != nil {
				j.p.Stats.SpoolErrors.Add(1)
				j.unverified(e)
				return false
			}
			if !bytes.Equal(b, q[:len(b)]) {
				j.disagree(e)
				return false
			}
			at += int64(len(b))
			q = q[len(b):]
		}
	default:
		j.unverified(e)
		return false
	}
	e.overlap += int64(len(p))
	return true
}

// disagree: two pieces carried different bytes for the same offsets.
func (j *rangeJoiner) disagree(e *rangeEntry) {
	j.p.Stats.RangeConflicts.Add(1)
	j.end(e, transfer.CutConflict)
}

// unverified: an overlap could not be compared (the joined file's spool
// was dropped: spool_limit, an error).
func (j *rangeJoiner) unverified(e *rangeEntry) {
	j.p.Stats.RangeUnverified.Add(1)
	j.end(e, transfer.CutLimit)
}
