// Package lru is an intrusive least-recently-used list, the activity
// list of the flow tables (files, handshake): the element embeds its
// Links (two pointers), so pushing, touching and removing are a few
// pointer moves, in O(1), with no allocation and no hashing; the table's
// own map finds the element. Eviction policies stay with the tables:
// files keeps two lists (half-open flows go first), handshake one.
// Replacing their two hand-written lists changed no allocation count
// (`go test -run XXX -bench 'FlowTable|NonCandidate' -benchmem
// ./userspace/files`: 1 and 19 allocs/op; `go test -run XXX -bench .
// -benchmem ./userspace/handshake`: 9, 61, 61, 55) and no time beyond
// the noise of a shared machine; a touch and an empty walk cost 16 ns
// (BenchmarkTouch).
//
// # Why not github.com/hashicorp/golang-lru/v2 (simplelru)
//
// v2.0.7 is MPL-2.0, not a permissive licence. It was measured anyway
// on the files table with simplelru in place of these lists (two LRUs
// keyed by flow, touch = Get, establish = Remove then Add; throwaway
// patch): `go test -run XXX -bench FlowTable -benchmem -count 6
// ./userspace/files` (4096 flows, each op a SYN that evicts the oldest
// half-open flow and a data segment that touches an established one)
// gave 2150-2440 ns/op, 1175 B/op, 2 allocs/op against 1350-1490 ns/op,
// 1029 B/op, 1 alloc/op with the hand-written lists: an entry allocated
// per new flow and per flow established, and a second map beside the
// table's, hashed on every packet. BenchmarkNonCandidate (one flow a
// shard) went from 19 to 29 allocs/op. simplelru also cannot walk from
// the oldest without Keys(), a copy of every key, which handshake's Tick
// needs (it passes over QUIC flows still waiting).
package lru

import "iter"

// Links are the pointers an element embeds to be on a List.
type Links[T any] struct{ prev, next *T }

// Elem is a pointer to an element type that embeds Links and says where.
type Elem[T any] interface {
	*T
	Links() *Links[T]
}

// List holds elements from the least to the most recently used. The
// zero List is empty and ready. An element is on one list at most, and
// the caller knows which (List methods other than Push take an element
// of that list). It is not safe for concurrent use.
type List[T any, E Elem[T]] struct {
	oldest, newest E
	n              int
}

// Push puts e, on no list, at the newest end of l.
func (l *List[T, E]) Push(e E) {
	k := e.Links()
	k.prev, k.next = l.newest, nil
	if l.newest != nil {
		E(l.newest).Links().next = e
	} else {
		l.oldest = e
	}
	l.newest = e
	l.n++
}

// Touch moves e, on l, to its newest end; nothing when e is on no list.
func (l *List[T, E]) Touch(e E) {
	if l.newest != e && l.remove(e) {
		l.Push(e)
	}
}

// Remove takes e off l; nothing when e is on no list.
func (l *List[T, E]) Remove(e E) { l.remove(e) }

// remove takes e off l and reports whether it was on it.
func (l *List[T, E]) remove(e E) bool {
	k := e.Links()
	if k.prev == nil && l.oldest != e {
		return false // on no list (or the caller's mistake: another list's oldest)
	}
	if k.prev != nil {
		E(k.prev).Links().next = k.next
	} else {
		l.oldest = k.next
	}
	if k.next != nil {
		E(k.next).Links().prev = k.prev
	} else {
		l.newest = k.prev
	}
	k.prev, k.next = nil, nil
	l.n--
	return true
}

// Oldest is the least recently used element, nil when l is empty.
func (l *List[T, E]) Oldest() E { return l.oldest }

// Len is how many elements l holds.
func (l *List[T, E]) Len() int { return l.n }

// All yields l's elements from the least recently used. The loop may
// remove the element it was given; it must not move it (it would come
// again) nor remove any other.
func (l *List[T, E]) All() iter.Seq[E] {
	return func(yield func(E) bool) {
		for e := l.oldest; e != nil; {
			next := E(e.Links().next)
			if !yield(e) {
				return
			}
			e = next
		}
	}
}
