package handshake

import (
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/handshake/tlswire"
	"github.com/edgesensor/edgesensor/userspace/packet/reassembly"
)

// Handle implements datapath.Shard.
func (s *shard) Handle(ev *datapath.Event) {
	switch ev.Class {
	case datapath.ClassTLS:
		s.tcp(ev)
	case datapath.ClassQUIC:
		s.quic(ev)
	}
}

// heldByGate hands a packet the hello gate held to OnHeld, with what was
// judged of its flow's hello (f nil: the handshake is no longer followed).
func (s *shard) heldByGate(ev *datapath.Event, f *flow) {
	hook := s.p.cfg.OnHeld
	if hook == nil || !ev.Held() {
		return
	}
	switch {
	case f == nil:
		s.hello = Hello{Flow: ev.Flow(), Proto: ev.Proto}
	case f.haveCH:
		s.hello = f.helloOf()
	case !f.quic && f.dirs[0] != nil && f.dirs[0].rd.Err == tlswire.ErrNotTLS:
		s.hello = Hello{Flow: f.id(), Proto: f.key.proto, Seq: f.chSeq}
	default:
		hook(ev, nil)
		return
	}
	hook(ev, &s.hello)
}

// flowOf finds or starts the flow of ev. A new handshake on a flow still
// held (the data plane restarted tracking) writes the old one first. A
// packet of a handshake written lately starts nothing (nil), unless the
// data plane says a handshake starts with it.
func (s *shard) flowOf(ev *datapath.Event, quicFlow bool) *flow {
	k := keyOf(ev.Src, ev.Dst, ev.Proto, ev.Zone)
	f := s.flows[k]
	if f != nil && ev.Flags&datapath.FlagFlowNew != 0 && f.packets > 0 {
		s.finish(f, "restarted")
		f = nil
	}
	if f == nil {
		if ev.Flags&(datapath.FlagFlowNew|datapath.FlagLost) == 0 && s.recent.has(k) {
			s.p.Stats.Late.Add(1)
			return nil
		}
		if len(s.flows) >= s.max {
			s.p.Stats.Evicted.Add(1)
			s.finish(s.activity.Oldest(), "evicted")
		}
		f = s.newFlow()
		f.key, f.quic, f.client, f.server, f.iface, f.vlan, f.first = k, quicFlow, ev.Client(), ev.Server(), ev.Interface, ev.VLAN, ev.Time
		f.budgetPkts, f.budgetBytes = s.p.cfg.BudgetPackets, s.p.cfg.BudgetBytes
		if quicFlow {
			f.budgetPkts = s.p.cfg.BudgetQUIC
		}
		if ev.L3Off != 14 && ev.L3Off != 0 {
			f.tunnel = ecs.TunnelOf(ev.Frame)
			if f.tunnel != nil && f.tunnel.Outer != nil && !ev.FromClient() {
				o := f.tunnel.Outer
				o.Source, o.Destination = o.Destination, o.Source
			}
		}
		s.flows[k] = f
		s.activity.Push(f)
	}
	s.activity.Touch(f)
	f.packets++
	f.bytes += ev.PayloadLen
	f.last = ev.Time
	// The data plane says lost on a handshake's events only once a lost
	// record could hold plaintext handshake bytes; ev.Lost counts every
	// record lost, a FIN or the encrypted tail among them.
	if ev.Flags&datapath.FlagLost != 0 {
		f.lost = true
	}
	if !ev.Complete() {
		f.gaps = true
	}
	return f
}

// helloOf is what enforcement is told of the flow's ClientHello.
func (f *flow) helloOf() Hello {
	return Hello{Flow: f.id(), Proto: f.key.proto, SNI: string(f.ch.ServerName), JA3: f.ja3, JA4: f.ja4, Seen: f.last, Seq: f.chSeq}
}

// id names the flow for the data plane.
func (f *flow) id() datapath.Flow {
	return datapath.Flow{Client: f.client, Server: f.server, Zone: f.key.zone}
}

// dir returns direction d of a TCP flow, made on first use.
func (s *shard) dir(f *flow, d int) *direction {
	if f.conn == nil {
		f.conn = new(reassembly.Conn)
		f.conn.Init(&s.reasmCfg, &s.stats, &s.tcpStats, nil)
	}
	if f.dirs[d] == nil {
		f.dirs[d] = &direction{}
	}
	x := f.dirs[d]
	x.s, x.f, x.d = s, f, d
	return x
}

func (f *flow) consumers() [2]reassembly.Consumer {
	var c [2]reassembly.Consumer
	for i, d := range f.dirs {
		if d != nil {
			c[i] = d
		}
	}
	return c
}

// startsRecord: b, a segment's payload, can start direction d's stream:
// the client's with its ClientHello record (after a warning alert or a
// change_cipher_spec record in the same segment, which some stacks take),
// the server's with its ServerHello record or the alert that refuses the
// ClientHello; a segment too short to tell counts if what it holds fits.
// A later segment of the direction (a client's key exchange, a lone
// change_cipher_spec) is not taken for its start.
func startsRecord(b []byte, d int) bool {
	want := byte(tlswire.MsgClientHello)
	if d == 1 {
		want = tlswire.MsgServerHello
	}
	for skipped := 0; ; skipped++ {
		if len(b) == 0 || b[0] < tlswire.RecordChangeCipherSpec || b[0] > tlswire.RecordHandshake {
			return false
		}
		if len(b) >= 2 && b[1] != 3 {
			return false
		}
		if len(b) < 6 {
			return skipped == 0 || d == 0
		}
		n := int(b[3])<<8 | int(b[4])
		switch b[0] {
		case tlswire.RecordHandshake:
			return b[5] == want
		case tlswire.RecordAlert:
			if d == 1 && skipped == 0 && n == 2 {
				return true // the server's refusal
			}
		}
		if d == 1 || skipped > 0 || len(b) < 5+n {
			return false
		}
		b = b[5+n:] // what follows the client's alert or CCS
		if len(b) == 0 {
			return false
		}
	}
}

// tcp handles one TLS-class packet.
func (s *shard) tcp(ev *datapath.Event) {
	f := s.flowOf(ev, false)
	if f == nil {
		s.heldByGate(ev, nil)
		return
	}
	d := 1
	if ev.FromClient() {
		d = 0
	}
	// The data plane names a hello gate by the first sequence number of
	// the hello that raised it: the earliest client bytes.
	if d == 0 && ev.PayloadLen > 0 && (!f.chSeqSet || int32(ev.Seq-f.chSeq) < 0) && !f.haveCH {
		f.chSeq, f.chSeqSet = ev.Seq, true
	}
	dir := s.dir(f, d)
	s.dir(f, 1-d)
	win, urg, ws, ok := ev.TCPHeader()
	seg := reassembly.Seg{Seq: ev.Seq, Ack: ev.Ack, Flags: ev.TCPFlags, Window: win, NoWindow: !ok, Urgent: urg,
		WScale: ws, Payload: ev.Payload, Bad: s.p.cfg.Checksums.Bad(ev), Time: ev.UnixNano()}
	if ev.State&datapath.StateSealed != 0 {
		dir.sealed = true
	}
	if seg.Bad {
		s.tcpStats.BadChecksum++
	} else {
		s.segment(f, dir, &seg)
	}
	s.heldByGate(ev, f)
	if ev.Flags&datapath.FlagHSDone != 0 {
		s.finish(f, endReason(ev.State&^(datapath.StateHeld|datapath.StateSealed)))
		return
	}
	if f.reset {
		s.finish(f, "closed")
		return
	}
	if end, notTLS := f.over(); end != "" {
		s.endInKernel(f, notTLS)
		s.finish(f, end)
		return
	}
	s.raise(f)
	s.account(f)
}

// segment takes one trusted segment of direction dir. Until a segment
// starts the direction's stream (its first bytes are a record header),
// those before it wait: the data plane follows a flow from the packet
// that looked like a hello, and reordering may bring a later segment of a
// direction first.
func (s *shard) segment(f *flow, dir *direction, g *reassembly.Seg) {
	syn := g.Flags&reassembly.FlagSYN != 0
	if !dir.started && !syn {
		if len(g.Payload) == 0 {
			// Window, ACK and RST matter; a FIN cannot start the stream.
			c := *g
			c.Flags &^= reassembly.FlagFIN
			s.feed(f, dir.d, &c)
			return
		}
		seq := g.Seq
		if !startsRecord(g.Payload, dir.d) {
			if len(dir.early) < maxEarly && dir.earlyBytes+len(g.Payload) <= maxEarlyBytes {
				c := *g
				c.Payload = append([]byte(nil), g.Payload...)
				dir.early = append(dir.early, c)
				dir.earlyBytes += len(g.Payload)
				return
			}
			// Too much before any start: take the earliest held as it.
			if len(dir.early) > 0 {
				seq = dir.early[0].Seq
			}
		}
		dir.started = true
		f.conn.S[dir.d].Start(seq)
		for i := range dir.early {
			s.feed(f, dir.d, &dir.early[i])
		}
		clear(dir.early)
		dir.early, dir.earlyBytes = dir.early[:0], 0
	}
	if syn {
		dir.started = true
	}
	s.feed(f, dir.d, g)
}

// feed gives a segment to the receiver model.
func (s *shard) feed(f *flow, d int, g *reassembly.Seg) {
	switch f.conn.Segment(d == 0, g, f.consumers()) {
	case reassembly.Reset:
		f.reset = true
	case reassembly.NewConnection:
		// A new connection on the tuple: the data plane starts a new
		// handshake on its hello (FlagFlowNew); this one is over.
		f.reset = true
	}
}

// over says whether the analysis has read the handshake to its end:
// encrypted records both ways (end "finished"), or a client direction
// that is no TLS from its start (notTLS).
func (f *flow) over() (end string, notTLS bool) {
	c, sv := f.dirs[0], f.dirs[1]
	if c == nil || sv == nil {
		return "", false
	}
	if c.started && c.rd.Err == tlswire.ErrNotTLS && !f.haveCH && c.rd.Records == 0 {
		return "not_tls", true
	}
	if c.rd.Encrypted && sv.rd.Encrypted {
		return "finished", false
	}
	return "", false
}

// endInKernel tells the data plane the handshake is over.
func (s *shard) endInKernel(f *flow, notTLS bool) {
	v := s.p.cfg.Verdicts
	if v == nil {
		return
	}
	f.verdict = true
	s.p.Stats.Ended.Add(1)
	if v.EndHandshake(f.id(), f.key.proto, notTLS) != nil {
		s.p.Stats.Errors.Add(1)
	}
}

// raise gives a hello still coming the budget it needs: once the flow
// has spent half of its budget without the hellos it follows being whole,
// the budget doubles, up to maxBudgetRaise times the configured one.
func (s *shard) raise(f *flow) {
	v := s.p.cfg.Verdicts
	if v == nil || f.quic {
		return
	}
	// The plaintext handshake is still coming in a direction: its hello,
	// or (TLS 1.2) the server's certificate and the rest of its flight.
	c, sv := f.dirs[0], f.dirs[1]
	coming := c != nil && c.started && !c.rd.Encrypted && c.rd.Err == nil ||
		sv != nil && sv.started && !sv.rd.Encrypted && sv.rd.Err == nil
	if !coming || f.packets*2 < f.budgetPkts && f.bytes*2 < f.budgetBytes {
		return
	}
	pk, by := min(f.budgetPkts*2, s.p.cfg.BudgetPackets*maxBudgetRaise), min(f.budgetBytes*2, s.p.cfg.BudgetBytes*maxBudgetRaise)
	if pk == f.budgetPkts && by == f.budgetBytes {
		return
	}
	f.budgetPkts, f.budgetBytes, f.verdict = pk, by, true
	s.p.Stats.Extended.Add(1)
	if v.ExtendHandshake(f.id(), f.key.proto, uint32(pk), uint32(by)) != nil {
		s.p.Stats.Errors.Add(1)
	}
}

// endReason maps the data plane's final TLS state (enum tls_state).
func endReason(state uint8) string {
	switch state {
	case 2, 7:
		return "finished"
	case 3:
		return "budget"
	case 4:
		return "not_tls"
	case 5:
		return "closed"
	case 6:
		return "idle"
	case 8:
		return "not_tls"
	}
	return "ended"
}
