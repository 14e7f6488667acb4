// The hello gate (tls.h): in block mode, while handshake blocklists hold
// entries that block at the threshold, the server's packets of a TLS
// handshake wait in the data plane until userspace has judged its
// ClientHello.

package sensor

import (
	"fmt"
	"time"

	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// HelloAlive is how long the hello gate stays up after the daemon last
// said it lives (SetHelloHold): a dead daemon's gate would delay every
// handshake by its server's retransmission timeout.
const HelloAlive = 2 * time.Second

// SetHelloHold sets how long the data plane holds a gated handshake's
// server packets for its hello's verdict (0 gates no handshake), and
// keeps the gate up for HelloAlive: the daemon calls it every quarter
// second while it can judge hellos.
func (e *Enforcer) SetHelloHold(d time.Duration) error {
	if err := e.objs.HelloAliveUntil.Set(monoNow() + uint64(HelloAlive)); err != nil {
		return fmt.Errorf("setting hello_alive_until: %w", err)
	}
	if err := e.objs.HelloHoldNs.Set(uint64(max(d, 0))); err != nil {
		return fmt.Errorf("setting hello_hold_ns: %w", err)
	}
	return nil
}

// ReleaseHello tells the data plane that the flow's ClientHello whose
// first byte is seq (QUIC: 0) is judged: the server's packets its gate
// holds need wait no more (a gate a newer hello raised stays). A budget
// userspace raised for the handshake stays (hs_verdicts holds both).
// Called from the shard that owns the flow, as the handshake pipeline's
// own writes to the entry are.
func (e *Enforcer) ReleaseHello(fl datapath.Flow, proto uint8, seq uint32) error {
	w := HSVerdictWriter{m: e.objs.HSVerdicts}
	v, err := w.get(fl, proto)
	if err != nil || v.Release != 0 && v.ReleaseSeq == seq {
		return err
	}
	v.Release, v.ReleaseSeq = 1, seq
	return w.put(fl, proto, v)
}

// FlowBlocked says whether userspace blocked the flow.
func (e *Enforcer) FlowBlocked(fl datapath.Flow, proto uint8) bool {
	_, ok := e.Detail(FlowKeyIn(fl.Client, fl.Server, proto, fl.Zone))
	return ok
}
