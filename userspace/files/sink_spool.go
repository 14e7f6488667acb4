package files

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
)

// The spool: a candidate's bytes on disk while it comes, then retained,
// kept as a sample, or deleted (finishSpool).

var spoolSeq atomic.Uint64

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
