package daemon

import (
	"net/netip"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/files"
)

// A packet the data plane held for a flow whose wait just ended in a
// block (the sender's retransmission of the held bytes, between the
// verdict and the block taking effect) is dropped, not handed on around
// the block; the record of such flows is bounded.
func TestHeldAfterBlockDropped(t *testing.T) {
	h := newHolder(&enforcer{}, nil)
	fl := datapath.Flow{Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:80")}
	h.mu.Lock()
	h.markCut(fl)
	h.mu.Unlock()
	ev := &datapath.Event{Frame: make([]byte, 60), FrameLen: 60, Time: time.Now()}
	h.Held(ev, files.HoldDecision{Flow: fl, Gate: 1000})
	if h.stats.AfterBlock.Load() != 1 || h.stats.Passed.Load() != 0 || len(h.flows) != 0 {
		t.Errorf("after the block: dropped %d, passed %d, waits %d; want 1, 0, 0",
			h.stats.AfterBlock.Load(), h.stats.Passed.Load(), len(h.flows))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range maxCut + 10 {
		h.markCut(datapath.Flow{Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 1), Server: fl.Server})
	}
	if len(h.cut) > maxCut {
		t.Errorf("%d flows remembered, bound %d", len(h.cut), maxCut)
	}
}
