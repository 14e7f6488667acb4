package files

import (
	"bufio"
	"os"
	"slices"
	"time"
	"unsafe"

	"github.com/edgesensor/edgesensor/userspace/files/filehash"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// sink opens the files of one shard's flows.
type sink struct {
	s *shard
}

// Open implements transfer.Sink.
func (k *sink) Open(m *transfer.Meta) transfer.File {
	s := k.s
	f := &file{s: s, meta: *m, flow: s.cur}
	f.meta.RcptTo = append([]string(nil), m.RcptTo...)
	f.meta.From = append([]string(nil), m.From...)
	f.meta.To = append([]string(nil), m.To...)
	f.meta.Cc = append([]string(nil), m.Cc...)
	if f.meta.Time.IsZero() {
		f.meta.Time = s.now
	}
	if m.Range != nil {
		// A piece of a file fetched in ranges: joined (rangejoin.go).
		if s.p.ranges == nil || s.cur == nil {
			return nil
		}
		fl := s.cur
		if f.iface = fl.dirs[1].iface; f.iface == "" {
			f.iface = fl.dirs[0].iface
		}
		if !s.p.ranges.open(s, f) {
			return nil
		}
		fl.open = append(fl.open, f)
		if fl.conflict {
			f.conflicted()
		}
		s.wantCapture(m.Range.Last - m.Range.First + 1)
		return f
	}
	if fl := s.cur; fl != nil {
		d := &fl.dirs[1]
		if f.meta.Upload {
			d = &fl.dirs[0]
		}
		f.iface = d.iface
		if f.iface == "" {
			f.iface = fl.dirs[0].iface + fl.dirs[1].iface
		}
		fl.open = append(fl.open, f)
		if fl.conflict {
			f.conflicted()
		}
	}
	return f
}

// file is one file being reconstructed. Until HeadSize bytes (or the end)
// are in, it only collects its head; then it is typed, and only a
// candidate is hashed and spooled.
type file struct {
	s     *shard
	flow  *flow
	meta  transfer.Meta
	iface string

	head    []byte
	deep    bool // the head goes on to filetype.DeepHeadSize
	decided bool
	typ     filetype.Type
	cat     Category
	want    bool // a candidate of a selected category, or a watched picture
	// watch: the picture kind of a non-candidate read whole anyway
	// (files.image_scan_limit) for a payload after it; reported only if
	// it carries one (finish), then typed by it.
	watch string

	size    int64 // decoded bytes seen
	missing int64 // bytes of gaps
	// missingEncoded: bytes missing inside the encoding (transfer.WireGapper)
	missingEncoded int64
	cut            transfer.Cut
	oversize       bool
	closed         bool
	// conflict: bytes of the flow were seen twice with different content,
	// and the host may have kept the other copy: no hash is the file's.
	conflict bool
	// heldAt and heldSegs: a whole file waits a little before its event
	// (shard.hold).
	heldAt   time.Time
	heldSegs int

	hashes             bool // hashing still covers every byte
	digests            *filehash.Set
	spool              *os.File
	spoolBuf           *bufio.Writer
	spoolPath          string
	spoolBytes         int64
	spoolDropped       bool
	spoolErr           error
	retainedPath       string
	metadata           filetype.Meta
	metadataRead       bool
	end                time.Time
	sum256, sum1, sum5 []byte
	score              score.Result
	complete           bool // whole: every byte, no cut
	// awaited: a held packet completed it; its verdict goes to the
	// pipeline's Holds.
	awaited bool
	// piece: the file is one HTTP range of a file being joined (its
	// bytes go to Pipeline.ranges); joined: the file was joined from
	// such pieces.
	piece  *rangePiece
	joined *Ranges
}

// footprint is the memory f holds: its structure, the head waiting to be
// typed, the digest state, the spool's write buffer and the strings of
// its metadata. Counted with its flow against files.reassembly_memory:
// thousands of files open at once are mostly these.
func (f *file) footprint() int64 {
	n := int64(unsafe.Sizeof(*f)) + int64(cap(f.head))
	if f.digests != nil {
		n += int64(unsafe.Sizeof(filehash.Set{})) + 3*256 // and the standard library's states
	}
	if f.spoolBuf != nil {
		n += int64(f.spoolBuf.Size()) + 256
	}
	m := &f.meta
	n += int64(len(m.Name) + len(m.ContentType) + len(m.Method) + len(m.URL) + len(m.Host) +
		len(m.UserAgent) + len(m.ContentEncoding) + len(m.Subject) + len(m.MessageID))
	for _, l := range [][]string{m.RcptTo, m.From, m.To, m.Cc} {
		for _, v := range l {
			n += int64(len(v)) + 16
		}
	}
	return n
}

// Write implements transfer.File.
func (f *file) Write(p []byte) bool {
	if f.closed {
		return false
	}
	if f.piece != nil {
		return f.s.p.ranges.write(f.s, f.piece, p)
	}
	f.size += int64(len(p))
	if !f.decided {
		if f.head == nil {
			// Exactly the head's size (or the file's, when smaller and
			// known): thousands of files may be waiting for theirs.
			c := int64(filetype.HeadSize)
			if f.meta.Size >= 0 && f.meta.Size < c && f.meta.ContentEncoding == "" {
				c = max(f.meta.Size, int64(len(p)))
			}
			f.head = make([]byte, 0, max(c, int64(min(len(p), filetype.HeadSize))))
		}
		for {
			limit := filetype.HeadSize
			if f.deep {
				limit = filetype.DeepHeadSize
			}
			n := min(len(p), limit-len(f.head))
			f.head = append(f.head, p[:n]...)
			p = p[n:]
			if len(f.head) < limit {
				return true
			}
			if f.deep || !filetype.WantsDeeper(f.head) {
				break
			}
			// An empty system area: a disk image says what it is at 32 KiB.
			f.deep = true
			f.head = slices.Grow(f.head, filetype.DeepHeadSize-len(f.head))
		}
		f.decide(-1)
	}
	if !f.want {
		return false
	}
	return f.consume(p)
}

// consume takes the bytes of a candidate: size limit, hashes, spool.
func (f *file) consume(p []byte) bool {
	if f.oversize {
		return false
	}
	if f.size > f.cat.MaxSize {
		f.oversize = true
		if f.cut == transfer.Whole {
			f.cut = transfer.CutLimit
		}
		f.hashes = false
		f.dropSpool()
		return false
	}
	if len(p) == 0 {
		return true
	}
	if f.hashes {
		f.digests.Write(p)
	}
	f.spoolWrite(p)
	return true
}

// WireGap implements transfer.WireGapper: n bytes of the file's encoded
// form are missing; the file is incomplete, by an unknown count.
func (f *file) WireGap(n int64) {
	if f.closed || n <= 0 {
		return
	}
	f.missingEncoded += n
	f.gapped()
}

// gapped marks the file incomplete: its hashes would not be the file's,
// so they stop, and so does the spool.
func (f *file) gapped() {
	if f.cut == transfer.Whole {
		f.cut = transfer.CutGap
	}
	f.hashes = false
	f.dropSpool()
}

// Gap implements transfer.File: the file is incomplete; its hashes would
// not be the file's, so they stop, and so does the spool.
func (f *file) Gap(n int64) {
	if f.closed || n <= 0 {
		return
	}
	if f.piece != nil {
		f.s.p.ranges.gap(f.piece, n)
		return
	}
	f.missing += n
	f.size += n
	f.gapped()
	if !f.decided && len(f.head) > 0 {
		f.decide(-1)
	}
}

// conflicted marks the file a conflict: incomplete, no hashes.
func (f *file) conflicted() {
	f.conflict = true
	if f.piece != nil {
		f.s.p.ranges.conflict(f.s, f.piece)
		return
	}
	if f.cut == transfer.Whole {
		f.cut = transfer.CutConflict
	}
	f.hashes = false
	f.complete = false
	f.sum256, f.sum1, f.sum5 = nil, nil, nil
	f.dropSpool()
}

// Close implements transfer.File: the event is written, the spooled bytes
// deleted unless retained.
func (f *file) Close(cut transfer.Cut) {
	if f.closed {
		return
	}
	f.closed = true
	fl := f.flow
	if fl != nil {
		for i, x := range fl.open {
			if x == f {
				fl.open = append(fl.open[:i], fl.open[i+1:]...)
				break
			}
		}
	}
	if f.piece != nil {
		if fl != nil && fl.key.server.IsValid() {
			// Held back as a whole file is: a conflict on its connection
			// a little later cuts its file (Conflict); released, it ends
			// there (Pipeline.analyse).
			f.s.hold(fl, f)
			return
		}
		f.s.p.ranges.closePiece(f.s, f.piece)
		return
	}
	if f.cut == transfer.Whole {
		f.cut = cut
	}
	if f.meta.HeadLost {
		f.headLost()
		return
	}
	if !f.decided {
		total := int64(-1)
		if f.cut == transfer.Whole {
			total = f.size
		}
		if len(f.head) == 0 && f.size == 0 {
			return // an empty body is no file
		}
		f.decide(total)
	}
	if !f.want {
		return
	}
	f.end = f.s.now
	complete := f.cut == transfer.Whole && f.missing == 0 && !f.conflict
	if !complete {
		f.hashes = false
		f.dropSpool()
	}
	if f.hashes {
		d := f.digests.Sum()
		f.sum256, f.sum1, f.sum5 = d.SHA256, d.SHA1, d.MD5
	}
	if f.spool != nil {
		if err := f.spoolBuf.Flush(); err != nil {
			f.s.p.Stats.SpoolErrors.Add(1)
			f.dropSpool()
		}
	}
	f.complete = complete
	if f.holdsFile() {
		// The data plane holds the packet that completes it: judged at
		// once, and the holder learns the verdict (Judged).
		f.awaited = true
		f.s.heldFiles++
		f.s.p.analyse(f)
		return
	}
	if complete && fl != nil && fl.key.server.IsValid() && f.joined == nil {
		// (A joined file's flow is no shard's: nothing would release it.)
		f.s.hold(fl, f)
		return
	}
	f.s.p.analyse(f)
}

// headLost reports a transfer whose head a gap took: its type cannot be
// read, so it is typed by its name alone where the name says (an .exe),
// reported whatever the category selection (the SOC should see that a
// transfer happened the sensor could not judge), never whole.
func (f *file) headLost() {
	f.decided = true
	f.typ = filetype.Detect(nil, f.meta.Name, f.meta.ContentType, -1)
	f.cat = f.s.p.cfg.Categories[f.typ.Category]
	if f.cut == transfer.Whole {
		f.cut = transfer.CutGap
	}
	f.end = f.s.now
	f.complete = false
	f.s.p.Stats.HeadsLost.Add(1)
	f.s.p.analyse(f)
}

// finish is the analysis of a closed candidate, off the packet path (a
// scorer goroutine): metadata and score from the spooled bytes, then the
// spool is retained or deleted, and the event written.
func (f *file) finish() {
	if f.watch != "" && !f.promote() {
		// A picture carrying nothing: no event. A held packet still
		// waits for its verdict.
		if h := f.s.p.holder(); h != nil && f.flow != nil && f.awaited {
			f.score = score.Combine(nil, f.s.p.cfg.Threshold)
			h.Judged(f.flow.id(), f.verdictOf())
		}
		f.finishSpool(false)
		return
	}
	f.analyse()
	// The verdict first: a clean download's last packet waits for it.
	if h := f.s.p.holder(); h != nil && f.flow != nil {
		if f.awaited {
			h.Judged(f.flow.id(), f.verdictOf())
		} else {
			h.Unheld(f.flow.id(), f.verdictOf(), f.iface)
		}
	}
	f.finishSpool(f.complete)
	f.s.p.writeEvent(f, f.complete)
}
