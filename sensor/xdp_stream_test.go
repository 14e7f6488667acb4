package sensor

import (
	"testing"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
)

func TestPrivilegedStreamStates(t *testing.T) {
	h := newHarness(t, nil)
	vw := NewVerdictWriter(h.objs.StreamVerdicts)
	c, s := web, web.Reply(0, 0, "", nil)
	cl, sv := c.Endpoints()

	evs := h.runAll(c.With(100, "S", nil).Frame(), s.With(500, "SA", nil).Frame(), c.With(101, "A", nil).Frame())
	if len(evs) != 2 || !evs[0].FromClient() || evs[1].FromClient() || evs[0].Flags&datapath.FlagFlowNew == 0 {
		t.Fatalf("SYN and SYN-ACK of a watched flow: %+v", evs)
	}
	req := []byte("GET /big.iso HTTP/1.1\r\nHost: x\r\n\r\n")
	hdr := []byte("HTTP/1.1 200 OK\r\nContent-Length: 14000\r\n\r\n")
	evs = h.runAll(c.With(101, "PA", req).Frame(), s.With(501, "PA", hdr).Frame())
	if len(evs) != 2 || evs[0].Class != datapath.ClassStream {
		t.Fatalf("NEW state: request and response headers: %d events", len(evs))
	}
	// SKIP the 14000-byte body.
	body := uint32(501 + len(hdr))
	if err := vw.Skip(datapath.Flow{Client: cl, Server: sv}, true, body, 14000, 0); err != nil {
		t.Fatal(err)
	}
	for off := uint32(0); off < 14000; off += 1400 {
		if e := h.run(s.With(body+off, "A", make([]byte, 1400)).Frame()); len(e) != 0 {
			t.Fatalf("skipped body bytes at %d emitted", off)
		}
	}
	// The next request and response are emitted again.
	evs = h.runAll(c.With(101+uint32(len(req)), "PA", req).Frame(), s.With(body+14000, "PA", hdr).Frame())
	if len(evs) != 2 {
		t.Fatalf("after the SKIP range: %d events, want 2", len(evs))
	}
	// IGNORE: data is not emitted, FIN is.
	if err := vw.Ignore(datapath.Flow{Client: cl, Server: sv}); err != nil {
		t.Fatal(err)
	}
	if e := h.run(s.With(body+20000, "A", make([]byte, 1000)).Frame()); len(e) != 0 {
		t.Fatal("data of an ignored flow emitted")
	}
	if e := h.run(s.With(body+21000, "FA", nil).Frame()); len(e) != 1 {
		t.Fatal("FIN of an ignored flow not emitted")
	}
	cs := h.counters()
	if cs.Get(bpf.CounterStreamSkipped) != 14000 || cs.Get(bpf.CounterStreamIgnored) != 1 {
		t.Errorf("skipped bytes %d, ignored packets %d", cs.Get(bpf.CounterStreamSkipped), cs.Get(bpf.CounterStreamIgnored))
	}
}

func TestPrivilegedStreamCaptureBudget(t *testing.T) {
	h := newHarness(t, nil)
	vw := NewVerdictWriter(h.objs.StreamVerdicts)
	c, s := web, web.Reply(0, 0, "", nil)
	cl, sv := c.Endpoints()
	h.run(c.With(1, "PA", []byte("GET / HTTP/1.1\r\n\r\n")).Frame())
	if err := vw.Capture(datapath.Flow{Client: cl, Server: sv}, 18+3000); err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := 0; i < 5; i++ {
		n += len(h.run(s.With(uint32(1+i*1000), "A", make([]byte, 1000)).Frame()))
	}
	if n != 3 {
		t.Fatalf("emitted %d body packets, want 3 under a 3018-byte limit", n)
	}
	evs := h.run(s.With(6000, "FA", nil).Frame())
	if len(evs) != 1 || evs[0].Flags&datapath.FlagBudget == 0 {
		t.Fatalf("FIN after the budget: %+v", evs)
	}
}

// A SKIP written after a CAPTURE keeps the raised byte limit; a client SYN
// on the tuple opens a new connection: the verdict is gone and the bytes
// spent no longer count.
func TestPrivilegedStreamLimitAcrossSkipAndNewSYN(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Capture.StreamBudget = 64 << 10 })
	vw := NewVerdictWriter(h.objs.StreamVerdicts)
	c, s := web, web.Reply(0, 0, "", nil)
	cl, sv := c.Endpoints()
	body := func(from, n int) int {
		emitted := 0
		for i := 0; i < n; i++ {
			emitted += len(h.run(s.With(uint32(from+i*1400), "A", make([]byte, 1400)).Frame()))
		}
		return emitted
	}
	h.run(c.With(1, "PA", []byte("GET / HTTP/1.1\r\n\r\n")).Frame())
	// A SKIP of an unrelated range carrying a 256 KiB limit: 100 packets
	// (140000 bytes, past the 64 KiB budget) are all emitted.
	if err := vw.Skip(datapath.Flow{Client: cl, Server: sv}, true, 1<<30, 1000, 256<<10); err != nil {
		t.Fatal(err)
	}
	if n := body(1, 100); n != 100 {
		t.Fatalf("emitted %d of 100 packets under a SKIP carrying a 256KiB limit", n)
	}
	// IGNORE, then a new connection on the tuple: emitted as NEW again,
	// with a fresh budget.
	if err := vw.Ignore(datapath.Flow{Client: cl, Server: sv}); err != nil {
		t.Fatal(err)
	}
	if n := body(200000, 1); n != 0 {
		t.Fatal("ignored flow emitted data")
	}
	// A SYN alone changes nothing (a forged one must not undo a verdict):
	// the server's SYN-ACK acknowledging it opens the new connection.
	if e := h.run(c.With(5000000, "S", nil).Frame()); len(e) != 1 {
		t.Fatal("SYN of the new connection not emitted")
	}
	var v bpf.StreamVerdict
	k := FlowKeyOf(cl, sv, datapath.ProtoTCP)
	if err := h.objs.StreamVerdicts.Lookup(&k, &v); err != nil {
		t.Fatalf("a SYN without its SYN-ACK removed the verdict: %v", err)
	}
	if n := body(200000, 1); n != 0 {
		t.Fatal("ignored flow emitted data after an unanswered SYN")
	}
	// A SYN-ACK acknowledging another ISN is not the answer either.
	h.run(s.With(7000000, "SA", nil).Frame()) // ack 0
	if err := h.objs.StreamVerdicts.Lookup(&k, &v); err != nil {
		t.Fatal("a SYN-ACK for another ISN removed the verdict")
	}
	sa := s.With(7000000, "SA", nil)
	sa.Ack = 5000001
	if e := h.run(sa.Frame()); len(e) != 1 {
		t.Fatal("SYN-ACK of the new connection not emitted")
	}
	if err := h.objs.StreamVerdicts.Lookup(&k, &v); err == nil {
		t.Fatalf("verdict %+v survived the new connection's SYN-ACK", v)
	}
	if n := body(300000, 60); n != (64<<10+1399)/1400 {
		t.Fatalf("new connection emitted %d packets, want the default budget's %d", n, (64<<10+1399)/1400)
	}
}

// The global stream budget bounds a flow userspace never classifies.
func TestPrivilegedStreamDefaultBudget(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Capture.StreamBudget = 64 << 10 })
	s := web.Reply(0, 0, "", nil)
	n := 0
	for i := 0; i < 100; i++ {
		n += len(h.run(s.With(uint32(i*1400), "A", make([]byte, 1400)).Frame()))
	}
	if n != (64<<10+1399)/1400 {
		t.Fatalf("emitted %d packets of a NEW flow with a 64KiB budget", n)
	}
}

// STARTTLS on a mail port: the ClientHello goes to both rings; a
// hello-like body inside a captured download does not start tracking.
func TestPrivilegedStartTLSAndBodyLookAlike(t *testing.T) {
	h := newHarness(t, nil)
	smtp := testutil.Pkt{Sport: 41000, Dport: 25}
	evs := h.run(smtp.With(1, "PA", testutil.ClientHello(200)).Frame())
	if c := classes(evs); c[datapath.ClassTLS] != 1 || c[datapath.ClassStream] != 1 {
		t.Fatalf("STARTTLS ClientHello: %v", c)
	}
	vw := NewVerdictWriter(h.objs.StreamVerdicts)
	c, s := web, web.Reply(0, 0, "", nil)
	cl, sv := c.Endpoints()
	h.run(c.With(1, "PA", []byte("GET /x.bin HTTP/1.1\r\n\r\n")).Frame())
	if err := vw.Capture(datapath.Flow{Client: cl, Server: sv}, 0); err != nil {
		t.Fatal(err)
	}
	evs = h.runAll(s.With(1, "PA", testutil.ServerHello(200)).Frame(), c.With(30, "PA", testutil.ClientHello(100)).Frame())
	if c := classes(evs); c[datapath.ClassTLS] != 0 || c[datapath.ClassStream] != 2 {
		t.Fatalf("hello-like bytes in a captured body: %v", c)
	}
}
