package files

import (
	"time"

	"github.com/edgesensor/edgesensor/internal/lru"
	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// newFlow adds the flow of key to the shard's table; a full table first
// lets its least recently active flow go, half-open ones before the rest.
func (s *shard) newFlow(key flowKey, app datapath.App, ev *datapath.Event) *flow {
	if len(s.flows) >= s.max {
		// Half-open connections go first (conntrack's early drop): a SYN
		// flood must not push out a flow that carries a file.
		victim := s.embryonic.Oldest()
		if victim == nil {
			victim = s.active.Oldest()
		}
		if victim != nil {
			if victim.hasData {
				s.p.Stats.FlowsEvicted.Add(1)
			} else {
				s.p.Stats.FlowsEvictedHalfOpen.Add(1)
			}
			s.end(victim)
		}
	}
	f := &flow{key: key, app: app, vlan: ev.VLAN, first: ev.Time, tunnel: tunnelOf(ev)}
	s.cur = f
	f.sh = s
	f.parserMem = flowCost(f)
	s.budget.Take(f.parserMem)
	for i := range f.dirs {
		f.dirs[i].f = f
		f.dirs[i].fromClient = i == 0
	}
	f.conn.Init(&s.reasmCfg, &s.stats.Reassembly, &s.stats.TCP, s.budget)
	s.flows[key] = f
	s.embryonic.Push(f)
	s.p.Stats.Flows.Add(1)
	return f
}

// end closes a flow: what is buffered is delivered (holes as gaps), every
// open file is closed, and its verdict forgotten. Only a direction whose
// FIN was reached in order has ended as the protocol means it: a body
// that runs until the close is whole then, and cut (Close) when the flow
// ends by RST, expiry, eviction or shutdown.
func (s *shard) end(f *flow) {
	prev := s.cur
	s.cur = f
	if !f.ignored {
		f.conn.Settle(f.dirs[0].consumers())
		for i := range f.dirs {
			d := &f.dirs[i]
			d.stream().Flush(d)
			if !d.ended && d.stream().Finished() {
				d.ended = true
				if f.parser != nil {
					f.parser.End(d.fromClient)
				}
			}
		}
	}
	if f.parser != nil {
		f.parser.Close()
	}
	f.conn.Reset()
	s.budget.Give(f.parserMem)
	f.parserMem = 0
	s.releaseAll(f)
	if f.verdict && s.p.cfg.Verdicts != nil {
		if err := s.p.cfg.Verdicts.Forget(f.id()); err != nil {
			s.p.Stats.VerdictErrors.Add(1)
		}
	}
	s.activity(f).Remove(f)
	delete(s.flows, f.key)
	if prev == f {
		prev = nil
	}
	s.cur = prev
}

// How long a whole file is kept back after its last byte, in case a copy
// of bytes already delivered comes with other content (a decoy that
// reached the sensor, and perhaps not the host, before the real bytes):
// until this many later segments of its direction were taken, the flow
// ends, or holdTime passed.
const (
	holdSegments = 8
	holdTime     = time.Second
)

// hold keeps a whole file back (see holdSegments).
func (s *shard) hold(f *flow, x *file) {
	x.heldAt, x.heldSegs = s.now, 0
	f.held = append(f.held, x)
}

// release hands the held files of f whose wait is over to the scorers:
// a segment of direction d was just taken.
func (s *shard) release(f *flow, d *dir) {
	if len(f.held) == 0 {
		return
	}
	kept := f.held[:0]
	for _, x := range f.held {
		if x.meta.Upload == d.fromClient {
			x.heldSegs++
		}
		if x.heldSegs > holdSegments || s.now.Sub(x.heldAt) >= holdTime {
			s.p.analyse(x)
			continue
		}
		kept = append(kept, x)
	}
	clear(f.held[len(kept):])
	f.held = kept
}

// releaseAged hands the held files of f that waited holdTime to the
// scorers.
func (s *shard) releaseAged(f *flow) {
	kept := f.held[:0]
	for _, x := range f.held {
		if s.now.Sub(x.heldAt) >= holdTime {
			s.p.analyse(x)
			continue
		}
		kept = append(kept, x)
	}
	clear(f.held[len(kept):])
	f.held = kept
}

// releaseAll hands every held file of f to the scorers.
func (s *shard) releaseAll(f *flow) {
	for _, x := range f.held {
		s.p.analyse(x)
	}
	clear(f.held)
	f.held = f.held[:0]
}

// Links implements lru.Elem.
func (f *flow) Links() *lru.Links[flow] { return &f.activity }

// activity is the activity list f is on.
func (s *shard) activity(f *flow) *lru.List[flow, *flow] {
	if f.hasData {
		return &s.active
	}
	return &s.embryonic
}

// touch moves f to the newest end of its activity list.
func (s *shard) touch(f *flow, now time.Time) {
	f.last = now
	s.activity(f).Touch(f)
}

// lifetimeScanEvery bounds how often Tick looks at every flow's age.
const lifetimeScanEvery = 10 * time.Second

// Tick implements datapath.Shard: flows idle for files.flow_idle end, and
// held files whose time is up go to the scorers.
func (s *shard) Tick(now time.Time) {
	s.now = now
	defer func() { s.held.Store(s.budget.Used()) }()
	for _, l := range []*lru.List[flow, *flow]{&s.embryonic, &s.active} {
		for f := l.Oldest(); f != nil && now.Sub(f.last) >= s.p.cfg.Idle; f = l.Oldest() {
			s.p.Stats.FlowsExpired.Add(1)
			s.end(f)
		}
	}
	scan := now.Sub(s.lifetimeScan) >= lifetimeScanEvery
	if scan {
		s.lifetimeScan = now
	}
	for _, f := range s.flows {
		if scan && now.Sub(f.first) >= s.p.cfg.Lifetime {
			s.p.Stats.FlowsLifetime.Add(1)
			s.end(f)
			continue
		}
		if len(f.held) > 0 {
			s.releaseAged(f)
		}
	}
	if s.p.ranges != nil {
		s.p.ranges.expire(now)
	}
	s.p.out.Flush()
}

// Close implements datapath.Shard: every flow ends, and Close returns once
// the scorers have written the events of this shard's files.
func (s *shard) Close() {
	for _, l := range []*lru.List[flow, *flow]{&s.embryonic, &s.active} {
		for l.Oldest() != nil {
			s.end(l.Oldest())
		}
	}
	if j := s.p.ranges; j != nil && s.p.lastShardClosed(s) {
		// Files still waiting for pieces end with the last shard.
		j.closeAll(s.now)
		j.sh.pending.Wait()
	}
	s.pending.Wait()
	s.p.out.Flush()
}
