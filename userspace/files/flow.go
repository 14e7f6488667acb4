package files

import (
	"net/netip"
	"sync"
	"time"

	"github.com/edgesensor/edgesensor/userspace/capture"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/extract"
	"github.com/edgesensor/edgesensor/userspace/httpx"
	"github.com/edgesensor/edgesensor/userspace/imap"
	"github.com/edgesensor/edgesensor/userspace/mime"
	"github.com/edgesensor/edgesensor/userspace/reassembly"
	"github.com/edgesensor/edgesensor/userspace/smtp"
)

// flowKey is a connection by its client and server.
type flowKey struct {
	client, server netip.AddrPort
}

// shardStats are the stages' own counters: plain integers, written by the
// shard's goroutine only.
type shardStats struct {
	Reassembly reassembly.Stats
	HTTP       httpx.Stats
	SMTP       smtp.Stats
	IMAP       imap.Stats
	MIME       mime.Stats
}

type shard struct {
	p     *Pipeline
	id    int
	flows map[flowKey]*flow
	max   int
	// The activity list, least recently active first, for eviction and
	// expiry in O(1) a flow.
	oldest, newest *flow

	reasmCfg reassembly.Config
	budget   *reassembly.Budget
	stats    shardStats
	sink     *sink
	mime     *mime.Extractor

	// pending counts this shard's files still with the scorers.
	pending sync.WaitGroup

	cur *flow     // the flow whose bytes are being parsed
	now time.Time // capture time of the event being handled
	// lifetimeScan is when flows were last checked against
	// files.flow_lifetime (a scan of all, so not on every tick).
	lifetimeScan time.Time
}

// dir is one direction of a flow as the reassembler's consumer.
type dir struct {
	f          *flow
	fromClient bool
	stream     reassembly.Stream
	iface      string
	ended      bool // FIN or RST seen and delivered
	// skipFrom is the wire sequence number where the range the parser
	// asked to skip begins, once it asked.
	skipFrom uint32
	skipLen  int64
}

// flow is one watched TCP connection.
type flow struct {
	key        flowKey
	app        config.App
	parser     extract.Parser
	dirs       [2]dir // 0: client -> server, 1: server -> client
	prev, next *flow
	last       time.Time
	first      time.Time
	vlan       [2]uint16
	wire       int64 // payload bytes the data plane emitted for it
	captureTo  int64 // the byte limit of the CAPTURE verdict written, 0 for none
	ignored    bool
	sawSYN     bool   // the client's SYN was seen: the data plane counts from it
	isn        uint32 // the client's initial sequence number
	verdict    bool   // a verdict was written for the flow: forget it at the end
}

func (d *dir) Data(p []byte) int64 {
	skip := d.f.parser.Data(d.fromClient, p)
	if skip > 0 {
		// The reassembler has moved past p already.
		d.skipFrom = d.stream.NextSeq()
		d.skipLen = skip
	}
	return skip
}

func (d *dir) Gap(n int64) { d.f.parser.Gap(d.fromClient, n) }

// Handle implements capture.Shard.
func (s *shard) Handle(ev *capture.Event) {
	if ev.Proto != capture.ProtoTCP {
		return
	}
	s.now = ev.Time
	key := flowKey{ev.Client(), ev.Server()}
	f := s.flows[key]
	flags := ev.TCPFlags
	syn := flags&capture.TCPSyn != 0
	clientSYN := syn && ev.FromClient() && flags&capture.TCPAck == 0
	if f != nil && clientSYN && (!f.sawSYN || ev.Seq != f.isn) {
		// A new connection on the tuple: the old one is over (the data
		// plane forgets its verdict on this SYN too).
		f.verdict = false
		s.end(f)
		f = nil
	}
	if f == nil {
		app := s.p.app(key.server.Port())
		// A lone FIN or RST (a late retransmission after the flow ended)
		// starts nothing.
		if app == config.AppNone || len(ev.Payload) == 0 && !syn {
			return
		}
		f = s.newFlow(key, app, ev)
	}
	if clientSYN {
		f.sawSYN, f.isn = true, ev.Seq
	}
	s.touch(f, ev.Time)
	f.wire += int64(ev.PayloadLen)
	d, other := &f.dirs[1], &f.dirs[0]
	if ev.FromClient() {
		d, other = other, d
	}
	rst := flags&capture.TCPRst != 0 && s.rstInWindow(d, ev.Seq)
	if f.ignored {
		if flags&capture.TCPFin != 0 {
			d.ended = true
		}
		if rst || f.dirs[0].ended && f.dirs[1].ended {
			s.end(f)
		}
		return
	}
	if d.iface == "" {
		d.iface = ev.Interface
	}
	s.cur = f
	d.stream.Segment(ev.Seq, syn, flags&capture.TCPFin != 0, ev.Payload, d)
	if flags&capture.TCPAck != 0 {
		other.stream.Acked(ev.Ack, other)
	}
	s.afterParse(f, d)
	s.afterParse(f, other)
	if rst {
		s.end(f)
		return
	}
	for _, x := range [2]*dir{d, other} {
		if !f.ignored && x.stream.Finished() && !x.ended {
			x.ended = true
			f.parser.End(x.fromClient)
		}
	}
	if f.dirs[0].ended && f.dirs[1].ended {
		s.end(f)
	}
	s.cur = nil
}

// rstInWindow: an RST ends the flow only near where its direction is
// (RFC 5961's reasoning): a stray or forged RST, which the hosts would
// discard, must not cut the files in flight.
func (s *shard) rstInWindow(d *dir, seq uint32) bool {
	if !d.stream.Started() {
		return true
	}
	off := int32(seq - d.stream.NextSeq())
	return off >= -1 && off <= rstWindow
}

// rstWindow is how far ahead of the delivery point an RST is believed.
const rstWindow = 1 << 20

// started: the direction has seen a segment.
func (d *dir) started() bool { return d.stream.Started() }

// afterParse turns what the parser learnt into data-plane verdicts.
func (s *shard) afterParse(f *flow, d *dir) {
	v := s.p.cfg.Verdicts
	if f.ignored {
		return
	}
	if f.parser.Done() {
		f.ignored = true
		s.p.Stats.FlowsIgnored.Add(1)
		if v != nil {
			s.verdict(f, "ignore", v.Ignore(f.key.client, f.key.server))
		}
		return
	}
	if d.skipLen > 0 {
		if d.skipLen >= minKernelSkip && d.skipLen < 1<<31 && v != nil {
			s.verdict(f, "skip", v.Skip(f.key.client, f.key.server, !d.fromClient, d.skipFrom, uint32(d.skipLen), uint64(f.captureTo)))
		}
		d.skipLen = 0
	}
}

// wantCapture is called when a candidate opens: past the flow's byte
// budget the data plane would stop emitting, so raise it to cover the
// file. need is the wire bytes the file may still take.
func (s *shard) wantCapture(need int64) {
	f := s.cur
	v := s.p.cfg.Verdicts
	if f == nil || v == nil {
		return
	}
	limit := f.wire + need + 1<<20
	if !f.sawSYN {
		// Picked up mid-way: the data plane may have counted up to a
		// whole budget for the flow already.
		limit += s.p.cfg.StreamBudget
	}
	if limit <= s.p.cfg.StreamBudget || limit <= f.captureTo {
		return
	}
	f.captureTo = limit
	s.verdict(f, "capture", v.Capture(f.key.client, f.key.server, uint64(limit)))
}

func (s *shard) verdict(f *flow, kind string, err error) {
	f.verdict = true
	if err != nil {
		s.p.Stats.VerdictErrors.Add(1)
		return
	}
	switch kind {
	case "skip":
		s.p.Stats.VerdictSkip.Add(1)
	case "capture":
		s.p.Stats.VerdictCapture.Add(1)
	case "ignore":
		s.p.Stats.VerdictIgnore.Add(1)
	}
}

func (s *shard) newFlow(key flowKey, app config.App, ev *capture.Event) *flow {
	if len(s.flows) >= s.max && s.oldest != nil {
		s.p.Stats.FlowsEvicted.Add(1)
		s.end(s.oldest)
	}
	f := &flow{key: key, app: app, vlan: ev.VLAN, first: ev.Time}
	s.cur = f
	f.parser = s.parserFor(app)
	for i := range f.dirs {
		f.dirs[i].f = f
		f.dirs[i].fromClient = i == 0
		f.dirs[i].stream.Init(&s.reasmCfg, &s.stats.Reassembly, s.budget)
	}
	s.flows[key] = f
	s.p.Stats.Flows.Add(1)
	return f
}

// end closes a flow: what is buffered is delivered (holes as gaps), every
// open file is closed, and its verdict forgotten. Only a direction whose
// FIN was reached in order has ended as the protocol means it: a body
// that runs until the close is whole then, and cut (Close) when the flow
// ends by RST, expiry, eviction or shutdown.
func (s *shard) end(f *flow) {
	prev := s.cur
	s.cur = f
	if !f.ignored {
		for i := range f.dirs {
			d := &f.dirs[i]
			d.stream.Flush(d)
			if !d.ended && d.stream.Finished() {
				d.ended = true
				f.parser.End(d.fromClient)
			}
		}
	}
	f.parser.Close()
	for i := range f.dirs {
		f.dirs[i].stream.Reset()
	}
	if f.verdict && s.p.cfg.Verdicts != nil {
		if err := s.p.cfg.Verdicts.Forget(f.key.client, f.key.server); err != nil {
			s.p.Stats.VerdictErrors.Add(1)
		}
	}
	s.unlink(f)
	delete(s.flows, f.key)
	if prev == f {
		prev = nil
	}
	s.cur = prev
}

// touch moves f to the newest end of the activity list.
func (s *shard) touch(f *flow, now time.Time) {
	f.last = now
	if s.newest == f {
		return
	}
	s.unlink(f)
	f.prev = s.newest
	if s.newest != nil {
		s.newest.next = f
	}
	s.newest = f
	if s.oldest == nil {
		s.oldest = f
	}
}

func (s *shard) unlink(f *flow) {
	if f.prev != nil {
		f.prev.next = f.next
	} else if s.oldest == f {
		s.oldest = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else if s.newest == f {
		s.newest = f.prev
	}
	f.prev, f.next = nil, nil
}

// lifetimeScanEvery bounds how often Tick looks at every flow's age.
const lifetimeScanEvery = 10 * time.Second

// Tick implements capture.Shard: flows idle for files.flow_idle end.
func (s *shard) Tick(now time.Time) {
	s.now = now
	for f := s.oldest; f != nil && now.Sub(f.last) >= s.p.cfg.Idle; f = s.oldest {
		s.p.Stats.FlowsExpired.Add(1)
		s.end(f)
	}
	if now.Sub(s.lifetimeScan) >= lifetimeScanEvery {
		s.lifetimeScan = now
		for _, f := range s.flows {
			if now.Sub(f.first) >= s.p.cfg.Lifetime {
				s.p.Stats.FlowsLifetime.Add(1)
				s.end(f)
			}
		}
	}
	s.p.out.Flush()
}

// Close implements capture.Shard: every flow ends, and Close returns once
// the scorers have written the events of this shard's files.
func (s *shard) Close() {
	for s.oldest != nil {
		s.end(s.oldest)
	}
	s.pending.Wait()
	s.p.out.Flush()
}
