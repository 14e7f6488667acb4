package vhdfile

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
)

var testLogGUID = []byte("edgesensor-log!!")

// logWrite is one write of a log entry: a 4 KiB sector of data, or
// zeros (data nil) of n sectors, at a file offset.
type logWrite struct {
	at   int64
	data []byte
	n    int
}

// logEntryBytes is a VHDX log entry ([MS-VHDX] 2.3.1): header and
// descriptors in one 4 KiB sector, then a data sector per data write.
func logEntryBytes(seq uint64, tail uint32, ws []logWrite) []byte {
	nd := 0
	for _, w := range ws {
		if w.data != nil {
			nd++
		}
	}
	e := make([]byte, 4096*(1+nd))
	copy(e, "loge")
	binary.LittleEndian.PutUint32(e[8:], uint32(len(e)))
	binary.LittleEndian.PutUint32(e[12:], tail)
	binary.LittleEndian.PutUint64(e[16:], seq)
	binary.LittleEndian.PutUint32(e[24:], uint32(len(ws)))
	copy(e[32:], testLogGUID)
	data := 4096
	for i, w := range ws {
		d := e[64+32*i:]
		binary.LittleEndian.PutUint64(d[16:], uint64(w.at))
		binary.LittleEndian.PutUint64(d[24:], seq)
		if w.data == nil {
			copy(d, "zero")
			binary.LittleEndian.PutUint64(d[8:], uint64(w.n*4096))
			continue
		}
		copy(d, "desc")
		copy(d[8:16], w.data[:8])
		copy(d[4:8], w.data[4092:])
		s := e[data:]
		copy(s, "data")
		binary.LittleEndian.PutUint32(s[4:], uint32(seq>>32))
		copy(s[8:4092], w.data[8:4092])
		binary.LittleEndian.PutUint32(s[4092:], uint32(seq))
		data += 4096
	}
	binary.LittleEndian.PutUint32(e[4:], crc32.Checksum(e, crc32.MakeTable(crc32.Castagnoli)))
	return e
}

// withLog puts entries (at their log offsets) in the builder's log (1
// MiB at 1 MiB) and names the log in both headers.
func withLog(file []byte, entries map[int][]byte) []byte {
	file = append([]byte(nil), file...)
	for at, e := range entries {
		copy(file[1<<20+at:], e)
	}
	for _, off := range []int{64 << 10, 128 << 10} {
		h := file[off : off+4096]
		copy(h[48:], testLogGUID)
		binary.LittleEndian.PutUint32(h[4:], 0)
		binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(h, crc32.MakeTable(crc32.Castagnoli)))
	}
	return file
}

// A VHDX whose log rewrites a sector of a block: Windows replays the log
// before it reads the disk, and so does Open: the disk read is the one
// the log leaves (the later entry winning), never the stale one.
func TestVHDXLogReplay(t *testing.T) {
	disk := testDisk()
	file := carriers.VHDXDisk(disk)
	// The builder puts block 0 (the MBR and the FAT volume) at 4 MiB.
	const block0 = 4 << 20
	first := bytes.Repeat([]byte("first "), 700)[:4096]
	second := bytes.Repeat([]byte("MZ payload "), 400)[:4096]
	lg := withLog(file, map[int][]byte{
		0:    logEntryBytes(7, 0, []logWrite{{at: block0 + 64<<10, data: first}}),
		8192: logEntryBytes(8, 0, []logWrite{{at: block0 + 64<<10, data: second}, {at: block0 + 128<<10, n: 2}}),
		// Newer, but its tail leads nowhere: not the active sequence.
		64 << 10: logEntryBytes(100, 32<<10, []logWrite{{at: block0, data: first}}),
	})
	d := open(lg)
	if d == nil || !d.LogReplayed || d.LogPending {
		t.Fatalf("%+v", d)
	}
	want := append([]byte(nil), disk...)
	copy(want[64<<10:], second)
	clear(want[128<<10 : 136<<10])
	if got := readAll(t, d); !bytes.Equal(got, want) {
		t.Errorf("disk differs from the replayed one")
	}

	// A corrupt entry (its CRC): no sequence to replay; the file is read
	// as it is and the log is said pending.
	bad := logEntryBytes(7, 0, []logWrite{{at: block0 + 64<<10, data: second}})
	bad[100] ^= 1
	d = open(withLog(file, map[int][]byte{0: bad}))
	if d == nil || d.LogReplayed || !d.LogPending {
		t.Fatalf("%+v", d)
	}
	if !bytes.Equal(readAll(t, d), disk) {
		t.Errorf("unreplayed disk differs")
	}
}

// Entries claiming the whole log at every 4 KiB do not cost the log's
// size squared (the CRC budget), and Open still returns.
func TestVHDXLogBudget(t *testing.T) {
	file := carriers.VHDXDisk(testDisk())
	entries := map[int][]byte{}
	for at := 0; at < 1<<20; at += 4096 {
		e := make([]byte, 64)
		copy(e, "loge")
		binary.LittleEndian.PutUint32(e[8:], 1<<20)
		copy(e[32:], testLogGUID)
		entries[at] = e
	}
	d := open(withLog(file, entries))
	if d == nil || !d.LogPending {
		t.Fatalf("%+v", d)
	}
}

// compactLoggedVHDX is compactVHDX with an 8 KiB log after it whose one
// entry rewrites the BAT's sector (as it is) and zeroes a sector past
// the file's end: a small seed for the replay.
func compactLoggedVHDX() []byte {
	out := compactVHDX()
	at := len(out)
	bat := append([]byte(nil), out[320<<10:324<<10]...)
	out = append(out, logEntryBytes(3, 0, []logWrite{{at: 320 << 10, data: bat}, {at: int64(at) + 16<<10, n: 1}})...)
	for _, off := range []int{64 << 10, 128 << 10} {
		h := out[off : off+4096]
		copy(h[48:], testLogGUID)
		binary.LittleEndian.PutUint32(h[68:], 8192)
		binary.LittleEndian.PutUint64(h[72:], uint64(at))
		binary.LittleEndian.PutUint32(h[4:], 0)
		binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(h, crc32.MakeTable(crc32.Castagnoli)))
	}
	return out
}

func TestLoggedSeed(t *testing.T) {
	d := open(compactLoggedVHDX())
	if d == nil || !d.LogReplayed || d.Size != 1<<20 || len(bytes.Trim(readAll(t, d), "\x00")) != 0 {
		t.Fatalf("%+v", d)
	}
}

// The replayed file reads like a file: io.EOF past its end, the
// sectors the log wrote past the original end included.
func TestOverlayReadAt(t *testing.T) {
	base := bytes.Repeat([]byte{1}, 5000)
	sec := bytes.Repeat([]byte{2}, 4096)
	o := &overlay{r: bytes.NewReader(base), base: 5000, size: 12288, sec: map[int64][]byte{4096: nil, 8192: sec}}
	p := make([]byte, 10000)
	n, err := o.ReadAt(p, 4000)
	if n != 8288 || err != io.EOF {
		t.Fatalf("%d %v", n, err)
	}
	want := append(append(bytes.Repeat([]byte{1}, 96), make([]byte, 4096)...), sec...)
	if !bytes.Equal(p[:n], want) {
		t.Fatal("content")
	}
	if n, err := o.ReadAt(p[:100], 0); n != 100 || err != nil || p[0] != 1 {
		t.Fatalf("%d %v", n, err)
	}
}
