package httpx

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// recFile records what a parser did to one file, and any misuse.
type recFile struct {
	meta    transfer.Meta
	h       hash.Hash
	n       int64
	data    []byte // the first keep bytes
	gaps    []int64
	wire    int64 // WireGap bytes
	writes  int
	cut     transfer.Cut
	closed  int
	misuse  string
	decline bool // returned false from a Write
}

func (f *recFile) sum() string { return hex.EncodeToString(f.h.Sum(nil)) }

// recSink opens recFiles. declineOn, when set, picks the Write (1-based)
// at which a file is declined, 0 for never.
type recSink struct {
	files     []*recFile
	keep      int
	declineOn func(m *transfer.Meta) int
	// declineFirst, when set, types a file by its first Write.
	declineFirst func(p []byte) bool
}

func (s *recSink) Open(m *transfer.Meta) transfer.File {
	f := &recFile{meta: *m, h: sha256.New()}
	s.files = append(s.files, f)
	return &recHandle{s: s, f: f}
}

type recHandle struct {
	s *recSink
	f *recFile
}

func (h *recHandle) Write(p []byte) bool {
	f := h.f
	switch {
	case f.closed > 0:
		f.misuse = "write after close"
	case f.decline:
		f.misuse = "write after decline"
	case f.meta.HeadLost:
		f.misuse = "write to a file whose head was lost"
	}
	f.writes++
	f.n += int64(len(p))
	f.h.Write(p)
	if n := min(len(p), h.s.keep-len(f.data)); n > 0 {
		f.data = append(f.data, p[:n]...)
	}
	if h.s.declineFirst != nil && f.writes == 1 && h.s.declineFirst(p) {
		f.decline = true
		return false
	}
	if h.s.declineOn != nil {
		if k := h.s.declineOn(&f.meta); k > 0 && f.writes >= k {
			f.decline = true
			return false
		}
	}
	return true
}

func (h *recHandle) Gap(n int64) {
	if h.f.closed > 0 {
		h.f.misuse = "gap after close"
	}
	h.f.gaps = append(h.f.gaps, n)
}

func (h *recHandle) WireGap(n int64) {
	if h.f.closed > 0 {
		h.f.misuse = "wire gap after close"
	}
	h.f.wire += n
}

func (h *recHandle) Close(cut transfer.Cut) {
	h.f.closed++
	h.f.cut = cut
}

// check reports misuse: files not closed exactly once, calls after Close.
func (s *recSink) check() error {
	for i, f := range s.files {
		switch {
		case f.misuse != "":
			return fmt.Errorf("file %d (%s): %s", i, f.meta.Name, f.misuse)
		case f.closed != 1:
			return fmt.Errorf("file %d (%s): closed %d times", i, f.meta.Name, f.closed)
		}
	}
	return nil
}

// driver feeds two whole streams to a parser and honours its skips.
type driver struct {
	p       *Parser
	streams [2][]byte // client, server
	off     [2]int
	skipped [2]int64
}

func dir(client bool) int {
	if client {
		return 0
	}
	return 1
}

// feed hands the next n bytes (or fewer at the end) of one direction.
func (d *driver) feed(client bool, n int) {
	i := dir(client)
	s := d.streams[i]
	n = min(n, len(s)-d.off[i])
	if n <= 0 {
		return
	}
	skip := d.p.Data(client, s[d.off[i]:d.off[i]+n])
	d.off[i] += n
	if skip < 0 {
		panic("negative skip")
	}
	d.skipped[i] += skip
	d.off[i] = int(min(int64(len(s)), int64(d.off[i])+skip))
}

func (d *driver) rest(client bool) int { i := dir(client); return len(d.streams[i]) - d.off[i] }
