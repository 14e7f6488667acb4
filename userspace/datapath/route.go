package datapath

import "time"

// Router sends each class of event to its own pipeline, so one dispatcher
// can feed the handshake analysis and the file analysis alike. Classes
// without a pipeline are dropped.
type Router map[Class]Pipeline

// NewShard implements Pipeline: one shard of every distinct pipeline.
func (r Router) NewShard(id int) Shard {
	rs := &routerShard{byClass: map[Class]Shard{}}
	made := map[Pipeline]Shard{}
	for c, p := range r {
		s, ok := made[p]
		if !ok {
			s = p.NewShard(id)
			made[p] = s
			rs.all = append(rs.all, s)
		}
		rs.byClass[c] = s
	}
	return rs
}

type routerShard struct {
	byClass map[Class]Shard
	all     []Shard
}

func (r *routerShard) Handle(ev *Event) {
	if s, ok := r.byClass[ev.Class]; ok {
		s.Handle(ev)
	}
}

func (r *routerShard) Tick(now time.Time) {
	for _, s := range r.all {
		s.Tick(now)
	}
}

func (r *routerShard) Close() {
	for _, s := range r.all {
		s.Close()
	}
}
