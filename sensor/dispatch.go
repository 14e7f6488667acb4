package sensor

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgesensor/edgesensor/userspace/capture"
)

// slot carries one event from a ring reader to a worker. Slots are made
// once and recycled, and their buffers grow on first use to the records
// they carry, so the steady state allocates nothing and memory follows
// what is in flight, not the worst case.
type slot struct {
	ev      capture.Event
	buf     []byte
	tick    time.Time       // non-zero: a tick, not an event
	barrier *sync.WaitGroup // non-nil: a barrier, not an event
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
type Dispatcher struct {
	dec    *Decoder
	queues []chan *slot
	free   freeList
	wg     sync.WaitGroup

	events    atomic.Uint64
	badRecord atomic.Uint64
	// frags, when set, takes fragment events (in the reader's goroutine)
	// instead of the pipeline.
	frags     *defrag
	closeOnce sync.Once
	barrier   sync.WaitGroup
	pending   atomic.Bool // events dispatched since the last Sync
}

// NewDispatcher starts workers goroutines with depth queued events each.
func NewDispatcher(p capture.Pipeline, dec *Decoder, workers, depth int) *Dispatcher {
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

func (d *Dispatcher) work(shard capture.Shard, q <-chan *slot) {
	defer d.wg.Done()
	defer shard.Close()
	for s := range q {
		switch {
		case s.barrier != nil:
			s.barrier.Done()
			s.barrier = nil
		case !s.tick.IsZero():
			shard.Tick(s.tick)
			s.tick = time.Time{}
		default:
			shard.Handle(&s.ev)
			d.events.Add(1)
		}
		s.ev = capture.Event{}
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
// its flow. fix, when set, may adjust the event (replay sets capture time).
func (d *Dispatcher) Dispatch(raw []byte, fix func(*capture.Event)) {
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
	if s.ev.Class == capture.ClassFrag {
		if d.frags != nil {
			d.frags.fragment(&s.ev)
		}
		s.ev = capture.Event{}
		d.free.put(s)
		return
	}
	if !d.pending.Load() {
		d.pending.Store(true)
	}
	d.queues[s.ev.FlowHash()%uint64(len(d.queues))] <- s
}

// minSlotBuf fits a full-size Ethernet frame and its record header, so
// most slots allocate once.
const minSlotBuf = 2048

// Tick asks every shard to expire state as of now.
func (d *Dispatcher) Tick(now time.Time) {
	if d.frags != nil {
		d.frags.expire(now)
	}
	for _, q := range d.queues {
		s := d.free.get()
		s.tick = now
		q <- s
	}
}

// Sync waits until the workers have handled every event dispatched so
// far. Replay calls it after each packet that produced events, so stream
// verdicts the analysis writes take effect before the next packet runs:
// replay behaves like a live sensor whose userspace keeps up. A no-op when
// nothing was dispatched since the last call.
func (d *Dispatcher) Sync() {
	if !d.pending.Swap(false) {
		return
	}
	d.barrier.Add(len(d.queues))
	for _, q := range d.queues {
		s := d.free.get()
		s.barrier = &d.barrier
		q <- s
	}
	d.barrier.Wait()
}

// Close drains the queues, closes every shard and waits for the workers.
func (d *Dispatcher) Close() {
	d.closeOnce.Do(func() {
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
		"reassembled": fs.Reassembled, "duplicates": fs.Duplicates, "overlaps": fs.Overlaps,
		"bad_length": fs.BadLength, "unaligned": fs.Unaligned, "too_large": fs.TooBig, "ecn": fs.ECN,
		"timeouts": fs.Timeouts, "evicted": fs.Evicted, "tiny": fs.Tiny, "offset1": fs.Offset1,
		"malformed": fs.Malformed,
	}
}
