// The hello gate through the real program: a ClientHello's server packets
// are held until userspace judges the hello, then pass; a blocked flow's
// held packet comes back as the client's reset; the kernel's own clock
// lets them through; allowlists and other modes hold nothing.

package sensor

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
)

func TestPrivilegedHelloGate(t *testing.T) {
	h := newEnfHarness(t, "block")
	if err := h.enf.Replace(&enforce.Tables{Lists: []string{"c2"}, Allow: []netip.Prefix{netip.MustParsePrefix("10.0.9.0/24")}}); err != nil {
		t.Fatal(err)
	}
	if err := h.enf.SetHelloHold(time.Second); err != nil {
		t.Fatal(err)
	}
	count := func(name string) uint64 { return h.counters().Get(bpf.Counter(sensorCounterOf(t, name))) }
	ch := testutil.ClientHello(300)
	sh := append(testutil.ServerHello(90), testutil.TLSRecord(20, []byte{1})...)
	sh = append(sh, testutil.AppData(200)...)
	type step struct {
		name string
		p    testutil.Pkt
		want uint32 // the program's action
		held bool   // an event flagged held
	}
	run := func(steps ...step) {
		t.Helper()
		for _, s := range steps {
			ret, held := h.runHeld(s.p.Frame())
			if ret != s.want || held != s.held {
				t.Errorf("%s: action %d, held event %v; want %d, %v", s.name, ret, held, s.want, s.held)
			}
		}
	}
	flow := func(port uint16) (testutil.Pkt, testutil.Pkt, datapath.Flow) {
		c := testutil.Pkt{Src: "10.0.0.1", Dst: "10.0.0.2", Sport: port, Dport: 443, Seq: 1001, Ack: 5001, Flags: "PA", Payload: ch}
		s := c.Reply(5001, 1001+uint32(len(ch)), "PA", sh)
		src, dst := c.Endpoints()
		return c, s, datapath.Flow{Client: src, Server: dst}
	}

	// Judged harmless: held until the release, then through.
	c, s, fl := flow(40000)
	run(step{"client hello", c, xdpPass, false},
		step{"server flight before the verdict", s, xdpDrop, true},
		step{"its retransmission", s, xdpDrop, true},
		step{"server's bare ACK", s.With(5001, "A", nil), xdpPass, false})
	if n := count("hello_gated"); n != 1 {
		t.Errorf("hello_gated %d, want 1", n)
	}
	if n := count("hello_held"); n != 2 {
		t.Errorf("hello_held %d, want 2", n)
	}
	// An older hello's word (another first sequence number) opens no
	// newer gate.
	if err := h.enf.ReleaseHello(fl, 6, 7); err != nil {
		t.Fatal(err)
	}
	run(step{"server flight after a stale release", s, xdpDrop, true})
	if err := h.enf.ReleaseHello(fl, 6, c.Seq); err != nil {
		t.Fatal(err)
	}
	run(step{"server flight after the release", s, xdpPass, false})
	// A budget raised later keeps the release.
	w := NewHSVerdictWriter(h.objs.HSVerdicts)
	if err := w.ExtendHandshake(fl, 6, 100, 1<<20); err != nil {
		t.Fatal(err)
	}
	run(step{"after a budget raise", s.With(5001+uint32(len(sh)), "PA", testutil.AppData(100)), xdpPass, false})

	// Blocked: the held packet, sent through again, is the client's reset.
	c, s, fl = flow(40001)
	run(step{"client hello", c, xdpPass, false}, step{"server flight", s, xdpDrop, true})
	if err := h.enf.BlockFlow(fl, 6, "c2", time.Minute, FlowDetail{}); err != nil {
		t.Fatal(err)
	}
	if !h.enf.FlowBlocked(fl, 6) || h.enf.FlowBlocked(datapath.Flow{Client: fl.Server, Server: fl.Client}, 6) == false {
		t.Errorf("FlowBlocked does not see the block (either way round)")
	}
	ret, out := h.verdict(s.Frame())
	if ret != xdpPass {
		t.Fatalf("held packet of a blocked flow, sent again: action %d, want a reset passed on", ret)
	}
	checkForwardReset(t, s, out)

	// QUIC: the server's Initials wait for the client's hello; the
	// client's own go on.
	qc := testutil.Pkt{Src: "10.0.0.1", Dst: "10.0.0.2", UDP: true, Sport: 40010, Dport: 443, Payload: testutil.QUICInitial(1)}
	qs := qc.Reply(0, 0, "", testutil.QUICInitial(1))
	qsrc, qdst := qc.Endpoints()
	run(step{"QUIC client Initial", qc, xdpPass, false},
		step{"QUIC server Initial before the verdict", qs, xdpDrop, true})
	// Client Initials spending the flow's budget do not open it.
	for i := 0; i < h.cfg.Capture.QUICInitials+2; i++ {
		run(step{fmt.Sprintf("QUIC client Initial %d", i), qc, xdpPass, false})
	}
	run(step{"QUIC server Initial past the budget", qs, xdpDrop, true})
	if err := h.enf.ReleaseHello(datapath.Flow{Client: qsrc, Server: qdst}, 17, 0); err != nil {
		t.Fatal(err)
	}
	run(step{"QUIC server Initial after the release", qs, xdpPass, false})

	gated := count("hello_gated")
	// The server cannot lower the gate by ending the tracking: its RST
	// (believed: it has sent nothing yet), FIN or a junk record.
	for i, end := range []testutil.Pkt{s.With(5001, "RA", nil), s.With(5001, "FA", nil), s.With(5001, "PA", []byte("junk, no TLS record"))} {
		c, s, _ := flow(uint16(40020 + i))
		run(step{"client hello", c, xdpPass, false})
		end.Sport, end.Dport = s.Sport, s.Dport
		ret, err := h.objs.Program.Run(&ebpf.RunOptions{Data: end.Frame()})
		if err != nil {
			t.Fatal(err)
		}
		h.drain()
		run(step{fmt.Sprintf("server flight after the server's end %d (action %d)", i, ret), s, xdpDrop, true})
		gated++
	}
	// A hello in pieces too short to tell (a record header cut short)
	// raises the gate too.
	c, s, _ = flow(40030)
	head, rest := c, c
	head.Payload, rest.Payload, rest.Seq = ch[:3], ch[3:], c.Seq+3
	run(step{"3 bytes of a hello", head, xdpPass, false}, step{"the rest", rest, xdpPass, false},
		step{"server flight", s, xdpDrop, true})
	gated++
	if n := count("hello_gated"); n != gated {
		t.Errorf("hello_gated %d, want %d", n, gated)
	}
	total := gated

	// No verdict within hello_hold: the kernel lets the server through.
	if err := h.enf.SetHelloHold(20 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	c, s, _ = flow(40002)
	run(step{"client hello", c, xdpPass, false}, step{"server flight", s, xdpDrop, true})
	time.Sleep(30 * time.Millisecond)
	run(step{"server flight past hello_hold", s, xdpPass, false})
	if n := count("hello_expired"); n != 1 {
		t.Errorf("hello_expired %d, want 1", n)
	}

	// Allowlisted, monitor mode, or the gate off: nothing held.
	if err := h.enf.SetHelloHold(time.Second); err != nil {
		t.Fatal(err)
	}
	c, s, _ = flow(40003)
	c.Src, s.Dst = "10.0.9.1", "10.0.9.1"
	run(step{"allowlisted client's hello", c, xdpPass, false}, step{"its server", s, xdpPass, false})
	if err := h.enf.SetMode(enforce.Monitor); err != nil {
		t.Fatal(err)
	}
	c, s, _ = flow(40004)
	run(step{"monitor: hello", c, xdpPass, false}, step{"monitor: server", s, xdpPass, false})
	if err := h.enf.SetMode(enforce.Block); err != nil {
		t.Fatal(err)
	}
	if err := h.enf.SetHelloHold(0); err != nil {
		t.Fatal(err)
	}
	c, s, _ = flow(40005)
	run(step{"gate off: hello", c, xdpPass, false}, step{"gate off: server", s, xdpPass, false})
	// The daemon no longer says it lives: no gate (its own clock).
	if err := h.enf.SetHelloHold(time.Second); err != nil {
		t.Fatal(err)
	}
	if err := h.objs.HelloAliveUntil.Set(monoNow() - 1); err != nil {
		t.Fatal(err)
	}
	c, s, _ = flow(40006)
	run(step{"daemon silent: hello", c, xdpPass, false}, step{"daemon silent: server", s, xdpPass, false})
	if n := count("hello_gated"); n != total+1 {
		t.Errorf("hello_gated %d, want %d (the expiring one; the allowlisted, monitored, ungated and unrenewed hellos not)", n, total+1)
	}
}
