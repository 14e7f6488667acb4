package daemon

import (
	"cmp"
	"maps"
	"slices"
	"sync"

	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/metrics"
)

// lossKey is an interface and a class of analysis: tls, quic or file.
type lossKey struct{ iface, class string }

// lossCounts are, per interface and class, the events the analysis
// wrote, those that missed something of their flow, and each cause. What
// the data plane kept in the kernel on purpose is no loss and never comes
// here; what it failed to hand over (ring full) is in the xdp counters,
// and shows here too as lost_events on the flows it hit.
type lossCounts struct {
	mu         sync.Mutex
	events     map[lossKey]uint64
	incomplete map[lossKey]uint64
	causes     map[lossKey]map[string]uint64
}

// maxLossKeys bounds the interface/class pairs counted (interface names
// come from the config and the kernel, but replay names them "replay").
const maxLossKeys = 4096

func (l *lossCounts) observe(f *ecs.Fields) {
	var k lossKey
	var causes [3]string
	n := 0
	switch f.Dataset {
	case "edgesensor.tls":
		k.class = "tls"
		if f.Protocol == "quic" {
			k.class = "quic"
		}
		if f.NoClientHello {
			causes[n] = "no_client_hello"
			n++
		}
		if f.Gaps {
			causes[n] = "gaps"
			n++
		}
		if f.LostEvents {
			causes[n] = "lost_events"
			n++
		}
	case "edgesensor.file":
		k.class = "file"
		if !f.Complete && f.Cut != "" {
			causes[n] = "cut_" + f.Cut
			n++
		}
	default:
		return
	}
	k.iface = f.Interface
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.events == nil {
		l.events, l.incomplete, l.causes = map[lossKey]uint64{}, map[lossKey]uint64{}, map[lossKey]map[string]uint64{}
	}
	if _, ok := l.events[k]; !ok && len(l.events) >= maxLossKeys {
		k.iface = "other"
	}
	l.events[k]++
	if n == 0 {
		return
	}
	l.incomplete[k]++
	m := l.causes[k]
	if m == nil {
		m = map[string]uint64{}
		l.causes[k] = m
	}
	for _, c := range causes[:n] {
		m[c]++
	}
}

// lossFamilies are the analysis' loss figures; the ratio per class is
// analysis_incomplete_total / analysis_flow_events_total (the shipped
// alert EdgesensorAnalysisLoss).
func lossFamilies(l *lossCounts) []metrics.Family {
	type emitFn = func(float64, ...string)
	sorted := func(m map[lossKey]uint64) []lossKey {
		return slices.SortedFunc(maps.Keys(m), func(a, b lossKey) int {
			return cmp.Or(cmp.Compare(a.iface, b.iface), cmp.Compare(a.class, b.class))
		})
	}
	each := func(m func() map[lossKey]uint64, emit emitFn) {
		l.mu.Lock()
		defer l.mu.Unlock()
		mm := m()
		for _, k := range sorted(mm) {
			emit(float64(mm[k]), k.iface, k.class)
		}
	}
	return []metrics.Family{
		{Name: "analysis_flow_events_total", Help: "Handshake (tls, quic) and file events written, per interface and class.", Kind: metrics.Counter, Labels: []string{"iface", "class"},
			Read: func(emit emitFn) { each(func() map[lossKey]uint64 { return l.events }, emit) }},
		{Name: "analysis_incomplete_total", Help: "Those events that missed something of their flow (any cause of analysis_loss_total), per interface and class.", Kind: metrics.Counter, Labels: []string{"iface", "class"},
			Read: func(emit emitFn) { each(func() map[lossKey]uint64 { return l.incomplete }, emit) }},
		{Name: "analysis_loss_total", Help: "Events that missed something of their flow, by cause: no_client_hello, gaps (bytes missing), lost_events (the data plane dropped some: ring full), cut_<why> for files (gap, ended, limit, bomb, corrupt, desync, not_final, conflict). One event can have several.",
			Kind: metrics.Counter, Labels: []string{"iface", "class", "cause"},
			Read: func(emit emitFn) {
				l.mu.Lock()
				defer l.mu.Unlock()
				for _, k := range sorted(l.incomplete) {
					m := l.causes[k]
					for _, c := range slices.Sorted(maps.Keys(m)) {
						emit(float64(m[c]), k.iface, k.class, c)
					}
				}
			}},
	}
}
