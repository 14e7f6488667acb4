package handshake

import (
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/handshake/quic"
	"github.com/edgesensor/edgesensor/userspace/handshake/tlswire"
)

// recentFlows is how many written handshakes a shard remembers (recentSet).
const recentFlows = 4096

// recentSet remembers the last n keys added, in a ring.
type recentSet struct {
	ring []flowKey
	pos  int
	in   map[flowKey]int // key -> times in the ring
}

func (r *recentSet) init(n int) {
	r.ring = make([]flowKey, 0, n)
	r.in = make(map[flowKey]int, n)
}

func (r *recentSet) add(k flowKey) {
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, k)
	} else {
		old := r.ring[r.pos]
		if r.in[old]--; r.in[old] <= 0 {
			delete(r.in, old)
		}
		r.ring[r.pos] = k
		r.pos = (r.pos + 1) % len(r.ring)
	}
	r.in[k]++
}

func (r *recentSet) has(k flowKey) bool { return r.in[k] > 0 }

// quic handles one QUIC Initial datagram.
func (s *shard) quic(ev *datapath.Event) {
	// The data plane keeps sending a connection's Initials (the client's
	// ACKs, retransmissions) after the hellos are in and its event is
	// written: only a datagram it marks as a new flow, or one whose flow
	// lost events, starts a handshake.
	if s.flows[keyOf(ev.Src, ev.Dst, ev.Proto, ev.Zone)] == nil && ev.Flags&(datapath.FlagFlowNew|datapath.FlagLost) == 0 {
		s.p.Stats.LateDatagrams.Add(1)
		s.heldByGate(ev, nil)
		return
	}
	f := s.flowOf(ev, true)
	if f == nil {
		s.heldByGate(ev, nil)
		return
	}
	if f.qc == nil {
		f.qc = quic.NewConn()
	}
	switch f.qc.Datagram(ev.Payload) {
	case quic.FromClient:
		// The keys prove who the client is, whatever was guessed.
		f.client, f.server = ev.Src, ev.Dst
	case quic.FromServer:
		f.client, f.server = ev.Dst, ev.Src
	}
	// New complete messages only: the ClientHello (and a second one after
	// a retry, which changes nothing), the ServerHello or
	// HelloRetryRequest and then the real ServerHello.
	for d := range 2 {
		i := 0
		f.qc.Hellos(d, func(m tlswire.Message) {
			if i >= f.quicMsgs[d] {
				s.message(f, d, m, true)
				f.quicMsgs[d]++
			}
			i++
		})
	}
	s.heldByGate(ev, f)
	switch {
	case f.haveCH && f.haveSH && !f.sh.HelloRetry:
		// Both hellos are in: the data plane need not send the rest of
		// the connection's Initials (ACKs, retransmissions).
		s.endInKernel(f, false)
		s.finish(f, "finished")
	case f.qc.Closed:
		s.finish(f, "closed")
	default:
		s.raiseQUIC(f)
		s.account(f)
	}
}

// raiseQUIC gives a QUIC handshake whose hellos are not in yet more
// Initials once half its budget is spent (datagrams that did not decrypt,
// a ClientHello in many CRYPTO frames), up to maxBudgetRaise times the
// configured budget.
func (s *shard) raiseQUIC(f *flow) {
	v := s.p.cfg.Verdicts
	if v == nil || s.p.cfg.BudgetQUIC <= 0 || f.haveCH && f.haveSH || f.packets*2 < f.budgetPkts {
		return
	}
	pk := min(f.budgetPkts*2, s.p.cfg.BudgetQUIC*maxBudgetRaise)
	if pk <= f.budgetPkts {
		return
	}
	f.budgetPkts, f.verdict = pk, true
	s.p.Stats.Extended.Add(1)
	if v.ExtendHandshake(f.id(), f.key.proto, uint32(pk), 0) != nil {
		s.p.Stats.Errors.Add(1)
	}
}
