package sensor

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/packet/csum"
	"github.com/edgesensor/edgesensor/userspace/packet/decap"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
)

// fragHold is an enforcement harness with holds on (the daemon alive)
// and userspace's reassembly fed from its fragments ring; fragHoldFlow is
// the HTTP flow its tests gate.
type fragHold struct {
	*enfHarness
	holds    *Holds
	df       *defrag
	released [][]byte // what df handed on
}

var fragHoldFlow = datapath.Flow{Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:80")}

func newFragHold(t *testing.T, mode string) *fragHold {
	t.Helper()
	h := &fragHold{enfHarness: newEnfHarness(t, mode)}
	holds, err := NewHolds(h.objs, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := holds.SetTimeout(time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := holds.SetAlive(); err != nil {
		t.Fatal(err)
	}
	h.holds = holds
	cfg := config.Default()
	h.df = newDefrag(&cfg, h.objs.Program)
	h.df.setRelease(func(frame []byte, _ uint32) error {
		h.released = append(h.released, slices.Clone(frame))
		return nil
	})
	return h
}

// serverSegment is the server's segment of n payload bytes at seq, IPv4
// or IPv6.
func serverSegment(v6 bool, seq uint32, n int) (testutil.Pkt, []byte) {
	pay := make([]byte, n)
	for i := range pay {
		pay[i] = byte(i*7 + 3)
	}
	src, dst := "10.0.0.2", "10.0.0.1"
	if v6 {
		src, dst = "fd00::2", "fd00::1"
	}
	p := testutil.Pkt{V6: v6, Src: src, Dst: dst, Sport: 80, Dport: 40000, Seq: seq, Ack: 1019, Flags: "PA", Payload: pay}
	return p, pay
}

// frameOf is p's frame with its TCP checksum right (a sender finishes it
// before it fragments; held datagrams with a wrong one are dropped).
func frameOf(t *testing.T, p testutil.Pkt) []byte {
	t.Helper()
	f := p.Frame()
	var fr decap.Frame
	if decap.Parse(f, &fr); fr.Proto != 6 || fr.L4 == 0 {
		t.Fatalf("not a TCP frame: % x", f[:min(len(f), 64)])
	}
	seg := f[fr.L4:fr.L3End]
	seg[16], seg[17] = 0, 0
	binary.BigEndian.PutUint16(seg[16:], csum.Checksum(seg, csum.Pseudo(fr.Src, fr.Dst, 6, len(seg))))
	return f
}

// fed is what feeding fragments did: per fragment the program's action
// and whether it emitted the fragment flagged held; the stream events
// (reassembled pieces) that came of them; counters before and after.
type fed struct {
	rets          []uint32
	fragHeld      []bool
	stream        []datapath.Event
	before, after Counters
}

func (f *fed) counter(t *testing.T, name string) uint64 {
	c := bpf.Counter(sensorCounterOf(t, name))
	return f.after.Get(c) - f.before.Get(c)
}

// feed runs fragments through the program, handing the fragment events
// to userspace's reassembly as the reader does.
func (h *fragHold) feed(t *testing.T, frames ...[]byte) fed {
	t.Helper()
	r := fed{before: h.counters()}
	for _, f := range frames {
		ret, err := h.objs.Program.Run(&ebpf.RunOptions{Data: f})
		if err != nil {
			t.Fatal(err)
		}
		r.rets = append(r.rets, ret)
		fragHeld := false
		for _, ev := range h.drain() {
			if ev.Class == datapath.ClassFrag {
				fragHeld = fragHeld || ev.Held()
				h.df.fragment(&ev)
				r.stream = append(r.stream, h.drain()...)
			}
		}
		r.fragHeld = append(r.fragHeld, fragHeld)
	}
	r.after = h.counters()
	return r
}

// piece reads a handed-on frame's TCP sequence number and payload. The
// frame must be a whole TCP segment whose checksums are right: TCP's,
// the outer IPv4 header's, and every enclosing length (decap parses it
// whole to its end).
func piece(t *testing.T, frame []byte) (uint32, []byte) {
	t.Helper()
	var fr decap.Frame
	if decap.Parse(frame, &fr); fr.Fragment || fr.Truncated || fr.Proto != 6 || fr.Payload == 0 || fr.L3End != len(frame) {
		t.Fatalf("handed on: not a whole TCP segment: % x", frame[:min(len(frame), 64)])
	}
	if st := csum.L4(fr.Src, fr.Dst, 6, frame[fr.L4:fr.L3End]); st != csum.Valid {
		t.Errorf("handed on: TCP checksum %v", st)
	}
	if binary.BigEndian.Uint16(frame[12:]) == 0x0800 && !csum.IPv4HeaderValid(frame[14:14+int(frame[14]&0x0f)*4]) {
		t.Errorf("handed on: outer IPv4 header checksum wrong")
	}
	return binary.BigEndian.Uint32(frame[fr.L4+4:]), frame[fr.Payload : fr.Payload+fr.PayloadLen]
}

// TestPrivilegedHeldFragments: in block mode with holds on, the first
// fragment of a server segment that may reach its flow's gate is held
// (emitted flagged held, dropped), and so are the datagram's later
// fragments; userspace reassembles them, cuts the datagram to its
// largest fragment's size and hands each piece in as a packet of the
// wire (REINJECT_HOLD_MAGIC): the piece with the gate's byte is held for
// the file's verdict like any packet; the others (all of them, the gate
// opened meanwhile) userspace hands on itself.
// A sender that delays its last fragment past hold_timeout gains
// nothing: the pieces are held all the same.
func TestPrivilegedHeldFragments(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		fl := fragHoldFlow
		limit := 14 + 20 + 1000 // the largest fragment: IPv4 header and 1000 bytes
		if v6 {
			fl = datapath.Flow{Client: netip.MustParseAddrPort("[fd00::1]:40000"), Server: netip.MustParseAddrPort("[fd00::2]:80")}
			limit = 14 + 1280 // IPv6's floor: every link carries it
		}
		seg, pay := serverSegment(v6, 5001+1600, 2400)
		frags := testutil.Fragments(frameOf(t, seg), 14, 1000, 0x4242)
		if len(frags) != 3 {
			t.Fatalf("v6 %v: %d fragments", v6, len(frags))
		}

		// The body's last byte at 5001+3999: the segment holds it.
		h := newFragHold(t, "block")
		if err := h.holds.SetTimeout(300 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := h.holds.Gate(fl, 5001+3999, false); err != nil {
			t.Fatal(err)
		}
		r := h.feed(t, frags[:2]...)
		// The sender waits past hold_timeout before the last fragment.
		time.Sleep(400 * time.Millisecond)
		r2 := h.feed(t, frags[2])
		r.rets, r.fragHeld, r.stream = append(r.rets, r2.rets...), append(r.fragHeld, r2.fragHeld...), r2.stream
		for i, ret := range r.rets {
			if ret != xdpDrop || !r.fragHeld[i] {
				t.Errorf("v6 %v: fragment %d: verdict %d, emitted held %v; want dropped and held", v6, i, ret, r.fragHeld[i])
			}
		}
		if d := r.counter(t, "hold_frags") + r2.counter(t, "hold_frags"); d != 3 {
			t.Errorf("v6 %v: hold_frags rose by %d, want 3", v6, d)
		}
		// The pieces: none larger than the largest fragment; those
		// before the gate's byte handed on at once, the one carrying it
		// held for the verdict; together the segment, in order.
		var got []byte
		next := uint32(5001 + 1600)
		for _, f := range h.released {
			seq, p := piece(t, f)
			if seq != next || len(f) > limit || seq+uint32(len(p)) > 5001+3999 {
				t.Errorf("v6 %v: a piece handed on at seq %d (want %d), %d bytes", v6, seq, next, len(f))
			}
			next += uint32(len(p))
			got = append(got, p...)
		}
		heldPieces := 0
		for _, ev := range r.stream {
			if ev.Flags&datapath.FlagReinjected == 0 || len(ev.Frame) > limit {
				t.Errorf("v6 %v: piece at seq %d: flags %v, %d bytes (limit %d)", v6, ev.Seq, ev.Flags, len(ev.Frame), limit)
			}
			if !ev.Held() {
				continue
			}
			heldPieces++
			if ev.Seq != next || ev.Seq+uint32(len(ev.Payload)) != 5001+4000 {
				t.Errorf("v6 %v: held piece at seq %d, %d bytes; want the one ending at the gate's byte, from %d", v6, ev.Seq, len(ev.Payload), next)
			}
			got = append(got, ev.Payload...)
		}
		if !bytes.Equal(got, pay) || heldPieces != 1 || len(h.released) == 0 {
			t.Errorf("v6 %v: %d pieces handed on and %d held carry %d bytes (the segment: %d)", v6, len(h.released), heldPieces, len(got), len(pay))
		}

		// The gate opened while the datagram was incomplete: its pieces
		// are not held, and userspace hands them on, byte for byte.
		h = newFragHold(t, "block")
		if err := h.holds.Gate(fl, 5001+3999, false); err != nil {
			t.Fatal(err)
		}
		r = h.feed(t, frags[0])
		if err := h.holds.Open(fl, 5001+4000, 0); err != nil {
			t.Fatal(err)
		}
		r2 = h.feed(t, frags[1:]...)
		heldPieces = 0
		for _, ev := range r2.stream {
			if ev.Held() {
				heldPieces++
			}
		}
		if r.rets[0] != xdpDrop || heldPieces != 0 || len(r2.stream) == 0 {
			t.Errorf("v6 %v: opened: first fragment verdict %d; %d pieces read, %d held", v6, r.rets[0], len(r2.stream), heldPieces)
		}
		got = nil
		next = uint32(5001 + 1600)
		for _, f := range h.released {
			seq, p := piece(t, f)
			if seq != next || len(f) > limit {
				t.Errorf("v6 %v: a piece handed on at seq %d (want %d), %d bytes", v6, seq, next, len(f))
			}
			next += uint32(len(p))
			got = append(got, p...)
		}
		if !bytes.Equal(got, pay) {
			t.Errorf("v6 %v: %d pieces handed on carry %d bytes, not the segment's %d", v6, len(h.released), len(got), len(pay))
		}
	}
}

// handedOnBytes checks that no piece of what feeding did (r) was held,
// and returns the payload of the pieces userspace handed on, in order.
func handedOnBytes(t *testing.T, h *fragHold, r fed, name string) []byte {
	t.Helper()
	for _, ev := range r.stream {
		if ev.Held() {
			t.Errorf("%s: a piece at seq %d held", name, ev.Seq)
		}
	}
	var got []byte
	for _, f := range h.released {
		_, p := piece(t, f)
		got = append(got, p...)
	}
	return got
}

// wantPassed feeds frames to h: each passes, unflagged; no piece of
// them is held, none handed on by userspace (it hands on only what was
// held).
func wantPassed(t *testing.T, h *fragHold, name string, frames ...[]byte) {
	t.Helper()
	h.released = nil
	r := h.feed(t, frames...)
	for i, ret := range r.rets {
		if ret != xdpPass || r.fragHeld[i] {
			t.Errorf("%s: fragment %d: verdict %d, emitted held %v; want passed", name, i, ret, r.fragHeld[i])
		}
	}
	for _, ev := range r.stream {
		if ev.Held() {
			t.Errorf("%s: a piece at seq %d held", name, ev.Seq)
		}
	}
	if len(h.released) != 0 {
		t.Errorf("%s: userspace handed on %d pieces of fragments that passed", name, len(h.released))
	}
}

// TestPrivilegedHeldFragmentsWhich: which first fragments are held. In
// block mode every TCP datagram of a watched port's file direction is,
// gate or none (a first fragment passed before its flow is gated would
// wait at the receiver for the rest), and its pieces the program does
// not hold userspace hands on byte for byte; so is one whose TCP header
// cannot be read (8 bytes; IPv6 extension headers after the fragment
// header). Not held: monitor mode, other ports, the other direction, a
// SYN or a reset (as whole ones), or once the daemon has not said it
// lives for a while (fail open). A held
// datagram with a wrong TCP checksum is dropped: cut into pieces it would
// get good ones, and its receiver would have dropped it.
func TestPrivilegedHeldFragmentsWhich(t *testing.T) {
	seg, pay := serverSegment(false, 5001+1600, 2400)
	frags := testutil.Fragments(frameOf(t, seg), 14, 1000, 0x4343)
	// Held, and handed on whole by userspace: pieces none held.
	handedOn := func(name string, h *fragHold, want []byte, frames ...[]byte) {
		t.Helper()
		r := h.feed(t, frames...)
		for i, ret := range r.rets {
			if ret != xdpDrop || !r.fragHeld[i] {
				t.Errorf("%s: fragment %d: verdict %d, emitted held %v; want held", name, i, ret, r.fragHeld[i])
			}
		}
		got := handedOnBytes(t, h, r, name)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %d pieces handed on carry %d bytes, want %d", name, len(h.released), len(got), len(want))
		}
	}
	handedOn("no gate yet", newFragHold(t, "block"), pay, frags...)
	h := newFragHold(t, "block")
	if err := h.holds.Gate(fragHoldFlow, 5001+1600+70000, false); err != nil {
		t.Fatal(err)
	}
	handedOn("the gate beyond the datagram", h, pay, frags...)

	h = newFragHold(t, "monitor")
	if err := h.holds.Gate(fragHoldFlow, 5001+3999, false); err != nil {
		t.Fatal(err)
	}
	wantPassed(t, h, "monitor mode", frags...)
	other := seg
	other.Sport = 443
	wantPassed(t, newFragHold(t, "block"), "not a watched port", testutil.Fragments(frameOf(t, other), 14, 1000, 0x4646)...)
	up := seg
	up.Src, up.Dst, up.Sport, up.Dport = seg.Dst, seg.Src, seg.Dport, seg.Sport
	wantPassed(t, newFragHold(t, "block"), "HTTP's client direction", testutil.Fragments(frameOf(t, up), 14, 1000, 0x4747)...)
	mail := seg
	mail.Sport = 25
	wantPassed(t, newFragHold(t, "block"), "SMTP's server direction", testutil.Fragments(frameOf(t, mail), 14, 1000, 0x4848)...)
	for _, flags := range []string{"SA", "R"} {
		c := seg
		c.Flags = flags
		wantPassed(t, newFragHold(t, "block"), "a readable first fragment with "+flags, testutil.Fragments(frameOf(t, c), 14, 1000, 0x4b4b)[0])
	}
	mailUp := up
	mailUp.Dport = 25
	handedOn("SMTP's client direction", newFragHold(t, "block"), pay, testutil.Fragments(frameOf(t, mailUp), 14, 1000, 0x4949)...)

	// An 8-byte first fragment (ports and sequence number, no flags).
	handedOn("a tiny first fragment", newFragHold(t, "block"), pay, testutil.Fragments(frameOf(t, seg), 14, 8, 0x4545)...)
	wantPassed(t, newFragHold(t, "monitor"), "a tiny first fragment, monitor mode", testutil.Fragments(frameOf(t, seg), 14, 8, 0x4545)[0])
	// IPv6: a destination options header after the fragment header hides
	// the TCP header from the parser (Linux reads the whole chain).
	v6, _ := serverSegment(true, 5001+1600, 600)
	v6.V6Ext, v6.MoreFrags = []byte{44, 60}, true
	if r := newFragHold(t, "block").feed(t, v6.Frame()); r.rets[0] != xdpDrop || !r.fragHeld[0] {
		t.Errorf("IPv6, options after the fragment header: verdict %d, held %v; want held", r.rets[0], r.fragHeld[0])
	}
	// AH belongs after the fragment header (RFC 8200): such a datagram
	// could not be cut again, and is not held.
	ah := v6
	ah.V6Ext = []byte{44, 51}
	wantPassed(t, newFragHold(t, "block"), "IPv6, AH after the fragment header", ah.Frame())

	// A wrong TCP checksum: dropped, not cut into pieces with good ones.
	bad := frameOf(t, seg)
	bad[14+20+16] ^= 0x5a
	h = newFragHold(t, "block")
	r := h.feed(t, testutil.Fragments(bad, 14, 1000, 0x4a4a)...)
	if st, _ := h.df.stats(); st.HeldBadChecksum != 1 || len(r.stream) != 0 || len(h.released) != 0 {
		t.Errorf("a wrong checksum: %d counted, %d pieces judged, %d handed on; want 1, 0, 0", st.HeldBadChecksum, len(r.stream), len(h.released))
	}

	// Fail open: the daemon's word lapsed, first fragments pass.
	h = newFragHold(t, "block")
	if err := h.objs.HoldAliveUntil.Set(monoNow() + uint64(200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if r := h.feed(t, frags[0]); r.rets[0] != xdpDrop {
		t.Fatalf("a first fragment: verdict %d, want held", r.rets[0])
	}
	time.Sleep(300 * time.Millisecond)
	r = h.feed(t, testutil.Fragments(frameOf(t, seg), 14, 1000, 0x4444)[0]) // the sender's retransmission
	if r.rets[0] != xdpPass || r.counter(t, "hold_expired") != 1 {
		t.Errorf("the daemon silent: verdict %d, hold_expired +%d; want passed, +1", r.rets[0], r.counter(t, "hold_expired"))
	}
}

// TestPrivilegedHeldTunnelFragments: fragments of a tunnel carrying a
// watched port's file direction are held like plain ones, gate or none,
// whether the tunnel packet was fragmented outside (a tunnel whose
// packets outgrow the path: a server that clears DF makes the tunnel's
// entrance fragment them) or the segment inside it. Userspace cuts the
// reassembled segment to the largest fragment's size and puts each piece
// back in the tunnel's layers: the receiver behind the tunnel gets whole
// segments carrying the bytes the sensor read, and the piece with the
// gate's byte is held for the verdict; so is a first fragment that ends
// inside the tunnel's headers. What the parsers do not follow passes as
// before, and the other direction, other ports.
func TestPrivilegedHeldTunnelFragments(t *testing.T) {
	ip := func(kind string) testutil.Layer {
		return testutil.Layer{Kind: kind, Src: "192.0.2.1", Dst: "192.0.2.2", ID: 77}
	}
	outsideBy := func(size int) func([]testutil.Layer, testutil.Pkt, uint32) [][]byte {
		return func(l []testutil.Layer, seg testutil.Pkt, id uint32) [][]byte {
			f := testutil.Encap{Layers: l}.Wrap(frameOf(t, seg)[14:])
			return testutil.Fragments(f, 14, size, id)
		}
	}
	outside := outsideBy(1000)
	inside := func(l []testutil.Layer, seg testutil.Pkt, id uint32) [][]byte {
		var out [][]byte
		for _, f := range testutil.Fragments(frameOf(t, seg), 14, 1000, id) {
			out = append(out, testutil.Encap{Layers: l}.Wrap(f[14:]))
		}
		return out
	}
	gre := ip("gre")
	gre.GREKey, gre.GRESeq = true, true
	greSum := ip("gre")
	greSum.GRECsum = true
	gtpExt := ip("gtpu")
	gtpExt.GTPExt = [][]byte{{1, 0, 0, 0x85}, {2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0}} // 5G's PDU session container, and one more
	vx6 := testutil.Layer{Kind: "vxlan", Src: "2001:db8::1", Dst: "2001:db8::2", ID: 3}
	cases := []struct {
		name   string
		layers []testutil.Layer
		frag   func([]testutil.Layer, testutil.Pkt, uint32) [][]byte
		n      int // payload bytes of the segment
	}{
		{"vxlan", []testutil.Layer{ip("vxlan")}, outside, 2400},
		{"vxlan over IPv6", []testutil.Layer{vx6}, outside, 2400},
		{"gre with key and sequence", []testutil.Layer{gre}, outside, 2400},
		{"gre carrying ethernet with a vlan tag", []testutil.Layer{ip("gre"), {Kind: "eth", VLANs: []uint16{12}}}, outside, 2400},
		{"ip in ip", []testutil.Layer{ip("ipip")}, outside, 2400},
		{"geneve with options", []testutil.Layer{{Kind: "geneve", Src: "192.0.2.1", Dst: "192.0.2.2", ID: 5, Options: make([]byte, 8)}}, outside, 2400},
		{"gtp-u", []testutil.Layer{ip("gtpu")}, outside, 2400},
		{"gtp-u with extension headers", []testutil.Layer{gtpExt}, outside, 2400},
		{"gre with a checksum", []testutil.Layer{greSum}, outside, 2400},
		// First fragments that end inside the tunnel's headers (RFC 1858
		// one layer down): held, as a plain one is.
		{"vxlan, 16-byte fragments", []testutil.Layer{ip("vxlan")}, outsideBy(16), 2400},
		{"gre, 8-byte fragments", []testutil.Layer{gre}, outsideBy(8), 2400},
		{"vxlan, larger than a test run", []testutil.Layer{ip("vxlan")}, outside, 5000},
		{"fragments inside vxlan", []testutil.Layer{ip("vxlan")}, inside, 2400},
		{"fragments inside gtp-u with an extension header", []testutil.Layer{{Kind: "gtpu", Src: "192.0.2.1", Dst: "192.0.2.2", ID: 9, GTPExt: [][]byte{{1, 0, 0, 0}}}}, inside, 2400},
	}
	for _, tc := range cases {
		for _, v6 := range []bool{false, true} {
			name := fmt.Sprintf("%s, inner IPv6 %v", tc.name, v6)
			seg, pay := serverSegment(v6, 5001+1600, tc.n)
			frags := tc.frag(tc.layers, seg, 0x5151)
			if len(frags) < 3 {
				t.Fatalf("%s: %d fragments", name, len(frags))
			}
			// The largest fragment's frame, or the fragmented header's
			// floor (what every IPv4 host takes, every IPv6 link carries).
			limit := 0
			for _, f := range frags {
				limit = max(limit, len(f))
			}
			var fr decap.Frame
			decap.Parse(frags[0], &fr)
			if frags[0][fr.L3]>>4 == 6 {
				limit = max(limit, fr.L3+minHeldPiece6)
			} else {
				limit = max(limit, fr.L3+minHeldPiece4)
			}
			end := uint32(5001 + 1600 + tc.n)
			// pieces checks what userspace made of the datagram: pieces
			// handed on (and the one held, gated) no larger than the
			// largest fragment, each a whole segment in the tunnel, in
			// order, together the segment.
			pieces := func(what string, h *fragHold, r fed, gated bool) {
				t.Helper()
				for i, ret := range r.rets {
					if ret != xdpDrop || !r.fragHeld[i] {
						t.Errorf("%s, %s: fragment %d: verdict %d, emitted held %v; want held", name, what, i, ret, r.fragHeld[i])
					}
				}
				var got []byte
				next := uint32(5001 + 1600)
				for _, f := range h.released {
					seq, p := piece(t, f)
					if seq != next || len(f) > limit {
						t.Errorf("%s, %s: a piece handed on at seq %d (want %d), %d bytes (largest fragment %d)", name, what, seq, next, len(f), limit)
					}
					var fr decap.Frame
					if decap.Parse(f, &fr); fr.Tunnels() == 0 {
						t.Errorf("%s, %s: a piece handed on outside the tunnel", name, what)
					}
					next += uint32(len(p))
					got = append(got, p...)
				}
				held := 0
				for _, ev := range r.stream {
					if !ev.Held() {
						continue
					}
					held++
					if ev.Seq != next || ev.Seq+uint32(len(ev.Payload)) != end || ev.Tunnels == 0 || len(ev.Frame) > limit {
						t.Errorf("%s, %s: held piece at seq %d, %d bytes, tunnels %d; want the last, from %d", name, what, ev.Seq, len(ev.Payload), ev.Tunnels, next)
					}
					got = append(got, ev.Payload...)
				}
				if want := map[bool]int{false: 0, true: 1}[gated]; held != want || !bytes.Equal(got, pay) || len(h.released) == 0 {
					t.Errorf("%s, %s: %d pieces handed on and %d held carry %d bytes; want %d held, the segment's %d bytes",
						name, what, len(h.released), held, len(got), want, len(pay))
				}
			}
			h := newFragHold(t, "block")
			r := h.feed(t, frags...)
			pieces("no gate", h, r, false)

			// The gate at the segment's last byte. (The flow is the
			// tunnel's: its zone, from a piece read.)
			if len(r.stream) == 0 {
				t.Fatalf("%s: the datagram was not read", name)
			}
			fl := fragHoldFlow
			if v6 {
				fl = datapath.Flow{Client: netip.MustParseAddrPort("[fd00::1]:40000"), Server: netip.MustParseAddrPort("[fd00::2]:80")}
			}
			fl.Zone = r.stream[0].Zone
			h = newFragHold(t, "block")
			if err := h.holds.Gate(fl, end-1, false); err != nil {
				t.Fatal(err)
			}
			pieces("gated", h, h.feed(t, frags...), true)
		}
	}

	vxlan := []testutil.Layer{ip("vxlan")}
	seg, _ := serverSegment(false, 5001+1600, 2400)
	up := seg
	up.Src, up.Dst, up.Sport, up.Dport = seg.Dst, seg.Src, seg.Dport, seg.Sport
	wantPassed(t, newFragHold(t, "block"), "vxlan, HTTP's client direction", outside(vxlan, up, 0x5252)...)
	wantPassed(t, newFragHold(t, "block"), "fragments inside vxlan, HTTP's client direction", inside(vxlan, up, 0x5252)...)
	other := seg
	other.Sport = 443
	wantPassed(t, newFragHold(t, "block"), "vxlan, not a watched port", outside(vxlan, other, 0x5353)...)
	long := ip("gtpu")
	long.GTPExt = [][]byte{{1, 0, 0, 0x85}, {1, 0, 0, 0x85}, {1, 0, 0, 0x85}, {1, 0, 0, 0x85}, {1, 0, 0, 0}}
	wantPassed(t, newFragHold(t, "block"), "gtp-u with more extension headers than the deep parser follows", outside([]testutil.Layer{long}, seg, 0x5454)...)
	noVNI := outside(vxlan, seg, 0x5858)
	noVNI[0][14+20+8] &^= 0x08 // the VXLAN I flag: not followed by the parser either
	wantPassed(t, newFragHold(t, "block"), "vxlan without its I flag", noVNI...)
}

// TestPrivilegedHelloGateFragments: the server's answer to a gated
// ClientHello, sent as IP fragments, is held like the packet would be:
// its fragments dropped and emitted held, and the datagram userspace
// reassembles held by the gate (a TLS event flagged held) until the
// hello is judged. Released, the fragments pass; so do those of a flow
// with no gate, and the client's.
func TestPrivilegedHelloGateFragments(t *testing.T) {
	h := newFragHold(t, "block")
	if err := h.enf.Replace(&enforce.Tables{Lists: []string{"c2"}}); err != nil {
		t.Fatal(err)
	}
	if err := h.enf.SetHelloHold(time.Minute); err != nil {
		t.Fatal(err)
	}
	ch := testutil.ClientHello(300)
	sh := append(testutil.ServerHello(90), testutil.TLSRecord(20, []byte{1})...)
	sh = append(sh, testutil.AppData(600)...)
	c := testutil.Pkt{Src: "10.0.0.1", Dst: "10.0.0.2", Sport: 40100, Dport: 443, Seq: 1001, Ack: 5001, Flags: "PA", Payload: ch}
	s := c.Reply(5001, 1001+uint32(len(ch)), "PA", sh)
	src, dst := c.Endpoints()
	fl := datapath.Flow{Client: src, Server: dst}
	frags := testutil.Fragments(frameOf(t, s), 14, 256, 0x6161)

	if ret, _ := h.runHeld(c.Frame()); ret != xdpPass {
		t.Fatalf("client hello: verdict %d", ret)
	}
	// Another flow's server, while this one's gate is up.
	other := s
	other.Dport = 40101
	wantPassed(t, h, "a flow with no gate", testutil.Fragments(frameOf(t, other), 14, 256, 0x6060)...)
	r := h.feed(t, frags...)
	for i, ret := range r.rets {
		if ret != xdpDrop || !r.fragHeld[i] {
			t.Errorf("gated: fragment %d: verdict %d, emitted held %v; want held", i, ret, r.fragHeld[i])
		}
	}
	// The datagram, cut to the largest fragment's size (576 at least),
	// each piece held by the gate: together the server's flight.
	// Each piece whole in its event (the daemon hands on only those) and
	// marked re-injected.
	var got []byte
	next := uint32(5001)
	pieces := 0
	for _, ev := range r.stream {
		if !ev.Held() || ev.Class != datapath.ClassTLS {
			continue
		}
		pieces++
		if ev.Seq != next || len(ev.Frame) != ev.FrameLen || ev.Flags&datapath.FlagReinjected == 0 {
			t.Errorf("gated: held piece at seq %d (want %d), %d of %d bytes, flags %v", ev.Seq, next, len(ev.Frame), ev.FrameLen, ev.Flags)
		}
		next += uint32(len(ev.Payload))
		got = append(got, ev.Payload...)
	}
	if !bytes.Equal(got, sh) || len(h.released) != 0 {
		t.Errorf("gated: the gate held %d bytes (the flight: %d), %d pieces handed on", len(got), len(sh), len(h.released))
	}
	if n, m := r.counter(t, "hold_frags"), r.counter(t, "hello_held"); n != uint64(len(frags)) || m != uint64(pieces) {
		t.Errorf("gated: hold_frags +%d, hello_held +%d; want +%d, +%d", n, m, len(frags), pieces)
	}
	// A first fragment too short for its TCP header: held all the same.
	tiny := testutil.Fragments(frameOf(t, s), 14, 8, 0x6464)
	if r := h.feed(t, tiny[0]); r.rets[0] != xdpDrop || !r.fragHeld[0] {
		t.Errorf("an 8-byte first fragment: verdict %d, held %v; want held", r.rets[0], r.fragHeld[0])
	}
	cf := testutil.Fragments(frameOf(t, c.With(1001+uint32(len(ch)), "PA", make([]byte, 700))), 14, 256, 0x6262)
	wantPassed(t, h, "the client's fragments", cf...)

	// Released while a datagram is held half-way: the rest of its
	// fragments follow the first (held), and its pieces, no gate
	// holding them now, userspace hands on.
	half := testutil.Fragments(frameOf(t, s), 14, 256, 0x6565)
	h.released = nil
	if r := h.feed(t, half[0]); r.rets[0] != xdpDrop {
		t.Fatalf("half-way: first fragment verdict %d, want held", r.rets[0])
	}
	if err := h.enf.ReleaseHello(fl, 6, c.Seq); err != nil {
		t.Fatal(err)
	}
	r = h.feed(t, half[1:]...)
	if handed := handedOnBytes(t, h, r, "released half-way"); !bytes.Equal(handed, sh) {
		t.Errorf("released half-way: %d bytes handed on, want the flight's %d", len(handed), len(sh))
	}
	wantPassed(t, h, "released", testutil.Fragments(frameOf(t, s), 14, 256, 0x6363)...)
}
