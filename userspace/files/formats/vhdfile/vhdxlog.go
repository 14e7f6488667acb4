package vhdfile

import (
	"bytes"
	"encoding/binary"
	"io"
	"sort"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/pager"
)

// Bounds on the log replay.
const (
	// MaxLogBytes: a longer log is not replayed (Disk.LogPending).
	MaxLogBytes = 8 << 20 // Hyper-V makes logs of 1 MiB
	// maxLogSectors: 4 KiB sectors the replay may write (data and
	// zeros); past it the log is not replayed.
	maxLogSectors = 2048
)

// overlay is the file as the log's replay leaves it: 4 KiB sectors
// written over the file's bytes (nil: zeros), the file maybe longer.
type overlay struct {
	r    io.ReaderAt
	base int64 // the file's own size
	size int64
	sec  map[int64][]byte
}

func (o *overlay) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= o.size {
		return 0, io.EOF
	}
	want := len(p)
	n := int(min(int64(want), o.size-off))
	p = p[:n]
	clear(p)
	if off < o.base {
		o.r.ReadAt(p[:min(int64(n), o.base-off)], off)
	}
	for s := off &^ 4095; s < off+int64(n); s += 4096 {
		d, ok := o.sec[s]
		if !ok {
			continue
		}
		lo, hi := max(s, off), min(s+4096, off+int64(n))
		if d == nil {
			clear(p[lo-off : hi-off])
		} else {
			copy(p[lo-off:hi-off], d[lo-s:hi-s])
		}
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

type logEntry struct {
	at, length, tail int64
	seq              uint64
	b                []byte
}

// replayLog replays the VHDX log ([MS-VHDX] 2.3) the header h names:
// the active sequence (the valid entries, each following the one
// before in the circular log with the next sequence number, from the
// newest entry's tail to it) is applied in order, as Windows does
// before it reads the file. nil when there is no sequence to replay
// or a bound stops it.
func replayLog(r io.ReaderAt, size int64, h []byte) *overlay {
	guid := h[48:64]
	logLen := int64(binary.LittleEndian.Uint32(h[68:]))
	logOff := int64(binary.LittleEndian.Uint64(h[72:]))
	if logLen < 4096 || logLen%4096 != 0 || logLen > MaxLogBytes || logOff < 0 || logOff+logLen > size {
		return nil
	}
	log := pager.ReadAt(r, size, logOff, int(logLen))
	if int64(len(log)) != logLen {
		return nil
	}
	// circ reads n bytes at o in the circular log.
	circ := func(o, n int64) []byte {
		if n > logLen {
			return nil
		}
		o %= logLen
		if o+n <= logLen {
			return log[o : o+n]
		}
		return append(append([]byte{}, log[o:]...), log[:n-(logLen-o)]...)
	}
	// Each entry found is checked once (its CRC-32C), within a budget:
	// entries claiming the whole log at every 4 KiB would cost the log's
	// size squared.
	budget := 4 * logLen
	entry := func(o int64) *logEntry {
		hd := circ(o, 64)
		if hd == nil || string(hd[:4]) != "loge" || !bytes.Equal(hd[32:48], guid) {
			return nil
		}
		l := int64(binary.LittleEndian.Uint32(hd[8:]))
		if l < 4096 || l%4096 != 0 || l > logLen || budget < l {
			return nil
		}
		budget -= l
		b := circ(o, l)
		if !crcOK(b) {
			return nil
		}
		return &logEntry{at: o, length: l, tail: int64(binary.LittleEndian.Uint32(hd[12:])), seq: binary.LittleEndian.Uint64(hd[16:]), b: b}
	}
	found := map[int64]*logEntry{}
	var heads []*logEntry
	for o := int64(0); o < logLen; o += 4096 {
		if e := entry(o); e != nil {
			found[o] = e
			heads = append(heads, e)
		}
	}
	// The active sequence: the newest entry whose tail leads to it
	// through entries one after the other, sequence numbers one apart.
	sort.Slice(heads, func(i, j int) bool { return heads[i].seq > heads[j].seq })
	var seqs []*logEntry
	steps := 1 << 16
	for _, head := range heads {
		var chain []*logEntry
		for e := found[head.tail]; e != nil && steps > 0; steps-- {
			chain = append(chain, e)
			if e == head {
				seqs = chain
				break
			}
			next := found[(e.at+e.length)%logLen]
			if next == nil || next.seq != e.seq+1 {
				break
			}
			e = next
		}
		if seqs != nil || steps <= 0 {
			break
		}
	}
	if len(seqs) == 0 {
		return nil
	}
	o := &overlay{r: r, base: size, size: size, sec: map[int64][]byte{}}
	put := func(at int64, d []byte) bool {
		if at < 0 || at%4096 != 0 || at > 1<<48 || len(o.sec) >= maxLogSectors {
			return false
		}
		o.sec[at] = d
		o.size = max(o.size, at+4096)
		return true
	}
	for _, e := range seqs {
		n := int64(binary.LittleEndian.Uint32(e.b[24:]))
		descEnd := (64 + 32*n + 4095) &^ 4095
		if descEnd > e.length {
			return nil
		}
		data := descEnd
		for i := int64(0); i < n; i++ {
			d := e.b[64+32*i : 96+32*i]
			if binary.LittleEndian.Uint64(d[24:]) != e.seq {
				return nil
			}
			at := int64(binary.LittleEndian.Uint64(d[16:]) & (1<<62 - 1))
			switch string(d[:4]) {
			case "zero":
				zl := int64(binary.LittleEndian.Uint64(d[8:]) & (1<<62 - 1))
				if zl%4096 != 0 || zl/4096 > maxLogSectors {
					return nil
				}
				for s := int64(0); s < zl; s += 4096 {
					if !put(at+s, nil) {
						return nil
					}
				}
			case "desc":
				if data+4096 > e.length {
					return nil
				}
				ds := e.b[data : data+4096]
				data += 4096
				if string(ds[:4]) != "data" || binary.LittleEndian.Uint32(ds[4:]) != uint32(e.seq>>32) ||
					binary.LittleEndian.Uint32(ds[4092:]) != uint32(e.seq) {
					return nil
				}
				sec := make([]byte, 4096)
				copy(sec, d[8:16])            // leading bytes
				copy(sec[8:4092], ds[8:4092]) // the sector's middle
				copy(sec[4092:], d[4:8])      // trailing bytes
				if !put(at, sec) {
					return nil
				}
			default:
				return nil
			}
		}
	}
	return o
}
