package files

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
	"github.com/edgesensor/edgesensor/userspace/setting"
)

// A download manager fetches a PE in four quarters over four parallel
// connections, on two workers, in an order other than the file's: one
// file, whole, with the original's SHA-256.
func TestRangesParallelConnections(t *testing.T) {
	pe := goPE(t)
	q := quarters(len(pe))
	for _, order := range [][]int{{2, 0, 3, 1}, {3, 2, 1, 0}, {0, 1, 2, 3}} {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			var conns []testutil.TCPConn
			for i, k := range order {
				pc := q[k]
				pc.chunked = i == 1 // servers may chunk a range too
				conns = append(conns, rangeConn(pe, uint16(40000+i), pc))
			}
			p, evs, spool := feedParallel(t, nil, 2, conns...)
			wholeJoined(t, p, evs, spool, pe, 4, 4)
			// The event is of the connection that brought the head.
			for i, k := range order {
				if k == 0 && evs[0].Source.Port != 40000+i {
					t.Errorf("source port %d, want %d", evs[0].Source.Port, 40000+i)
				}
			}
		})
	}
	// One after the other, last quarter first: all but the head wait in
	// the spill until it comes.
	var conns []testutil.TCPConn
	for i := 3; i >= 0; i-- {
		conns = append(conns, rangeConn(pe, uint16(41000+i), q[i]))
	}
	p, buf, spool := newPipeline(t, nil, nil)
	sh := p.NewShard(0)
	for _, c := range conns {
		feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
	}
	sh.Close()
	wholeJoined(t, p, rangeEvents(t, buf.Bytes()), spool, pe, 4, 4)
	if p.ranges.spills != 1 {
		t.Errorf("%d spill files, want 1", p.ranges.spills)
	}
}

// Ranges in order on one connection are joined without holding a byte:
// each streams into the file where the last ended.
func TestRangesInOrderOneConnection(t *testing.T) {
	pe := goPE(t)
	c := rangeConn(pe, 40000, quarters(len(pe))...)
	p, evs, spool := feedParallel(t, nil, 1, c)
	wholeJoined(t, p, evs, spool, pe, 4, 1)
	if p.ranges.spills != 0 {
		t.Errorf("%d spill files for ranges in order", p.ranges.spills)
	}
}

// Overlapping pieces that agree make one whole file; the overlaps are
// compared with the bytes held and with those already in the file.
func TestRangesOverlapAgree(t *testing.T) {
	pe := goPE(t)
	n := len(pe)
	c1 := rangeConn(pe, 40001, piece{first: n / 2, last: n - 1})       // held
	c2 := rangeConn(pe, 40002, piece{first: n / 4, last: n/2 + 10000}) // overlaps the held piece
	c3 := rangeConn(pe, 40003, piece{first: 0, last: n/4 + 5000})      // overlaps what c2 held
	c4 := rangeConn(pe, 40004, piece{first: 100, last: 70000})         // all in the file already
	p, buf, spool := newPipeline(t, nil, nil)
	sh := p.NewShard(0)
	for _, c := range []testutil.TCPConn{c1, c2, c3, c4} {
		feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
	}
	sh.Close()
	evs := rangeEvents(t, buf.Bytes())
	// c4 came after the file ended: another download, of one piece.
	if len(evs) == 2 && evs[0].File.Hash == nil {
		evs[0], evs[1] = evs[1], evs[0]
	}
	if len(evs) != 2 || evs[1].Edgesensor.File.Cut != "not_final" || evs[1].File.Hash != nil || !evs[1].Edgesensor.File.HeadLost {
		t.Fatalf("%d events: %+v", len(evs), evs)
	}
	wholeAmong(t, p, evs, spool, pe, 3, 3)
	if got := evs[0].Edgesensor.File.Ranges.OverlapBytes; got != 10001+5001 {
		t.Errorf("overlap %d bytes, want %d", got, 10001+5001)
	}

	// Overlaps with bytes already in the file (its head, then its spool).
	for _, last := range []int{2000, 300000} {
		p, evs, spool = feedParallel(t, nil, 1,
			rangeConn(pe, 40000, piece{first: 0, last: n / 2}, piece{first: 1000, last: last}, piece{first: n/2 - 5, last: n - 1}))
		wholeJoined(t, p, evs, spool, pe, 3, 1)
		if got := evs[0].Edgesensor.File.Ranges.OverlapBytes; got != int64(last-1000+1+6) {
			t.Errorf("overlap %d bytes, want %d", got, last-1000+1+6)
		}
	}
}

// Overlapping pieces that disagree give no hash: the client kept one
// version, the sensor cannot know which.
func TestRangesOverlapDisagree(t *testing.T) {
	pe := goPE(t)
	n := len(pe)
	bad := func(first, last, at int) piece {
		b := append([]byte(nil), pe[first:last+1]...)
		b[at-first] ^= 0xff
		return piece{first: first, last: last, body: b}
	}
	for name, ps := range map[string][][]piece{
		// with bytes held beyond the front
		"held": {{{first: n / 2, last: n - 1}}, {bad(n/4, n/2+100, n/2+50)}, {{first: 0, last: n/4 - 1}}},
		// with bytes already in the file (its spool)
		"spooled": {{{first: 0, last: n / 2}}, {bad(n/4, n-1, n/4+7)}},
		// with bytes already in the file (its head, not yet typed)
		"head": {{{first: 0, last: 999}}, {bad(0, n-2, 10)}},
	} {
		t.Run(name, func(t *testing.T) {
			var conns []testutil.TCPConn
			for i, p := range ps {
				conns = append(conns, rangeConn(pe, uint16(40000+i), p...))
			}
			p, buf, spool := newPipeline(t, nil, nil)
			sh := p.NewShard(0)
			for _, c := range conns {
				feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
			}
			sh.Close()
			evs := rangeEvents(t, buf.Bytes())
			if len(evs) != 1 {
				t.Fatalf("%d events: %s", len(evs), buf.Bytes())
			}
			f := evs[0].Edgesensor.File
			if f.Complete || f.Cut != "conflict" || !f.Conflict || evs[0].File.Hash != nil {
				t.Errorf("disagreeing ranges: %+v hash %+v", f, evs[0].File.Hash)
			}
			if p.Stats.RangeConflicts.Load() != 1 || p.Stats.RangeFilesJoined.Load() != 0 {
				t.Errorf("conflicts %d joined %d", p.Stats.RangeConflicts.Load(), p.Stats.RangeFilesJoined.Load())
			}
			afterJoin(t, p, spool)
		})
	}
}

// A file whose pieces never cover it is reported not_final, with the
// bytes no piece brought as missing, and no hash.
func TestRangesMissingPiece(t *testing.T) {
	pe := goPE(t)
	q := quarters(len(pe))
	for _, missing := range []int{2, 0} {
		t.Run(fmt.Sprint(missing), func(t *testing.T) {
			var conns []testutil.TCPConn
			for i := range q {
				if i != missing {
					conns = append(conns, rangeConn(pe, uint16(40000+i), q[i]))
				}
			}
			p, evs, spool := feedParallel(t, nil, 2, conns...)
			if len(evs) != 1 {
				t.Fatalf("%d events", len(evs))
			}
			e := evs[0]
			f := e.Edgesensor.File
			want := int64(q[missing].last - q[missing].first + 1)
			if f.Complete || f.Cut != "not_final" || e.File.Hash != nil || f.MissingBytes != want || e.File.Size != int64(len(pe)) {
				t.Errorf("missing piece: %+v hash %+v size %d, want missing %d", f, e.File.Hash, e.File.Size, want)
			}
			// Without its head the file is a transfer whose head was lost.
			if f.HeadLost != (missing == 0) || f.Ranges == nil || f.Ranges.Pieces != 3 || f.Ranges.Connections != 3 {
				t.Errorf("head lost %v ranges %+v", f.HeadLost, f.Ranges)
			}
			if p.Stats.RangeIncomplete.Load() != 1 {
				t.Errorf("incomplete %d", p.Stats.RangeIncomplete.Load())
			}
			afterJoin(t, p, spool)
		})
	}
	// Idle: a file none of whose pieces came for range_idle ends at a
	// tick, before the pipeline stops.
	p, buf, _ := newPipeline(t, func(c *testConfig) { c.Files.RangeIdle = setting.Duration(time.Minute) }, nil)
	sh := p.NewShard(0)
	c := rangeConn(pe, 40000, q[0])
	feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
	sh.Tick(time.Unix(1700000000, 0).Add(30 * time.Second))
	p.ranges.sh.pending.Wait()
	if n := len(rangeEvents(t, buf.Bytes())); n != 0 {
		t.Errorf("%d events before range_idle", n)
	}
	sh.Tick(time.Unix(1700000000, 0).Add(2 * time.Minute))
	p.ranges.sh.pending.Wait()
	p.out.Flush()
	evs := rangeEvents(t, buf.Bytes())
	if len(evs) != 1 || evs[0].Edgesensor.File.Cut != "not_final" || evs[0].Edgesensor.File.MissingBytes != int64(len(pe)-q[1].first) {
		t.Errorf("idle: %+v", evs)
	}
	sh.Close()
}

// Another validator is another version of the file: pieces of two
// versions are never joined.
func TestRangesValidatorChange(t *testing.T) {
	pe := goPE(t)
	q := quarters(len(pe))
	var conns []testutil.TCPConn
	for i, p := range q {
		p.etag = `"v1"`
		if i >= 2 {
			p.etag = `"v2"`
		}
		conns = append(conns, rangeConn(pe, uint16(40000+i), p))
	}
	p, evs, spool := feedParallel(t, nil, 2, conns...)
	if len(evs) != 2 {
		t.Fatalf("%d events: %+v", len(evs), evs)
	}
	for _, e := range evs {
		f := e.Edgesensor.File
		if f.Complete || e.File.Hash != nil || f.Cut != "not_final" || f.MissingBytes != int64(len(pe)/2) {
			t.Errorf("one version's half: %+v hash %+v", f, e.File.Hash)
		}
	}
	if p.Stats.RangeFilesJoined.Load() != 0 || p.Stats.RangeIncomplete.Load() != 2 {
		t.Errorf("joined %d incomplete %d", p.Stats.RangeFilesJoined.Load(), p.Stats.RangeIncomplete.Load())
	}
	afterJoin(t, p, spool)
}

// Every bound, when hit, is counted and ends the file incomplete.
func TestRangesLimits(t *testing.T) {
	pe := goPE(t)
	q := quarters(len(pe))
	rev := func(base uint16) []testutil.TCPConn {
		var conns []testutil.TCPConn
		for i := 3; i >= 0; i-- {
			conns = append(conns, rangeConn(pe, base+uint16(i), q[i]))
		}
		return conns
	}
	run := func(edit func(*testConfig), conns []testutil.TCPConn) (*Pipeline, []rangeEvent, string) {
		p, buf, spool := newPipeline(t, edit, nil)
		sh := p.NewShard(0)
		for _, c := range conns {
			feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
		}
		sh.Close()
		return p, rangeEvents(t, buf.Bytes()), spool
	}
	incomplete := func(name string, evs []rangeEvent, cut string) {
		t.Helper()
		if len(evs) != 1 || evs[0].Edgesensor.File.Complete || evs[0].File.Hash != nil || evs[0].Edgesensor.File.Cut != cut {
			t.Errorf("%s: %+v", name, evs)
		}
	}

	// range_pieces: a third piece is one too many.
	p, evs, spool := run(func(c *testConfig) { c.Files.RangePieces = 2 }, rev(40000))
	incomplete("range_pieces", evs, "limit")
	if p.Stats.RangeTooManyPieces.Load() != 1 || p.Stats.RangeLate.Load() != 1 {
		t.Errorf("range_pieces: too many %d late %d", p.Stats.RangeTooManyPieces.Load(), p.Stats.RangeLate.Load())
	}
	afterJoin(t, p, spool)

	// range_held: three quarters do not fit in 1 MiB.
	p, evs, spool = run(func(c *testConfig) { c.Files.RangeHeld = 1 << 20 }, rev(40000))
	incomplete("range_held", evs, "limit")
	if p.Stats.RangeHeldFull.Load() != 1 {
		t.Errorf("range_held: %d", p.Stats.RangeHeldFull.Load())
	}
	afterJoin(t, p, spool)

	// range_files: a second file pushes the first out.
	other := rangeConn(pe, 42000, q[1])
	other.ToServer = bytes.ReplaceAll(other.ToServer, []byte("setup.exe"), []byte("other.exe"))
	p, evs, spool = run(func(c *testConfig) { c.Files.RangeFiles = 1 }, []testutil.TCPConn{rangeConn(pe, 40000, q[0]), other})
	if len(evs) != 2 || p.Stats.RangeEvicted.Load() != 1 {
		t.Errorf("range_files: %d events, evicted %d", len(evs), p.Stats.RangeEvicted.Load())
	}
	for _, e := range evs {
		if e.Edgesensor.File.Complete || e.File.Hash != nil || e.Edgesensor.File.Cut != "not_final" {
			t.Errorf("range_files: %+v", e)
		}
	}
	afterJoin(t, p, spool)

	// range_files = 0: no joining but in order on one connection.
	p, evs, _ = run(func(c *testConfig) { c.Files.RangeFiles = 0 }, rev(40000))
	if p.ranges != nil || len(evs) != 1 || evs[0].Edgesensor.File.Complete || evs[0].Edgesensor.File.Ranges != nil {
		t.Errorf("range_files 0: %+v", evs)
	}
}

func TestRangeSettings(t *testing.T) {
	for key, edit := range map[string]func(*Settings){
		"files.range_files":  func(s *Settings) { s.RangeFiles = -1 },
		"files.range_pieces": func(s *Settings) { s.RangePieces = 1 },
		"files.range_held":   func(s *Settings) { s.RangeHeld = 1 << 10 },
		"files.range_idle":   func(s *Settings) { s.RangeIdle = 0 },
	} {
		s := DefaultSettings()
		edit(&s)
		var p setting.Problems
		s.Validate("files", &p)
		if err := p.Err(); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v", key, err)
		}
	}
	s := DefaultSettings()
	var p setting.Problems
	s.Validate("files", &p)
	if err := p.Err(); err != nil {
		t.Error(err)
	}
}

// BenchmarkRangesParallel: a 64 MiB PE-looking file fetched as four
// quarters over four parallel connections (packets interleaved), joined
// through the whole file path: three quarters wait in the spill until the
// front reaches them. Compare with BenchmarkLargeFile (one plain
// download) and BenchmarkRangesInOrder.
func BenchmarkRangesParallel(b *testing.B) {
	body := benchBody()
	var conns []testutil.TCPConn
	for i, q := range quarters(len(body)) {
		conns = append(conns, rangeConn(body, uint16(40000+i), q))
	}
	benchRanges(b, body, conns)
}

// BenchmarkRangesInOrder: the same file as four ranges in order on one
// connection: nothing is held.
func BenchmarkRangesInOrder(b *testing.B) {
	body := benchBody()
	benchRanges(b, body, []testutil.TCPConn{rangeConn(body, 40000, quarters(len(body))...)})
}

func benchRanges(b *testing.B, body []byte, conns []testutil.TCPConn) {
	segs := make([][]seg, len(conns))
	for i, c := range conns {
		segs[i] = segments(c, 1448)
	}
	p, _, _ := newPipeline(b, nil, nil)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sh := p.NewShard(0)
		feedInterleaved([]datapath.Shard{sh}, conns, segs)
		sh.Close()
	}
	b.StopTimer()
	if p.Stats.RangeFilesJoined.Load() != uint64(b.N) {
		b.Fatalf("joined %d of %d", p.Stats.RangeFilesJoined.Load(), b.N)
	}
}

// The joiner's memory is bounded by files.range_pieces, whatever the
// pieces: here the worst case, every piece apart from the others (no two
// spans merge), each on a connection of its own.
func TestRangeFootprint(t *testing.T) {
	p, _, _ := newPipeline(t, func(c *testConfig) { c.Files.RangePieces = 1024 }, nil)
	const total = 1 << 20
	// spread sends n pieces of 16 bytes, none adjacent, each on a
	// connection of its own.
	spread := func(sh *shard, n int) {
		for i := 0; i < n; i++ {
			fl := &flow{key: flowKey{client: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(1000+i)),
				server: netip.MustParseAddrPort("10.0.0.2:80")}, sh: sh}
			fl.dirs[0].f, fl.dirs[1].f = fl, fl
			sh.cur = fl
			first := int64(64 + 2*16*i)
			m := transfer.Meta{Protocol: transfer.HTTP, Name: "setup.exe", URL: "http://dl.test/setup.exe", Size: 16, Status: 206,
				Range: &transfer.Range{First: first, Last: first + 15, Total: total}}
			if f := sh.sink.Open(&m); f != nil {
				f.Write(make([]byte, 16))
				f.Close(transfer.Whole)
			}
		}
		sh.cur = nil
	}
	sh := p.NewShard(0).(*shard)
	spread(sh, 1100)
	e := p.ranges.entries[rangeKey{client: netip.MustParseAddr("10.0.0.1"), server: netip.MustParseAddrPort("10.0.0.2:80"),
		url: "http://dl.test/setup.exe", total: total}]
	if e == nil || !e.ended || e.pieces != 1024 || len(e.held) != 0 || p.Stats.RangeTooManyPieces.Load() != 1 || p.Stats.RangeLate.Load() != 1100-1025 {
		t.Fatalf("entry %+v, too many %d late %d", e, p.Stats.RangeTooManyPieces.Load(), p.Stats.RangeLate.Load())
	}
	// Just before the bound: what a file at range_pieces holds.
	p2, _, _ := newPipeline(t, func(c *testConfig) { c.Files.RangePieces = 1024 }, nil)
	sh2 := p2.NewShard(0).(*shard)
	spread(sh2, 1024)
	n := p2.ranges.footprint()
	t.Logf("one file of 1024 pieces, none adjacent, over 1024 connections: %d bytes in memory, %d on disk", n, p2.ranges.held)
	if n > 1024*(16+2)*2+4096 {
		t.Errorf("footprint %d bytes", n)
	}
	sh.Close()
	sh2.Close()
}

// Four workers at once, each with one of the four connections, as the
// dispatcher runs them (run with -race).
func TestRangesConcurrentShards(t *testing.T) {
	pe := goPE(t)
	p, buf, spool := newPipeline(t, nil, nil)
	var wg sync.WaitGroup
	shards := make([]datapath.Shard, 4)
	for i := range shards {
		shards[i] = p.NewShard(i)
	}
	for i, q := range quarters(len(pe)) {
		c := rangeConn(pe, uint16(40000+i), q)
		sh := shards[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
			sh.Tick(time.Unix(1700000001, 0))
			sh.Close()
		}()
	}
	wg.Wait()
	wholeJoined(t, p, rangeEvents(t, buf.Bytes()), spool, pe, 4, 4)
}
