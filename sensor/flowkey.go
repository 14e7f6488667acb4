package sensor

import (
	"encoding/binary"
	"net/netip"

	"github.com/edgesensor/edgesensor/bpf"
)

// FlowKeyOf builds the data plane's canonical key for a flow, exactly as
// make_key() in sensor.c does: addresses as IPv6 words (IPv4 mapped)
// compared as the kernel loads them, then ports; the lower endpoint is a.
func FlowKeyOf(x, y netip.AddrPort, proto uint8) bpf.FlowKey {
	return FlowKeyIn(x, y, proto, 0)
}

// FlowKeyIn is FlowKeyOf for a flow in a zone (a tunnel; see
// datapath.Event.Zone).
func FlowKeyIn(x, y netip.AddrPort, proto uint8, zone uint32) bpf.FlowKey {
	k, _ := flowKey(x, y, proto, zone)
	return k
}

// flowKey is FlowKeyIn, also saying whether x became endpoint a.
func flowKey(x, y netip.AddrPort, proto uint8, zone uint32) (bpf.FlowKey, bool) {
	xa, ya := x.Addr().As16(), y.Addr().As16()
	xIsA := true
	decided := false
	for i := 0; i < 4; i++ {
		xw := binary.NativeEndian.Uint32(xa[i*4:])
		yw := binary.NativeEndian.Uint32(ya[i*4:])
		if xw != yw {
			xIsA, decided = xw < yw, true
			break
		}
	}
	if !decided {
		xIsA = x.Port() <= y.Port()
	}
	if !xIsA {
		x, y = y, x
		xa, ya = ya, xa
	}
	var k bpf.FlowKey
	for i := 0; i < 4; i++ {
		k.AddrA[i] = binary.NativeEndian.Uint32(xa[i*4:])
		k.AddrB[i] = binary.NativeEndian.Uint32(ya[i*4:])
	}
	k.PortA, k.PortB, k.Proto, k.Zone = x.Port(), y.Port(), proto, zone
	return k, xIsA
}
