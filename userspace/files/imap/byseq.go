package imap

import "unsafe"

// bySeq keeps what the parser learnt of messages (structures, senders,
// sizes) by message number, bounded in entries and bytes. When a new
// entry would pass a bound the table is emptied and the call says so:
// the oldest entries are the least likely to be fetched next, and
// emptying keeps the bound without an order to maintain.
type bySeq[V any] struct {
	m        map[uint32]sized[V]
	bytes    int
	maxN     int
	maxBytes int
}

type sized[V any] struct {
	v V
	n int // bytes it holds
}

func newBySeq[V any](maxN, maxBytes int) bySeq[V] {
	return bySeq[V]{maxN: maxN, maxBytes: maxBytes}
}

// put keeps v, of n bytes, for message seq; cleared is true when the
// table was emptied to make room.
func (t *bySeq[V]) put(seq uint32, v V, n int) (cleared bool) {
	if t.m == nil {
		t.m = make(map[uint32]sized[V])
	}
	if old, ok := t.m[seq]; ok {
		t.bytes -= old.n
		delete(t.m, seq)
	}
	if len(t.m) >= t.maxN || t.bytes+n > t.maxBytes {
		t.reset()
		cleared = true
	}
	t.m[seq] = sized[V]{v, n}
	t.bytes += n
	return cleared
}

func (t *bySeq[V]) get(seq uint32) (V, bool) {
	e, ok := t.m[seq]
	return e.v, ok
}

func (t *bySeq[V]) len() int { return len(t.m) }

func (t *bySeq[V]) reset() {
	clear(t.m)
	t.bytes = 0
}

// footprint is what the table holds: its entries' bytes and the map's
// slots (a slot per entry, its control byte, and room to grow).
func (t *bySeq[V]) footprint() int {
	var e sized[V]
	slot := int(unsafe.Sizeof(uint32(0))+unsafe.Sizeof(e)) + 1
	return t.bytes + 2*slot*len(t.m)
}
