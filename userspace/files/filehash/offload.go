package filehash

import (
	"sync"
	"sync/atomic"
)

// Offloading: a file whose verdict a held packet waits for is digested
// off the goroutine that reads its bytes. On the reader the three digests
// are two thirds of a candidate's cost (BenchmarkLargeFile against
// BenchmarkFusedHashes): with them on another core, the reader keeps up
// with the wire and the last packet waits for the digest of the last
// chunk, not of the backlog. A Set's chunks go to one worker, in order.
//
// Bounded: at most maxActive Sets are offloaded at once, each gathering
// one chunk, and each worker's queue holds at most queueLen chunks (with
// the one it digests): (maxActive + (queueLen+1) x workers) chunks in all.
// A Set that finds no room is digested inline as before. A full queue
// makes the writer wait: never more memory, at worst the inline speed.

// Chunk is what an offloaded Set gathers before a worker digests it.
const Chunk = 64 << 10

// queueLen is each worker's queue, in chunks.
const queueLen = 8

// offJob is one chunk of a Set for its worker.
type offJob struct {
	s *Set
	b *[Chunk]byte
	n int
}

// Offloader is a pool of digest workers.
type Offloader struct {
	work      []chan offJob
	next      atomic.Uint32
	active    atomic.Int32
	maxActive int32
	bufs      sync.Pool

	// mu orders sends (read-locked) against Close (write-locked): a Set
	// offloaded before Close digests its later chunks inline.
	mu      sync.RWMutex
	closed  bool
	workers sync.WaitGroup
}

// NewOffloader starts workers digest goroutines; at most maxActive Sets
// are offloaded at once.
func NewOffloader(workers, maxActive int) *Offloader {
	o := &Offloader{maxActive: int32(max(maxActive, 1))}
	o.bufs.New = func() any { return new([Chunk]byte) }
	for range max(workers, 1) {
		ch := make(chan offJob, queueLen)
		o.work = append(o.work, ch)
		o.workers.Add(1)
		go func() {
			defer o.workers.Done()
			for j := range ch {
				j.s.write(j.b[:j.n])
				o.bufs.Put(j.b)
				j.s.inflight.Done()
			}
		}()
	}
	return o
}

// Active is how many Sets are offloaded now.
func (o *Offloader) Active() int { return int(o.active.Load()) }

// Close stops the workers once their queues are digested. Sets
// offloaded still work: their later chunks are digested inline.
func (o *Offloader) Close() {
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		for _, ch := range o.work {
			close(ch)
		}
	}
	o.mu.Unlock()
	o.workers.Wait()
}

// Offload hands s's digests to o's workers from its next Write on, if o
// has room; it reports whether it did. Call before the first Write, or
// between writes; Sum or Drop end it.
func (s *Set) Offload(o *Offloader) bool {
	if s.off != nil || o == nil {
		return s.off != nil
	}
	if o.active.Add(1) > o.maxActive {
		o.active.Add(-1)
		return false
	}
	s.off = o
	s.work = o.work[o.next.Add(1)%uint32(len(o.work))]
	s.pend = o.bufs.Get().(*[Chunk]byte)
	s.npend = 0
	return true
}

// Offloaded reports whether s's digests run on a worker.
func (s *Set) Offloaded() bool { return s.off != nil }

// Drop ends s without its sums: its slot and chunk go back to the
// Offloader at once (a chunk queued still runs, on a Set no one reads
// again). Nothing of s may be used after.
func (s *Set) Drop() {
	if s.off != nil {
		s.release()
	}
}

func (s *Set) release() {
	s.off.bufs.Put(s.pend)
	s.off.active.Add(-1)
	s.off, s.work, s.pend, s.npend = nil, nil, nil, 0
}

// gather adds p to the chunk being gathered, sending each full one.
func (s *Set) gather(p []byte) {
	for len(p) > 0 {
		c := copy(s.pend[s.npend:], p)
		s.npend += c
		p = p[c:]
		if s.npend < Chunk {
			return
		}
		s.send()
	}
}

// send hands the full chunk to the worker, or digests it here once the
// Offloader is closed.
func (s *Set) send() {
	o := s.off
	o.mu.RLock()
	if o.closed {
		o.mu.RUnlock()
		s.inflight.Wait()
		s.write(s.pend[:s.npend])
		s.npend = 0
		return
	}
	s.inflight.Add(1)
	s.work <- offJob{s: s, b: s.pend, n: s.npend}
	o.mu.RUnlock()
	s.pend = o.bufs.Get().(*[Chunk]byte)
	s.npend = 0
}
