package files

import (
	"bytes"
	"io"

	"github.com/edgesensor/edgesensor/userspace/files/analyzers"
	"github.com/edgesensor/edgesensor/userspace/files/filehash"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// Typing a file: from its head (decide; past the response heads a 101
// may carry, afterHeads), and pictures watched for a payload after their
// end, typed by it when they carry one (promote).

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
