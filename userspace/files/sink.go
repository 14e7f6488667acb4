package files

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/edgesensor/edgesensor/userspace/files/analyzers"
	"github.com/edgesensor/edgesensor/userspace/files/filehash"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// sink opens the files of one shard's flows.
type sink struct {
	s *shard
}

var spoolSeq atomic.Uint64

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

// decide types the file from its head; total is its whole size when the
// head is all of it, else -1.
func (f *file) decide(total int64) {
	f.decided = true
	typed := f.head
	if k := afterHeads(f.head, f.meta); k > 0 {
		// What curl saves after a 101 it took as final: the response
		// heads a browser reads as the real answer, then what follows
		// them. Typed by what follows (the payload); hashed whole.
		typed = f.head[k:]
		if total >= 0 {
			total -= int64(k)
		}
	}
	f.typ = filetype.Detect(typed, f.meta.Name, f.meta.ContentType, total)
	if len(typed) < len(f.head) {
		f.typ.Reason = "after the HTTP heads a 101 is followed by: " + f.typ.Reason
	}
	f.cat, f.want = f.s.p.cfg.Categories[f.typ.Category]
	if !f.want {
		f.s.p.Stats.NonCandidates.Add(1)
		if !f.watchPicture() {
			f.head = nil
			return
		}
	}
	f.hashes = f.missing == 0
	if f.hashes {
		// A watched picture: SHA-256 alone (half the cost of all three),
		// as most are never reported.
		w := f.watch == ""
		f.digests = filehash.New(w && !f.s.p.cfg.NoSHA1, w && !f.s.p.cfg.NoMD5)
	}
	f.openSpool()
	head := f.head
	f.head = nil
	// The head counts in size already; consume checks the limit on it.
	f.consume(head)
	need := f.cat.MaxSize
	if f.meta.Size > 0 && f.meta.Size < need {
		need = f.meta.Size
	}
	if f.meta.Protocol != "http" {
		// base64 on the wire: 4/3, plus CRLF every 76 characters.
		need = need*78/57 + 64<<10
	}
	f.s.wantCapture(need - f.size)
}

func (f *file) openSpool() {
	if f.missing > 0 {
		return
	}
	p := f.s.p
	name := fmt.Sprintf("%d-%d", f.s.id, spoolSeq.Add(1))
	sp, err := os.OpenFile(filepath.Join(p.spoolDir, name), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		p.Stats.SpoolErrors.Add(1)
		f.spoolErr = err
		return
	}
	f.spool, f.spoolPath = sp, sp.Name()
	f.spoolBuf = bufio.NewWriterSize(sp, spoolBufSize)
}

// spoolBufSize: one write system call per this many bytes, not per
// segment; small, as every file being spooled holds one.
const spoolBufSize = 8 << 10

// Past bigSpool bytes a file's spool buffer grows to bigSpoolBufSize.
const (
	bigSpool        = 1 << 20
	bigSpoolBufSize = 128 << 10
)

func (f *file) spoolWrite(p []byte) {
	if f.spool == nil {
		return
	}
	pl := f.s.p
	if pl.spoolUsed.Add(int64(len(p))) > pl.cfg.SpoolLimit {
		pl.spoolUsed.Add(-int64(len(p)))
		pl.Stats.SpoolFull.Add(1)
		f.dropSpool()
		return
	}
	if f.watch != "" && pl.imageSpool.Add(int64(len(p))) > pl.cfg.SpoolLimit/2 {
		// Pictures may fill half the spool, never the candidates' half.
		pl.imageSpool.Add(-int64(len(p)))
		pl.spoolUsed.Add(-int64(len(p)))
		pl.Stats.SpoolFull.Add(1)
		f.dropSpool()
		return
	}
	f.spoolBytes += int64(len(p))
	if f.spoolBytes > bigSpool && f.spoolBuf.Size() < bigSpoolBufSize {
		// A large file: fewer, larger writes (the few files this big
		// at once can afford the buffer).
		if err := f.spoolBuf.Flush(); err == nil {
			f.spoolBuf = bufio.NewWriterSize(f.spool, bigSpoolBufSize)
		}
	}
	if _, err := f.spoolBuf.Write(p); err != nil {
		pl.Stats.SpoolErrors.Add(1)
		f.spoolErr = err
		f.dropSpool()
	}
}

// dropSpool deletes the spooled bytes: the file will not be analysed
// from disk (a gap, a limit, an error).
func (f *file) dropSpool() {
	if f.spool == nil {
		return
	}
	f.spool.Close()
	os.Remove(f.spoolPath)
	f.s.p.spoolUsed.Add(-f.spoolBytes)
	if f.watch != "" {
		f.s.p.imageSpool.Add(-f.spoolBytes)
	}
	f.spool, f.spoolBytes = nil, 0
	f.spoolDropped = true
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

// finishSpool retains or deletes the spooled file.
func (f *file) finishSpool(complete bool) {
	if f.spool == nil {
		return
	}
	p := f.s.p
	f.spool.Close()
	p.spoolUsed.Add(-f.spoolBytes)
	if f.watch != "" {
		p.imageSpool.Add(-f.spoolBytes)
	}
	if complete && p.cfg.Samples != nil {
		if dst := p.cfg.Samples.Path(f.typ.Category, f.spoolBytes, hex.EncodeToString(f.sum256)); dst != "" {
			if err := linkOrCopy(f.spoolPath, dst); err != nil {
				p.Stats.SampleErrors.Add(1)
			} else {
				p.Stats.Samples.Add(1)
			}
		}
	}
	if dir := f.cat.RetainDir; dir != "" && complete && f.score.Score >= p.cfg.RetainMinScore {
		dst := filepath.Join(dir, hex.EncodeToString(f.sum256))
		err := os.Rename(f.spoolPath, dst)
		if err == nil {
			p.Stats.Retained.Add(1)
			f.spool, f.retainedPath = nil, dst
			return
		}
		// Another filesystem: copy, then delete.
		if !errors.Is(err, os.ErrNotExist) && copyFile(f.spoolPath, dst) == nil {
			p.Stats.Retained.Add(1)
			f.retainedPath = dst
		} else {
			p.Stats.RetainErrors.Add(1)
		}
	}
	os.Remove(f.spoolPath)
	f.spool = nil
}

// linkOrCopy makes dst hold src's bytes without touching src.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil || errors.Is(err, os.ErrExist) {
		return nil
	}
	return copyFile(src, dst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(dst), ".part-*")
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(out.Name())
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(out.Name())
		return err
	}
	return os.Rename(out.Name(), dst)
}

// watchPicture makes a picture within files.image_scan_limit a watched
// file: hashed, spooled and captured like a candidate, so that finish
// can look past its end. Its category's size limit is the bound: a
// larger picture is cut there (not scanned, counted).
func (f *file) watchPicture() bool {
	p := f.s.p
	limit := p.cfg.ImageScanLimit
	if limit <= 0 {
		return false
	}
	// The search reads no further than the analyzers may (a picture
	// larger would be scanned in part and counted whole): the smaller
	// bound rules.
	if r := p.cfg.Static.MaxRead; r > 0 && r < limit {
		limit = r
	} else if r <= 0 && analyzers.DefaultLimits.MaxRead < limit {
		limit = analyzers.DefaultLimits.MaxRead
	}
	pic := filetype.Picture(f.typ, f.head)
	if pic == "" {
		return false
	}
	if f.missing > 0 || f.meta.Size > limit && f.meta.ContentEncoding == "" {
		// A gap in its head, or declared larger than the bound: its body
		// is skipped as before.
		p.Stats.ImagesNotScanned.Add(1)
		return false
	}
	f.watch, f.want = pic, true
	f.cat = Category{MaxSize: limit}
	return true
}

// promote looks past a watched picture's end (analyzers.FindPolyglot)
// and, when it carries a payload of a selected category, types the file
// by it ("jpeg+zip", category archive; "png+pe", executable): true, and
// the file goes on as a candidate. Otherwise false, counted.
func (f *file) promote() bool {
	p := f.s.p
	if !f.complete || f.spool == nil {
		// Cut (the bound, a gap, spool_limit): what follows its end is
		// not all there to see.
		p.Stats.ImagesNotScanned.Add(1)
		return false
	}
	p.Stats.ImagesScanned.Add(1)
	p.Stats.ImageBytes.Add(uint64(f.spoolBytes))
	pg, ok := analyzers.FindPolyglot(f.spool, f.spoolBytes, f.watch, p.cfg.Static)
	if !ok {
		return false
	}
	p.Stats.Polyglots.Add(1)
	cat, selected := p.cfg.Categories[pg.Category]
	if !selected {
		return false
	}
	f.typ = filetype.Type{MIME: f.typ.MIME, Category: pg.Category, Kind: pg.Kind, Mismatch: f.typ.Mismatch, Reason: pg.Reason}
	f.cat = cat
	f.rehash()
	return true
}

// rehash gives a promoted picture the SHA-1 and MD5 a candidate has (it
// was hashed with SHA-256 alone), from its spool, which holds it whole.
// The SHA-256 computed again must be the one taken on the wire; if not,
// the spool is not the file: no extra sums (counted as a spool error).
func (f *file) rehash() {
	p := f.s.p
	if len(f.sum256) == 0 || p.cfg.NoSHA1 && p.cfg.NoMD5 {
		return
	}
	d := filehash.New(!p.cfg.NoSHA1, !p.cfg.NoMD5)
	n, err := io.Copy(d, io.NewSectionReader(f.spool, 0, f.spoolBytes))
	s := d.Sum()
	if err != nil || n != f.spoolBytes || !bytes.Equal(s.SHA256, f.sum256) {
		p.Stats.SpoolErrors.Add(1)
		return
	}
	f.sum1, f.sum5 = s.SHA1, s.MD5
}

// afterHeads returns where the bytes after the HTTP response heads that
// open a 101's body (transfer.Meta.Status 101: what curl saves after a
// 101 no Upgrade was asked for) end, within head; 0 when it opens with
// none. At most 8 heads, each whole within head.
func afterHeads(head []byte, m transfer.Meta) int {
	if m.Status != 101 || m.Protocol != transfer.HTTP {
		return 0
	}
	k := 0
	for range 8 {
		i := k
		for i < len(head) && i-k < 8 && (head[i] == '\r' || head[i] == '\n') {
			i++
		}
		if !bytes.HasPrefix(head[i:], []byte("HTTP/1.")) {
			break
		}
		end := bytes.Index(head[i:], []byte("\n\r\n"))
		if e2 := bytes.Index(head[i:], []byte("\n\n")); e2 >= 0 && (end < 0 || e2 < end) {
			end = e2 - 1
		}
		if end < 0 {
			break
		}
		k = i + end + 3
	}
	return k
}
