package sensor

import (
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
)

// Held downloads in the data plane: an HTTP flow is gated from the
// server's SYN-ACK and again by each request; server packets reaching the
// gate are emitted flagged held and dropped; userspace moves the gate;
// the kernel lets packets through once a gate held them hold_timeout
// without word (fail open); nothing is held outside block mode.
func TestPrivilegedHoldGates(t *testing.T) {
	h := newEnfHarness(t, "block")
	holds, err := NewHolds(h.objs, false)
	if err != nil {
		t.Fatal(err)
	}
	// Long enough that a loaded machine's pauses between a gate and the
	// packets it judges never reach it; the expiry step waits past it.
	if err := holds.SetTimeout(time.Second); err != nil {
		t.Fatal(err)
	}
	fl := datapath.Flow{Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:80")}
	synack := testutil.Pkt{Src: "10.0.0.2", Dst: "10.0.0.1", Sport: 80, Dport: 40000, Seq: 5000, Ack: 1001, Flags: "SA"}
	req := testutil.Pkt{Src: "10.0.0.1", Dst: "10.0.0.2", Sport: 40000, Dport: 80, Seq: 1001, Ack: 5001, Flags: "PA", Payload: []byte("GET / HTTP/1.1\r\n\r\n")}
	resp := func(seq uint32, n int, flags string) testutil.Pkt {
		return testutil.Pkt{Src: "10.0.0.2", Dst: "10.0.0.1", Sport: 80, Dport: 40000, Seq: seq, Ack: 1019, Flags: flags, Payload: make([]byte, n)}
	}
	held := func(name string, p testutil.Pkt, want bool) {
		t.Helper()
		before := h.counters()
		ret, gotHeld := h.runHeld(p.Frame())
		wantRet := uint32(xdpPass)
		if want {
			wantRet = xdpDrop
		}
		if ret != wantRet || gotHeld != want {
			t.Errorf("%s: verdict %d, held event %v; want %d, %v", name, ret, gotHeld, wantRet, want)
		}
		after := h.counters()
		d := after.Get(bpf.Counter(sensorCounterOf(t, "hold_diverted"))) - before.Get(bpf.Counter(sensorCounterOf(t, "hold_diverted")))
		if want != (d == 1) {
			t.Errorf("%s: hold_diverted rose by %d", name, d)
		}
	}
	held("syn-ack", synack, false)
	held("first response bytes: gated at the SYN-ACK", resp(5001, 100, "PA"), true)
	held("its retransmission", resp(5001, 100, "PA"), true)
	// A SYN-ACK inside the connection (forged, or a retransmission) does
	// not move its gate: the host answers it with a challenge ACK.
	forged := synack
	forged.Seq = 5001 + 1<<31
	held("a forged SYN-ACK", forged, false)
	held("still gated", resp(5001, 100, "PA"), true)
	// Userspace judged the head; the body's last byte is at 5001+999.
	if err := holds.Gate(fl, 5001+999, false); err != nil {
		t.Fatal(err)
	}
	held("body before the last byte", resp(5101, 899, "PA"), false)
	held("a pure ACK", resp(6000, 0, "A"), false)
	held("the segment with the last byte", resp(5901, 100, "PA"), true)
	// The gate came down to the held packet's first byte: another copy
	// of its bytes, let through first, would be what the client keeps.
	held("another copy of the held packet's bytes", resp(5950, 20, "PA"), true)
	held("a segment ending before the held packet", resp(5890, 11, "PA"), false)
	if err := holds.Gate(fl, 5001+999, false); err != nil {
		t.Fatal(err)
	}
	held("a segment ending just before the gate", resp(5999, 1, "PA"), false)
	held("an overlap reaching it", resp(5990, 11, "PA"), true)
	held("a later segment", resp(6001, 10, "PA"), true)
	held("a reset is never held", resp(6000, 0, "R"), false)
	// The kernel's own clock: past hold_timeout without a word, through.
	time.Sleep(1200 * time.Millisecond)
	before := h.counters()
	held("past hold_timeout: fail open", resp(5901, 100, "PA"), false)
	if d := h.counters().Get(bpf.Counter(sensorCounterOf(t, "hold_expired"))) - before.Get(bpf.Counter(sensorCounterOf(t, "hold_expired"))); d != 1 {
		t.Errorf("hold_expired rose by %d, want 1", d)
	}
	// From here on no step is about the clock: a timeout no pause of a
	// loaded machine reaches (map updates can take 100 ms).
	if err := holds.SetTimeout(time.Minute); err != nil {
		t.Fatal(err)
	}
	// A write from userspace restarts the clock.
	if err := holds.Gate(fl, 6000, false); err != nil {
		t.Fatal(err)
	}
	held("gate moved: the FIN after the body", resp(6000, 0, "FA"), true)
	if err := holds.Open(fl, 6001, 0); err != nil {
		t.Fatal(err)
	}
	held("open", resp(6001, 500, "PA"), false)
	// The next request gates at its acknowledgement.
	next := req
	next.Seq, next.Ack = 1019, 6501
	held("a request", next, false)
	held("before the request's ack", resp(6001, 500, "PA"), false)
	held("the response to it", resp(6501, 10, "PA"), true)
	// A request whose acknowledgement is far behind the gate is no
	// request of this connection: it would put the gate behind every byte
	// to come.
	forgedReq := next
	forgedReq.Ack = uint32(6501 + 1<<31 + 10)
	held("a forged request", forgedReq, false)
	held("gate unmoved", resp(6501, 10, "PA"), true)
	// An Open decided on a packet older than the request (a pipelined
	// request that passed while userspace read the response before) does
	// not undo the request's gate; one decided after it does.
	if err := holds.Open(fl, 6501, 1); err != nil {
		t.Fatal(err)
	}
	held("an Open older than the request", resp(6501, 10, "PA"), true)
	if err := holds.Open(fl, 6501, monoNow()); err != nil {
		t.Fatal(err)
	}
	held("an Open newer than the request", resp(6501, 10, "PA"), false)
	if err := holds.Gate(fl, 6501, false); err != nil {
		t.Fatal(err)
	}
	// A server that sends before the request is held from its SYN-ACK:
	// on a new tuple, the gate comes from the SYN-ACK alone.
	fl2 := synack
	fl2.Dport = 40001
	held("syn-ack 2", fl2, false)
	early := resp(5001, 300, "PA")
	early.Dport = 40001
	held("data before any request", early, true)
	// Not watched: never held.
	other := resp(5001, 100, "PA")
	other.Sport = 8443
	held("unwatched port", other, false)
	// Nothing more to judge (an upgrade): requests gate nothing again.
	if err := holds.Stop(fl); err != nil {
		t.Fatal(err)
	}
	held("stopped", resp(6501, 10, "PA"), false)
	again := next
	again.Seq, again.Ack = 1100, 6511
	held("a request after the stop", again, false)
	held("its response is not held", resp(6511, 10, "PA"), false)
	// A new connection on the tuple, its SYN-ACK confirming the client's
	// new SYN: the gate starts again at the new first byte.
	held("new syn", testutil.Pkt{Src: "10.0.0.1", Dst: "10.0.0.2", Sport: 40000, Dport: 80, Seq: 70000, Flags: "S"}, false)
	held("its syn-ack", testutil.Pkt{Src: "10.0.0.2", Dst: "10.0.0.1", Sport: 80, Dport: 40000, Seq: 90000, Ack: 70001, Flags: "SA"}, false)
	held("the new connection's first bytes", resp(90001, 100, "PA"), true)
	// SMTP: the client's bytes are gated, from the SYN-ACK's
	// acknowledgement; the server's are not.
	smtpSynack := testutil.Pkt{Src: "10.0.0.2", Dst: "10.0.0.1", Sport: 25, Dport: 40002, Seq: 9000, Ack: 3001, Flags: "SA"}
	held("smtp syn-ack", smtpSynack, false)
	held("smtp greeting", testutil.Pkt{Src: "10.0.0.2", Dst: "10.0.0.1", Sport: 25, Dport: 40002, Seq: 9001, Ack: 3001, Flags: "PA", Payload: []byte("220 hi\r\n")}, false)
	mail := testutil.Pkt{Src: "10.0.0.1", Dst: "10.0.0.2", Sport: 40002, Dport: 25, Seq: 3001, Ack: 9009, Flags: "PA", Payload: []byte("EHLO x\r\n")}
	held("smtp command", mail, true)
	smtp := datapath.Flow{Client: netip.MustParseAddrPort("10.0.0.1:40002"), Server: netip.MustParseAddrPort("10.0.0.2:25")}
	if err := holds.Gate(smtp, 3009, true); err != nil {
		t.Fatal(err)
	}
	held("smtp command, judged", mail, false)
	mail.Seq = 3009
	held("smtp next command", mail, true)

	// Allowlists win: an allowlisted address's packets are not held.
	if err := h.enf.Replace(&enforce.Tables{Lists: []string{"x"}, Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}}); err != nil {
		t.Fatal(err)
	}
	held("allowlisted client", resp(90001, 10, "PA"), false)
	if err := h.enf.Replace(&enforce.Tables{Lists: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	held("allowlist gone", resp(90001, 10, "PA"), true)

	// A reader behind (bytes waiting in the streams ring past
	// hold_max_backlog): nothing is held, so nothing waits on it.
	if err := holds.SetMaxBacklog(1); err != nil {
		t.Fatal(err)
	}
	before = h.counters()
	if _, err := h.objs.Program.Run(&ebpf.RunOptions{Data: resp(90001, 10, "PA").Frame()}); err != nil { // held: a record waits
		t.Fatal(err)
	}
	if ret, err := h.objs.Program.Run(&ebpf.RunOptions{Data: resp(90001, 10, "PA").Frame()}); err != nil || ret != xdpPass {
		t.Errorf("reader behind: verdict %d, %v; want XDP_PASS", ret, err)
	}
	if d := h.counters().Get(bpf.Counter(sensorCounterOf(t, "hold_busy"))) - before.Get(bpf.Counter(sensorCounterOf(t, "hold_busy"))); d != 1 {
		t.Errorf("hold_busy rose by %d, want 1", d)
	}
	h.drain()
	if err := holds.SetMaxBacklog(0); err != nil {
		t.Fatal(err)
	}
	held("reader caught up", resp(90001, 10, "PA"), true)

	// Monitor mode holds nothing.
	if err := h.enf.SetMode(enforce.Monitor); err != nil {
		t.Fatal(err)
	}
	held("monitor", resp(90001, 10, "PA"), false)
	if err := h.enf.SetMode(enforce.Block); err != nil {
		t.Fatal(err)
	}
	held("block again", resp(90001, 10, "PA"), true)
	if err := holds.SetTimeout(0); err != nil {
		t.Fatal(err)
	}
	held("hold_timeout 0", resp(90001, 10, "PA"), false)
}

// A held frame userspace sends through the program again (Resend) is
// counted once as a packet, when it came in: resent apart; the rest of
// the data plane treats it as any (a ClientHello is tracked).
func TestPrivilegedResentCountedOnce(t *testing.T) {
	h := newHarness(t, nil)
	frame := testutil.Pkt{Sport: 40000, Dport: 443}.With(1, "PA", testutil.ClientHello(200)).Frame()
	packets := func() uint64 { return h.counters().Get(bpf.CounterPackets) }
	bytes := func() uint64 { return h.counters().Get(bpf.CounterBytes) }
	resent := func() uint64 { return h.counters().Get(bpf.Counter(sensorCounterOf(t, "resent"))) }
	p0, b0, r0 := packets(), bytes(), resent()
	if _, err := newProgRunner(h.objs.Program).runAt(markFrame(nil, frame, bpf.ResendMagic), 4, 1); err != nil {
		t.Fatal(err)
	}
	if p, b, r := packets()-p0, bytes()-b0, resent()-r0; p != 0 || b != 0 || r != 1 {
		t.Errorf("resent frame: packets +%d, bytes +%d, resent +%d; want +0, +0, +1", p, b, r)
	}
	evs := h.drain()
	if len(evs) != 1 || evs[0].Class != datapath.ClassTLS {
		t.Errorf("resent ClientHello: %d events, want its TLS event", len(evs))
	}
	h.run(frame)
	if p, b, r := packets()-p0, bytes()-b0, resent()-r0; p != 1 || b != uint64(len(frame)) || r != 1 {
		t.Errorf("then the frame as received: packets +%d, bytes +%d, resent +%d; want +1, +%d, +1", p, b, r, len(frame))
	}
}
