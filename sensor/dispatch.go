package sensor

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// slot carries one event from a ring reader to a worker. Slots are made
// once and recycled, and their buffers grow on first use to the records
// they carry, so the steady state allocates nothing and memory follows
// what is in flight, not the worst case.
type slot struct {
	ev   datapath.Event
	buf  []byte
	tick time.Time // non-zero: a tick, not an event
}

// DispatchStats counts what the dispatcher did.
type DispatchStats struct {
	Events    uint64 // handed to the pipeline
	BadRecord uint64 // ring records that did not decode
}

// Dispatcher shards events by flow to workers, each running one Shard of
// the pipeline. A full worker queue holds the ring reader back: the ring
// buffer, megabytes deep, is then the queue that absorbs a burst, and what
// it cannot take the data plane counts and flags on its flow, so the event
// says it is incomplete. (Dropping at the queue instead lost whole
// handshakes at rates the workers sustain on average: 1 to 25% at 10 to
// 17k handshakes/s on two cores, against none when waiting.)
//
// An inline dispatcher (NewInlineDispatcher, for replay) has no workers:
// the shards run in the caller's goroutine.
type Dispatcher struct {
	dec    *Decoder
	queues []chan *slot
	free   freeList
	wg     sync.WaitGroup

	// inline holds the shards of an inline dispatcher, and ev the event
	// it decodes into (nil and unused with workers).
	inline []datapath.Shard
	ev     datapath.Event

	events    atomic.Uint64
	badRecord atomic.Uint64
	// frags, when set, takes fragment events (in the reader's goroutine)
	// instead of the pipeline.
	frags     *defrag
	closeOnce sync.Once
}

// NewDispatcher starts workers goroutines with depth queued events each.
func NewDispatcher(p datapath.Pipeline, dec *Decoder, workers, depth int) *Dispatcher {
	workers = max(workers, 1)
	depth = max(depth, 1)
	d := &Dispatcher{
		dec:    dec,
		queues: make([]chan *slot, workers),
	}
	d.free.init(workers * depth)
	for i := range d.queues {
		d.queues[i] = make(chan *slot, depth)
		shard := p.NewShard(i)
		d.wg.Add(1)
		go d.work(shard, d.queues[i])
	}
	return d
}

// NewInlineDispatcher makes shards shards of p that run in the caller's
// goroutine: Dispatch returns once the event is analysed, so what the
// analysis wrote on its account (a stream or handshake verdict, an
// interface's checksum policy) is in the data plane before the caller
// runs the next packet, as for a live sensor whose userspace keeps up.
// Replay uses it; it queues nothing, so it needs no bound, and it costs
// no hand-over between threads. Dispatch, Tick and Close must then come
// from one goroutine.
func NewInlineDispatcher(p datapath.Pipeline, dec *Decoder, shards int) *Dispatcher {
	d := &Dispatcher{dec: dec, inline: make([]datapath.Shard, max(shards, 1))}
	for i := range d.inline {
		d.inline[i] = p.NewShard(i)
	}
	return d
}

func (d *Dispatcher) work(shard datapath.Shard, q <-chan *slot) {
	defer d.wg.Done()
	defer shard.Close()
	for s := range q {
		switch {
		case !s.tick.IsZero():
			shard.Tick(s.tick)
			s.tick = time.Time{}
		default:
			shard.Handle(&s.ev)
			d.events.Add(1)
		}
		s.ev = datapath.Event{}
		d.free.put(s)
	}
}

// freeList is a stack of free slots: the most recently used slot goes out
// first, so a light load keeps touching the same few buffers.
type freeList struct {
	mu    sync.Mutex
	cond  sync.Cond
	slots []*slot
}

func (f *freeList) init(n int) {
	f.cond.L = &f.mu
	f.slots = make([]*slot, n)
	for i := range f.slots {
		f.slots[i] = &slot{}
	}
}

// get pops a slot, waiting for one to be free.
func (f *freeList) get() *slot {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.slots) == 0 {
		f.cond.Wait()
	}
	s := f.slots[len(f.slots)-1]
	f.slots = f.slots[:len(f.slots)-1]
	return s
}

func (f *freeList) put(s *slot) {
	f.mu.Lock()
	f.slots = append(f.slots, s)
	f.mu.Unlock()
	f.cond.Signal()
}

// Dispatch copies one ring record, decodes it and queues it to the shard of
// its flow; an inline dispatcher decodes it in place and hands it to the
// shard before returning. fix, when set, may adjust the event (replay
// sets capture time).
func (d *Dispatcher) Dispatch(raw []byte, fix func(*datapath.Event)) {
	if d.inline != nil {
		d.handle(raw, fix)
		return
	}
	s := d.free.get()
	if cap(s.buf) < len(raw) {
		s.buf = make([]byte, 0, max(len(raw), minSlotBuf))
	}
	s.buf = append(s.buf[:0], raw...)
	if err := d.dec.Decode(s.buf, &s.ev); err != nil {
		d.badRecord.Add(1)
		d.free.put(s)
		return
	}
	if fix != nil {
		fix(&s.ev)
	}
	if s.ev.Class == datapath.ClassFrag {
		if d.frags != nil {
			d.frags.fragment(&s.ev)
		}
		s.ev = datapath.Event{}
		d.free.put(s)
		return
	}
	d.queues[s.ev.FlowHash()%uint64(len(d.queues))] <- s
}

// handle is Dispatch of an inline dispatcher. raw is only read during
// the call (the shards copy what they keep), so it is not copied.
func (d *Dispatcher) handle(raw []byte, fix func(*datapath.Event)) {
	ev := &d.ev
	if err := d.dec.Decode(raw, ev); err != nil {
		d.badRecord.Add(1)
		return
	}
	if fix != nil {
		fix(ev)
	}
	switch {
	case ev.Class != datapath.ClassFrag:
		d.inline[ev.FlowHash()%uint64(len(d.inline))].Handle(ev)
		d.events.Add(1)
	case d.frags != nil:
		d.frags.fragment(ev)
	}
	ev.Frame, ev.Payload = nil, nil // keep no reference to raw
}

// minSlotBuf fits a full-size Ethernet frame and its record header, so
// most slots allocate once.
const minSlotBuf = 2048

// Tick asks every shard to expire state as of now.
func (d *Dispatcher) Tick(now time.Time) {
	if d.frags != nil {
		d.frags.expire(now)
	}
	for _, s := range d.inline {
		s.Tick(now)
	}
	for _, q := range d.queues {
		s := d.free.get()
		s.tick = now
		q <- s
	}
}

// Close drains the queues, closes every shard and waits for the workers.
func (d *Dispatcher) Close() {
	d.closeOnce.Do(func() {
		for _, s := range d.inline {
			s.Close()
		}
		for _, q := range d.queues {
			close(q)
		}
		d.wg.Wait()
	})
}

// Stats returns the counters so far.
func (d *Dispatcher) Stats() DispatchStats {
	return DispatchStats{
		Events:    d.events.Load(),
		BadRecord: d.badRecord.Load(),
	}
}

// FragmentStats flattens what fragment reassembly did (nil when it is
// off).
func (d *Dispatcher) FragmentStats() map[string]uint64 {
	if d.frags == nil {
		return nil
	}
	ds, fs := d.frags.stats()
	return map[string]uint64{
		"events": ds.Fragments, "reinjected": ds.Reinjected, "segments": ds.Segments, "too_big": ds.TooBig,
		"cut": ds.Cut, "unreadable": ds.Unreadable, "run_errors": ds.RunErrors,
		"held_pieces": ds.HeldPieces, "held_passed": ds.HeldPassed, "held_lost": ds.HeldLost,
		"held_bad_checksum": ds.HeldBadChecksum,
		"reassembled":       fs.Reassembled, "duplicates": fs.Duplicates, "overlaps": fs.Overlaps,
		"bad_length": fs.BadLength, "unaligned": fs.Unaligned, "too_large": fs.TooBig, "ecn": fs.ECN,
		"timeouts": fs.Timeouts, "evicted": fs.Evicted, "tiny": fs.Tiny, "offset1": fs.Offset1,
		"malformed": fs.Malformed,
	}
}
