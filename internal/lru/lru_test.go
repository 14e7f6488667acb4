package lru

import (
	"math/rand/v2"
	"slices"
	"testing"
)

type item struct {
	id    int
	links Links[item]
}

func (i *item) Links() *Links[item] { return &i.links }

type list = List[item, *item]

// The lists against a model (a slice per list, oldest first) under
// random pushes, touches and removals of elements moving between two
// lists, as the files table moves flows from half-open to active.
func TestModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	items := make([]item, 64)
	on := make([]int, len(items)) // the list each item is on, -1 for none
	for i := range items {
		items[i].id, on[i] = i, -1
	}
	var lists [2]list
	var model [2][]int
	drop := func(id int) {
		if l := on[id]; l >= 0 {
			i := slices.Index(model[l], id)
			model[l] = slices.Delete(model[l], i, i+1)
		}
	}
	for step := range 20000 {
		id := rng.IntN(len(items))
		it := &items[id]
		switch l := on[id]; rng.IntN(4) {
		case 0: // push, from wherever it is
			to := rng.IntN(2)
			if l >= 0 {
				lists[l].Remove(it)
			}
			lists[to].Push(it)
			drop(id)
			model[to], on[id] = append(model[to], id), to
		case 1:
			if l >= 0 {
				lists[l].Touch(it)
				drop(id)
				model[l] = append(model[l], id)
			}
		case 2:
			if l >= 0 {
				lists[l].Remove(it)
				drop(id)
				on[id] = -1
			}
		case 3: // removing or touching an element on no list changes nothing
			if l < 0 {
				lists[rng.IntN(2)].Remove(it)
				lists[rng.IntN(2)].Touch(it)
			}
		}
		for l := range lists {
			var got []int
			for e := range lists[l].All() {
				got = append(got, e.id)
			}
			if !slices.Equal(got, model[l]) || lists[l].Len() != len(model[l]) {
				t.Fatalf("step %d, list %d: %v (len %d), want %v", step, l, got, lists[l].Len(), model[l])
			}
			o := lists[l].Oldest()
			if len(model[l]) == 0 && o != nil || len(model[l]) > 0 && (o == nil || o.id != model[l][0]) {
				t.Fatalf("step %d, list %d: oldest %v, want %v", step, l, o, model[l])
			}
		}
	}
}

// A loop over All may remove the element it is given: every element is
// still seen once, in order.
func TestAllRemoving(t *testing.T) {
	items := make([]item, 10)
	var l list
	for i := range items {
		items[i].id = i
		l.Push(&items[i])
	}
	var seen []int
	for e := range l.All() {
		seen = append(seen, e.id)
		if e.id%2 == 0 {
			l.Remove(e)
		}
		if e.id == 7 {
			break
		}
	}
	if !slices.Equal(seen, []int{0, 1, 2, 3, 4, 5, 6, 7}) || l.Len() != 6 || l.Oldest().id != 1 {
		t.Fatalf("seen %v, %d left, oldest %d", seen, l.Len(), l.Oldest().id)
	}
}

// BenchmarkTouch: one touch of a random element of 4096, and a walk
// from the oldest that stops at once (what a Tick costs when nothing
// expired).
func BenchmarkTouch(b *testing.B) {
	items := make([]item, 4096)
	var l list
	for i := range items {
		l.Push(&items[i])
	}
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		l.Touch(&items[rng.IntN(len(items))])
		for range l.All() {
			break
		}
	}
}
