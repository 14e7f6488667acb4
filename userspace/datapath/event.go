// Package datapath defines what the data plane hands to the analysis: one
// Event per emitted packet, and the Pipeline that consumes them. It has no
// BPF in it, so analysis packages and their tests stay pure Go.
package datapath

import (
	"net/netip"
	"time"
)

// Class says why the data plane emitted a packet.
type Class uint8

// Classes; the values are those of enum ev_class in bpf/types.h (a test in
// package sensor keeps them equal).
const (
	ClassTLS    Class = 1 // a TCP packet inside a TLS handshake
	ClassQUIC   Class = 2 // a QUIC Initial packet
	ClassStream Class = 3 // a packet of a watched file-port flow
	ClassFrag   Class = 4 // an IP fragment, for userspace to reassemble
)

// String names the class as it appears in events.
func (c Class) String() string {
	switch c {
	case ClassTLS:
		return "tls"
	case ClassQUIC:
		return "quic"
	case ClassStream:
		return "stream"
	case ClassFrag:
		return "fragment"
	}
	return "unknown"
}

// Flags are the per-event flags of the data plane (enum ev_flag).
type Flags uint8

// Flag bits.
const (
	FlagFromClient Flags = 1 << 0 // the packet travels client -> server
	FlagLost       Flags = 1 << 1 // earlier events of this flow were lost
	FlagSnapCut    Flags = 1 << 2 // the frame was longer than the snaplen
	FlagFlowNew    Flags = 1 << 3 // first event of the flow in this class
	FlagBudget     Flags = 1 << 4 // the flow spent a budget: data is missing
	FlagHSDone     Flags = 1 << 5 // TLS: this packet ended handshake tracking
	FlagTruncated  Flags = 1 << 6 // the IP header claims more than the frame holds
	FlagReinjected Flags = 1 << 7 // userspace re-injected the frame (a reassembled datagram)
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{FlagLost, "lost"}, {FlagSnapCut, "snap_cut"}, {FlagFlowNew, "flow_new"},
	{FlagBudget, "budget"}, {FlagHSDone, "handshake_done"}, {FlagTruncated, "truncated"},
	{FlagReinjected, "reassembled"},
}

// Names lists the set flags other than FlagFromClient (which is a
// direction, not a condition), calling fn for each.
func (f Flags) Names(fn func(string)) {
	for _, n := range flagNames {
		if f&n.f != 0 {
			fn(n.name)
		}
	}
}

// TCP flag bits as in the TCP header.
const (
	TCPFin = 0x01
	TCPSyn = 0x02
	TCPRst = 0x04
	TCPPsh = 0x08
	TCPAck = 0x10
	TCPUrg = 0x20
)

// Csum is what the data plane found of a packet's checksums (enum
// csum_state), where it looked.
type Csum uint8

// Checksum states.
const (
	CsumUnchecked Csum = 0
	CsumOK        Csum = 1
	CsumPartial   Csum = 2 // only the pseudo-header sum: a sender's offload left it
	CsumBad       Csum = 3
)

// IP protocol numbers.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// Event is one packet the data plane emitted. Frame and Payload point into
// a buffer that is reused after Shard.Handle returns: copy what you keep.
type Event struct {
	Time      time.Time
	Mono      uint64 // the data plane's time stamp (CLOCK_MONOTONIC ns), Time's source
	Interface string // ingress interface name
	Ifindex   uint32
	Class     Class
	Flags     Flags
	State     uint8 // stream or TLS state in the data plane at emission
	Proto     uint8 // ProtoTCP or ProtoUDP
	TCPFlags  uint8
	Src, Dst  netip.AddrPort // as the packet travels
	Seq, Ack  uint32
	// Zone is the tunnel identity the data plane keys the flow with (0 for
	// none): VXLAN/Geneve VNI, GRE key, the outer pair of keyless tunnels,
	// and the VLAN ids and PPPoE session with capture.vlan_tracking.
	Zone uint32
	// Tunnels is the number of tunnel layers around the packet.
	Tunnels uint8
	// Csum is the data plane's checksum finding (unchecked for most).
	Csum     Csum
	VLAN     [2]uint16
	Lost     uint16 // events of this flow lost so far
	FrameLen int    // frame length on the wire
	Frame    []byte // the captured frame, from the Ethernet header
	// L3Off and L4Off are the offsets in Frame of the (innermost) IP
	// header and the TCP/UDP header; for a fragment, L3Off is the
	// fragmented IP header.
	L3Off, L4Off int
	Payload      []byte // the L4 payload present in Frame
	// PayloadLen is the payload length per the IP header; it exceeds
	// len(Payload) when the frame was cut or truncated.
	PayloadLen int
}

// StateHeld is the bit of Event.State (EV_STATE_HELD) that says the data
// plane held the packet: it dropped it after the copy, and the packet
// reaches its destination only if userspace hands it on.
const StateHeld = 0x80

// StateSealed is the bit of a TLS Event.State (EV_STATE_SEALED) that says
// every byte of the packet is past its direction's plaintext handshake:
// a hole before it holds nothing the analysis reads (a lost record that
// could sets the lost flag).
const StateSealed = 0x40

// Held reports whether the data plane held the packet (StateHeld).
func (e *Event) Held() bool { return e.State&StateHeld != 0 }

// FromClient reports whether the packet travels client -> server.
func (e *Event) FromClient() bool { return e.Flags&FlagFromClient != 0 }

// Client returns the flow's client (initiator) endpoint.
func (e *Event) Client() netip.AddrPort {
	if e.FromClient() {
		return e.Src
	}
	return e.Dst
}

// Server returns the flow's server endpoint.
func (e *Event) Server() netip.AddrPort {
	if e.FromClient() {
		return e.Dst
	}
	return e.Src
}

// UnixNano is the capture time in Unix ns, 0 when not known.
func (e *Event) UnixNano() int64 {
	if e.Time.IsZero() {
		return 0
	}
	return e.Time.UnixNano()
}

// Complete reports whether the whole payload is in the event.
func (e *Event) Complete() bool { return len(e.Payload) == e.PayloadLen }

// FlowHash is a hash of the 5-tuple and zone that is the same in both
// directions, so both directions of a flow land on the same shard.
func (e *Event) FlowHash() uint64 {
	return FlowHash(e.Src, e.Dst, e.Proto) ^ uint64(e.Zone)*0x9e3779b97f4a7c15
}

// FlowHash hashes a 5-tuple symmetrically (FNV-1a over the XOR of the two
// endpoints, which is direction-free).
func FlowHash(a, b netip.AddrPort, proto uint8) uint64 {
	x, y := a.Addr().As16(), b.Addr().As16()
	h := uint64(14695981039346656037)
	for i := 0; i < 16; i++ {
		h ^= uint64(x[i] ^ y[i])
		h *= 1099511628211
	}
	h ^= uint64(a.Port() ^ b.Port())
	h *= 1099511628211
	h ^= uint64(a.Port()) * uint64(b.Port())
	h *= 1099511628211
	h ^= uint64(proto)
	h *= 1099511628211
	return h
}

// Pipeline analyses events. The dispatcher makes one Shard per worker and
// sends every event of a flow, both directions, to the same shard in the
// order the data plane emitted them.
type Pipeline interface {
	NewShard(id int) Shard
}

// Shard is one worker's share of the analysis. Its methods are called from
// one goroutine only.
type Shard interface {
	// Handle analyses one event; ev is only valid during the call.
	Handle(ev *Event)
	// Tick lets the shard expire state; now is wall time when live and
	// capture time in replay.
	Tick(now time.Time)
	// Close flushes whatever the shard still holds.
	Close()
}

// Flow names a connection: its client, its server, and the zone (the
// tunnel it travels in, Event.Zone) that tells apart connections with the
// same addresses in different tunnels.
type Flow struct {
	Client, Server netip.AddrPort
	Zone           uint32
}

// Verdicts lets the analysis steer the data plane for a stream flow once it
// knows what the flow carries.
type Verdicts interface {
	// Capture emits the flow until it has emitted byteLimit payload
	// bytes in all (0: the configured stream budget).
	Capture(fl Flow, byteLimit uint64) error
	// Skip keeps [seq, seq+length) of one direction in the kernel (the
	// body of a response that is not a candidate), then emits again, up
	// to byteLimit payload bytes in all (0: the configured budget).
	Skip(fl Flow, fromServer bool, seq, length uint32, byteLimit uint64) error
	// Ignore emits nothing more of the flow but SYN, FIN and RST.
	Ignore(fl Flow) error
	// Forget drops the verdict: the flow ended, or is new again.
	Forget(fl Flow) error
}

// HandshakeVerdicts lets the handshake analysis, which reads the
// reassembled bytes, steer the data plane for a handshake. proto is
// ProtoTCP (TLS) or ProtoUDP (QUIC).
type HandshakeVerdicts interface {
	// EndHandshake stops emitting the handshake: it was read whole, or
	// the flow is no TLS (notTLS).
	EndHandshake(fl Flow, proto uint8, notTLS bool) error
	// ExtendHandshake raises the handshake's budget (a hello still
	// coming in small pieces).
	ExtendHandshake(fl Flow, proto uint8, packets, bytes uint32) error
	// ForgetHandshake drops the verdict once the event is written.
	ForgetHandshake(fl Flow, proto uint8) error
}

// TCPHeader reads what the analysis needs of ev's TCP header beyond what
// the data plane put in the event: the window field, the urgent pointer
// and, on a SYN, the window scale option (-1 when absent). ok is false
// when the header is not in the frame.
func (e *Event) TCPHeader() (window, urgent uint16, wscale int8, ok bool) {
	f, l4 := e.Frame, e.L4Off
	if e.Proto != ProtoTCP || l4 <= 0 || l4+20 > len(f) {
		return 0, 0, -1, false
	}
	window = uint16(f[l4+14])<<8 | uint16(f[l4+15])
	urgent = uint16(f[l4+18])<<8 | uint16(f[l4+19])
	wscale = -1
	if e.TCPFlags&TCPSyn == 0 {
		return window, urgent, wscale, true
	}
	doff := int(f[l4+12]>>4) * 4
	if doff < 20 || l4+doff > len(f) {
		return window, urgent, wscale, true
	}
	opts := f[l4+20 : l4+doff]
	for len(opts) > 0 {
		switch opts[0] {
		case 0: // end of options
			return window, urgent, wscale, true
		case 1: // no-op
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
			break
		}
		if opts[0] == 3 && opts[1] == 3 {
			wscale = int8(min(opts[2], 14))
		}
		opts = opts[opts[1]:]
	}
	return window, urgent, wscale, true
}

// Flow names the connection of ev.
func (e *Event) Flow() Flow { return Flow{Client: e.Client(), Server: e.Server(), Zone: e.Zone} }
