package sensor

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// Connections reusing a 4-tuple (NAT, proxies, a client's port reuse) are
// new handshakes, however many came before.
func TestPrivilegedReusedTupleIsANewHandshake(t *testing.T) {
	h := newHarness(t, nil)
	c, s := client, client.Reply(0, 0, "", nil)
	isn := uint32(1000)
	for conn := 0; conn < 6; conn++ {
		ch := testutil.ClientHello(300)
		evs := h.run(c.With(isn, "PA", ch).Frame())
		if len(evs) != 1 || evs[0].Flags&datapath.FlagFlowNew == 0 {
			t.Fatalf("connection %d: ClientHello not emitted as a new handshake (%d events)", conn, len(evs))
		}
		srv := uint32(90000 + conn*1000)
		h.run(s.With(srv, "PA", append(testutil.ServerHello(90), testutil.AppData(500)...)).Frame())
		h.run(c.With(isn+uint32(len(ch)), "PA", testutil.AppData(50)).Frame())
		if f, _ := h.flow(c); f.TlsState != bpf.TLSDone {
			t.Fatalf("connection %d: state %d, want done", conn, f.TlsState)
		}
		if conn%2 == 1 {
			h.run(c.With(isn+uint32(len(ch)+55), "FA", nil).Frame())
		}
		isn += 0x40000000 // the next connection's ISN is far away
	}
	// Within one finished connection, a hello look-alike is ignored.
	if evs := h.run(c.With(isn-0x40000000+2000, "PA", testutil.ClientHello(300)).Frame()); len(evs) != 0 {
		t.Errorf("a hello look-alike inside a finished connection restarted tracking")
	}
}

// A client that reuses its port within a second gets an ISN only a little
// ahead of the old connection's stream (RFC 6528: a clock plus a hash of
// the tuple). Its SYN says it is a new connection, so its hello is a new
// handshake, finished or not; without a SYN the same bytes stay part of
// the old connection.
func TestPrivilegedQuickPortReuseAfterSYN(t *testing.T) {
	h := newHarness(t, nil)
	c, s := client, client.Reply(0, 0, "", nil)
	isn := uint32(7_000_000)
	for conn, finish := range []bool{true, false, true} {
		ch := testutil.ClientHello(300)
		h.run(c.With(isn, "S", nil).Frame())
		sa := s.With(80000+uint32(conn), "SA", nil)
		sa.Ack = isn + 1
		h.run(sa.Frame())
		evs := h.run(c.With(isn+1, "PA", ch).Frame())
		if len(evs) != 1 || evs[0].Flags&datapath.FlagFlowNew == 0 {
			t.Fatalf("connection %d: ClientHello after a SYN not a new handshake (%d events)", conn, len(evs))
		}
		if finish {
			h.run(s.With(90000, "PA", append(testutil.ServerHello(90), testutil.AppData(500)...)).Frame())
			h.run(c.With(isn+1+uint32(len(ch)), "PA", testutil.AppData(50)).Frame())
		}
		isn += 15_000 // about a millisecond of the ISN clock later
	}
	if got := h.counters().Get(bpf.CounterTLSNewConn); got != 2 {
		t.Errorf("tls_new_conn counter %d, want 2", got)
	}
	// No SYN: a hello at the next nearby ISN is more of the finished
	// connection (look-alike bytes), not a new one.
	if evs := h.run(c.With(isn+1, "PA", testutil.ClientHello(300)).Frame()); len(evs) != 0 {
		t.Errorf("a hello without a SYN near a finished connection's stream restarted tracking")
	}
}

// TCP Fast Open: the ClientHello rides on the SYN, so the payload starts
// one after the SYN's sequence number.
func TestPrivilegedClientHelloOnSYN(t *testing.T) {
	h := newHarness(t, nil)
	c, s := client, client.Reply(0, 0, "", nil)
	ch := testutil.ClientHello(300)
	h.run(c.With(5000, "S", ch).Frame())
	h.run(s.With(8000, "SA", nil).Frame())
	h.run(s.With(8001, "PA", append(testutil.ServerHello(90), testutil.AppData(300)...)).Frame())
	evs := h.run(c.With(5001+uint32(len(ch)), "PA", testutil.AppData(40)).Frame())
	if len(evs) != 1 || evs[0].Flags&datapath.FlagHSDone == 0 {
		t.Fatalf("handshake started on a SYN did not end at application data: %+v", evs)
	}
}

// A record header split over two segments is kept and completed, so the
// walk stays in step.
func TestPrivilegedRecordHeaderSplitAcrossSegments(t *testing.T) {
	for split := 1; split <= 4; split++ {
		h := newHarness(t, nil)
		c, s := client, client.Reply(0, 0, "", nil)
		ch := testutil.ClientHello(300)
		h.run(c.With(1, "PA", ch).Frame())
		sh := testutil.ServerHello(90)
		cert := testutil.TLSRecord(22, testutil.Handshake(11, 1200))
		flight := append(append(append([]byte(nil), sh...), cert...), testutil.AppData(200)...)
		cut := len(sh) + len(cert) + split // inside the application_data header
		h.run(s.With(7000, "A", flight[:cut]).Frame())
		h.run(s.With(7000+uint32(cut), "PA", flight[cut:]).Frame())
		evs := h.run(c.With(1+uint32(len(ch)), "PA", testutil.AppData(40)).Frame())
		if len(evs) != 1 || evs[0].Flags&datapath.FlagHSDone == 0 {
			t.Errorf("split after %d header bytes: the server's application data was not seen", split)
		}
		if d := h.counters()[sensorCounter("tls_desync")]; d != 0 {
			t.Errorf("split after %d header bytes: %d desyncs", split, d)
		}
	}
}

// A handshake that goes silent is ended as idle, and its filter slot heals
// so the flow's later packets take the fast path again.
func TestPrivilegedSilentHandshakeHeals(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Capture.HandshakeIdle = config.Duration(time.Second) })
	c := client
	h.run(c.With(1, "PA", testutil.ClientHello(300)).Frame())
	src, dst := c.Endpoints()
	idx := filterIndex(src, dst)
	var slot bpf.TLSSlot
	if err := h.objs.TLSFilter.Lookup(idx, &slot); err != nil || uint32(slot.Word) != 1 {
		t.Fatalf("filter slot after the hello: %+v %v", slot, err)
	}
	gen := slot.Word >> 32
	time.Sleep(1100 * time.Millisecond)
	if evs := h.run(c.With(400, "PA", []byte("late bytes")).Frame()); len(evs) != 0 {
		t.Fatal("a packet after the idle limit was emitted")
	}
	if err := h.objs.TLSFilter.Lookup(idx, &slot); err != nil || uint32(slot.Word) != 0 || slot.Word>>32 != gen+1 {
		t.Errorf("slot not healed: count %d generation %d", uint32(slot.Word), slot.Word>>32)
	}
	if f, _ := h.flow(c); f.TlsState != bpf.TLSIdle || h.counters()[sensorCounter("tls_idle")] != 1 {
		t.Errorf("flow state %d, want idle", f.TlsState)
	}
	// QUIC: a tuple reused after going idle gets its Initials again.
	q := testutil.Pkt{UDP: true, Sport: 50000, Dport: 443}
	h2 := newHarness(t, func(c *config.Config) {
		c.Capture.HandshakeIdle = config.Duration(time.Second)
		c.Capture.QUICInitials = 1
	})
	h2.run(q.With(0, "", testutil.QUICInitial(1)).Frame())
	if evs := h2.run(q.With(0, "", testutil.QUICInitial(1)).Frame()); len(evs) != 0 {
		t.Fatal("QUIC budget of 1 not applied")
	}
	time.Sleep(1100 * time.Millisecond)
	if evs := h2.run(q.With(0, "", testutil.QUICInitial(1)).Frame()); len(evs) != 1 || evs[0].Flags&datapath.FlagFlowNew == 0 {
		t.Fatal("QUIC Initial on a tuple idle past the limit not emitted as new")
	}
}

// filterIndex is filter_index() in sensor.c for two endpoints.
func filterIndex(src, dst netip.AddrPort) uint32 {
	s, d := src.Addr().As16(), dst.Addr().As16()
	return bpf.FilterIndex(binary.NativeEndian.Uint32(s[12:]), binary.NativeEndian.Uint32(d[12:]), src.Port(), dst.Port())
}

// On a mail port: pure ACKs spend no handshake budget; an IGNORE verdict
// (set after "220 Ready to start TLS") does not hide the ClientHello; the
// stream's first emitted event says the flow is new even when a pure ACK
// came first.
func TestPrivilegedStartTLSAfterIgnore(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Capture.HandshakePackets = 3 })
	smtp, srv := testutil.Pkt{Sport: 41000, Dport: 25}, testutil.Pkt{Sport: 41000, Dport: 25}.Reply(0, 0, "", nil)
	h.run(smtp.With(1, "A", nil).Frame())
	evs := h.run(srv.With(100, "PA", []byte("220 mail ESMTP\r\n")).Frame())
	if len(evs) != 1 || evs[0].Flags&datapath.FlagFlowNew == 0 {
		t.Fatalf("first stream event after a pure ACK: %+v", evs)
	}
	cl, sv := smtp.Endpoints()
	if err := NewVerdictWriter(h.objs.StreamVerdicts).Ignore(datapath.Flow{Client: cl, Server: sv}); err != nil {
		t.Fatal(err)
	}
	evs = h.run(smtp.With(1, "PA", testutil.ClientHello(200)).Frame())
	if c := classes(evs); c[datapath.ClassTLS] != 1 {
		t.Fatalf("ClientHello after IGNORE: %v", c)
	}
	n := 0
	for i := 0; i < 6; i++ {
		h.run(smtp.With(300, "A", nil).Frame()) // pure ACKs
		n += classes(h.run(srv.With(uint32(200+i*100), "A", make([]byte, 100)).Frame()))[datapath.ClassTLS]
	}
	if n != 2 {
		t.Errorf("%d server segments emitted, want 2 more under a budget of 3", n)
	}
}
