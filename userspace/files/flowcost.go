package files

import (
	"unsafe"
)

// flowSize is a flow's own structure and its share of the shard's map.
const flowSize = int64(unsafe.Sizeof(flow{})) + 96

// flowCost is what f holds outside its reassembly buffers and parser.
func flowCost(f *flow) int64 {
	if f.tunnel != nil {
		return flowSize + 384 // the encapsulation's description
	}
	return flowSize
}

// accountParser counts what f's parser (and the shard's MIME extractor)
// holds against the shard's memory budget, files.reassembly_memory, as
// the reassembly buffers are: past it, the least recently active flows
// end (half-open ones first), their files reported cut.
func (s *shard) accountParser(f *flow) {
	n := flowCost(f)
	if f.parser != nil {
		n += int64(f.parser.Footprint())
	}
	for _, x := range f.open {
		n += x.footprint()
	}
	for _, x := range f.held {
		n += x.footprint()
	}
	s.budget.Take(n - f.parserMem)
	f.parserMem = n
	m := int64(s.mime.Footprint())
	s.budget.Take(m - s.mimeMem)
	s.mimeMem = m
	for s.budget.Over() {
		victim := s.embryonic.Oldest()
		if victim == nil {
			victim = s.active.Oldest()
		}
		if victim == nil || victim == f {
			break
		}
		s.p.Stats.FlowsEvictedMemory.Add(1)
		s.end(victim)
	}
	if pk := s.budget.Peak(); pk > s.peak {
		s.p.Stats.MemoryPeak.Add(uint64(pk - s.peak))
		s.peak = pk
	}
}

// noteSYN records the client's SYN: the data plane counts the flow's
// bytes from it.
