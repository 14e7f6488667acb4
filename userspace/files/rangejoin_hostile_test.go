package files

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// A conflict on a piece's connection after the piece ended (a
// retransmission of its last bytes with other content: which copy the
// client kept is unknown) cuts the joined file, as it cuts a plain file
// in the moment it is held back: the piece is held back the same way.
func TestRangesLateConflict(t *testing.T) {
	pe := goPE(t)
	n := len(pe)
	a := rangeConn(pe, 40000, piece{first: 0, last: n/4 - 1})
	b := rangeConn(pe, 40001, piece{first: n / 4, last: n - 1})
	sa, sb := segments(a, 1448), segments(b, 1448)
	// B's last data segment again, changed, before its FINs.
	last := sb[len(sb)-3]
	if len(last.payload) == 0 || last.fromClient {
		t.Fatalf("segment before the FINs: %+v", last)
	}
	alt := last
	alt.payload = append([]byte(nil), last.payload...)
	alt.payload[0] ^= 0xff
	sb = append(sb[:len(sb)-2:len(sb)-2], alt, sb[len(sb)-2], sb[len(sb)-1])
	for _, late := range []bool{false, true} {
		p, buf, spool := newPipeline(t, nil, nil)
		sh := p.NewShard(0)
		segs := sb
		if !late {
			segs = segments(b, 1448)
		}
		feedInterleaved([]datapath.Shard{sh}, []testutil.TCPConn{a, b}, [][]seg{sa, segs})
		sh.Close()
		evs := rangeEvents(t, buf.Bytes())
		if !late {
			wholeJoined(t, p, evs, spool, pe, 2, 2)
			continue
		}
		if len(evs) != 1 {
			t.Fatalf("%d events: %s", len(evs), buf.Bytes())
		}
		f := evs[0].Edgesensor.File
		if f.Complete || f.Cut != "conflict" || evs[0].File.Hash != nil {
			t.Errorf("late conflict: %+v hash %+v", f, evs[0].File.Hash)
		}
		if p.Stats.RangeConflicts.Load() != 1 || p.Stats.RangeFilesJoined.Load() != 0 {
			t.Errorf("conflicts %d joined %d", p.Stats.RangeConflicts.Load(), p.Stats.RangeFilesJoined.Load())
		}
		afterJoin(t, p, spool)
	}
}

// A chunked range whose body runs past its Content-Range: a client that
// writes the body at its offset overwrites the next range's bytes with
// the rest, one that checks drops it; the file is cut, never whole.
func TestRangesOverrun(t *testing.T) {
	pe := goPE(t)
	n := len(pe)
	junk := append(append([]byte(nil), pe[n/2:n/2+3000]...), bytes.Repeat([]byte{0xcc}, 100)...)
	for _, extra := range []int{0, 100} {
		p1 := piece{first: n / 2, last: n/2 + 2999, chunked: true, body: junk[:3000+extra]}
		c1 := rangeConn(pe, 40000, p1)
		c2 := rangeConn(pe, 40001, piece{first: 0, last: n/2 - 1}, piece{first: n/2 + 3000, last: n - 1})
		p, evs, spool := feedParallel(t, nil, 1, c1, c2)
		if extra == 0 {
			wholeJoined(t, p, evs, spool, pe, 3, 2)
			continue
		}
		if len(evs) != 1 {
			t.Fatalf("%d events", len(evs))
		}
		f := evs[0].Edgesensor.File
		if f.Complete || f.Cut != "conflict" || evs[0].File.Hash != nil || p.Stats.RangeOverrun.Load() != 1 {
			t.Errorf("overrun: %+v hash %+v overrun %d", f, evs[0].File.Hash, p.Stats.RangeOverrun.Load())
		}
		afterJoin(t, p, spool)
	}
}

// Pieces of the same URL (same inner Host) through tunnels to two
// CONNECT targets come from two origins: never one file.
func TestRangesTunnelKey(t *testing.T) {
	p, buf, _ := newPipeline(t, nil, nil)
	sh := p.NewShard(0).(*shard)
	const total = 2000
	orig := bytes.Repeat([]byte{0x90}, total)
	for i, tun := range []string{"a.test:80", "b.test:80"} {
		fl := &flow{key: flowKey{client: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), 40000+uint16(i)),
			server: netip.MustParseAddrPort("10.0.0.2:3128")}, sh: sh}
		fl.dirs[0].f, fl.dirs[1].f = fl, fl
		sh.cur = fl
		first := i * total / 2
		m := transfer.Meta{Protocol: transfer.HTTP, Name: "setup.exe", URL: "http://dl.test/setup.exe", Status: 206, Tunnel: tun,
			Range: &transfer.Range{First: int64(first), Last: int64(first + total/2 - 1), Total: total}}
		f := sh.sink.Open(&m)
		if f == nil {
			t.Fatalf("piece %d declined", i)
		}
		f.Write(orig[first : first+total/2])
		f.Close(transfer.Whole)
	}
	sh.cur = nil
	sh.Close()
	if p.Stats.RangeFilesJoined.Load() != 0 {
		t.Errorf("pieces through two tunnels joined: %s", buf.Bytes())
	}
	if got := len(rangeEvents(t, buf.Bytes())); got != 2 {
		t.Errorf("%d events, want one per tunnel", got)
	}
}

// Gaps within one piece (packets the sensor lost) leave the bytes after
// each apart from the rest: the spans held are bounded by
// files.range_pieces all the same, and a file past it is cut "limit".
func TestRangesSpansBounded(t *testing.T) {
	p, buf, spool := newPipeline(t, func(c *testConfig) { c.Files.RangePieces = 4 }, nil)
	sh := p.NewShard(0).(*shard)
	fl := &flow{key: flowKey{client: netip.MustParseAddrPort("10.0.0.1:40000"), server: netip.MustParseAddrPort("10.0.0.2:80")}, sh: sh}
	fl.dirs[0].f, fl.dirs[1].f = fl, fl
	sh.cur = fl
	m := transfer.Meta{Protocol: transfer.HTTP, Name: "setup.exe", URL: "http://dl.test/setup.exe", Status: 206,
		Range: &transfer.Range{First: 100, Last: 10099, Total: 20000}}
	f := sh.sink.Open(&m)
	if f == nil {
		t.Fatal("piece declined")
	}
	for i := 0; i < 50; i++ {
		if !f.Write(bytes.Repeat([]byte{byte(i)}, 100)) {
			break
		}
		f.Gap(100)
	}
	f.Close(transfer.Whole)
	if got := len(p.ranges.entries); got != 1 {
		t.Fatalf("%d entries", got)
	}
	for _, e := range p.ranges.entries {
		if len(e.held) > 4 || !e.ended {
			t.Errorf("%d spans held, ended %v", len(e.held), e.ended)
		}
	}
	sh.cur = nil
	sh.Close()
	if p.Stats.RangeTooManyPieces.Load() != 1 {
		t.Errorf("too many %d", p.Stats.RangeTooManyPieces.Load())
	}
	evs := rangeEvents(t, buf.Bytes())
	if len(evs) != 1 || evs[0].Edgesensor.File.Cut != "limit" || evs[0].File.Hash != nil {
		t.Errorf("events %+v", evs)
	}
	afterJoin(t, p, spool)
}
