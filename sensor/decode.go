package sensor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// Offsets of the ring-record header, taken from the bpf2go-generated type so
// they can never drift from the C struct.
var (
	hdrSize        = int(unsafe.Sizeof(bpf.Event{}))
	offTs          = int(unsafe.Offsetof(bpf.Event{}.TsNs))
	offIfindex     = int(unsafe.Offsetof(bpf.Event{}.Ifindex))
	offPktLen      = int(unsafe.Offsetof(bpf.Event{}.PktLen))
	offSeq         = int(unsafe.Offsetof(bpf.Event{}.Seq))
	offAck         = int(unsafe.Offsetof(bpf.Event{}.Ack))
	offSaddr       = int(unsafe.Offsetof(bpf.Event{}.Saddr))
	offDaddr       = int(unsafe.Offsetof(bpf.Event{}.Daddr))
	offSport       = int(unsafe.Offsetof(bpf.Event{}.Sport))
	offDport       = int(unsafe.Offsetof(bpf.Event{}.Dport))
	offCapLen      = int(unsafe.Offsetof(bpf.Event{}.CapLen))
	offPayloadOff  = int(unsafe.Offsetof(bpf.Event{}.PayloadOff))
	offPayloadLen  = int(unsafe.Offsetof(bpf.Event{}.PayloadLen))
	offVlan        = int(unsafe.Offsetof(bpf.Event{}.Vlan))
	offZone        = int(unsafe.Offsetof(bpf.Event{}.Zone))
	offL3Off       = int(unsafe.Offsetof(bpf.Event{}.L3Off))
	offL4Off       = int(unsafe.Offsetof(bpf.Event{}.L4Off))
	offTunnels     = int(unsafe.Offsetof(bpf.Event{}.Tunnels))
	offCsum        = int(unsafe.Offsetof(bpf.Event{}.Csum))
	offLost        = int(unsafe.Offsetof(bpf.Event{}.Lost))
	offClass       = int(unsafe.Offsetof(bpf.Event{}.Class))
	offFlags       = int(unsafe.Offsetof(bpf.Event{}.Flags))
	offTCPFlags    = int(unsafe.Offsetof(bpf.Event{}.TcpFlags))
	offL4proto     = int(unsafe.Offsetof(bpf.Event{}.L4proto))
	offFamily      = int(unsafe.Offsetof(bpf.Event{}.Family))
	offState       = int(unsafe.Offsetof(bpf.Event{}.State))
	errShortRecord = errors.New("ring record shorter than its header")
)

// RecordHeaderSize is the size of the fixed header before the frame bytes.
func RecordHeaderSize() int { return hdrSize }

// Decoder turns ring records into events. It is cheap to copy and safe for
// concurrent use once built.
type Decoder struct {
	// monoToWall is wall-clock ns minus CLOCK_MONOTONIC ns.
	monoToWall atomic.Int64
	names      map[uint32]string
	fallback   string
}

// NewDecoder builds a decoder. names maps ifindex to interface names;
// fallback names any other index (replay has no interfaces).
func NewDecoder(names map[uint32]string, fallback string) *Decoder {
	d := &Decoder{names: names, fallback: fallback}
	d.RefreshClock()
	return d
}

// RefreshClock retakes the offset between the monotonic clock of the
// data plane's timestamps and wall-clock time, which moves when NTP steps.
func (d *Decoder) RefreshClock() { d.monoToWall.Store(monoToWallOffset()) }

// stamp converts a data-plane time stamp and interface index as Decode
// does: wall time, and the interface's name.
func (d *Decoder) stamp(tsNs uint64, ifindex uint32) (time.Time, string) {
	name, ok := d.names[ifindex]
	if !ok {
		name = d.fallback
	}
	return time.Unix(0, int64(tsNs)+d.monoToWall.Load()), name
}

// Decode fills ev from one ring record without allocating. ev.Frame and
// ev.Payload alias raw.
func (d *Decoder) Decode(raw []byte, ev *datapath.Event) error {
	if len(raw) < hdrSize {
		return errShortRecord
	}
	ne := binary.NativeEndian
	capLen := int(ne.Uint16(raw[offCapLen:]))
	if hdrSize+capLen > len(raw) {
		return fmt.Errorf("ring record holds %d frame bytes, header claims %d", len(raw)-hdrSize, capLen)
	}
	frame := raw[hdrSize : hdrSize+capLen]
	payOff := int(ne.Uint16(raw[offPayloadOff:]))
	payLen := int(ne.Uint16(raw[offPayloadLen:]))
	if payOff > capLen {
		return fmt.Errorf("payload offset %d beyond %d captured bytes", payOff, capLen)
	}
	l3, l4 := int(ne.Uint16(raw[offL3Off:])), int(ne.Uint16(raw[offL4Off:]))
	if l3 > capLen || l4 > capLen {
		return fmt.Errorf("header offsets %d/%d beyond %d captured bytes", l3, l4, capLen)
	}
	end := min(payOff+payLen, capLen)

	ev.Ifindex = ne.Uint32(raw[offIfindex:])
	ev.Mono = ne.Uint64(raw[offTs:])
	ev.Time, ev.Interface = d.stamp(ev.Mono, ev.Ifindex)
	ev.Class = datapath.Class(raw[offClass])
	ev.Flags = datapath.Flags(raw[offFlags])
	ev.State = raw[offState]
	ev.Proto = raw[offL4proto]
	ev.TCPFlags = raw[offTCPFlags]
	ev.Seq = ne.Uint32(raw[offSeq:])
	ev.Ack = ne.Uint32(raw[offAck:])
	ev.Zone = ne.Uint32(raw[offZone:])
	ev.Tunnels = raw[offTunnels]
	ev.Csum = datapath.Csum(raw[offCsum])
	ev.L3Off, ev.L4Off = l3, l4
	ev.VLAN[0] = ne.Uint16(raw[offVlan:])
	ev.VLAN[1] = ne.Uint16(raw[offVlan+2:])
	ev.Lost = ne.Uint16(raw[offLost:])
	ev.FrameLen = int(ne.Uint32(raw[offPktLen:]))
	ev.Frame = frame
	ev.Payload = frame[payOff:end]
	ev.PayloadLen = payLen
	src := netip.AddrFrom16([16]byte(raw[offSaddr : offSaddr+16]))
	dst := netip.AddrFrom16([16]byte(raw[offDaddr : offDaddr+16]))
	if raw[offFamily] == 4 {
		src, dst = src.Unmap(), dst.Unmap()
	}
	ev.Src = netip.AddrPortFrom(src, ne.Uint16(raw[offSport:]))
	ev.Dst = netip.AddrPortFrom(dst, ne.Uint16(raw[offDport:]))
	return nil
}
