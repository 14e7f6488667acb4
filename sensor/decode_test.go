package sensor

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// record builds a ring record the way the kernel lays it out.
func record(t testing.TB, e bpf.Event, frame []byte) []byte {
	t.Helper()
	e.CapLen = uint16(len(frame))
	var b bytes.Buffer
	if err := binary.Write(&b, binary.NativeEndian, &e); err != nil {
		t.Fatal(err)
	}
	return append(b.Bytes(), frame...)
}

func sampleRecord(t testing.TB) ([]byte, []byte) {
	frame := testutil.Pkt{Src: "192.0.2.1", Dst: "198.51.100.7", Sport: 51000, Dport: 443, Flags: "PA",
		Payload: testutil.ClientHello(100)}.Frame()
	e := bpf.Event{
		TsNs: 5e9, Ifindex: 3, PktLen: uint32(len(frame)), Seq: 77, Ack: 88,
		Sport: 51000, Dport: 443, L3Off: 14, L4Off: 34, PayloadOff: 54, PayloadLen: uint16(len(frame) - 54),
		Vlan: [2]uint16{100, 0}, Lost: 2, Class: bpf.ClassTLS, Flags: bpf.FlagFromClient | bpf.FlagFlowNew,
		TcpFlags: 0x18, L4proto: 6, Family: 4, State: 1,
	}
	a4, b4 := netip.MustParseAddr("192.0.2.1").As16(), netip.MustParseAddr("198.51.100.7").As16()
	copy(e.Saddr[:], a4[:])
	copy(e.Daddr[:], b4[:])
	return record(t, e, frame), frame
}

func TestDecode(t *testing.T) {
	raw, frame := sampleRecord(t)
	d := NewDecoder(map[uint32]string{3: "eth3"}, "other")
	var ev datapath.Event
	if err := d.Decode(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Src != netip.MustParseAddrPort("192.0.2.1:51000") || ev.Dst != netip.MustParseAddrPort("198.51.100.7:443") {
		t.Errorf("endpoints %v %v", ev.Src, ev.Dst)
	}
	if ev.Interface != "eth3" || ev.Class != datapath.ClassTLS || !ev.FromClient() || ev.Flags&datapath.FlagFlowNew == 0 {
		t.Errorf("fields: %+v", ev)
	}
	if ev.Seq != 77 || ev.Ack != 88 || ev.VLAN[0] != 100 || ev.Lost != 2 || ev.TCPFlags != 0x18 {
		t.Errorf("tcp fields: %+v", ev)
	}
	if !bytes.Equal(ev.Frame, frame) || !bytes.Equal(ev.Payload, frame[54:]) || !ev.Complete() {
		t.Error("frame or payload wrong")
	}
	if ev.Time.Before(time.Unix(1e9, 0)) {
		t.Errorf("time %v not converted to wall clock", ev.Time)
	}
	if ev.Client() != ev.Src || ev.Server() != ev.Dst {
		t.Error("client/server from direction")
	}
}

func TestDecodeRejectsInconsistentRecords(t *testing.T) {
	raw, _ := sampleRecord(t)
	d := NewDecoder(nil, "x")
	var ev datapath.Event
	if err := d.Decode(raw[:RecordHeaderSize()-1], &ev); err == nil {
		t.Error("short header accepted")
	}
	if err := d.Decode(raw[:len(raw)-1], &ev); err == nil {
		t.Error("cap_len beyond the record accepted")
	}
	bad := append([]byte(nil), raw...)
	binary.NativeEndian.PutUint16(bad[offPayloadOff:], 60000)
	if err := d.Decode(bad, &ev); err == nil {
		t.Error("payload offset beyond the frame accepted")
	}
	// A payload length past the captured bytes is kept as the claim, but
	// the payload slice stops at the frame: the event is incomplete.
	cut := append([]byte(nil), raw...)
	binary.NativeEndian.PutUint16(cut[offPayloadLen:], 65000)
	if err := d.Decode(cut, &ev); err != nil || ev.Complete() || ev.PayloadLen != 65000 {
		t.Errorf("claimed payload beyond the frame: %v complete=%v", err, ev.Complete())
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	raw, _ := sampleRecord(t)
	d := NewDecoder(map[uint32]string{3: "eth3"}, "x")
	var ev datapath.Event
	if n := testing.AllocsPerRun(1000, func() { d.Decode(raw, &ev) }); n != 0 {
		t.Errorf("Decode allocates %.1f times per record", n)
	}
}

func FuzzDecode(f *testing.F) {
	raw, _ := sampleRecord(f)
	f.Add(raw)
	f.Add(raw[:RecordHeaderSize()])
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ev datapath.Event
		if err := NewDecoder(nil, "x").Decode(raw, &ev); err != nil {
			return
		}
		if len(ev.Frame) > len(raw) || len(ev.Payload) > len(ev.Frame) || len(ev.Payload) > ev.PayloadLen {
			t.Fatalf("slices out of bounds: frame %d payload %d/%d raw %d", len(ev.Frame), len(ev.Payload), ev.PayloadLen, len(raw))
		}
	})
}

// orderPipeline records, per flow, the sequence numbers in the order a
// shard saw them, and which shard saw each flow.
type orderPipeline struct {
	mu     sync.Mutex
	seqs   map[uint64][]uint32
	shards map[uint64]map[int]bool
}

func (p *orderPipeline) NewShard(id int) datapath.Shard { return &orderShard{p: p, id: id} }

type orderShard struct {
	p  *orderPipeline
	id int
}

func (s *orderShard) Handle(ev *datapath.Event) {
	h := ev.FlowHash()
	s.p.mu.Lock()
	s.p.seqs[h] = append(s.p.seqs[h], ev.Seq)
	if s.p.shards[h] == nil {
		s.p.shards[h] = map[int]bool{}
	}
	s.p.shards[h][s.id] = true
	s.p.mu.Unlock()
}
func (s *orderShard) Tick(time.Time) {}
func (s *orderShard) Close()         {}

func flowRecord(t testing.TB, flow int, seq uint32, reverse bool) []byte {
	p := testutil.Pkt{Src: "10.0.0.1", Dst: "10.0.0.2", Sport: uint16(1000 + flow), Dport: 443}
	if reverse {
		p = p.Reply(seq, 0, "A", nil)
	}
	frame := p.With(seq, "A", nil).Frame()
	src, dst := p.Endpoints()
	e := bpf.Event{Seq: seq, Sport: src.Port(), Dport: dst.Port(), L4proto: 6, Family: 4, PayloadOff: 54, Class: bpf.ClassStream}
	s16, d16 := src.Addr().As16(), dst.Addr().As16()
	copy(e.Saddr[:], s16[:])
	copy(e.Daddr[:], d16[:])
	return record(t, e, frame)
}

// Both directions of a flow go to one shard, in dispatch order.
func TestDispatcherShardsByFlowInOrder(t *testing.T) {
	p := &orderPipeline{seqs: map[uint64][]uint32{}, shards: map[uint64]map[int]bool{}}
	d := NewDispatcher(p, NewDecoder(nil, "x"), 4, 64)
	for seq := uint32(0); seq < 200; seq++ {
		for flow := 0; flow < 10; flow++ {
			d.Dispatch(flowRecord(t, flow, seq, seq%2 == 1), nil)
		}
	}
	d.Close()
	if len(p.seqs) != 10 {
		t.Fatalf("%d flows seen, want 10 (directions split?)", len(p.seqs))
	}
	for h, seqs := range p.seqs {
		if len(p.shards[h]) != 1 {
			t.Errorf("flow %x handled by %d shards", h, len(p.shards[h]))
		}
		for i, s := range seqs {
			if s != uint32(i) {
				t.Fatalf("flow %x out of order at %d: %v", h, i, seqs[:i+1])
			}
		}
	}
	if st := d.Stats(); st.Events != 2000 || st.BadRecord != 0 {
		t.Errorf("stats %+v", st)
	}
}

// blockingPipeline's shards wait until release is closed.
type blockingPipeline struct{ release chan struct{} }

func (p blockingPipeline) NewShard(int) datapath.Shard { return blockingShard(p) }

type blockingShard blockingPipeline

func (s blockingShard) Handle(*datapath.Event) { <-s.release }
func (s blockingShard) Tick(time.Time)         {}
func (s blockingShard) Close()                 {}

// A stuck worker holds the reader back (the ring buffer takes the burst);
// once it moves on, every event is handled: none is dropped on the way.
func TestDispatcherWaitsWhenBehind(t *testing.T) {
	p := blockingPipeline{release: make(chan struct{})}
	d := NewDispatcher(p, NewDecoder(nil, "x"), 1, 4)
	var sent atomic.Int64
	done := make(chan struct{})
	go func() {
		for seq := uint32(0); seq < 100; seq++ {
			d.Dispatch(flowRecord(t, 1, seq, false), nil)
			sent.Add(1)
		}
		close(done)
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("Dispatch went on past a full queue of a stuck worker")
	default:
	}
	if n := sent.Load(); n > 5 {
		t.Errorf("%d events dispatched to a stuck worker with 4 slots", n)
	}
	close(p.release)
	<-done
	d.Close()
	if st := d.Stats(); st.Events != 100 {
		t.Errorf("stats %+v: want all 100 handled", st)
	}
	bad := NewDispatcher(nopPipeline{}, NewDecoder(nil, "x"), 1, 4)
	bad.Dispatch([]byte{1, 2, 3}, nil)
	bad.Close()
	if bad.Stats().BadRecord != 1 {
		t.Errorf("bad record not counted")
	}
}

type nopPipeline struct{}

func (nopPipeline) NewShard(int) datapath.Shard { return nopShard{} }

type nopShard struct{}

func (nopShard) Handle(*datapath.Event) {}
func (nopShard) Tick(time.Time)         {}
func (nopShard) Close()                 {}

// The reader's side of the hot path (copy, decode, route) allocates nothing.
func TestDispatchAllocatesNothing(t *testing.T) {
	raw := flowRecord(t, 1, 1, false)
	d := NewDispatcher(nopPipeline{}, NewDecoder(nil, "x"), 2, 1024)
	defer d.Close()
	if n := testing.AllocsPerRun(2000, func() { d.Dispatch(raw, nil) }); n != 0 {
		t.Errorf("Dispatch allocates %.2f times per event", n)
	}
}

func BenchmarkDecode(b *testing.B) {
	raw, _ := sampleRecord(b)
	d := NewDecoder(nil, "x")
	var ev datapath.Event
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		d.Decode(raw, &ev)
	}
}

func BenchmarkDispatch(b *testing.B) {
	raw := flowRecord(b, 1, 1, false)
	d := NewDispatcher(nopPipeline{}, NewDecoder(nil, "x"), 2, 4096)
	defer d.Close()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		d.Dispatch(raw, nil)
	}
}

// The same event through an inline dispatcher (replay): decoded in place
// and handled in the caller's goroutine, no hand-over.
func BenchmarkInlineDispatch(b *testing.B) {
	raw := flowRecord(b, 1, 1, false)
	d := NewInlineDispatcher(nopPipeline{}, NewDecoder(nil, "x"), 2)
	defer d.Close()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		d.Dispatch(raw, nil)
	}
}

// stepPipeline counts what an inline dispatcher hands each shard.
type stepPipeline struct {
	handled, ticks, closes []int
	shardOf                map[uint64]int
}

func (p *stepPipeline) NewShard(id int) datapath.Shard {
	p.handled, p.ticks, p.closes = append(p.handled, 0), append(p.ticks, 0), append(p.closes, 0)
	return stepShard{p, id}
}

type stepShard struct {
	p  *stepPipeline
	id int
}

func (s stepShard) Handle(ev *datapath.Event) {
	s.p.handled[s.id]++
	if id, ok := s.p.shardOf[ev.FlowHash()]; ok && id != s.id {
		panic("a flow on two shards")
	}
	s.p.shardOf[ev.FlowHash()] = s.id
}
func (s stepShard) Tick(time.Time) { s.p.ticks[s.id]++ }
func (s stepShard) Close()         { s.p.closes[s.id]++ }

func sum(v []int) (n int) {
	for _, x := range v {
		n += x
	}
	return n
}

// An inline dispatcher has handed an event (and a tick) to its shard when
// Dispatch (Tick) returns: replay relies on this so that the verdicts an
// event leads to are in the data plane before the next packet runs. A
// flow stays on one of the shards, both directions, in order; each shard
// is closed once. The pipeline takes no lock: one goroutine runs it all.
func TestInlineDispatcherHandlesBeforeReturning(t *testing.T) {
	p := &stepPipeline{shardOf: map[uint64]int{}}
	d := NewInlineDispatcher(p, NewDecoder(nil, "x"), 3)
	if len(p.handled) != 3 {
		t.Fatalf("%d shards, want 3", len(p.handled))
	}
	sent, ticks := 0, 0
	for round := 0; round < 500; round++ {
		for i := 0; i < round%7; i++ {
			d.Dispatch(flowRecord(t, i, uint32(round), round%2 == 1), nil)
			sent++
			if got := sum(p.handled); got != sent {
				t.Fatalf("round %d: %d handled when Dispatch returned, %d dispatched", round, got, sent)
			}
		}
		if round%5 == 0 {
			d.Tick(time.Unix(int64(round), 0))
			ticks++
			for id, n := range p.ticks {
				if n != ticks {
					t.Fatalf("shard %d: %d ticks when Tick returned, want %d", id, n, ticks)
				}
			}
		}
	}
	d.Dispatch([]byte{1, 2, 3}, nil)
	d.Close()
	d.Close()
	if st := d.Stats(); st.Events != uint64(sent) || st.BadRecord != 1 {
		t.Errorf("stats %+v, want %d events and 1 bad record", st, sent)
	}
	if len(p.shardOf) != 6 {
		t.Errorf("%d flows seen, want 6", len(p.shardOf))
	}
	for id, n := range p.closes {
		if n != 1 {
			t.Errorf("shard %d closed %d times", id, n)
		}
	}
	o := &orderPipeline{seqs: map[uint64][]uint32{}, shards: map[uint64]map[int]bool{}}
	od := NewInlineDispatcher(o, NewDecoder(nil, "x"), 4)
	for seq := uint32(0); seq < 100; seq++ {
		for flow := 0; flow < 10; flow++ {
			od.Dispatch(flowRecord(t, flow, seq, seq%2 == 1), nil)
		}
	}
	od.Close()
	for h, seqs := range o.seqs {
		for i, s := range seqs {
			if s != uint32(i) {
				t.Fatalf("flow %x out of order at %d: %v", h, i, seqs[:i+1])
			}
		}
	}
	if len(o.seqs) != 10 {
		t.Errorf("%d flows, want 10 (directions split?)", len(o.seqs))
	}
}

// The inline path (decode in place, route, handle) allocates nothing.
func TestInlineDispatchAllocatesNothing(t *testing.T) {
	raw := flowRecord(t, 1, 1, false)
	d := NewInlineDispatcher(nopPipeline{}, NewDecoder(nil, "x"), 2)
	defer d.Close()
	if n := testing.AllocsPerRun(2000, func() { d.Dispatch(raw, nil) }); n != 0 {
		t.Errorf("Dispatch allocates %.2f times per event", n)
	}
}
