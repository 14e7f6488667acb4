package files

import (
	"bufio"
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
	want    bool // a candidate of a selected category

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
	f.typ = filetype.Detect(f.head, f.meta.Name, f.meta.ContentType, total)
	f.cat, f.want = f.s.p.cfg.Categories[f.typ.Category]
	if !f.want {
		f.s.p.Stats.NonCandidates.Add(1)
		f.head = nil
		return
	}
	f.hashes = f.missing == 0
	if f.hashes {
		f.digests = filehash.New(!f.s.p.cfg.NoSHA1, !f.s.p.cfg.NoMD5)
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
	if complete && fl != nil && fl.key.server.IsValid() {
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
