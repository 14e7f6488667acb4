// Flow blocks: the flows the enforcer blocked, bounded per client and in all,
// and what userspace knows of each.

package sensor

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/cilium/ebpf"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/lru"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
)

// FlowDetail is what userspace knows of a flow it blocked, for the action
// records of its packets.
type FlowDetail struct {
	Reason enforce.Reason
	Kind   string // the intel kind that matched: domain, ja3, ja4, sha256
	Value  string // the listed value
	List   string // the intel source
	Level  int
}

type blockedFlow struct {
	key    bpf.FlowKey
	client netip.Addr
	until  time.Time
	slot   uint32
	detail FlowDetail
	links  lru.Links[blockedFlow]
}

func (b *blockedFlow) Links() *lru.Links[blockedFlow] { return &b.links }

// MaxFlowsPerClient bounds the flows blocked for one client address: past
// it its oldest block goes, so hellos forged in a host's name cannot fill
// the table.
const MaxFlowsPerClient = 64

// slotOf is the fblock_slots index of a flow key.
func slotOf(k *bpf.FlowKey) uint32 {
	return bpf.FilterIndex(k.AddrA[3], k.AddrB[3], k.PortA, k.PortB)
}

// BlockFlow blocks a flow (both directions) for d: its packets are
// dropped, and TCP ones answered with a reset. list names the list whose
// entry decided it (its freshness applies). Past the table's size, or
// MaxFlowsPerClient for the client, the oldest block goes.
func (e *Enforcer) BlockFlow(fl datapath.Flow, proto uint8, list string, d time.Duration, detail FlowDetail) error {
	k, clientIsA := flowKey(fl.Client, fl.Server, proto, fl.Zone)
	e.mu.Lock()
	defer e.mu.Unlock()
	id, ok := e.ids[list]
	if !ok {
		// A source past the lists' limit (folded into "other"), or new
		// since the last swap: any list in force lends its freshness.
		if id, ok = e.ids["other"]; !ok {
			for i, n := range e.names {
				if n != "" {
					id, ok = uint16(i), true
					break
				}
			}
		}
		if !ok {
			return fmt.Errorf("blocking a flow: no list in force")
		}
	}
	v := bpf.FlowBlock{ExpiresNs: monoNow() + uint64(d), List: id, Level: uint8(detail.Level), Reason: uint8(detail.Reason)}
	if clientIsA {
		v.ClientIsA = 1
	}
	b, known := e.flows[k]
	client := fl.Client.Addr().Unmap()
	if !known {
		if mine := e.perClient[client]; len(mine) >= MaxFlowsPerClient {
			e.unblockLocked(mine[0])
			e.Stats.FlowsEvicted.Add(1)
		}
		if len(e.flows) >= e.maxFlows {
			e.unblockLocked(e.age.Oldest())
			e.Stats.FlowsEvicted.Add(1)
		}
	}
	// The entry first, then the slot that sends packets to it.
	if err := e.objs.FlowBlocks.Put(&k, &v); err != nil {
		e.Stats.Errors.Add(1)
		return fmt.Errorf("blocking a flow: %w", err)
	}
	if known {
		b.until, b.detail = time.Now().Add(d), detail
		return nil
	}
	b = &blockedFlow{key: k, client: client, until: time.Now().Add(d), slot: slotOf(&k), detail: detail}
	e.flows[k] = b
	e.age.Push(b)
	e.perClient[client] = append(e.perClient[client], b)
	e.slotCount[b.slot]++
	e.Stats.FlowsBlocked.Add(1)
	if err := e.objs.SetFBlockSlot(b.slot, uint8(min(e.slotCount[b.slot], 255))); err != nil {
		return err
	}
	return e.objs.SetFBlockTotal(uint32(len(e.flows)))
}

// unblockLocked removes one flow block: the slot first, then the entry.
func (e *Enforcer) unblockLocked(b *blockedFlow) {
	e.slotCount[b.slot]--
	if e.slotCount[b.slot] < 255 {
		if err := e.objs.SetFBlockSlot(b.slot, uint8(e.slotCount[b.slot])); err != nil {
			e.Stats.Errors.Add(1)
		}
	}
	if err := e.objs.FlowBlocks.Delete(&b.key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		e.Stats.Errors.Add(1)
	}
	e.age.Remove(b)
	delete(e.flows, b.key)
	mine := e.perClient[b.client]
	if i := slices.Index(mine, b); i >= 0 {
		mine = slices.Delete(mine, i, i+1)
	}
	if len(mine) == 0 {
		delete(e.perClient, b.client)
	} else {
		e.perClient[b.client] = mine
	}
	if err := e.objs.SetFBlockTotal(uint32(len(e.flows))); err != nil {
		e.Stats.Errors.Add(1)
	}
}

// ExpireFlows removes the flow blocks that lapsed by now (the data plane
// already ignores them).
func (e *Enforcer) ExpireFlows(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, b := range e.flows {
		if now.Before(b.until) {
			continue
		}
		e.unblockLocked(b)
		e.Stats.FlowsExpired.Add(1)
	}
}

// BlockedFlows is the number of flows blocked now.
func (e *Enforcer) BlockedFlows() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.flows)
}

// Detail returns what userspace knows of a blocked flow.
func (e *Enforcer) Detail(k bpf.FlowKey) (FlowDetail, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, ok := e.flows[k]
	if !ok {
		return FlowDetail{}, false
	}
	return b.detail, true
}
