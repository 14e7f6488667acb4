package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/sensor"
)

func status(ifaces ...sensor.IfaceStatus) sensor.Status { return sensor.Status{Interfaces: ifaces} }

func iface(name string, packets, tls, quic uint64) sensor.IfaceStatus {
	return sensor.IfaceStatus{Iface: name, Counters: map[string]uint64{"packets": packets, "tls_events": tls, "quic_events": quic}}
}

func TestQuietWatch(t *testing.T) {
	w := newQuietWatch(10 * time.Minute)
	t0 := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

	// The first reading starts the clocks: nothing is quiet yet.
	if ch := w.observe(at(0), status(iface("eth0", 100, 5, 0), iface("eth1", 0, 0, 0))); len(ch) != 0 {
		t.Fatalf("first reading changed %v", ch)
	}
	// eth0 keeps seeing packets but no new handshakes; eth1 sees nothing.
	w.observe(at(5), status(iface("eth0", 200, 5, 0), iface("eth1", 0, 0, 0)))
	if err := w.err(at(5)); err != nil {
		t.Fatalf("quiet after 5 of 10 minutes: %v", err)
	}
	ch := w.observe(at(10), status(iface("eth0", 300, 5, 0), iface("eth1", 0, 0, 0)))
	want := map[string]bool{"eth0/handshakes": true, "eth1/packets": true, "eth1/handshakes": true}
	if len(ch) != len(want) {
		t.Fatalf("changes at 10 min: %+v", ch)
	}
	for _, c := range ch {
		if !c.Quiet || !want[c.Iface+"/"+c.What] {
			t.Fatalf("unexpected change %+v", c)
		}
	}
	// Interfaces are read in order: eth0's handshakes come first.
	if c := ch[0]; c.Iface != "eth0" || c.What != quietHandshakes || !c.Since.Equal(at(0)) {
		t.Fatalf("first change %+v, want eth0's handshakes, last moved at %v", c, at(0))
	}
	q := w.quiet()
	if strings.Join(q["eth0"], ",") != "handshakes" || strings.Join(q["eth1"], ",") != "packets,handshakes" {
		t.Fatalf("quiet() = %v", q)
	}
	err := w.err(at(10))
	if err == nil || !strings.Contains(err.Error(), "eth0: no TLS or QUIC handshakes for 10m0s") {
		t.Fatalf("health: %v", err)
	}
	// A QUIC handshake on eth0 and packets on eth1: both come back.
	ch = w.observe(at(11), status(iface("eth0", 400, 5, 1), iface("eth1", 1, 0, 0)))
	if len(ch) != 2 || ch[0].Quiet || ch[1].Quiet {
		t.Fatalf("recovery: %+v", ch)
	}
	if err := w.err(at(11)); err == nil || !strings.Contains(err.Error(), "eth1: no TLS or QUIC handshakes") {
		t.Fatalf("health after recovery: %v", err)
	}
	// A detached interface is health's business, not this watch's; and
	// an interface that leaves is forgotten.
	w.observe(at(12), status(iface("eth0", 500, 6, 1), sensor.IfaceStatus{Iface: "eth1", Error: "not attached"}))
	if _, ok := w.quiet()["eth1"]; ok {
		t.Fatal("a detached interface is still watched")
	}
	if err := w.err(at(12)); err != nil {
		t.Fatalf("health with eth0 alive: %v", err)
	}
}
