// The actions ring: records of what enforcement did, decoded and named for
// userspace.

package sensor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/edgesensor/edgesensor/bpf"
)

// Action is one record of the actions ring, with what userspace adds.
type Action struct {
	Time       time.Time
	ts         uint64 // the data plane's stamp (CLOCK_MONOTONIC), for the reader to convert
	Ifindex    uint32
	Iface      string
	Src, Dst   netip.AddrPort
	Proto      uint8
	Blocked    bool // false: monitor mode
	Reset      bool // the client got a TCP reset
	What       uint8
	Side       uint8 // the address that matched (bpf.EnfSideSrc or Dst)
	Prefix     netip.Prefix
	List       string
	Level      int
	Detail     FlowDetail // flow blocks: what decided it, when still known
	HaveDetail bool
	Family     uint8
}

// ReadActions reads the actions ring until ctx ends, calling fn for each
// record, stamped and named by dec as events are (the sensor's decoder:
// its interfaces, its clock that follows NTP steps).
func (e *Enforcer) ReadActions(ctx context.Context, dec *Decoder, fn func(*Action)) error {
	rd, err := ringbuf.NewReader(e.objs.Actions)
	if err != nil {
		return fmt.Errorf("reading the actions ring: %w", err)
	}
	go func() {
		<-ctx.Done()
		rd.Close()
	}()
	var rec ringbuf.Record
	for {
		if err := rd.ReadInto(&rec); err != nil {
			if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("reading the actions ring: %w", err)
		}
		a, err := e.decode(rec.RawSample)
		if err != nil {
			e.Stats.Errors.Add(1)
			continue
		}
		a.Time, a.Iface = dec.stamp(a.ts, a.Ifindex)
		fn(a)
	}
}

// decode reads one record of the actions ring (Time and Iface are the
// reader's to set).
func (e *Enforcer) decode(raw []byte) (*Action, error) {
	var ev bpf.EnfEvent
	if _, err := binary.Decode(raw, binary.NativeEndian, &ev); err != nil {
		return nil, fmt.Errorf("decoding an action record: %w", err)
	}
	return e.action(&ev), nil
}

// action decodes one record.
func (e *Enforcer) action(ev *bpf.EnfEvent) *Action {
	addr := func(b [16]byte) netip.Addr {
		a := netip.AddrFrom16(b)
		if ev.Family == 4 {
			a = a.Unmap()
		}
		return a
	}
	a := &Action{
		ts:      ev.TsNs,
		Ifindex: ev.Ifindex,
		Src:     netip.AddrPortFrom(addr(ev.Saddr), ev.Sport),
		Dst:     netip.AddrPortFrom(addr(ev.Daddr), ev.Dport),
		Proto:   ev.L4proto, Blocked: ev.Blocked != 0, Reset: ev.Reset != 0,
		What: ev.What, Side: ev.Side, Level: int(ev.Level), Family: ev.Family,
	}
	if lists := e.Lists(); int(ev.List) < len(lists) {
		a.List = lists[ev.List]
	}
	switch ev.What {
	case bpf.EnfWhatAddr:
		matched := a.Src.Addr()
		if ev.Side == bpf.EnfSideDst {
			matched = a.Dst.Addr()
		}
		if p, err := matched.Prefix(int(ev.Prefixlen)); err == nil {
			a.Prefix = p
		}
	case bpf.EnfWhatFlow:
		k := FlowKeyIn(a.Src, a.Dst, ev.L4proto, ev.Zone)
		a.Detail, a.HaveDetail = e.Detail(k)
		if a.HaveDetail && a.Detail.List != "" {
			a.List = a.Detail.List
		}
	}
	return a
}
