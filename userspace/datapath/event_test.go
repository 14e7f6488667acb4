package datapath

import (
	"net/netip"
	"testing"
)

func TestFlowHashIsSymmetric(t *testing.T) {
	pairs := [][2]string{
		{"10.0.0.1:1234", "10.0.0.2:80"},
		{"[2001:db8::1]:443", "[2001:db8::2]:50000"},
		{"10.0.0.1:80", "10.0.0.1:8080"},
	}
	seen := map[uint64]bool{}
	for _, p := range pairs {
		a, b := netip.MustParseAddrPort(p[0]), netip.MustParseAddrPort(p[1])
		h := FlowHash(a, b, ProtoTCP)
		if h != FlowHash(b, a, ProtoTCP) {
			t.Errorf("%v: hash differs by direction", p)
		}
		if h == FlowHash(a, b, ProtoUDP) {
			t.Errorf("%v: TCP and UDP hash alike", p)
		}
		if seen[h] {
			t.Errorf("%v: collides with another pair", p)
		}
		seen[h] = true
	}
}

func TestClientServerFromDirection(t *testing.T) {
	a, b := netip.MustParseAddrPort("10.0.0.1:1234"), netip.MustParseAddrPort("10.0.0.2:80")
	ev := Event{Src: b, Dst: a}
	if ev.Client() != a || ev.Server() != b {
		t.Error("server-to-client packet: wrong client")
	}
	ev.Flags = FlagFromClient
	ev.Src, ev.Dst = a, b
	if ev.Client() != a || ev.Server() != b {
		t.Error("client-to-server packet: wrong client")
	}
}
