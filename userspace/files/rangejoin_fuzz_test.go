package files

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// The joiner fuzzed against a reference model.

// FuzzRangeJoin hands the joiner hostile pieces of one small file: any
// offsets, lengths, order, overlaps, gaps and changed bytes, on four
// connections. A reference model (the first bytes placed at an offset
// stand; any later different byte there is a disagreement) says what
// must come out: a hash only when every byte was covered without
// disagreement, and then the model's; and nothing left held.
func FuzzRangeJoin(f *testing.F) {
	// total (16+8*data[0] bytes), then pieces of six bytes: connection,
	// first (LE), length (LE), flags (1: a changed byte, 2: a gap).
	f.Add([]byte{200, 0, 0, 0, 0x20, 0x03, 0, 1, 0x20, 0x03, 0x30, 0x03, 0})                                  // two halves
	f.Add([]byte{200, 1, 0x20, 0x03, 0x30, 0x03, 0, 0, 0, 0, 0x84, 0x03, 0})                                  // second half first, overlapping
	f.Add([]byte{200, 0, 0, 0, 0x84, 0x03, 0, 1, 0x20, 0x03, 0x30, 0x03, 81})                                 // overlap with a changed byte
	f.Add([]byte{200, 0, 0, 0, 0x84, 0x03, 42, 1, 0x20, 0x03, 0x30, 0x03, 0, 2, 0, 0, 0x10, 0, 0})            // a gap another piece fills
	f.Add([]byte{200, 3, 0x20, 0x03, 0x30, 0x03, 0, 2, 0x90, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0x00, 0x02, 0x40}) // out of order, three connections
	f.Add([]byte{200, 0, 0, 0, 0x20, 0x03, 4, 1, 0x20, 0x03, 0x30, 0x03, 0})                                  // a range that runs past its end
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		total := 16 + int(data[0])*8
		data = data[1:]
		orig := make([]byte, total)
		for i := range orig {
			orig[i] = byte(i*131 + i>>8*7 + 0x80) // binary, so typed by its .exe name
		}
		p, buf, spool := newPipeline(t, nil, nil)
		sh := p.NewShard(0).(*shard)
		have := make([]bool, total)
		val := make([]byte, total)
		conflict, done := false, false
		for len(data) >= 6 && !done {
			conn, first, n, flags := data[0]%4, int(binary.LittleEndian.Uint16(data[1:]))%total, int(binary.LittleEndian.Uint16(data[3:])), data[5]
			data = data[6:]
			n = min(max(n, 1), total-first)
			fl := &flow{key: flowKey{client: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), 40000+uint16(conn)),
				server: netip.MustParseAddrPort("10.0.0.2:80")}, sh: sh}
			fl.dirs[0].f, fl.dirs[1].f = fl, fl
			sh.cur = fl
			m := transfer.Meta{Protocol: transfer.HTTP, Name: "setup.exe", URL: "http://dl.test/setup.exe", Size: int64(n), Status: 206,
				Range: &transfer.Range{First: int64(first), Last: int64(first + n - 1), Total: int64(total)}}
			file := sh.sink.Open(&m)
			if file == nil {
				continue
			}
			body := append([]byte(nil), orig[first:first+n]...)
			if flags&1 != 0 {
				body[int(flags>>2)%n] ^= 0x5a // a changed byte
			}
			gapAt := -1
			if flags&2 != 0 {
				gapAt = int(flags>>3) % n
			}
			for i := 0; i < n; {
				k := min(n-i, 1+int(flags)%37)
				if i <= gapAt && gapAt < i+k {
					file.Gap(int64(k))
				} else {
					for j := i; j < i+k; j++ {
						o := first + j
						if have[o] && val[o] != body[j] {
							conflict = true
						}
						have[o], val[o] = true, body[j]
					}
					if !file.Write(body[i : i+k]) {
						break
					}
				}
				i += k
			}
			if flags&4 != 0 {
				// Past the range's end (a chunked range may run on): a
				// client may write it over the next bytes, or drop it:
				// the file is in doubt.
				file.Write([]byte("junk!"))
				conflict = true
			}
			file.Close(transfer.Whole)
			done = conflict || !slices.Contains(have, false)
		}
		sh.cur = nil
		sh.Close()
		complete := !conflict && !slices.Contains(have, false)
		evs := rangeEvents(t, buf.Bytes())
		if complete && len(evs) != 1 {
			t.Fatalf("covered without disagreement: %d events, want 1", len(evs))
		}
		for _, e := range evs {
			if e.File.Hash != nil && (!complete || e.File.Hash.SHA256 != sha(val) || !e.Edgesensor.File.Complete) {
				t.Fatalf("hash %s complete %v, model: complete %v conflict %v", e.File.Hash.SHA256, e.Edgesensor.File.Complete, complete, conflict)
			}
			if complete && e.File.Hash == nil {
				t.Fatalf("covered without disagreement, no hash: %+v", e.Edgesensor.File)
			}
			if conflict && e.Edgesensor.File.Cut != "conflict" {
				t.Fatalf("disagreement, cut %q", e.Edgesensor.File.Cut)
			}
		}
		spoolEmpty(t, spool)
		if p.spoolUsed.Load() != 0 || p.ranges.held != 0 {
			t.Fatalf("left: spool %d held %d", p.spoolUsed.Load(), p.ranges.held)
		}
	})
}
